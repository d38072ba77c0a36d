"""Training curves of finished runs as one figure (README / outputs/reference), from their run logs.

    python scripts/plot_runs.py RUN_DIR [RUN_DIR ...] --out outputs/reference/x/curves.png \
        [--keys loss loss_flow_sup val_psnr] [--smooth 5]

A RUN_DIR is a trainer log directory (``metrics.jsonl`` + ``config.json``, as ``--log_dir/<exp>``).
One panel per key; runs without a key are left out of that panel (:func:`vfi_lib.viz.plot_curves`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_KEYS = ("loss", "loss_flow_sup", "val_psnr")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python scripts/plot_runs.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, help="run log directories (metrics.jsonl inside)")
    ap.add_argument("--out", type=Path, required=True, help="figure path (.png or .pdf)")
    ap.add_argument("--keys", nargs="+", default=list(DEFAULT_KEYS), help="metrics to plot, one panel each")
    ap.add_argument("--smooth", type=int, default=5, help="trailing moving average for training keys")
    args = ap.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vfi_lib.train.runlog import load_run
    from vfi_lib.viz import plot_curves

    missing = [str(d) for d in args.runs if not (d / "metrics.jsonl").is_file()]
    if missing:
        ap.error(f"no metrics.jsonl in: {', '.join(missing)}")
    runs = [load_run(d) for d in args.runs]
    fig, axes = plt.subplots(1, len(args.keys), figsize=(4.2 * len(args.keys), 3.4), squeeze=False)
    for ax, key in zip(axes[0], args.keys):
        plot_curves(runs, key, ax=ax, smooth=1 if key.startswith("val_") else args.smooth)
        ax.set_title(key)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
