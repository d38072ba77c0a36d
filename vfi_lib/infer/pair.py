"""Interpolate between two images: ``python -m vfi_lib.infer.pair A.png B.png -o mid.png``.

    python -m vfi_lib.infer.pair frame0.png frame1.png -o mid.png --ckpt phase2_hybrid_best
    python -m vfi_lib.infer.pair frame0.png frame1.png -o mid.png --t 0.25 --peer rife-4.2x --weights flownet.pkl
    python -m vfi_lib.infer.pair frame0.png frame1.png -o out/ --multi 4 --baseline dis   # 3 frames: t=1/4, 2/4, 3/4

Images load with :func:`vfi_lib.data.load_image` (uint8 RGB; a clear one-line error for missing,
corrupt, 16-bit, RGBA-with-transparency or differently sized inputs) and the result is written as
PNG (or JPEG by the file extension). ``--multi N`` writes ``N - 1`` frames ``<stem>_<k>.png`` into
the ``-o`` folder (recursive 2x for powers of two, direct t = k/N otherwise or with ``--direct``).
Model and runtime flags are the shared ones of :mod:`vfi_lib.cli`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from vfi_lib.infer.interpolate import predict, predict_multi, to_batch, to_uint8


def build_parser() -> argparse.ArgumentParser:
    from vfi_lib.cli import FLOW_SCALE_HELP, add_model_args, add_runtime_args, flow_scale_arg

    ap = argparse.ArgumentParser(prog="python -m vfi_lib.infer.pair", description="Interpolate between two images.")
    ap.add_argument("img0", help="first frame (PNG/JPEG/...)")
    ap.add_argument("img1", help="second frame, same size")
    ap.add_argument("-o", "--output", required=True,
                    help="output image file (single frame) or folder (with --multi)")
    when = ap.add_mutually_exclusive_group()
    when.add_argument("--t", type=float, default=0.5, help="time of the frame, in (0, 1) (default 0.5)")
    when.add_argument("--multi", type=int, help="write MULTI - 1 evenly spaced frames (2, 4, 8, ... or any N >= 2)")
    ap.add_argument("--direct", action="store_true", help="with --multi: direct t = k/N instead of recursive 2x")
    ap.add_argument("--scale", type=flow_scale_arg, default=1.0, help=FLOW_SCALE_HELP + " (default 1)")
    ap.add_argument("--tta", action="store_true", help="average with the 180-degree-rotated prediction")
    ap.add_argument("--tile", type=int, help="tiled inference with this tile size (bounds memory)")
    add_model_args(ap)
    add_runtime_args(ap)
    return ap


@torch.no_grad()
def run_cli(argv: list[str] | None = None) -> list[Path]:
    from vfi_lib.cli import CliError, load_model_from_args, resolve_device
    from vfi_lib.data import DataError, load_image, save_image

    args = build_parser().parse_args(argv)
    a, b = load_image(args.img0), load_image(args.img1)
    if a.shape != b.shape:
        raise DataError(f"{args.img1}: size {b.shape[1]}x{b.shape[0]} differs from {args.img0} "
                        f"({a.shape[1]}x{a.shape[0]}); both frames must have the same size")
    if args.multi is None and not 0.0 < args.t < 1.0:
        raise CliError(f"--t must lie in (0, 1), got {args.t}")
    if args.multi is not None and args.multi < 2:
        raise CliError(f"--multi must be >= 2, got {args.multi}")
    device = resolve_device(args.device)
    model, label = load_model_from_args(args, device)
    x0, x1 = to_batch(a, args.img0, device), to_batch(b, args.img1, device)
    kw = dict(scale=args.scale, tta=args.tta, tile=args.tile, dtype=None if args.dtype == "fp32" else args.dtype)
    out = Path(args.output)
    if args.multi is None:
        if out.suffix.lower() not in (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"):
            raise CliError(f"-o {out}: give an image file name (e.g. mid.png); a folder is for --multi")
        frames, paths = [predict(model, x0, x1, args.t, **kw)], [out]
    else:
        pow2 = args.multi & (args.multi - 1) == 0
        if pow2 and not args.direct:
            frames = predict_multi(model, x0, x1, args.multi.bit_length() - 1, recursive=True, **kw)
        else:
            frames = [predict(model, x0, x1, k / args.multi, **kw) for k in range(1, args.multi)]
        stem = Path(args.img0).stem
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / f"{stem}_{k}of{args.multi}.png" for k in range(1, args.multi)]
    for frame, path in zip(frames, paths):
        save_image(path, to_uint8(frame))
    print(f"{label}: wrote {len(paths)} frame(s): {', '.join(map(str, paths))}")
    return paths


def main(argv: list[str] | None = None) -> int:
    from vfi_lib.cli import main_wrapper

    return main_wrapper(run_cli, argv)


if __name__ == "__main__":
    sys.exit(main())
