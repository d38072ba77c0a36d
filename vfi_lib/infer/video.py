"""Video frame-rate up-conversion demo (the thesis plan's ``demo_2x.py``).

``python -m vfi_lib.infer.video --video in.mp4 --multi 2|4|8 --scale 1.0 --ckpt NAME|PATH
--output out.mp4 [--png_out DIR] [--baseline average|dis] [--direct] [--cut_threshold 0.15]
[--tta] [--tile 512] [--dtype bf16] [--device cuda]``

Frames stream through (one frame of look-ahead: constant memory). For each consecutive pair
(f_i, f_i+1) the output gets f_i followed by ``multi - 1`` intermediate frames at t = k / multi
(recursive 2x for powers of two, or direct arbitrary t with ``--direct``); the last input frame is
written ``multi`` times, so N input frames give exactly ``N * multi`` output frames at
``fps * multi`` and the duration is unchanged.

Scene cuts: a pair whose frames, downscaled to 32x32 (INTER_AREA), differ by a mean absolute
value above ``cut_threshold`` (fraction of 255; default 0.15, where ordinary motion stays well below
~0.08) is a cut: its intermediate frames are copies of f_i instead of a blend across the cut
(``--cut_threshold 1`` disables detection).

Any frame size works (the model pads internally). The yuv420 encoders need even sizes, so odd
frames are padded by one replicated row/column in the mp4 only; ``--png_out DIR`` keeps the exact
size (``DIR/00000000.png`` ...). ``--codec auto`` (default) writes H.264 where this OpenCV has it,
else VP9 (both play in browsers and notebooks), else mp4v with a warning.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn as nn
from tqdm.auto import tqdm

from vfi_lib.data.video import CUT_SIZE, cut_score  # noqa: F401  (the scene-cut detector lives in the data layer)
from vfi_lib.infer.interpolate import predict, predict_multi, to_batch, to_uint8


def _even(frame: np.ndarray) -> np.ndarray:
    """Pad (H, W, 3) by one replicated row/column where H or W is odd (for yuv420 encoders)."""
    h, w = frame.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return frame
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def upsample_frames(
    model: nn.Module,
    frames: Iterator[np.ndarray],
    multi: int,
    scale: float | tuple[float, ...] = 1.0,
    recursive: bool | None = None,
    cut_threshold: float = 0.15,
    stats: dict | None = None,
    **kw,
) -> Iterator[np.ndarray]:
    """Yield ``multi`` output frames per input frame (see module doc); streams the input.

    ``recursive`` None: recursive 2x when ``multi`` is a power of two, else direct t = k / multi.
    ``kw``: tta, tile, overlap, dtype for :func:`vfi_lib.infer.interpolate.predict`. ``stats``
    (optional dict) receives ``cuts`` (indices i of cut pairs (i, i+1)) and ``frames_in``.
    """
    if multi < 2:
        raise ValueError(f"--multi must be >= 2, got {multi}")
    pow2 = multi & (multi - 1) == 0
    if recursive is None:
        recursive = pow2
    if recursive and not pow2:
        raise ValueError(f"recursive 2x needs --multi to be a power of two, got {multi}; use --direct")
    p = next(iter(model.parameters()), None)
    device = p.device if p is not None else torch.device("cpu")
    stats = stats if stats is not None else {}
    stats.setdefault("cuts", [])
    it = iter(frames)
    try:
        prev = next(it)
    except StopIteration:
        raise ValueError("the input video has no frames") from None
    n = 1
    for cur in it:
        if cur.shape != prev.shape:
            raise ValueError(f"frame {n} has shape {cur.shape}, frame {n - 1} has {prev.shape}")
        yield prev
        if cut_score(prev, cur) > cut_threshold:
            stats["cuts"].append(n - 1)
            for _ in range(multi - 1):
                yield prev  # duplicate instead of blending across the cut
        else:
            x0, x1 = to_batch(prev, "frame", device), to_batch(cur, "frame", device)
            if recursive:
                mids = predict_multi(model, x0, x1, int(math.log2(multi)), recursive=True, scale=scale, **kw)
            else:
                mids = [predict(model, x0, x1, k / multi, scale=scale, **kw) for k in range(1, multi)]
            for m in mids:
                yield to_uint8(m)
        prev, n = cur, n + 1
    for _ in range(multi):
        yield prev
    stats["frames_in"] = n


def interpolate_video(
    model: nn.Module,
    video: str | Path,
    multi: int = 2,
    output: str | Path | None = None,
    png_out: str | Path | None = None,
    scale: float | tuple[float, ...] = 1.0,
    recursive: bool | None = None,
    cut_threshold: float = 0.15,
    progress: bool = True,
    codec: str = "auto",
    **kw,
) -> dict:
    """Read ``video``, write ``multi`` x frames to ``output`` (mp4, ``codec`` as
    :func:`vfi_lib.data.video.choose_codec`: auto = H.264, else VP9, else mp4v with a warning) and/or
    ``png_out``; returns stats ``{frames_in, frames_out, fps_in, fps_out, size, cuts, output, png_out,
    codec, frames_expected}``. A file that decodes to fewer frames than its container declares
    (truncated or damaged) is processed as far as it goes, with a warning naming both counts."""
    from vfi_lib.data.errors import DataError
    from vfi_lib.data.io import save_image
    from vfi_lib.data.video import VideoReader, VideoWriter

    if output is None and png_out is None:
        raise ValueError("give --output out.mp4 and/or --png_out DIR")
    if output is not None:
        out_dir = Path(output).resolve().parent
        if not out_dir.is_dir():
            raise DataError(f"{output}: output directory {out_dir} does not exist")
    if png_out is not None:
        try:
            Path(png_out).mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DataError(f"{png_out}: cannot create the PNG output directory ({e.strerror})") from None
    stats: dict = {"cuts": []}
    with VideoReader(video) as reader:
        fps = reader.fps
        if not fps or not math.isfinite(fps) or fps <= 0:
            warnings.warn(f"{video}: no frame rate in the container; assuming 25 fps")
            fps = 25.0
        w, h = reader.size
        writer = VideoWriter(output, fps * multi, (w + w % 2, h + h % 2), codec=codec) if output is not None else None
        n_out = 0
        try:
            gen = upsample_frames(model, iter(reader), multi, scale, recursive, cut_threshold, stats, **kw)
            total = reader.count * multi if reader.count > 0 else None
            for frame in tqdm(gen, total=total, disable=not progress, unit="frame", dynamic_ncols=True):
                if writer is not None:
                    writer.write(_even(frame))
                if png_out is not None:
                    save_image(Path(png_out) / f"{n_out:08d}.png", frame)
                n_out += 1
        finally:
            if writer is not None:
                writer.close()
    n_in, expected = stats.get("frames_in", 0), reader.count
    if expected > 0 and n_in < expected - max(1, expected // 100):  # containers may be off by a frame or so
        warnings.warn(f"{video}: the container declares {expected} frames but only {n_in} could be decoded "
                      f"(truncated or damaged file); the output has the {n_in * multi} frames of those")
    return {"frames_in": n_in, "frames_out": n_out, "fps_in": fps, "fps_out": fps * multi,
            "size": (w, h), "cuts": stats["cuts"], "output": str(output) if output else None,
            "png_out": str(png_out) if png_out else None, "codec": writer.codec if writer is not None else None,
            "frames_expected": expected}


def build_parser() -> argparse.ArgumentParser:
    from vfi_lib.cli import FLOW_SCALE_HELP, add_model_args, add_runtime_args, flow_scale_arg

    ap = argparse.ArgumentParser(prog="python -m vfi_lib.infer.video", description="Video frame interpolation demo.")
    ap.add_argument("--video", required=True, help="input video file")
    ap.add_argument("--multi", type=int, default=2, help="frame-rate multiplier (2, 4, 8, ...)")
    ap.add_argument("--scale", type=flow_scale_arg, default=1.0, help=FLOW_SCALE_HELP + " (default 1)")
    add_model_args(ap)
    add_runtime_args(ap)
    ap.add_argument("--output", help="output mp4")
    ap.add_argument("--codec", default="auto", help="auto (H.264, else VP9: both play in browsers and notebooks; "
                    "else mp4v) | h264 | vp9 | mp4v (default auto)")
    ap.add_argument("--png_out", help="write PNG frames to this directory (instead of / besides --output)")
    ap.add_argument("--direct", action="store_true", help="direct arbitrary t instead of recursive 2x")
    ap.add_argument("--cut_threshold", type=float, default=0.15, help="scene-cut threshold (fraction of 255)")
    ap.add_argument("--tta", action="store_true")
    ap.add_argument("--tile", type=int, help="tiled inference with this tile size (memory-limited 4K)")
    ap.add_argument("--no_progress", action="store_true")
    return ap


@torch.no_grad()  # scoped: callers that run this in-process keep their autograd state
def run_cli(argv: list[str] | None = None) -> dict:
    from vfi_lib.cli import load_model_from_args, resolve_device

    args = build_parser().parse_args(argv)
    device = resolve_device(args.device)
    model, _ = load_model_from_args(args, device)
    stats = interpolate_video(
        model, args.video, args.multi, args.output, args.png_out, scale=args.scale,
        recursive=False if args.direct else None, cut_threshold=args.cut_threshold, progress=not args.no_progress,
        codec=args.codec, tta=args.tta, tile=args.tile, dtype=None if args.dtype == "fp32" else args.dtype,
    )
    print(f"{stats['frames_in']} frames at {stats['fps_in']:.3f} fps -> {stats['frames_out']} frames at "
          f"{stats['fps_out']:.3f} fps, {stats['size'][0]}x{stats['size'][1]}, scene cuts after frames "
          f"{stats['cuts'] or 'none'} -> {stats['output'] or stats['png_out']}"
          + (f" ({stats['codec']})" if stats["codec"] else ""))
    return stats


def main(argv: list[str] | None = None) -> int:
    from vfi_lib.cli import main_wrapper

    return main_wrapper(run_cli, argv)


if __name__ == "__main__":
    sys.exit(main())
