"""Small chart types of the notebooks: median bands, log-log timings, stacked and grouped bars,
annotated matrices, the SSD mask pictures, latency scaling and the ablation summary.

Every function draws on a new Figure (or the given Axes) with the thesis sizes of
:func:`vfi_lib.viz.style.figsize` and returns it; none of them saves (use ``save_figure``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from .style import figsize, image_axes

__all__ = [
    "plot_median_bands",
    "plot_loglog_timings",
    "plot_stacked_bars",
    "plot_channel_weights",
    "plot_matrices",
    "plot_ssd_matrices",
    "plot_latency_scaling",
    "latency_fit",
    "plot_ablation_summary",
    "plot_histories",
    "plot_paired",
]


def plot_median_bands(x, series: Mapping[str, np.ndarray], ax=None, band: tuple[float, float] = (10, 90),
                      floor: float | None = None, logy: bool = True, width_frac: float = 0.6, **band_kw: Any):
    """Per label, the median over samples of ``series[label]`` ((len(x), samples)) as a line and the
    ``band`` percentiles as a shaded band (values clipped below at ``floor`` for log axes). Returns the Axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=figsize(width_frac))
    for k, (label, v) in enumerate(series.items()):
        v = np.asarray(v, dtype=float)
        if v.shape[0] != len(x):
            raise ValueError(f"plot_median_bands: {label!r} has {v.shape[0]} rows for {len(x)} x values")
        lo, med, hi = np.percentile(v, band[0], 1), np.median(v, 1), np.percentile(v, band[1], 1)
        if floor is not None:
            lo, med, hi = (np.maximum(a, floor) for a in (lo, med, hi))
        ax.plot(x, med, color=f"C{k}", label=label)
        ax.fill_between(x, lo, hi, color=f"C{k}", alpha=band_kw.get("alpha", 0.18))
    if logy:
        ax.set_yscale("log")
    return ax


def plot_loglog_timings(rows: Sequence[Mapping[str, Any]], x: str, keys: Sequence[str], ax=None,
                        width_frac: float = 0.6, guide: bool = True):
    """``keys`` of ``rows`` against ``x`` on log-log axes, each with a dotted O(x) guide through its
    last point (the linear-scaling reference). Returns the Axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=figsize(width_frac))
    xs = np.array([r[x] for r in rows], float)
    for key, mk in zip(keys, "osd^v"):
        v = np.array([r[key] for r in rows], float)
        ax.loglog(xs, v, marker=mk, label=key)
        if guide:
            ax.loglog(xs, v[-1] * xs / xs[-1], color="0.6", ls=":", lw=0.8)
    ax.set_xlabel(x)
    ax.legend()
    return ax


def plot_stacked_bars(rows: Sequence[Mapping[str, Any]], labels: Sequence[str], key: str = "model", ax=None,
                      xlabel: str = "", width_frac: float = 0.9):
    """Horizontal stacked bars: one bar per row (named by ``rows[i][key]``), one segment per label
    (negative values drawn as 0). Returns the Axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=figsize(width_frac, 0.5))
    left = np.zeros(len(rows))
    names = [str(r[key]) for r in rows]
    for k, lab in enumerate(labels):
        v = np.array([max(float(r.get(lab) or 0.0), 0.0) for r in rows])
        ax.barh(names, v, left=left, label=lab, color=f"C{k % 10}")
        left += v
    ax.set_xlabel(xlabel)
    ax.invert_yaxis()
    ax.legend(fontsize=7, ncol=2)
    return ax


def plot_channel_weights(weights, title: str = "", neutral: float = 0.5, width_frac: float = 0.6):
    """Bars of per-channel weights in (0, 1) with the ``neutral`` value dashed. Returns the Figure."""
    w = weights.detach().float().cpu().numpy() if hasattr(weights, "detach") else np.asarray(weights)
    fig, ax = plt.subplots(figsize=figsize(width_frac))
    ax.bar(np.arange(w.size), w.ravel(), label="frame 0")
    ax.axhline(neutral, color="k", ls="--", lw=0.8, label=f"neutral ({neutral:g})")
    ax.set_xlabel("channel")
    ax.set_ylabel("weight")
    ax.set_title(title)
    ax.legend()
    return fig


