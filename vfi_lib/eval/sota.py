"""The thesis plan's benchmark targets as data: the "SOTA Reference" and "Per-Phase Targets" tables.

Numbers are copied from the seed (``README-thesis-vfi.md``, section "Benchmark Targets"); ``None``
stands for the plan's "--" (not reported). Metric keys follow ``vfi_lib.eval`` benchmark names:

    vimeo90k, ucf101           PSNR (dB) on the Vimeo90K triplet test set / UCF101 (DVF split)
    snu_film_hard, snu_film_extreme, xtest_4k   PSNR (dB)

``markdown_table(our_rows)`` renders our results beside the SOTA reference rows, sorted by Vimeo90K
PSNR, and ``check_targets(phase, results)`` compares a result dict with that phase's targets.
``plot_vs_sota`` draws the bar chart of notebook 20.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "SOTA_REFERENCE",
    "SOTA_COLUMNS",
    "PHASE_TARGETS",
    "TARGET_METRICS",
    "METRIC_LABELS",
    "markdown_table",
    "targets_markdown",
    "check_targets",
    "plot_vs_sota",
]

# Vimeo90K triplet / UCF101 PSNR of published 2-frame models (seed: "SOTA Reference").
SOTA_REFERENCE: tuple[dict[str, Any], ...] = (
    {"model": "MA-GCSPA", "venue": "CVPR 2023", "vimeo90k": 36.85, "ucf101": None},
    {"model": "EMA-VFI", "venue": "CVPR 2023", "vimeo90k": 36.64, "ucf101": 35.29},
    {"model": "VFIMamba", "venue": "arXiv 2024", "vimeo90k": 36.64, "ucf101": 35.47},
    {"model": "IQ-VFI", "venue": "CVPR 2024", "vimeo90k": 36.60, "ucf101": None},
    {"model": "AMT-G", "venue": "CVPR 2023", "vimeo90k": 36.53, "ucf101": 35.20},
    {"model": "RIFE-Large", "venue": "ECCV 2022", "vimeo90k": 36.19, "ucf101": 35.28},
)
SOTA_COLUMNS: tuple[str, ...] = ("model", "venue", "vimeo90k", "ucf101")

METRIC_LABELS: dict[str, str] = {
    "vimeo90k": "Vimeo90K (PSNR)",
    "ucf101": "UCF101 (PSNR)",
    "snu_film_hard": "SNU-FILM Hard",
    "snu_film_extreme": "SNU-FILM Extreme",
    "xtest_4k": "X-TEST 4K",
}
TARGET_METRICS: tuple[str, ...] = tuple(METRIC_LABELS)

# Seed "Per-Phase Targets": minimum PSNR per phase (None = no target), and two reference models.
# The plan's parameter budgets of the phases are kept beside them (Phase 1 1.26M, Phase 2 9.0M).
PHASE_TARGETS: dict[str, dict[str, Any]] = {
    "phase1": {"params_m": 1.26, "vimeo90k": 34.5, "ucf101": 34.5, "snu_film_hard": None,
               "snu_film_extreme": None, "xtest_4k": None},
    "phase2": {"params_m": 9.0, "vimeo90k": 35.5, "ucf101": 35.0, "snu_film_hard": 30.0,
               "snu_film_extreme": 26.0, "xtest_4k": None},
    "phase3": {"params_m": None, "vimeo90k": 35.5, "ucf101": 35.0, "snu_film_hard": 30.0,
               "snu_film_extreme": 26.0, "xtest_4k": 30.0},
    "RIFE": {"params_m": None, "vimeo90k": 35.62, "ucf101": 35.28, "snu_film_hard": None,
             "snu_film_extreme": None, "xtest_4k": None},
    "VFIMamba": {"params_m": None, "vimeo90k": 36.64, "ucf101": 35.47, "snu_film_hard": 30.53,
                 "snu_film_extreme": 26.46, "xtest_4k": 30.82},
}
# The plan's relative Phase-2 goal ("SNU-FILM Extreme >= +1.0 dB over Phase 1").
PHASE2_EXTREME_GAIN_DB = 1.0


def _fmt(v: Any, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "--"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _phase_key(phase: int | str) -> str:
    key = f"phase{phase}" if isinstance(phase, int) or str(phase).isdigit() else str(phase)
    if key not in PHASE_TARGETS or not key.startswith("phase"):
        raise ValueError(f"phase must be 1, 2, 3 or 'phase1'..'phase3', got {phase!r}")
    return key


def markdown_table(our_rows: Sequence[Mapping[str, Any]] = (), columns: Sequence[str] = SOTA_COLUMNS,
                   sort_by: str | None = "vimeo90k", digits: int = 2) -> str:
    """The SOTA reference table with ``our_rows`` merged in, as GitHub markdown.

    our_rows: dicts with a ``model`` name and any of the metric keys (``vimeo90k``, ``ucf101``,
    ...); missing values print as ``--``, and our rows are marked in bold. Extra metric columns
    are added when a row of ours has them (e.g. ``snu_film_extreme``). Rows are sorted by
    ``sort_by`` descending (missing last); ``sort_by=None`` keeps SOTA order with ours appended.
    """
    for i, r in enumerate(our_rows):
        if "model" not in r:
            raise ValueError(f"markdown_table: our_rows[{i}] has no 'model' key: {dict(r)}")
    cols = list(columns)
    for r in our_rows:
        cols += [k for k in r if k in METRIC_LABELS and k not in cols]
    rows = [(dict(r), False) for r in SOTA_REFERENCE] + [(dict(r), True) for r in our_rows]
    if sort_by is not None:
        def key(item):
            v = item[0].get(sort_by)
            return (v is None, -(v if v is not None else 0.0))
        rows.sort(key=key)  # stable: ties keep SOTA order
    from vfi_lib.viz.tables import markdown_table as render

    cells = []
    for r, ours in rows:
        row = {c: _fmt(r.get(c), digits) for c in cols}
        cells.append({c: f"**{v}**" for c, v in row.items()} if ours else row)
    return render(cells, cols, headers=[METRIC_LABELS.get(c, c.capitalize()) for c in cols], align=":")


def targets_markdown(our_rows: Mapping[str, Mapping[str, Any]] | None = None, digits: int = 2) -> str:
    """The "Per-Phase Targets" table (rows = benchmarks), plus one column per entry of
    ``our_rows`` ({column name: {metric: value}}), e.g. ``{"ours (phase 1)": {"vimeo90k": 33.6}}``."""
    our_rows = dict(our_rows or {})
    cols = [("Phase 1 (1.26M)", PHASE_TARGETS["phase1"], ">= "), ("Phase 2 (9.0M)", PHASE_TARGETS["phase2"], ">= "),
            ("Phase 3", PHASE_TARGETS["phase3"], ">= "), ("RIFE", PHASE_TARGETS["RIFE"], ""),
            ("VFIMamba", PHASE_TARGETS["VFIMamba"], "")]
    cols += [(name, vals, "") for name, vals in our_rows.items()]
    from vfi_lib.viz.tables import markdown_table as render

    table = []
    for m in TARGET_METRICS:
        row = {"Dataset": METRIC_LABELS[m]}
        for name, vals, prefix in cols:
            v = vals.get(m)
            # targets as the plan writes them (">= 34.5"), results with ``digits`` decimals
            row[name] = None if v is None else (prefix + f"{float(v):.1f}" if prefix else _fmt(float(v), digits))
        table.append(row)
    return render(table, ["Dataset"] + [c[0] for c in cols], align=":")


def check_targets(phase: int | str, results: Mapping[str, float]) -> list[dict[str, Any]]:
    """Compare ``results`` ({metric: PSNR}) with the phase's targets.

    Returns one row per metric that has a target: ``{"metric", "target", "ours", "gap", "met"}``
    with ``gap = ours - target`` and ``met`` None when we have no result for that metric.
    """
    targets = PHASE_TARGETS[_phase_key(phase)]
    unknown = sorted(set(results) - set(TARGET_METRICS))
    if unknown:
        raise ValueError(f"check_targets: unknown metric keys {unknown}; known: {', '.join(TARGET_METRICS)}")
    rows = []
    for m in TARGET_METRICS:
        target = targets.get(m)
        if target is None:
            continue
        ours = results.get(m)
        ours = None if ours is None else float(ours)
        rows.append({"metric": m, "target": target, "ours": ours,
                     "gap": None if ours is None else ours - target,
                     "met": None if ours is None else ours >= target})
    return rows


def plot_vs_sota(our_rows: Sequence[Mapping[str, Any]], metric: str = "vimeo90k", ax=None,
                 target: float | None = None):
    """Horizontal bars of ``metric`` (PSNR, dB) for the SOTA rows that report it and ``our_rows``
    (highlighted), best at the top; ``target`` draws a dashed line (e.g. a phase target)."""
    import matplotlib.pyplot as plt

    if metric not in METRIC_LABELS:
        raise ValueError(f"plot_vs_sota: metric must be one of {', '.join(METRIC_LABELS)}, got {metric!r}")
    rows = [(r["model"], float(r[metric]), False) for r in SOTA_REFERENCE if r.get(metric) is not None]
    rows += [(str(r["model"]), float(r[metric]), True) for r in our_rows if r.get(metric) is not None]
    if not rows:
        raise ValueError(f"plot_vs_sota: no row has a value for {metric!r}")
    rows.sort(key=lambda r: r[1])
    if ax is None:
        _, ax = plt.subplots()
    colors = ["C3" if ours else "0.6" for _, _, ours in rows]
    ax.barh(range(len(rows)), [v for _, v, _ in rows], color=colors)
    ax.set_yticks(range(len(rows)), [m for m, _, _ in rows])
    lo = min(v for _, v, _ in rows)
    ax.set_xlim(max(0.0, lo - 2.0), max(v for _, v, _ in rows) + 0.5)
    for i, (_, v, _) in enumerate(rows):
        ax.text(v, i, f" {v:.2f}", va="center", fontsize=7)
    if target is not None:
        ax.axvline(target, ls="--", lw=0.8, color="0.3", label=f"target {target:.1f} dB")
        ax.legend(loc="lower right")
    ax.set_xlabel(f"{METRIC_LABELS[metric]} (dB)")
    ax.grid(axis="y", visible=False)
    return ax
