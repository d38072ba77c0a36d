"""Spatial helpers for inference at any size: centred replicate padding to a multiple (the peers'
``InputPadder``) and tiled inference with overlap and linear blending for 4K frames that do not fit.

Tiling: the frame is covered by ``tile`` x ``tile`` windows at stride ``tile - overlap`` (the last
window flush with the border). Each window's output is weighted by a separable ramp that rises
linearly over ``overlap`` pixels on the sides that touch a neighbour (flat 1 on image borders),
and the weighted sum is divided by the summed weights. For a pointwise model (frame averaging)
tiled == untiled exactly; for real models, tiles lose context beyond ``tile`` pixels, so prefer
the model's ``scale`` argument first and tile only when memory is short.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

Pads = tuple[int, int, int, int]  # (left, right, top, bottom)


def pad_to_multiple(x: torch.Tensor, multiple: int, mode: str = "replicate") -> tuple[torch.Tensor, Pads]:
    """Pad (B, C, H, W) to H, W multiples of ``multiple``, centred (extra pixel right/bottom)."""
    if multiple <= 1:
        return x, (0, 0, 0, 0)
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    pads = (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)
    if ph == 0 and pw == 0:
        return x, pads
    return F.pad(x, pads, mode=mode), pads


def crop_pads(x: torch.Tensor, pads: Pads) -> torch.Tensor:
    """Undo :func:`pad_to_multiple` on (..., H, W)."""
    left, right, top, bottom = pads
    h, w = x.shape[-2:]
    return x[..., top : h - bottom, left : w - right]


def _starts(size: int, tile: int, stride: int) -> list[int]:
    if size <= tile:
        return [0]
    starts = list(range(0, size - tile, stride))
    starts.append(size - tile)  # last window flush with the border
    return starts


def _ramp(n: int, overlap: int, taper_lo: bool, taper_hi: bool, device, dtype) -> torch.Tensor:
    """1-D blending weight of length n: linear ramp (1..overlap)/(overlap+1) on tapered sides."""
    w = torch.ones(n, device=device, dtype=dtype)
    if overlap > 0:
        r = torch.arange(1, overlap + 1, device=device, dtype=dtype) / (overlap + 1)
        k = min(overlap, n)
        if taper_lo:
            w[:k] = torch.minimum(w[:k], r[:k])
        if taper_hi:
            w[n - k :] = torch.minimum(w[n - k :], r[:k].flip(0))
    return w


def tiled_apply(
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    img0: torch.Tensor,
    img1: torch.Tensor,
    tile: int,
    overlap: int = 64,
) -> torch.Tensor:
    """Run ``fn(tile0, tile1) -> (B, C, h, w)`` over overlapping tiles of (B, 3, H, W) inputs and
    blend the outputs linearly in the overlaps; returns (B, C, H, W)."""
    if tile <= 0:
        raise ValueError(f"tile must be a positive number of pixels, got {tile}")
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap must be in [0, tile={tile}), got {overlap}")
    b, _, h, w = img0.shape
    ys, xs = _starts(h, tile, tile - overlap), _starts(w, tile, tile - overlap)
    out = weight = None
    for i, y in enumerate(ys):
        for j, x in enumerate(xs):
            th, tw = min(tile, h), min(tile, w)
            pred = fn(img0[..., y : y + th, x : x + tw], img1[..., y : y + th, x : x + tw])
            if out is None:
                out = pred.new_zeros(b, pred.shape[1], h, w)
                weight = pred.new_zeros(1, 1, h, w)
            wy = _ramp(th, overlap, i > 0, i < len(ys) - 1, pred.device, pred.dtype)
            wx = _ramp(tw, overlap, j > 0, j < len(xs) - 1, pred.device, pred.dtype)
            wt = (wy[:, None] * wx[None, :])[None, None]  # (1, 1, th, tw)
            out[..., y : y + th, x : x + tw] += pred * wt
            weight[..., y : y + th, x : x + tw] += wt
    return out / weight