def plot_matrices(mats: Mapping[str, Any], vmin: float = 0.0, vmax: float = 1.0, cmap: str = "Blues",
                  annotate: bool = True, width_frac: float = 1.0):
    """Small matrices side by side as heat maps with their entries written in, one colour bar. Returns the Figure."""
    fig, axes = plt.subplots(1, len(mats), figsize=figsize(width_frac, 0.3), squeeze=False)
    for ax, (name, m) in zip(axes[0], mats.items()):
        a = m.detach().float().cpu().numpy() if hasattr(m, "detach") else np.asarray(m, float)
        hm = ax.imshow(a, cmap=cmap, vmin=vmin, vmax=vmax)
        if annotate:
            for (i, j), v in np.ndenumerate(a):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=5.5,
                        color="w" if v > vmin + 0.6 * (vmax - vmin) else "k")
        ax.set_title(name, fontsize=7)
        image_axes(ax)
    fig.colorbar(hm, ax=axes[0].tolist(), fraction=0.02, pad=0.02)
    return fig


def plot_ssd_matrices(L, M, chunk: int, width_frac: float = 1.0):
    """Left: log10 of the SSD decay mask L (t, s) (zeros blank), right: the SSD matrix M, both with the
    chunk grid (diagonal blocks: the quadratic form; below them: state passing). Returns the Figure."""
    L = np.asarray(L.detach().cpu() if hasattr(L, "detach") else L, float)
    M = np.asarray(M.detach().cpu() if hasattr(M, "detach") else M, float)
    l = L.shape[0]
    fig, axes = plt.subplots(1, 2, figsize=figsize(width_frac, 0.45))
    with np.errstate(divide="ignore"):
        log_l = np.where(L > 0, np.log10(np.maximum(L, 1e-12)), np.nan)
    h0 = axes[0].imshow(log_l, cmap="viridis", vmin=-4, vmax=0)
    axes[0].set_title(r"$\log_{10} L_{ts}$ (decay mask)")
    vm = float(np.abs(M).max()) or 1.0
    h1 = axes[1].imshow(M, cmap="RdBu_r", vmin=-vm, vmax=vm)
    axes[1].set_title(r"$M = L \circ C B^\top \circ \Delta$")
    for ax, h in zip(axes, (h0, h1)):
        for k in range(chunk, l, chunk):
            ax.axhline(k - 0.5, color="k", lw=0.6)
            ax.axvline(k - 0.5, color="k", lw=0.6)
        ax.set_xlabel("source step $s$")
        ax.set_ylabel("target step $t$")
        ax.grid(False)
        fig.colorbar(h, ax=ax, fraction=0.046, pad=0.03)
    axes[0].text(l - 1, 1, "diagonal blocks: quadratic form\nbelow: state passing", ha="right", va="top", fontsize=7)
    return fig


def latency_fit(mp: Sequence[float], ms: Sequence[float]) -> float:
    """Least-squares slope a of ms = a * MP (a line through the origin), in ms per megapixel."""
    mp, ms = np.asarray(mp, float), np.asarray(ms, float)
    return float(mp @ ms / (mp @ mp))


def plot_latency_scaling(rows: Sequence[Mapping[str, Any]], title: str = "", width_frac: float = 0.7):
    """Median latency against megapixels per model (rows with ``model``, ``MP``, ``median_ms``), each with
    its least-squares line through the origin dashed. Returns (Figure, {model: (ms per MP, ratio of the
    largest size's latency to the fit)})."""
    fig, ax = plt.subplots(figsize=figsize(width_frac, 0.7))
    fits = {}
    for i, name in enumerate(dict.fromkeys(r["model"] for r in rows)):
        mp = np.array([r["MP"] for r in rows if r["model"] == name], float)
        ms = np.array([r["median_ms"] for r in rows if r["model"] == name], float)
        a = latency_fit(mp, ms)
        grid = np.linspace(0, mp.max() * 1.05, 50)
        ax.plot(mp, ms, "o-", color=f"C{i}", label=name)
        ax.plot(grid, a * grid, "--", color=f"C{i}", lw=0.8, label=f"linear fit: {a:.0f} ms/MP")
        fits[name] = (a, float(ms[np.argmax(mp)] / (a * mp.max())))
    ax.set_xlabel("input size (megapixels)")
    ax.set_ylabel("median latency (ms)")
    ax.set_title(title)
    ax.legend()
    return fig, fits


