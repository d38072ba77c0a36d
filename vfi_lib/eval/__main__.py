"""``python -m vfi_lib.eval <benchmark> (--ckpt NAME|PATH | --baseline B | --peer P --weights W) --path DATA``
(also ``vfi-eval``).

Examples::

    python -m vfi_lib.eval vimeo90k --ckpt phase1_hybrid_v2_best --path /data/vimeo_triplet
    python -m vfi_lib.eval snu_film --ckpt ckpt/phase2/best.pt --path /data/SNU-FILM --level hard
    python -m vfi_lib.eval xtest --ckpt phase3_best --path /data/X4K1000FPS --resolution 4k --recursive
    python -m vfi_lib.eval ucf101 --baseline average --path /data/ucf101_interp_ours --limit 20
    python -m vfi_lib.eval clips --ckpt phase2_best --path ~/my_footage --gap 2     # your own videos
    python -m vfi_lib.eval vimeo90k --peer rife-4.2x --weights .whl/peers/rife-4.2x/flownet.pkl --path ...

Shared flags (``--device``, ``--dtype``, ``--compile``, ``--ssm_backend``, model source) are those of
:mod:`vfi_lib.cli`. Results: ``outputs/benchmarks/<stem>__<run id>.{csv,json,md}``, the stem
naming the benchmark, model and every non-default setting (:func:`vfi_lib.eval.benchmarks.result_stem`).
"""

from __future__ import annotations

import argparse
import sys

from vfi_lib.eval.protocols import BENCHMARKS, SNU_LEVELS


def build_parser() -> argparse.ArgumentParser:
    from vfi_lib.cli import FLOW_SCALE_HELP, add_model_args, add_runtime_args, flow_scale_arg

    ap = argparse.ArgumentParser(prog="python -m vfi_lib.eval", description="Run a VFI benchmark with the peers' protocol.")
    ap.add_argument("benchmark", choices=BENCHMARKS)
    ap.add_argument("--path", required=True, help="dataset root in its original layout")
    add_model_args(ap)
    add_runtime_args(ap)
    p = ap.add_argument_group("protocol")
    p.add_argument("--level", choices=SNU_LEVELS, help="SNU-FILM level (default extreme)")
    p.add_argument("--resolution", choices=("2k", "4k"), help="xtest / xiph resolution (default 4k)")
    p.add_argument("--tta", action="store_true", help="average with the 180-degree-flipped prediction")
    p.add_argument("--round", action="store_true", help="round predictions to uint8 even where the protocol does not")
    p.add_argument("--scale", type=flow_scale_arg, help="override the protocol's flow scale; " + FLOW_SCALE_HELP)
    p.add_argument("--recursive", action="store_true", help="xtest: t = k/8 by recursive 2x instead of direct t")
    p.add_argument("--limit", type=int, help="evaluate only the first N samples")
    p.add_argument("--gap", type=int, help="clips: frame gap g of the triplets (i, i+g, i+2g); 2 = large motion (default 1)")
    ap.add_argument("--out_dir", help="result folder (default outputs/benchmarks)")
    ap.add_argument("--no_progress", action="store_true", help="hide the progress bar")
    return ap


def run_cli(argv: list[str] | None = None) -> dict:
    """Parse ``argv``, run the benchmark, print the markdown row; returns the summary."""
    from vfi_lib.cli import load_model_from_args, model_settings, resolve_device
    from vfi_lib.eval.benchmarks import markdown_row, run_benchmark

    args = build_parser().parse_args(argv)
    device = resolve_device(args.device)
    model, name = load_model_from_args(args, device)
    if args.benchmark == "xtest" and not args.recursive and not getattr(model, "supports_arbitrary_t", True):
        print(f"note: {name} interpolates t = 0.5 only; xtest's t = k/8 frames use --recursive 2x", file=sys.stderr)
        args.recursive = True
    summary = run_benchmark(
        model, args.benchmark, args.path, level=args.level, resolution=args.resolution, tta=args.tta,
        round=True if args.round else None, scale=args.scale, limit=args.limit, recursive=args.recursive,
        device=device, dtype=None if args.dtype == "fp32" else args.dtype, model_name=name,
        out_dir=args.out_dir, progress=not args.no_progress, settings=model_settings(args), gap=args.gap,
    )
    header, row = markdown_row(summary)
    print(header)
    print(row)
    print(f"results: {summary['files']['json']}")
    return summary


def main(argv: list[str] | None = None) -> int:
    """Console entry point (``vfi-eval``): 0 on success, 2 with a one-line error otherwise."""
    from vfi_lib.cli import main_wrapper

    return main_wrapper(run_cli, argv)


if __name__ == "__main__":
    sys.exit(main())
