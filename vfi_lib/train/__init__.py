"""vfi_lib.train"""
