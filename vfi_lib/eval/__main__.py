"""``python -m vfi_lib.eval <benchmark> --ckpt NAME|PATH --path DATA [options]`` (also ``vfi-eval``).

Examples::

    python -m vfi_lib.eval vimeo90k --ckpt phase1_hybrid_v2_best --path /data/vimeo_triplet
    python -m vfi_lib.eval snu_film --ckpt ckpt/phase2/best.pt --path /data/SNU-FILM --level hard
    python -m vfi_lib.eval xtest --ckpt phase3_best --path /data/X4K1000FPS --resolution 4k --recursive
    python -m vfi_lib.eval ucf101 --baseline average --path /data/ucf101_interp_ours --limit 20

Results: ``outputs/benchmarks/<benchmark>[_<level>][_<res>]_<model>.{csv,json,md}``.
"""

from __future__ import annotations

import argparse
import sys

from vfi_lib.eval.protocols import BENCHMARKS, SNU_LEVELS


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m vfi_lib.eval", description="Run a VFI benchmark with the peers' protocol.")
    ap.add_argument("benchmark", choices=BENCHMARKS)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--ckpt", help="checkpoint name (<exp>_best, <exp>_latest, <exp>) or path")
    src.add_argument("--baseline", choices=("average", "dis"), help="evaluate a baseline instead of a checkpoint")
    ap.add_argument("--path", required=True, help="dataset root in its original layout")
    ap.add_argument("--level", choices=SNU_LEVELS, help="SNU-FILM level (default extreme)")
    ap.add_argument("--resolution", choices=("2k", "4k"), help="xtest / xiph resolution (default 4k)")
    ap.add_argument("--tta", action="store_true", help="average with the 180-degree-flipped prediction")
    ap.add_argument("--round", action="store_true", help="round predictions to uint8 even where the protocol does not")
    ap.add_argument("--scale", type=float, help="override the protocol's flow scale")
    ap.add_argument("--recursive", action="store_true", help="xtest: t = k/8 by recursive 2x instead of direct t")
    ap.add_argument("--limit", type=int, help="evaluate only the first N samples")
    ap.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    ap.add_argument("--dtype", choices=("bf16", "fp16", "fp32"), help="autocast dtype (GPU)")
    ap.add_argument("--ckpt_dir", help="checkpoint root for names (default ckpt/ or $VFI_CKPT_DIR)")
    ap.add_argument("--out_dir", default="outputs/benchmarks")
    ap.add_argument("--no_progress", action="store_true", help="hide the progress bar")
    return ap


def run_cli(argv: list[str] | None = None) -> dict:
    """Parse ``argv``, run the benchmark, print the markdown row; returns the summary."""
    args = build_parser().parse_args(argv)
    from vfi_lib.eval.benchmarks import markdown_row, run_benchmark

    if args.baseline:
        from vfi_lib.eval.baselines import build_baseline

        model, name = build_baseline(args.baseline), f"baseline_{args.baseline}"
    else:
        from vfi_lib.eval.registry import display_name, load_named_model

        model = load_named_model(args.ckpt, device=args.device, ckpt_dir=args.ckpt_dir)
        name = display_name(args.ckpt, args.ckpt_dir)
    summary = run_benchmark(
        model, args.benchmark, args.path, level=args.level, resolution=args.resolution, tta=args.tta,
        round=True if args.round else None, scale=args.scale, limit=args.limit, recursive=args.recursive,
        device=args.device, dtype=None if args.dtype in (None, "fp32") else args.dtype, model_name=name,
        out_dir=args.out_dir, progress=not args.no_progress,
    )
    header, row = markdown_row(summary)
    print(header)
    print(row)
    print(f"results: {summary['files']['json']}")
    return summary


def main(argv: list[str] | None = None) -> int:
    """Console entry point (``vfi-eval``): 0 on success, 2 with a one-line error otherwise."""
    from vfi_lib.train.checkpoint import CheckpointError

    try:
        run_cli(argv)
    except (FileNotFoundError, ValueError, CheckpointError) as e:  # DataError is a ValueError
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
