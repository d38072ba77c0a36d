"""Frames side by side: inputs, prediction, ground truth and the error map.

Two kinds of output: matplotlib figures for the thesis (``show_images``, ``plot_prediction``) and
plain uint8 mosaics drawn with OpenCV (``compose_row``), fast enough to redraw on every slider move
of the frame scrubber. Images may be (H, W, 3) uint8 / float numpy arrays or (3, H, W) /
(1, 3, H, W) tensors in [0, 1] (library convention); ``to_image`` normalises them to uint8 RGB.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import colormaps

from .style import figsize, image_axes

__all__ = [
    "to_image",
    "error_map",
    "error_to_color",
    "compose_row",
    "encode_png",
    "show_images",
    "plot_prediction",
    "features_to_rgb",
    "plot_triplets",
    "plot_warp_errors",
]


def to_image(x) -> np.ndarray:
    """(H, W, 3) uint8 RGB from a numpy image (uint8, or float in [0, 1]) or a tensor (3, H, W) /
    (1, 3, H, W) float in [0, 1] or uint8. Gray (H, W) arrays are repeated to 3 channels."""
    if hasattr(x, "detach"):
        x = x.detach().cpu()
        if x.dim() == 4:
            if x.shape[0] != 1:
                raise ValueError(f"to_image: expected one image, got a batch of shape {tuple(x.shape)}")
            x = x[0]
        if x.dim() != 3 or x.shape[0] not in (1, 3):
            raise ValueError(f"to_image: tensor must be (3, H, W) or (1, 3, H, W), got {tuple(x.shape)}")
        x = x.permute(1, 2, 0).numpy()
    a = np.asarray(x)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[-1] not in (1, 3):
        raise ValueError(f"to_image: array must be (H, W, 3) or (H, W), got shape {a.shape}")
    if a.shape[-1] == 1:
        a = np.repeat(a, 3, axis=-1)
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"to_image: expected uint8 or float in [0, 1], got dtype {a.dtype}")
    return np.ascontiguousarray(np.clip(np.round(a.astype(np.float64) * 255.0), 0, 255).astype(np.uint8))


def error_map(pred, gt) -> np.ndarray:
    """Per-pixel absolute error averaged over RGB, in uint8 grey levels: (H, W) float32 in [0, 255]."""
    p, g = to_image(pred).astype(np.float32), to_image(gt).astype(np.float32)
    if p.shape != g.shape:
        raise ValueError(f"error_map: pred {p.shape} and gt {g.shape} differ in shape")
    return np.abs(p - g).mean(axis=-1)


def error_to_color(err: np.ndarray, vmax: float | None = None, cmap: str = "inferno") -> np.ndarray:
    """Colour an (H, W) error map with ``cmap``, 0 -> dark, ``vmax`` (default: 99th percentile,
    at least 1) -> bright. Returns (H, W, 3) uint8 RGB."""
    e = np.asarray(err, dtype=np.float32)
    if e.ndim != 2:
        raise ValueError(f"error_to_color: err must be (H, W), got shape {e.shape}")
    if vmax is None:
        vmax = max(float(np.percentile(e, 99)) if e.size else 1.0, 1.0)
    lut = (colormaps[cmap](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)  # (256, 3)
    idx = np.clip(e / vmax * 255.0, 0, 255).astype(np.uint8)
    return lut[idx]


def _label(tile: np.ndarray, text: str, strip: int) -> np.ndarray:
    """Put a white header strip with ``text`` above ``tile``."""
    h, w = tile.shape[:2]
    head = np.full((strip, w, 3), 255, np.uint8)
    scale = max(strip / 40.0, 0.3)
    cv2.putText(head, text, (4, int(strip * 0.72)), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0),
                max(1, int(round(scale * 1.5))), cv2.LINE_AA)
    return np.concatenate([head, tile], axis=0)


def compose_row(images: Sequence, labels: Sequence[str] | None = None, height: int | None = None,
                gap: int = 4) -> np.ndarray:
    """Mosaic of images in one row, each resized to ``height`` (default: the first image's), with an
    optional text label above each. ``None`` entries become grey "n/a" tiles. Returns uint8 RGB."""
    if not images:
        raise ValueError("compose_row: no images given")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"compose_row: {len(images)} images but {len(labels)} labels")
    ref = next((to_image(im) for im in images if im is not None), None)
    if ref is None:
        raise ValueError("compose_row: every image is None")
    height = height or ref.shape[0]
    tiles = []
    for im in images:
        if im is None:
            w = int(round(ref.shape[1] * height / ref.shape[0]))
            t = np.full((height, w, 3), 200, np.uint8)
            cv2.putText(t, "n/a", (w // 2 - 18, height // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (90, 90, 90), 1,
                        cv2.LINE_AA)
        else:
            t = to_image(im)
            if t.shape[0] != height:
                w = max(1, int(round(t.shape[1] * height / t.shape[0])))
                t = cv2.resize(t, (w, height), interpolation=cv2.INTER_AREA if t.shape[0] > height
                               else cv2.INTER_NEAREST)
        tiles.append(t)
    if labels is not None:
        strip = max(14, min(28, height // 8))
        tiles = [_label(t, s, strip) for t, s in zip(tiles, labels)]
    sep = np.full((tiles[0].shape[0], gap, 3), 255, np.uint8)
    row = [tiles[0]]
    for t in tiles[1:]:
        row += [sep, t]
    return np.concatenate(row, axis=1)


def encode_png(img: np.ndarray) -> bytes:
    """PNG bytes of an (H, W, 3) uint8 RGB image."""
    ok, buf = cv2.imencode(".png", cv2.cvtColor(to_image(img), cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError("encode_png: OpenCV could not encode the image")
    return buf.tobytes()


def show_images(images: Sequence, titles: Sequence[str] | None = None, ncols: int | None = None,
                width_frac: float = 1.0, cmap: str | None = None, colorbar: bool = False,
                vmin: float | None = None, vmax: float | None = None):
    """A grid of images (RGB, or 2-D arrays drawn with ``cmap`` between ``vmin`` and ``vmax``) without
    ticks; returns the Figure."""
    n = len(images)
    if n == 0:
        raise ValueError("show_images: no images given")
    ncols = ncols or n
    nrows = (n + ncols - 1) // ncols
    first = images[0]
    hw = np.asarray(first).shape[:2] if not hasattr(first, "detach") else tuple(first.shape[-2:])
    aspect = nrows * hw[0] / (ncols * hw[1]) + 0.08 * nrows
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize(width_frac, aspect), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        im = images[i]
        a = np.asarray(im) if not hasattr(im, "detach") else None
        if a is not None and a.ndim == 2:
            h = ax.imshow(a, cmap=cmap or "viridis", vmin=vmin, vmax=vmax)
            if colorbar:
                fig.colorbar(h, ax=ax, fraction=0.046, pad=0.02)
        else:
            ax.imshow(to_image(im))
        if titles is not None:
            ax.set_title(titles[i])
    return fig


def plot_prediction(img0, img1, pred, gt=None, err_vmax: float = 32.0, width_frac: float = 1.0,
                    titles: Sequence[str] = ("frame 0", "frame 1", "prediction", "ground truth"),
                    psnr: float | None = None):
    """Frame 0 | frame 1 | prediction | ground truth | |error| (mean abs over RGB, 0..``err_vmax``
    grey levels, with colour bar; ``psnr``, the caller's score in dB (e.g.
    ``vfi_lib.notebooks.experiments.psnr_u8``), goes into its title). Returns the Figure."""
    ims = [img0, img1, pred] + ([gt] if gt is not None else [])
    names = list(titles[: len(ims)])
    n = len(ims) + (1 if gt is not None else 0)
    h, w = to_image(img0).shape[:2]
    fig, axes = plt.subplots(1, n, figsize=figsize(width_frac, 0.9 * h / (n * w) + 0.05), squeeze=False)
    axes = axes[0]
    for ax, im, t in zip(axes, ims, names):
        ax.imshow(to_image(im))
        ax.set_title(t)
        ax.axis("off")
    if gt is not None:
        err = error_map(pred, gt)
        hdl = axes[-1].imshow(err, cmap="inferno", vmin=0, vmax=err_vmax)
        axes[-1].set_title("|error|" + (f", {psnr:.2f} dB" if psnr is not None else ""))
        axes[-1].axis("off")
        fig.colorbar(hdl, ax=axes[-1], fraction=0.046, pad=0.02)
    return fig


def features_to_rgb(feat, basis=None, clip: float = 2.5, border: int = 1):
    """Feature map (C, H, W) (or (1, C, H, W)) -> its first 3 principal components as an RGB image.

    The PCA basis and the per-component scale are computed on the interior (``border`` pixels cut
    off, where zero padding of convolutions makes outliers) and applied to the whole map; each
    component is standardised, clipped at +-``clip`` std and mapped to [0, 255]. ``basis`` ((C, 3),
    e.g. from another map) reuses a projection so that two maps are coloured alike.
    Returns ((H, W, 3) uint8, basis).
    """
    import torch

    f = feat.detach().float().cpu()
    if f.dim() == 4:
        if f.shape[0] != 1:
            raise ValueError(f"features_to_rgb: expected one map, got a batch of shape {tuple(f.shape)}")
        f = f[0]
    if f.dim() != 3:
        raise ValueError(f"features_to_rgb: feat must be (C, H, W), got shape {tuple(f.shape)}")
    c, h, w = f.shape
    bd = border if min(h, w) > 2 * border + 1 else 0
    inner = f[:, bd:h - bd, bd:w - bd].reshape(c, -1).T  # (N, C) interior pixels
    mean = inner.mean(0, keepdim=True)
    if basis is None:
        k = min(3, c)
        _, _, v = torch.linalg.svd(inner - mean, full_matrices=False)  # rows of v: principal directions
        basis = v[:k].T  # (C, k)
        if k < 3:
            basis = torch.cat([basis, basis.new_zeros(c, 3 - k)], 1)
    scale = ((inner - mean) @ basis).std(0, keepdim=True).clamp_min(1e-8)  # (1, 3)
    p = ((f.reshape(c, -1).T - mean) @ basis) / scale  # (HW, 3)
    img = ((p.clamp(-clip, clip) / clip + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return img.reshape(h, w, 3).numpy(), basis


def plot_triplets(items: Sequence, width_frac: float = 1.0):
    """Dataset items (``img0``, ``gt``, ``img1`` uint8 (3, H, W), ``name``) as rows frame 0 | middle |
    frame 1, the item name on the left; returns the Figure."""
    n = len(items)
    fig, axes = plt.subplots(n, 3, figsize=figsize(width_frac, 0.2 * n), squeeze=False)
    for r, it in enumerate(items):
        for c, (key, title) in enumerate((("img0", "frame 0"), ("gt", "middle (target)"), ("img1", "frame 1"))):
            axes[r, c].imshow(to_image(it[key]))
            image_axes(axes[r, c])
            if r == 0:
                axes[r, c].set_title(title)
        axes[r, 0].set_ylabel(it["name"], fontsize=7)
    return fig


def plot_warp_errors(warped: Sequence, errors: Sequence[np.ndarray], valid: Sequence[np.ndarray], gt,
                     err_vmax: float = 64.0, width_frac: float = 1.0):
    """One row per source k: frame k warped to t | its |error| vs ``gt`` (grey levels, 0..``err_vmax``)
    | the target with the pixels invalid for that source outlined. Returns the Figure."""
    fig, axes = plt.subplots(len(warped), 3, figsize=figsize(width_frac, 0.31 * len(warped)), squeeze=False)
    for r, (w, e, v) in enumerate(zip(warped, errors, valid)):
        axes[r, 0].imshow(to_image(w))
        axes[r, 0].set_title(f"frame {r} warped to t")
        hdl = axes[r, 1].imshow(e, cmap="inferno", vmin=0, vmax=err_vmax)
        axes[r, 1].set_title("|error| vs target")
        axes[r, 2].imshow(to_image(gt))
        axes[r, 2].contour(~np.asarray(v), levels=[0.5], colors="c", linewidths=0.6)
        axes[r, 2].set_title("invalid for this source")
        for ax in axes[r]:
            image_axes(ax)
    fig.colorbar(hdl, ax=axes[:, 1], fraction=0.046, pad=0.02, label="grey levels")
    return fig
