"""TimeTest: inference latency, FPS and peak memory at a fixed input size (the peers' TimeTest.py,
made statistically sound: per-run timings, median and p90 instead of one mean).

``python -m vfi_lib.eval.timetest --resolution 1080p|4k|WxH --phase N [--tiny] [--dtype bf16|fp16|fp32]
[--runs N] [--warmup N] [--ckpt NAME|PATH] [--baseline average|dis] [--scale S] [--compile default|cudagraphs]
[--tile N] [--device cuda] [--json PATH]``

Inputs are ``torch.rand`` (seeded; not zeros, which some kernels shortcut). Each run is one
``predict`` call (padding to the model multiple included, batch 1, t = 0.5); on CUDA every run is
bracketed by ``torch.cuda.synchronize()``. Peak memory: ``torch.cuda.max_memory_allocated`` on
CUDA; on CPU the process's peak resident set size (``ru_maxrss``, which includes the Python
process itself). CPU defaults are small (256x256, 5 runs, 1 warm-up) so it finishes anywhere.
Writes JSON to ``outputs/benchmarks/timetest_<phase>_<res>.json`` unless ``--json`` says otherwise.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from vfi_lib.infer.compiled import COMPILE_MODES

RESOLUTIONS = {"1080p": (1920, 1080), "2k": (2048, 1080), "4k": (4096, 2160), "720p": (1280, 720)}
CPU_DEFAULT = "256x256"


def parse_resolution(text: str) -> tuple[int, int]:
    """"1080p" | "4k" | "2k" | "720p" | "WxH" -> (W, H)."""
    key = text.lower()
    if key in RESOLUTIONS:
        return RESOLUTIONS[key]
    m = re.fullmatch(r"(\d+)x(\d+)", key)
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise ValueError(f"--resolution must be one of {', '.join(RESOLUTIONS)} or WxH (e.g. 640x360), got {text!r}")
    return int(m.group(1)), int(m.group(2))


def time_model(
    model: nn.Module,
    width: int,
    height: int,
    runs: int = 100,
    warmup: int = 10,
    dtype: str | None = None,
    scale: float = 1.0,
    device: str | torch.device = "cpu",
    seed: int = 0,
    compile: str = "off",
    tile: int | None = None,
) -> dict:
    """Time ``runs`` forward passes (after ``warmup``) on random (1, 3, height, width) inputs.

    ``compile``: "off" | "default" | "cudagraphs" (:func:`vfi_lib.infer.compile_model`); the first call,
    which compiles, is reported as ``first_call_s`` (None without compile) and is not one of the timed
    runs. ``tile``: tiled inference (:func:`vfi_lib.infer.predict`, overlap min(64, tile/4)), e.g. 512
    to bound memory at 1080p/4K on CPU.
    """
    from vfi_lib.infer.compiled import compile_model
    from vfi_lib.infer.interpolate import predict

    if runs < 1 or warmup < 0:
        raise ValueError(f"runs must be >= 1 and warmup >= 0, got runs={runs}, warmup={warmup}")
    device = torch.device(device)
    model = compile_model(model.to(device).eval(), compile)
    gen = torch.Generator().manual_seed(seed)
    img0 = torch.rand(1, 3, height, width, generator=gen).to(device)
    img1 = torch.rand(1, 3, height, width, generator=gen).to(device)
    cuda = device.type == "cuda"
    dt = None if dtype in (None, "fp32") else dtype

    def once() -> float:
        if cuda:
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        predict(model, img0, img1, 0.5, scale=scale, dtype=dt, tile=tile,
                overlap=min(64, tile // 4) if tile else 64)
        if cuda:
            torch.cuda.synchronize(device)
        return time.perf_counter() - t0

    with torch.no_grad():
        first_call_s = once() if compile != "off" else None  # the compilation, kept out of warm-up and runs
        for _ in range(warmup):
            once()
        if cuda:
            torch.cuda.reset_peak_memory_stats(device)
        times_ms = np.array([once() for _ in range(runs)]) * 1000.0
    median = float(np.median(times_ms))
    out = {
        "width": width,
        "height": height,
        "runs": runs,
        "warmup": warmup,
        "dtype": dtype or "fp32",
        "scale": scale,
        "compile": compile,
        "tile": tile,
        "first_call_s": first_call_s,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if cuda else platform.processor() or platform.machine(),
        "median_ms": median,
        "p90_ms": float(np.percentile(times_ms, 90)),
        "mean_ms": float(times_ms.mean()),
        "min_ms": float(times_ms.min()),
        "fps": 1000.0 / median,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    if cuda:
        out["peak_mem_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
    else:  # ru_maxrss is KiB on Linux, bytes on macOS
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out["peak_rss_mib"] = rss / (2**20 if sys.platform == "darwin" else 2**10)
    return out


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m vfi_lib.eval.timetest", description="Inference speed test.")
    ap.add_argument("--resolution", help=f"1080p | 2k | 4k | 720p | WxH (default 1080p on CUDA, {CPU_DEFAULT} on CPU)")
    ap.add_argument("--phase", type=int, default=1, choices=(1, 2, 3), help="preset phaseN (ignored with --ckpt)")
    ap.add_argument("--tiny", action="store_true", help="the tiny preset (smoke tests)")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--ckpt", help="checkpoint name or path (config read from it)")
    src.add_argument("--baseline", choices=("average", "dis"))
    ap.add_argument("--dtype", choices=("bf16", "fp16", "fp32"), default="fp32")
    ap.add_argument("--runs", type=int, help="timed runs (default 100 on CUDA, 5 on CPU)")
    ap.add_argument("--warmup", type=int, help="warm-up runs (default 10 on CUDA, 1 on CPU)")
    ap.add_argument("--scale", type=float, default=1.0, help="model flow scale (0.5 for 2K, 0.25 for 4K)")
    ap.add_argument("--compile", choices=COMPILE_MODES, default="off",
                    help="torch.compile the model (cudagraphs: + CUDA graphs); the first call compiles")
    ap.add_argument("--tile", type=int, help="tiled inference with this tile size (bounds memory, e.g. 512 on CPU)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--ckpt_dir", help="checkpoint root for names")
    ap.add_argument("--json", help="output JSON (default outputs/benchmarks/timetest_<phase>_<res>.json)")
    return ap


def run_cli(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    cuda = args.device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        raise ValueError("--device cuda requested but CUDA is not available")
    res = args.resolution or ("1080p" if cuda else CPU_DEFAULT)
    width, height = parse_resolution(res)
    runs = args.runs if args.runs is not None else (100 if cuda else 5)
    warmup = args.warmup if args.warmup is not None else (10 if cuda else 1)
    if args.baseline:
        from vfi_lib.eval.baselines import build_baseline

        model, label, phase = build_baseline(args.baseline), f"baseline_{args.baseline}", args.baseline
    elif args.ckpt:
        from vfi_lib.eval.registry import display_name, load_named_model

        model = load_named_model(args.ckpt, device=args.device, ckpt_dir=args.ckpt_dir)
        label = display_name(args.ckpt, args.ckpt_dir)
        phase = getattr(getattr(model, "cfg", None), "model", None)
        phase = f"phase{phase.phase}" if phase is not None else label
    else:
        from vfi_lib.config import preset
        from vfi_lib.model import build_model

        model = build_model(preset(f"phase{args.phase}", tiny=args.tiny))
        phase = f"phase{args.phase}{'_tiny' if args.tiny else ''}"
        label = phase
    result = {"model": label, "params": sum(p.numel() for p in model.parameters()), "resolution": res,
              **time_model(model, width, height, runs, warmup, args.dtype, args.scale, args.device,
                          compile=args.compile, tile=args.tile)}
    path = Path(args.json) if args.json else Path("outputs/benchmarks") / f"timetest_{phase}_{res.lower()}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    mem = f"{result['peak_mem_mib']:.0f} MiB GPU" if "peak_mem_mib" in result else f"{result['peak_rss_mib']:.0f} MiB RSS"
    print(f"{label} {width}x{height} {result['dtype']} on {result['device']}: median {result['median_ms']:.2f} ms, "
          f"p90 {result['p90_ms']:.2f} ms, {result['fps']:.2f} FPS, peak {mem} -> {path}")
    return result


def main(argv: list[str] | None = None) -> int:
    try:
        run_cli(argv)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
