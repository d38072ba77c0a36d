"""Spatial summaries of the model's intermediates on real frames (notebook 30).

The gated window attention keeps, with ``keep_attn``, its last attention maps ``attn`` of shape
(B*nW, heads, N, N), windows in (b, nh, nw) row-major order, N = T*w*w tokens per joint window of
the T = 2 frames (frame 0's w*w tokens first), and its gates ``gate`` (B, T, H, W, C) in (0, 1)
(see :mod:`vfi_lib.modules.gated_window_attention`). These helpers reduce them to one number per
window or pixel, so they can be laid over the frame:

- ``cross_frame``: mass each query puts on the *other* frame's keys (0.5 for uniform attention over
  two frames); high where the block matches content across frames, i.e. where motion matters;
- ``entropy``: row entropy / log N (1 = uniform, 0 = one key), a blurry-vs-sharp attention measure;
- ``max_weight``: each query's largest weight (1/N uniform; near 1 = a single key, e.g. a sink);
- ``gate_map``: the G1 output gate averaged over channels, per pixel (0.5 at initialisation).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["WINDOW_STATS", "window_stat_map", "gate_map", "most_moving_window", "plot_window_stat_overlays"]

WINDOW_STATS = ("cross_frame", "entropy", "max_weight")


def window_stat_map(attn: torch.Tensor, n_h: int, n_w: int, stat: str = "cross_frame", frames: int = 2) -> np.ndarray:
    """Per-window statistic of attention maps (B*n_h*n_w, heads, N, N) -> (B, n_h, n_w) float array,
    averaged over heads and queries. ``stat`` is one of :data:`WINDOW_STATS` (module doc)."""
    if stat not in WINDOW_STATS:
        raise ValueError(f"window_stat_map: stat must be one of {', '.join(WINDOW_STATS)}, got {stat!r}")
    if attn.dim() != 4 or attn.shape[-1] != attn.shape[-2]:
        raise ValueError(f"window_stat_map: attn must be (windows, heads, N, N), got {tuple(attn.shape)}")
    n_win, _, n, _ = attn.shape
    if n_h < 1 or n_w < 1 or n_win % (n_h * n_w):
        raise ValueError(f"window_stat_map: {n_win} windows is not a multiple of n_h*n_w = {n_h}*{n_w}")
    a = attn.detach().double()
    if stat == "cross_frame":
        if n % frames or frames < 2:
            raise ValueError(f"window_stat_map: N={n} tokens cannot be split into {frames} frames")
        per = n // frames
        frame_of = torch.arange(n, device=a.device) // per  # (N,)
        other = (frame_of[:, None] != frame_of[None, :]).to(a.dtype)  # (N, N): key in another frame
        val = (a * other).sum(-1)  # (W, heads, N): mass on other-frame keys
    elif stat == "entropy":
        val = -(a.clamp_min(1e-30).log() * a).sum(-1) / np.log(n)  # (W, heads, N)
    else:
        val = a.max(dim=-1).values  # (W, heads, N)
    per_window = val.mean(dim=(1, 2))  # (W,)
    return per_window.reshape(-1, n_h, n_w).cpu().numpy()


def gate_map(gate: torch.Tensor, frame: int = 0) -> np.ndarray:
    """Channel-mean of the output gate of one frame: (B, T, H, W, C) -> (B, H, W) float array."""
    if gate.dim() != 5:
        raise ValueError(f"gate_map: gate must be (B, T, H, W, C), got {tuple(gate.shape)}")
    if not 0 <= frame < gate.shape[1]:
        raise ValueError(f"gate_map: frame must be in 0..{gate.shape[1] - 1}, got {frame}")
    return gate[:, frame].detach().double().mean(dim=-1).cpu().numpy()


def most_moving_window(img0: torch.Tensor, img1: torch.Tensor, cell: int) -> tuple[int, int, float]:
    """(row, col, mean |img1 - img0|) of the ``cell`` x ``cell`` pixel block with the most change.

    img0, img1: (1, 3, H, W) or (3, H, W) float; blocks tile the image from the top-left corner
    (a partial last row/column of blocks is ignored). ``cell`` = window size x stage stride gives the
    attention window that covers the most motion.
    """
    d = (img1.float() - img0.float()).abs()
    d = d.reshape(-1, *d.shape[-2:]).mean(0)  # (H, W)
    h, w = (d.shape[0] // cell) * cell, (d.shape[1] // cell) * cell
    if h == 0 or w == 0:
        raise ValueError(f"most_moving_window: image {tuple(d.shape)} is smaller than one {cell}x{cell} cell")
    blocks = d[:h, :w].reshape(h // cell, cell, w // cell, cell).mean(dim=(1, 3))  # (nh, nw)
    idx = int(blocks.argmax())
    r, c = divmod(idx, blocks.shape[1])
    return r, c, float(blocks[r, c])


_PANELS = (("cross_frame", "attention on the other frame", "viridis"), ("entropy", "attention entropy / log N", "magma"),
           ("max_weight", "largest attention weight", "cividis"))


def plot_window_stat_overlays(image: np.ndarray, stats: dict[str, np.ndarray], gate: np.ndarray, window_px: int,
                              stride: int, title: str = "", width_frac: float = 1.0):
    """The per-window statistics (``stats[s]``: (n_h, n_w) of :func:`window_stat_map`, windows of
    ``window_px`` pixels) and the per-token gate map (``gate``: (h, w) of :func:`gate_map`, tokens of
    ``stride`` pixels) laid over ``image`` (H, W, 3) uint8, 2 x 2 panels with colour bars; the stage map
    may be padded beyond the image, which is cropped to. Returns the Figure."""
    import matplotlib.pyplot as plt

    from .style import figsize, image_axes

    H, W = image.shape[:2]
    fig, axes = plt.subplots(2, 2, figsize=figsize(width_frac, 0.42))
    layers = [(stats[k], window_px, t, cmap, None, None) for k, t, cmap in _PANELS]
    layers.append((gate, stride, "output gate, frame 0 (0.5 = init)", "coolwarm", 0.0, 1.0))
    for ax, (m, px, t, cmap, vmin, vmax) in zip(axes.flat, layers):
        ax.imshow(image)
        h = ax.imshow(m, extent=(0, m.shape[1] * px, m.shape[0] * px, 0), alpha=0.65, cmap=cmap, vmin=vmin, vmax=vmax,
                      interpolation="nearest")
        ax.set_xlim(0, W)
        ax.set_ylim(H, 0)
        ax.set_title(t)
        image_axes(ax)
        fig.colorbar(h, ax=ax, fraction=0.03, pad=0.01, format="%.4g")
    if title:
        fig.suptitle(title)
    return fig
