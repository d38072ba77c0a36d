"""Pictures of the SS2D scan orders, drawn from the real index maps of ``vfi_lib.modules.scan``.

Nothing here re-implements a scan: a map whose token at (t, h, w) holds its own coordinates is
pushed through :func:`vfi_lib.modules.scan.cross_scan`, and the sequence that comes out is the path
the SSM walks. So the pictures show what the model does, including the interleave of the
cross-frame scan (each pixel cell is split in two halves, frame 0 left and frame 1 right).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from vfi_lib.modules.scan import cross_scan

from .style import figsize, image_axes

__all__ = ["scan_order", "plot_scan_path", "plot_scan_paths", "DIRECTION_NAMES"]

DIRECTION_NAMES = ("row-major", "column-major", "row-major reversed", "column-major reversed")


def scan_order(h: int, w: int, frames: int = 1) -> np.ndarray:
    """The visiting order of every direction: (4, L, 3) int array of (t, y, x) per scan step,
    L = frames*h*w, read off ``cross_scan`` applied to a coordinate map."""
    if h < 1 or w < 1 or frames < 1:
        raise ValueError(f"scan_order: h, w, frames must be >= 1, got {h}, {w}, {frames}")
    t, y, x = torch.meshgrid(torch.arange(frames), torch.arange(h), torch.arange(w), indexing="ij")
    coords = torch.stack([t, y, x], dim=-1)[None].double()  # (1, T, H, W, 3)
    seq = cross_scan(coords)[0]  # (4, L, 3)
    return seq.round().long().numpy()


def _cell_centre(t: int, y: int, x: int, frames: int) -> tuple[float, float]:
    """Plot position of token (t, y, x): pixel cells are unit squares, split into ``frames`` columns."""
    return x + (t + 0.5) / frames - 0.5, y


def plot_scan_path(ax, h: int, w: int, direction: int, frames: int = 1, numbers: bool = True,
                   cmap: str = "viridis") -> None:
    """Draw one direction's path on ``ax``: grid, arrows between consecutive tokens coloured by step,
    the step number on every token, a start marker."""
    order = scan_order(h, w, frames)[direction]  # (L, 3)
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


def plot_scan_paths(h: int = 4, w: int = 4, frames: int = 1, numbers: bool = True,
                    width_frac: float = 1.0):
    """The four scan orders of an h x w grid side by side (frames = 2: the interleaved
    cross-frame scan, frame 0 in the left and frame 1 in the right half of each cell). Returns the Figure."""
    fig, axes = plt.subplots(1, 4, figsize=figsize(width_frac, 0.3 * h / w + 0.05))
    for d, ax in enumerate(axes):
        plot_scan_path(ax, h, w, d, frames=frames, numbers=numbers)
        ax.set_title(DIRECTION_NAMES[d], fontsize=8)
    if frames > 1:
        fig.suptitle(f"interleaved cross-frame scan: {frames} frames per pixel cell (frame 0 left)", fontsize=9)
    return fig
