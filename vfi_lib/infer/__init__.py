"""vfi_lib.infer: frame interpolation for users (pairs, arbitrary t, 2^k frames, tiling, video demo)."""

from vfi_lib.infer.interpolate import interpolate, interpolate_multi, predict, predict_multi

__all__ = ["interpolate", "interpolate_multi", "predict", "predict_multi"]
