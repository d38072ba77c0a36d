"""Pictures of the SS2D scan orders, drawn from index maps the caller reads off the model.

Nothing here knows how the model scans: the caller passes the visiting order of each direction, a
(4, L, 3) integer array of (t, y, x) per scan step (``vfi_lib.notebooks.experiments.scan_order`` reads
it off :func:`vfi_lib.modules.scan.cross_scan` applied to a coordinate map), and the pictures draw that
path, including the interleave of the cross-frame scan (each pixel cell is split in ``frames`` parts,
frame 0 left). Grid height, width and frame count are read off the coordinates.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .style import figsize, image_axes

__all__ = ["plot_scan_path", "plot_scan_paths", "DIRECTION_NAMES"]

DIRECTION_NAMES = ("row-major", "column-major", "row-major reversed", "column-major reversed")


def _grid(order: np.ndarray) -> tuple[int, int, int]:
    """(frames, h, w) of the token grid that an order (..., L, 3) of (t, y, x) visits, checked to be a
    permutation of that grid in every direction."""
    o = np.asarray(order)
    if o.ndim < 2 or o.shape[-1] != 3 or o.shape[-2] == 0:
        raise ValueError(f"scan order must be (L, 3) or (directions, L, 3) of (t, y, x), got shape {o.shape}")
    if not np.issubdtype(o.dtype, np.integer) or o.min() < 0:
        raise ValueError("scan order must hold non-negative integer (t, y, x) coordinates")
    frames, h, w = (int(v) + 1 for v in o.reshape(-1, 3).max(axis=0))
    if o.shape[-2] != frames * h * w or any(
            len({tuple(p) for p in seq}) != frames * h * w for seq in o.reshape(-1, o.shape[-2], 3)):
        raise ValueError(f"scan order does not visit each of the {frames} x {h} x {w} tokens exactly once")
    return frames, h, w


def _cell_centre(t: int, y: int, x: int, frames: int) -> tuple[float, float]:
    """Plot position of token (t, y, x): pixel cells are unit squares, split into ``frames`` columns."""
    return x + (t + 0.5) / frames - 0.5, y


def plot_scan_path(ax, order: np.ndarray, numbers: bool = True, cmap: str = "viridis") -> None:
    """Draw one direction's path on ``ax``: ``order`` (L, 3) int of (t, y, x) per scan step. Grid, arrows
    between consecutive tokens coloured by step, the step number on every token, a start marker."""
    frames, h, w = _grid(order)
    order = np.asarray(order)
    pts = np.array([_cell_centre(t, y, x, frames) for t, y, x in order])  # (L, 2)
    L = len(pts)
    colors = plt.get_cmap(cmap)(np.linspace(0, 1, max(L - 1, 1)))
    for xg in range(w + 1):
        ax.axvline(xg - 0.5, color="0.6", lw=0.6)
    for yg in range(h + 1):
        ax.axhline(yg - 0.5, color="0.6", lw=0.6)
    if frames > 1:  # split each pixel cell into its frame halves
        for xg in range(w):
            for k in range(1, frames):
                ax.plot([xg - 0.5 + k / frames] * 2, [-0.5, h - 0.5], color="0.85", lw=0.5, ls=":")
        for t in range(frames):  # shade frame 1 halves so the two frames read apart
            if t % 2 == 1:
                for xg in range(w):
                    ax.add_patch(plt.Rectangle((xg - 0.5 + t / frames, -0.5), 1 / frames, h, color="0.93", zorder=0))
    for i in range(L - 1):
        (x0, y0), (x1, y1) = pts[i], pts[i + 1]
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                    arrowprops=dict(arrowstyle="-|>", color=colors[i], lw=0.9, shrinkA=3, shrinkB=3,
                                    mutation_scale=6))
    ax.plot(*pts[0], marker="o", color="tab:red", ms=4, zorder=3)
    if numbers:
        fs = max(4.0, min(7.0, 40.0 / max(h, w * frames)))
        for i, (px, py) in enumerate(pts):
            ax.text(px - 0.42 / frames, py - 0.42, str(i), ha="left", va="top", fontsize=fs, color="0.15",
                    zorder=4)  # upper-left corner of the token's cell, clear of the arrows
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)  # image coordinates: y down
    ax.set_aspect("equal")
    image_axes(ax, frame=False)


def plot_scan_paths(orders: np.ndarray, numbers: bool = True, width_frac: float = 1.0):
    """The four scan orders side by side, ``orders`` (4, L, 3) int of (t, y, x) per scan step (frames = 2:
    the interleaved cross-frame scan, frame 0 in the left and frame 1 in the right half of each cell).
    Returns the Figure."""
    frames, h, w = _grid(orders)
    if len(orders) != len(DIRECTION_NAMES):
        raise ValueError(f"plot_scan_paths: expected {len(DIRECTION_NAMES)} directions, got {len(orders)}")
    fig, axes = plt.subplots(1, 4, figsize=figsize(width_frac, 0.3 * h / w + 0.05))
    for d, ax in enumerate(axes):
        plot_scan_path(ax, orders[d], numbers=numbers)
        ax.set_title(DIRECTION_NAMES[d], fontsize=8)
    if frames > 1:
        fig.suptitle(f"interleaved cross-frame scan: {frames} frames per pixel cell (frame 0 left)", fontsize=9)
    return fig
