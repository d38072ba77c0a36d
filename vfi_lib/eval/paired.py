"""Paired per-sample comparison of two benchmark results, optionally split by motion magnitude.

Two rows of a quality table differ by a mean; whether that difference is real, and *where* it comes
from, is in the per-sample results that :func:`vfi_lib.eval.run_benchmark` writes (``<stem>.csv``:
``index, name, t, psnr, ssim``). Both runs score the same triplets, so the comparison is paired:

- ``diff = metric_a - metric_b`` per sample (matched by ``name`` and ``t``), its mean and a 95%
  percentile-bootstrap interval of the mean (seeded: the same inputs give the same interval), the
  fraction of samples where A is better, and the samples where A loses most;
- with a motion magnitude per sample (:func:`sample_motion`: the 95th percentile of |F_01| in pixels,
  OpenCV DIS flow between the two input frames), the same statistics per motion bin: "A loses to B on
  large motion" becomes "A loses 0.9 dB on the quarter of triplets moving more than 40 px".

    python -m vfi_lib.eval.paired outputs/benchmarks/A.csv outputs/benchmarks/B.csv \
        --motion clips --path ~/footage --gap 2 --out outputs/paired.json
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["read_samples", "summary_samples", "sample_motion", "paired_comparison", "markdown_report"]

MetricRows = dict[tuple[str, float], float]


def read_samples(path: str | Path, metric: str = "psnr") -> MetricRows:
    """A result CSV (or its JSON, whose ``files.csv`` names it) -> {(name, t): metric}.

    ValueError naming the file when it lacks the columns, has no rows, or repeats a sample.
    """
    path = Path(path)
    if path.suffix == ".json":
        try:
            path = Path(json.loads(path.read_text())["files"]["csv"])
        except (KeyError, TypeError, json.JSONDecodeError) as e:
            raise ValueError(f"{path}: not a benchmark result JSON with files.csv ({type(e).__name__}: {e})") from None
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such per-sample result file (run_benchmark writes <stem>.csv)")
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        cols = reader.fieldnames or []
        missing = [c for c in ("name", "t", metric) if c not in cols]
        if missing:
            raise ValueError(f"{path}: missing column(s) {missing}; has {cols}")
        out: MetricRows = {}
        for row in reader:
            key = (row["name"], round(float(row["t"]), 6))
            if key in out:
                raise ValueError(f"{path}: sample {key[0]!r} at t = {key[1]} appears twice")
            out[key] = float(row[metric])
    if not out:
        raise ValueError(f"{path}: no samples")
    return out


def summary_samples(summary: dict, metric: str = "psnr") -> MetricRows:
    """The per-sample rows of a :func:`vfi_lib.eval.run_benchmark` summary (``summary["samples"]``) as
    {(name, t): metric}, like :func:`read_samples` of its CSV."""
    return {(r["name"], round(float(r["t"]), 6)): float(r[metric]) for r in summary["samples"]}


def sample_motion(dataset, limit: int | None = None, progress: bool = False) -> dict[tuple[str, float], float]:
    """{(name, t): p95 |F_01| px} for the items of a benchmark dataset (``vfi_lib.eval.benchmarks.open_dataset``).

    F_01 is OpenCV DIS flow (medium preset) from ``img0`` to ``img1`` at full resolution: the motion the
    model has to bridge, independent of the model. The 95th percentile, not the mean, because large
    motion is usually local (a moving object over a still background).
    """
    from tqdm.auto import tqdm

    from vfi_lib.model.baselines import dis_flow

    n = len(dataset) if limit is None else min(limit, len(dataset))
    out = {}
    for i in tqdm(range(n), desc="motion (DIS)", disable=not progress, dynamic_ncols=True):
        item = dataset[i]
        a, b = (item[k].permute(1, 2, 0).numpy() for k in ("img0", "img1"))  # (H, W, 3) uint8
        mag = np.linalg.norm(dis_flow(a, b), axis=-1)
        out[(item["name"], round(float(item["t"]), 6))] = float(np.percentile(mag, 95))
    return out


def _stats(d: np.ndarray, a: np.ndarray, b: np.ndarray, rng: np.random.Generator, n_boot: int) -> dict:
    """Statistics of paired differences d = a - b (all (n,))."""
    boots = rng.integers(0, len(d), size=(n_boot, len(d)))
    means = d[boots].mean(1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return {"n": int(len(d)), "mean_a": float(a.mean()), "mean_b": float(b.mean()), "diff": float(d.mean()),
            "ci95": [float(lo), float(hi)], "a_better": float((d > 0).mean())}


def paired_comparison(
    a: MetricRows,
    b: MetricRows,
    motion: dict[tuple[str, float], float] | None = None,
    bins: Sequence[float] | int = 4,
    n_boot: int = 2000,
    seed: int = 0,
    worst: int = 5,
) -> dict:
    """Paired statistics of ``a - b`` over their common samples (module doc).

    a, b: {(name, t): metric} (:func:`read_samples`); motion: {(name, t): px} or None. bins: an int k
    for k equal-count bins (motion quantiles), or explicit increasing edges in px (the last bin is open).
    Returns {"overall": stats, "bins": [stats + "motion_px": [lo, hi]], "samples": [(name, t, diff, motion)]
    (every paired sample), "worst": the ``worst`` samples of lowest diff, "only_a": n, "only_b": n};
    stats = n, mean_a, mean_b, diff, ci95, a_better (fraction with a > b).
    ValueError when the two share no sample or ``motion`` misses one of them.
    """
    keys = sorted(set(a) & set(b))
    if not keys:
        raise ValueError("paired_comparison: the two results share no sample (different benchmarks or settings?)")
    va, vb = np.array([a[k] for k in keys]), np.array([b[k] for k in keys])
    finite = np.isfinite(va) & np.isfinite(vb)  # PSNR of an exact prediction is inf
    keys = [k for k, f in zip(keys, finite) if f]
    va, vb = va[finite], vb[finite]
    if not keys:
        raise ValueError("paired_comparison: no sample has a finite metric in both results")
    d = va - vb
    rng = np.random.default_rng(seed)
    report: dict = {"overall": _stats(d, va, vb, rng, n_boot), "only_a": len(set(a) - set(b)),
                    "only_b": len(set(b) - set(a)), "bins": []}
    m = None
    if motion is not None:
        lacking = [k for k in keys if k not in motion]
        if lacking:
            raise ValueError(f"paired_comparison: no motion for {len(lacking)} sample(s), e.g. {lacking[0]}")
        m = np.array([motion[k] for k in keys])
        if isinstance(bins, int):
            if bins < 1:
                raise ValueError(f"paired_comparison: bins must be >= 1, got {bins}")
            edges = np.quantile(m, np.linspace(0, 1, bins + 1))[:-1]
        else:
            edges = np.asarray(list(bins), dtype=float)
            if len(edges) < 1 or np.any(np.diff(edges) <= 0):
                raise ValueError(f"paired_comparison: bin edges must be increasing, got {list(bins)}")
        edges = np.unique(edges)
        which = np.clip(np.searchsorted(edges, m, side="right") - 1, 0, len(edges) - 1)
        for j, lo in enumerate(edges):
            sel = which == j
            if sel.any():
                hi = float(edges[j + 1]) if j + 1 < len(edges) else math.inf
                report["bins"].append({"motion_px": [float(lo), hi], **_stats(d[sel], va[sel], vb[sel], rng, n_boot)})
    report["samples"] = [{"name": k[0], "t": k[1], "diff": float(x), **({"motion_px": float(m[i])} if m is not None else {})}
                         for i, (k, x) in enumerate(zip(keys, d))]
    report["worst"] = [report["samples"][i] for i in np.argsort(d)[:worst]]
    return report


def markdown_report(report: dict, label_a: str = "A", label_b: str = "B", metric: str = "PSNR") -> str:
    """The report as markdown: one row overall and one per motion bin."""
    head = (f"| samples | n | {label_a} {metric} | {label_b} {metric} | {label_a} - {label_b} | 95% CI | "
            f"{label_a} better |\n|---|---|---|---|---|---|---|")

    def row(name: str, s: dict) -> str:
        return (f"| {name} | {s['n']} | {s['mean_a']:.2f} | {s['mean_b']:.2f} | {s['diff']:+.2f} | "
                f"[{s['ci95'][0]:+.2f}, {s['ci95'][1]:+.2f}] | {100 * s['a_better']:.0f}% |")

    lines = [head, row("all", report["overall"])]
    for s in report["bins"]:
        lo, hi = s["motion_px"]
        lines.append(row(f"motion {lo:.1f}-{hi:.1f} px" if math.isfinite(hi) else f"motion >= {lo:.1f} px", s))
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    from vfi_lib.eval.protocols import BENCHMARKS, SNU_LEVELS

    ap = argparse.ArgumentParser(prog="python -m vfi_lib.eval.paired", description=__doc__.split("\n\n")[0])
    ap.add_argument("a", help="per-sample result of model A (outputs/benchmarks/<stem>.csv or .json)")
    ap.add_argument("b", help="per-sample result of model B, same benchmark")
    ap.add_argument("--labels", nargs=2, default=("A", "B"), metavar=("A", "B"), help="names in the table")
    ap.add_argument("--metric", default="psnr", help="column to compare (default psnr)")
    ap.add_argument("--motion", choices=BENCHMARKS, help="split by motion: the benchmark whose inputs to measure")
    ap.add_argument("--path", help="with --motion: the dataset root, as for python -m vfi_lib.eval")
    ap.add_argument("--level", choices=SNU_LEVELS, help="with --motion snu_film: the level (default extreme)")
    ap.add_argument("--gap", type=int, help="with --motion clips: the triplets' frame gap (default 1)")
    ap.add_argument("--bins", default="4", help="k equal-count motion bins, or comma-separated edges in px (default 4)")
    ap.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    ap.add_argument("--out", type=Path, help="write the report (and the per-sample motion) as JSON here")
    ap.add_argument("--plot", type=Path, help="with --motion: save the difference-vs-motion figure here (.png, .pdf)")
    return ap


def _bins_arg(text: str) -> int | list[float]:
    """``--bins``: an int k (equal-count bins) or comma-separated edges in px."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise ValueError(f"--bins {text!r}: expected a bin count (4) or comma-separated edges in px (0,8,32)") from None


