"""vfi_lib.viz"""
