"""vfi_lib.modules"""