def run_cli(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    if args.motion and not args.path:
        raise ValueError("--motion needs --path (the dataset root whose inputs to measure)")
    if args.plot and not args.motion:
        raise ValueError("--plot needs --motion (the figure is the difference against the motion)")
    bins = _bins_arg(args.bins)
    a, b = read_samples(args.a, args.metric), read_samples(args.b, args.metric)
    motion = None
    if args.motion:
        from vfi_lib.eval.benchmarks import open_dataset
        from vfi_lib.eval.protocols import get_protocol

        level = (args.level or "extreme") if args.motion == "snu_film" else None
        ds = open_dataset(args.motion, args.path, level, get_protocol(args.motion), gap=args.gap or 1)
        motion = sample_motion(ds, progress=True)
    report = paired_comparison(a, b, motion, bins=bins, seed=args.seed)
    report.update(a=str(args.a), b=str(args.b), labels=list(args.labels), metric=args.metric)
    text = markdown_report(report, *args.labels, metric=args.metric.upper())
    print(text)
    print(f"lowest {args.labels[0]} - {args.labels[1]}:")
    for w in report["worst"]:
        extra = f", motion {w['motion_px']:.1f} px" if "motion_px" in w else ""
        print(f"  {w['name']} t={w['t']}: {w['diff']:+.2f}{extra}")
    if args.plot:
        from vfi_lib.viz.plots import plot_paired

        args.plot.parent.mkdir(parents=True, exist_ok=True)
        plot_paired(report, *args.labels, metric=args.metric.upper()).figure.savefig(args.plot, dpi=200,
                                                                                       bbox_inches="tight")
        print(f"wrote {args.plot}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        dump = {**report, "markdown": text}
        if motion is not None:
            dump["motion"] = [{"name": k[0], "t": k[1], "p95_px": v} for k, v in sorted(motion.items())]
        args.out.write_text(json.dumps(dump, indent=2) + "\n")
        print(f"wrote {args.out}")
    return report


def main(argv: list[str] | None = None) -> int:
    try:
        run_cli(argv)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