def plot_ablation_summary(rows: Sequence[Mapping[str, Any]], highlight: str = "hybrid", title: str = "",
                          width_frac: float = 1.0):
    """Left: parameters (M) per ablation, right: best validation PSNR (``highlight`` in red), from rows of
    ``ablation``, ``params_M``, ``best_val_psnr`` (None = not measured). Returns the Figure."""
    fig, axes = plt.subplots(1, 2, figsize=figsize(width_frac, 0.3))
    labels = [r["ablation"] for r in rows]
    axes[0].barh(labels, [r.get("params_M") or 0 for r in rows], color="0.55")
    axes[0].set_xlabel("parameters (M)")
    psnr = np.array([r.get("best_val_psnr") if r.get("best_val_psnr") is not None else np.nan for r in rows], float)
    axes[1].barh(labels, psnr, color=["C3" if a == highlight else "C0" for a in labels])
    if np.isfinite(psnr).any():
        axes[1].set_xlim(np.nanmin(psnr) - 1.0, np.nanmax(psnr) + 0.5)
    axes[1].set_xlabel("best validation PSNR (dB)")
    axes[1].set_yticklabels([])
    for ax in axes:
        ax.invert_yaxis()
        ax.grid(axis="y", visible=False)
    if title:
        fig.suptitle(title)
    return fig


def plot_histories(histories: Mapping[str, Sequence[float]], xlabel: str = "step", ylabel: str = "training loss",
                   width_frac: float = 0.5):
    """One line per named sequence (e.g. the training losses of several variants). Returns the Figure."""
    fig, ax = plt.subplots(figsize=figsize(width_frac))
    for name, v in histories.items():
        ax.plot(np.arange(len(v)), v, label=name, marker="o" if len(v) < 8 else None)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend()
    return fig


def plot_paired(report: Mapping[str, Any], label_a: str = "A", label_b: str = "B", metric: str = "PSNR", ax=None,
                width_frac: float = 0.7):
    """A :func:`vfi_lib.eval.paired.paired_comparison` report with motion: every sample's difference A - B
    against its motion (DIS p95 |F_01|, px, symlog axis), and each motion bin's mean difference with its
    bootstrap 95% interval. Returns the Axes."""
    samples = [r for r in report["samples"] if "motion_px" in r]
    if not samples:
        raise ValueError("plot_paired: the report has no motion (paired_comparison(..., motion=...))")
    if ax is None:
        _, ax = plt.subplots(figsize=figsize(width_frac))
    ax.scatter([r["motion_px"] for r in samples], [r["diff"] for r in samples], s=6, color="0.6", lw=0,
               label="per sample")
    for i, b in enumerate(report["bins"]):
        lo, hi = b["motion_px"]
        hi = max(r["motion_px"] for r in samples) if not np.isfinite(hi) else hi
        x = float(np.sqrt(max(lo, 0.1) * max(hi, 0.1)))  # the bin's geometric middle
        ax.errorbar(x, b["diff"], yerr=[[b["diff"] - b["ci95"][0]], [b["ci95"][1] - b["diff"]]], xerr=None,
                    fmt="o", color="C0", capsize=3, label="bin mean, 95% CI" if i == 0 else None)
        ax.hlines(b["diff"], max(lo, 0.0), hi, color="C0", lw=1.2)
    ax.axhline(0.0, color="0.3", lw=0.8, ls=":")
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlim(0.0, 1.2 * max(r["motion_px"] for r in samples))
    ax.set_xlabel("motion between the inputs, p95 |F01| (px)")
    ax.set_ylabel(f"{metric}: {label_a} - {label_b} (dB)" if metric.upper() == "PSNR" else f"{metric}: {label_a} - {label_b}")
    ax.legend(loc="lower left")
    return ax
