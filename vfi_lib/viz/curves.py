"""Training curves from run logs (notebooks 10/11/12/40)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["plot_curves"]


def plot_curves(runs: Sequence[Any], key: str, ax=None, label_key: str | None = None, smooth: int = 1, **plot_kw: Any):
    """Plot ``key`` against steps for each run on ``ax`` (created if None); returns the Axes.

    ``runs``: run-log readers (:class:`vfi_lib.train.runlog.Run`: ``name``, ``series(key)``,
    ``config_value``). ``smooth > 1`` applies a trailing moving average of that many points. Runs
    without the key are skipped; the legend uses the run name (or ``run.config_value(label_key)``).
    """
    import matplotlib.pyplot as plt

    if smooth < 1:
        raise ValueError(f"plot_curves: smooth must be >= 1, got {smooth}")
    if ax is None:
        _, ax = plt.subplots()
    for run in runs:
        xs, ys = run.series(key)
        if not xs:
            continue
        if smooth > 1:
            ys = [sum(ys[max(0, i - smooth + 1): i + 1]) / (i + 1 - max(0, i - smooth + 1)) for i in range(len(ys))]
        label = str(run.config_value(label_key, run.name)) if label_key else run.name
        ax.plot(xs, ys, label=label, marker="o" if len(xs) < 4 else None, **plot_kw)
    ax.set_xlabel("step")
    ax.set_ylabel(key)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    return ax
