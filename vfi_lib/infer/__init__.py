"""vfi_lib.infer: frame interpolation for users (pairs, arbitrary t, 2^k frames, tiling, video demo)."""

from vfi_lib.model.compile import compile_model  # re-export: the home is vfi_lib.model.compile
from vfi_lib.infer.interpolate import interpolate, interpolate_multi, predict, predict_multi

__all__ = ["compile_model", "interpolate", "interpolate_multi", "predict", "predict_multi"]
