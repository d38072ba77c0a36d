"""vfi_lib.infer: frame interpolation for users (pairs, arbitrary t, 2^k frames, tiling, video demo)."""

from vfi_lib.infer.compiled import compile_model
from vfi_lib.infer.interpolate import interpolate, interpolate_multi, predict, predict_multi

__all__ = ["compile_model", "interpolate", "interpolate_multi", "predict", "predict_multi"]
