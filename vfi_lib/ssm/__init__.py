"""vfi_lib.ssm"""
