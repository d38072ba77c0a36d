"""vfi_lib.model"""
