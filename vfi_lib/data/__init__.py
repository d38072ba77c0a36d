"""vfi_lib.data"""
