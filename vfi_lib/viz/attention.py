"""Window attention maps, gate values and attention-sink statistics.

Input is passed in by the caller (this layer imports no model code): the maps that
``vfi_lib.modules.gated_window_attention.GatedWindowAttention`` keeps with ``keep_attn=True``,
``last_attn`` (B*nW, heads, N, N) with N = T*w*w tokens per window in t-major order (frame 0's w*w
tokens, then frame 1's), rows = queries, each row summing to 1; and
``last_gate`` (B, T, H, W, heads*head_dim) in (0, 1).

Attention sink (Xiao et al., 2024; Qiu et al., 2025 show that the G1 output gate removes it): a key
that collects a large share of every query's attention regardless of content. Two numbers per
window and head measure it here: the mass on the window's first token, and the mass on the most
attended key (column mean of the attention matrix, maximised over keys). Uniform attention gives
1/N for both.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from .style import figsize, image_axes

__all__ = [
    "sink_stats",
    "query_attention",
    "plot_window_attention",
    "plot_gate_histogram",
    "plot_sink_comparison",
    "plot_shift_masks",
]


def _check_attn(attn: torch.Tensor) -> None:
    if attn.dim() != 4 or attn.shape[-1] != attn.shape[-2]:
        raise ValueError(f"attention: attn must be (windows, heads, N, N), got shape {tuple(attn.shape)}")


def sink_stats(attn: torch.Tensor) -> dict[str, float]:
    """Attention-sink numbers of attention maps (windows, heads, N, N), averaged over windows and heads.

    Returns ``first_token`` (mean attention on key 0), ``top_key`` (mean over windows/heads of the
    largest column mean), ``max_weight`` (mean of each query's largest weight), ``entropy`` (mean
    row entropy / log N, 1 = uniform) and ``uniform`` = 1/N, the no-sink reference.
    """
    _check_attn(attn)
    a = attn.detach().double()
    n = a.shape[-1]
    col = a.mean(dim=-2)  # (W, heads, N): share of the window's attention each key receives
    ent = -(a.clamp_min(1e-30).log() * a).sum(-1) / np.log(n)  # (W, heads, N)
    return {
        "first_token": float(col[..., 0].mean()),
        "top_key": float(col.max(dim=-1).values.mean()),
        "max_weight": float(a.max(dim=-1).values.mean()),
        "entropy": float(ent.mean()),
        "uniform": 1.0 / n,
    }


def query_attention(attn: torch.Tensor, window: int, head: int, query: int, window_size: int) -> np.ndarray:
    """One query's attention over the keys of its window, reshaped to (T, w, w)."""
    _check_attn(attn)
    n = attn.shape[-1]
    t = n // (window_size * window_size)
    if t * window_size * window_size != n:
        raise ValueError(f"query_attention: N={n} is not T*{window_size}^2")
    return attn[window, head, query].detach().float().reshape(t, window_size, window_size).cpu().numpy()


def plot_window_attention(attn: torch.Tensor, window_size: int, window: int = 0, head: int = 0,
                          queries: tuple[int, ...] = (0,), patches: list[np.ndarray] | None = None,
                          width_frac: float = 1.0):
    """Left: the (N, N) attention matrix of one window and head, frame blocks outlined. Right: for each
    query, its attention over the (T, w, w) keys, one small map per frame, the query marked.
    ``patches`` (T images of the window's pixels) are drawn above when given. Colour scales run from 0
    to max(largest weight, 2/N), so uniform attention (1/N) sits at mid-scale."""
    _check_attn(attn)
    n = attn.shape[-1]
    t = n // (window_size**2)
    rows = 1 + len(queries) + (1 if patches is not None else 0)
    fig = plt.figure(figsize=figsize(width_frac, 0.55))
    gs = fig.add_gridspec(rows, 1 + t, width_ratios=[2.2] + [1] * t)
    ax = fig.add_subplot(gs[:, 0])
    m = attn[window, head].detach().float().cpu().numpy()
    vmax = max(float(m.max()), 2.0 / n)
    h = ax.imshow(m, cmap="magma", vmin=0, vmax=vmax)
    for k in range(1, t):
        ax.axhline(k * window_size**2 - 0.5, color="w", lw=0.8)
        ax.axvline(k * window_size**2 - 0.5, color="w", lw=0.8)
    ax.set_title(f"window {window}, head {head} (uniform: 1/N = {1 / n:.3f})")
    ax.set_xlabel("key (frame-major)")
    ax.set_ylabel("query")
    ax.grid(False)
    for sp in ax.spines.values():
        sp.set_visible(True)
    fig.colorbar(h, ax=ax, fraction=0.046, pad=0.02)
    r0 = 0
    if patches is not None:
        for f in range(t):
            a = fig.add_subplot(gs[0, 1 + f])
            a.imshow(patches[f])
            a.set_title(f"frame {f}", fontsize=7)
            a.axis("off")
        r0 = 1
    for qi, q in enumerate(queries):
        qa = query_attention(attn, window, head, q, window_size)  # (T, w, w)
        qt, qr = divmod(q, window_size**2)
        qy, qx = divmod(qr, window_size)
        for f in range(t):
            a = fig.add_subplot(gs[r0 + qi, 1 + f])
            a.imshow(qa[f], cmap="magma", vmin=0, vmax=max(float(qa.max()), 2.0 / n))
            if f == qt:
                a.plot(qx, qy, marker="x", color="r", ms=5)
            image_axes(a)
            if f == 0:
                a.set_ylabel(f"q{q}", fontsize=7)
            if qi == 0 and patches is None:
                a.set_title(f"keys in frame {f}", fontsize=7)
    return fig


