"""vfi_lib.eval"""
