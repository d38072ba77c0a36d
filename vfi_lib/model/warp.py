"""Differentiable backward warping and flow resizing.

Backward warping (Jaderberg et al. 2015, "Spatial Transformer Networks"; used by RIFE/IFNet):
``warp(img, flow)(p) = img(p + flow(p))`` with bilinear interpolation, where ``flow`` is in pixels,
channel 0 = dx, channel 1 = dy. ``warp(img0, flow_t0)`` therefore brings frame 0 to time t.

Pixel -> normalised coordinates (``grid_sample`` with ``align_corners=True``): pixel centre ``i``
of a dimension of size ``n`` sits at ``-1 + 2 i / (n - 1)``, so a displacement of ``d`` pixels is
``2 d / (n - 1)`` normalised units. The base grid of every (device, dtype, H, W) is built once and
cached (small LRU), so a forward pass allocates no index tensors. Sampling coordinates are computed
in float32 even under autocast: at 4K a bf16 coordinate is off by up to 16 pixels.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F

__all__ = ["warp", "resize_flow", "base_grid", "clear_grid_cache"]

_GRID_CACHE: "OrderedDict[tuple, torch.Tensor]" = OrderedDict()
_GRID_CACHE_SIZE = 32  # distinct (device, dtype, H, W) kept; training uses a handful


def clear_grid_cache() -> None:
    """Forget all cached base grids (e.g. after moving between many resolutions)."""
    _GRID_CACHE.clear()


def base_grid(h: int, w: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Identity sampling grid (1, H, W, 2) in normalised (x, y) coordinates, align_corners=True."""
    compiling = torch.compiler.is_compiling()  # under torch.compile the grid is traced (and fused) instead
    key = (torch.device(device), dtype, int(h), int(w))
    grid = None if compiling else _GRID_CACHE.get(key)
    if grid is not None:
        _GRID_CACHE.move_to_end(key)
        return grid
    # Pixel index i -> -1 + 2 i / (n - 1); a size-1 axis maps to 0 (its only centre).
    wdt = torch.float64 if device_supports_f64(device) else torch.float32
    xs = torch.arange(w, device=device, dtype=wdt) * (2.0 / max(w - 1, 1)) - (1.0 if w > 1 else 0.0)
    ys = torch.arange(h, device=device, dtype=wdt) * (2.0 / max(h - 1, 1)) - (1.0 if h > 1 else 0.0)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")  # (H, W) each
    grid = torch.stack((gx, gy), dim=-1).unsqueeze(0).to(dtype)  # (1, H, W, 2)
    if compiling:
        return grid
    _GRID_CACHE[key] = grid
    if len(_GRID_CACHE) > _GRID_CACHE_SIZE:
        _GRID_CACHE.popitem(last=False)
    return grid


def device_supports_f64(device: torch.device | str) -> bool:
    """float64 for exact grid construction, except on backends without it (MPS)."""
    return torch.device(device).type != "mps"


def warp(img: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward-warp ``img`` (B, C, H, W) by ``flow`` (B, 2, H, W) in pixels -> (B, C, H, W).

    out[b, :, y, x] = bilinear(img[b], x + flow[b, 0, y, x], y + flow[b, 1, y, x]); samples outside
    the image take the nearest border value (``padding_mode="border"``). Differentiable in both
    ``img`` and ``flow``. The output has ``img``'s dtype.
    """
    if img.dim() != 4 or flow.dim() != 4:
        raise ValueError(f"warp: img and flow must be 4-D (B, C, H, W), got {tuple(img.shape)} and {tuple(flow.shape)}")
    b, _, h, w = img.shape
    if flow.shape[0] != b or flow.shape[1] != 2 or flow.shape[2:] != img.shape[2:]:
        raise ValueError(
            f"warp: flow must be (B, 2, H, W) = ({b}, 2, {h}, {w}) to match img, got {tuple(flow.shape)}"
        )
    cdtype = torch.promote_types(flow.dtype, torch.float32)  # coordinates never below fp32
    grid = base_grid(h, w, flow.device, cdtype)  # (1, H, W, 2)
    f = flow.to(cdtype)
    # pixels -> normalised units per axis (python scalars: no host-to-device copy per call)
    offset = torch.stack((f[:, 0] * (2.0 / max(w - 1, 1)), f[:, 1] * (2.0 / max(h - 1, 1))), dim=-1)  # (B, H, W, 2)
    grid = grid + offset
    src = img if img.dtype == cdtype else img.to(cdtype)
    out = F.grid_sample(src, grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out if out.dtype == img.dtype else out.to(img.dtype)


def resize_flow(flow: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize a pixel flow (B, 2k, h, w) of k stacked (dx, dy) fields to ``size`` = (H, W), rescaling vectors.

    dx is multiplied by W / w and dy by H / h, so the flow stays in pixels of the new grid
    (exact for any ratio, including non-integer ones from padding or ``scale``).
    """
    h, w = flow.shape[-2:]
    H, W = int(size[0]), int(size[1])
    if (H, W) == (h, w):
        return flow
    out = F.interpolate(flow, size=(H, W), mode="bilinear", align_corners=False)
    sx, sy = W / w, H / h
    if sx == sy:
        return out * sx
    n = out.shape[1] // 2  # (dx, dy) pairs: (B, 2, ...) or stacked (B, 4, ...) for (F_t0 | F_t1)
    scale = [sx, sy] * n
    return torch.cat([out[:, i : i + 1] * scale[i] for i in range(out.shape[1])], 1)