def plot_gate_histogram(gates, ax=None, bins: int = 50, label: str | None = None):
    """Histogram of gate values in (0, 1) with the init value 0.5 marked. Returns the Axes."""
    g = gates.detach().float().flatten().cpu().numpy() if hasattr(gates, "detach") else np.ravel(gates)
    if ax is None:
        _, ax = plt.subplots(figsize=figsize(0.5))
    ax.hist(g, bins=bins, range=(0, 1), alpha=0.7, label=label, density=True)
    ax.axvline(0.5, color="k", ls="--", lw=0.8, label="sigmoid(0) = 0.5 (init)")
    ax.set_xlabel("gate value sigmoid(X W_g)")
    ax.set_ylabel("density")
    ax.legend()
    return ax


def plot_sink_comparison(stats: dict[str, dict[str, float]], keys: tuple[str, ...] = ("first_token", "top_key"),
                         width_frac: float = 0.7):
    """Grouped bars of :func:`sink_stats` for several settings (e.g. gated/ungated, init/trained),
    with the uniform-attention reference 1/N dashed. Returns the Figure."""
    names = list(stats)
    fig, ax = plt.subplots(figsize=figsize(width_frac, 0.55))
    x = np.arange(len(names))
    wd = 0.8 / len(keys)
    for i, k in enumerate(keys):
        ax.bar(x + (i - (len(keys) - 1) / 2) * wd, [stats[s][k] for s in names], wd, label=k.replace("_", " "))
    uni = stats[names[0]]["uniform"]
    ax.axhline(uni, color="k", ls="--", lw=0.8, label=f"uniform 1/N = {uni:.3f}")
    ax.set_xticks(x, names, rotation=15)
    ax.set_ylabel("attention mass")
    ax.legend()
    return fig


def _numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


def plot_shift_masks(region, valid, mask, window: int, shift: int, windows: tuple[int, ...] = (0, -1),
                     width_frac: float = 1.0):
    """Swin shifted-window masking, drawn from the caller's maps (``vfi_lib.notebooks.experiments.
    shift_mask_maps`` takes them from the real module): ``region`` (Hp, Wp) region ids and ``valid``
    (Hp, Wp) bool of the rolled canvas, ``mask`` (nW, N, N) additive window masks (0 = may attend) or
    None (nothing masked). Left, the region ids with window borders; right, the (N, N) masks (white =
    may attend) of the chosen windows."""
    region, valid = _numpy(region).astype(np.float64), _numpy(valid).astype(bool)
    if region.ndim != 2 or region.shape != valid.shape:
        raise ValueError(f"plot_shift_masks: region {region.shape} and valid {valid.shape} must be one (Hp, Wp)")
    mask = None if mask is None else _numpy(mask)
    n_win = (region.shape[0] // window) * (region.shape[1] // window)
    fig, axes = plt.subplots(1, 1 + len(windows), figsize=figsize(width_frac, 0.3))
    ax = axes[0]
    shown = region.copy()
    shown[~valid] = np.nan
    ax.imshow(shown, cmap="tab10", vmin=0, vmax=9)
    for k in range(0, region.shape[1] + 1, window):
        ax.axvline(k - 0.5, color="k", lw=1.0)
    for k in range(0, region.shape[0] + 1, window):
        ax.axhline(k - 0.5, color="k", lw=1.0)
    ax.set_title(f"regions after roll by -{shift}")
    image_axes(ax)
    for a, wi in zip(axes[1:], windows):
        idx = wi % n_win
        allowed = np.ones((window * window,) * 2) if mask is None else (mask[idx] == 0).astype(np.float64)
        a.imshow(allowed, cmap="gray", vmin=0, vmax=1)
        a.set_title(f"window {idx}: {int(allowed.sum())}/{allowed.size} pairs")
        image_axes(a)
    return fig
