"""Frame interpolation for users and notebooks: pairs of any size, arbitrary t, 2^k - 1 frames.

``interpolate(model, img0, img1, t=0.5)`` takes numpy uint8 RGB (H, W, 3) frames (or float
tensors (3, H, W) / (B, 3, H, W) in [0, 1]) and returns uint8 RGB (H, W, 3) ((B, H, W, 3) for a
batch). Inputs are replicate-padded (centred) to ``model.pad_multiple`` and cropped back; ``scale``
is passed to the model (flow at reduced resolution for 2K/4K); ``tta`` averages the prediction with
the 180-degree-rotated one (EMA-VFI "fast TTA": flip H and W of both inputs, predict, flip back);
``tile`` runs overlapping tiles (see :mod:`vfi_lib.infer.tiling`); ``dtype`` ("bf16" | "fp16")
enables autocast. :func:`predict` is the tensor-in, tensor-out core that the benchmarks use.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from vfi_lib.infer.tiling import crop_pads, pad_to_multiple, tiled_apply
from vfi_lib.model.thesis_model import check_inputs
from vfi_lib.model.precision import autocast


def _model_device(model: nn.Module) -> torch.device:
    p = next(iter(model.parameters()), None)
    return p.device if p is not None else torch.device("cpu")


def to_batch(x, name: str, device: torch.device | str | None = None) -> torch.Tensor:
    """uint8 numpy (H, W, 3) RGB or float tensor (3, H, W) / (B, 3, H, W) -> float (B, 3, H, W)."""
    if isinstance(x, np.ndarray):
        if x.dtype != np.uint8:
            raise TypeError(f"{name}: numpy frames must be uint8 RGB (H, W, 3), got dtype {x.dtype}; "
                            "for float data pass a torch tensor (B, 3, H, W) in [0, 1]")
        if x.ndim != 3 or x.shape[2] != 3:
            raise ValueError(f"{name}: numpy frames must be (H, W, 3) RGB, got shape {x.shape}")
        t = torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1)[None].float() / 255.0
    elif isinstance(x, torch.Tensor):
        if not x.is_floating_point():
            raise TypeError(f"{name}: tensors must be float in [0, 1], got {x.dtype} "
                            "(convert uint8 with x.float() / 255)")
        t = x[None] if x.dim() == 3 else x
        if t.dim() != 4 or t.shape[1] != 3:
            raise ValueError(f"{name}: tensors must be (3, H, W) or (B, 3, H, W) RGB, got shape {tuple(x.shape)}")
    else:
        raise TypeError(f"{name}: expected a numpy uint8 array or a float torch tensor, got {type(x).__name__}")
    return t.to(device) if device is not None else t


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """float (B, 3, H, W) in [0, 1] -> uint8 (H, W, 3) for B = 1, else (B, H, W, 3)."""
    a = (x.detach().float().clamp(0, 1) * 255.0).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    return a[0] if a.shape[0] == 1 else a


@torch.no_grad()
def predict(
    model: nn.Module,
    img0: torch.Tensor,
    img1: torch.Tensor,
    t: float | torch.Tensor = 0.5,
    scale: float | tuple[float, ...] = 1.0,
    tta: bool = False,
    tile: int | None = None,
    overlap: int = 64,
    dtype: str | None = None,
) -> torch.Tensor:
    """Tensor core of :func:`interpolate`: float (B, 3, H, W) x2 -> float32 (B, 3, H, W) in [0, 1].

    ``scale``: a float, or several (e.g. ``(1.0, 0.5)``, ``--scale auto``) for our Phase-2/3 models, which then
    choose per sample (:meth:`~vfi_lib.model.thesis_model.ThesisModel.forward`)."""
    if isinstance(scale, (tuple, list)):
        from vfi_lib.model.thesis_model import ThesisModel

        inner = getattr(model, "_orig_mod", model)
        if not isinstance(inner, ThesisModel):
            raise ValueError(f"several flow scales {tuple(scale)} ('auto') need one of our Phase-2 models; "
                             f"{type(inner).__name__} takes one number")
    if img0.shape != img1.shape:
        raise ValueError(f"img0 and img1 must have the same shape, got {tuple(img0.shape)} and {tuple(img1.shape)}")
    check_inputs(img0, img1, t)  # value ranges, once per call (the forward pass has no host syncs)
    multiple = int(getattr(model, "pad_multiple", 1) or 1)

    def call(x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        with autocast(x0.device, dtype):
            out = model(x0, x1, t=t, scale=scale)
        return (out[0] if isinstance(out, tuple) else out).float()

    def run(x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        x0p, pads = pad_to_multiple(x0, multiple)
        x1p, _ = pad_to_multiple(x1, multiple)
        y = call(x0p, x1p)  # (B, 3, Hp, Wp)
        if tta:  # 180-degree rotation = flip of H and W
            y = 0.5 * (y + call(x0p.flip((2, 3)), x1p.flip((2, 3))).flip((2, 3)))
        return crop_pads(y, pads)

    out = tiled_apply(run, img0, img1, tile, overlap) if tile else run(img0, img1)
    return out.clamp(0.0, 1.0)


def interpolate(
    model: nn.Module,
    img0,
    img1,
    t: float = 0.5,
    scale: float | tuple[float, ...] = 1.0,
    tta: bool = False,
    tile: int | None = None,
    overlap: int = 64,
    dtype: str | None = None,
) -> np.ndarray:
    """Interpolate the frame at time t between img0 and img1 -> uint8 RGB (H, W, 3).

    img0, img1: numpy uint8 (H, W, 3) RGB or float tensors (3, H, W) / (B, 3, H, W) in [0, 1].
    """
    device = _model_device(model)
    x0, x1 = to_batch(img0, "img0", device), to_batch(img1, "img1", device)
    if x0.shape != x1.shape:
        raise ValueError(f"img0 and img1 sizes differ: {tuple(x0.shape[1:])} vs {tuple(x1.shape[1:])}")
    if not 0.0 < float(t) < 1.0:
        raise ValueError(f"t must be in (0, 1), got {t}")
    return to_uint8(predict(model, x0, x1, t, scale, tta, tile, overlap, dtype))


def predict_multi(model: nn.Module, img0: torch.Tensor, img1: torch.Tensor, n_exp: int,
                  recursive: bool = True, **kw) -> list[torch.Tensor]:
    """2^n_exp - 1 float frames between img0 and img1, in temporal order (t = k / 2^n_exp).

    recursive: midpoints of midpoints (float intermediate frames, never re-quantised, as VFIMamba's
    XTEST.py); otherwise one direct call per t (arbitrary-t models).
    """
    if n_exp < 1:
        raise ValueError(f"n_exp must be >= 1 (2^n_exp - 1 frames), got {n_exp}")
    if not recursive:
        n = 2**n_exp
        return [predict(model, img0, img1, k / n, **kw) for k in range(1, n)]

    def rec(a: torch.Tensor, b: torch.Tensor, depth: int) -> list[torch.Tensor]:
        if depth == 0:
            return []
        mid = predict(model, a, b, 0.5, **kw)
        return rec(a, mid, depth - 1) + [mid] + rec(mid, b, depth - 1)

    return rec(img0, img1, n_exp)


def interpolate_multi(model: nn.Module, img0, img1, n_exp: int, recursive: bool = True,
                      **kw) -> list[np.ndarray]:
    """2^n_exp - 1 intermediate uint8 RGB frames (temporal order) between img0 and img1.

    ``kw``: scale, tta, tile, overlap, dtype as in :func:`interpolate`.
    """
    device = _model_device(model)
    x0, x1 = to_batch(img0, "img0", device), to_batch(img1, "img1", device)
    if x0.shape != x1.shape:
        raise ValueError(f"img0 and img1 sizes differ: {tuple(x0.shape[1:])} vs {tuple(x1.shape[1:])}")
    return [to_uint8(f) for f in predict_multi(model, x0, x1, n_exp, recursive, **kw)]


__all__ = ["interpolate", "interpolate_multi", "predict", "predict_multi", "to_batch", "to_uint8"]
