"""vfi_lib.infer"""
