"""TimeTest: inference latency, FPS and peak memory at a fixed input size (the peers' TimeTest.py,
made statistically sound: per-run timings, median and p90 instead of one mean).

``python -m vfi_lib.speed.timetest --resolution 1080p|4k|WxH [--phase N [--tiny] | --ckpt NAME|PATH |
--baseline average|dis | --peer NAME --weights PATH] [--dtype bf16|fp16|fp32] [--runs N] [--warmup N]
[--scale S] [--compile [default|cudagraphs]] [--tile N] [--device auto|cpu|cuda] [--ssm_backend ...]``

Inputs are ``torch.rand`` (seeded; not zeros, which some kernels shortcut). Each run is one
``predict`` call (padding to the model multiple included, batch 1, t = 0.5), timed by
:func:`vfi_lib.speed.timer.time_fn`. Peak memory in GiB (:func:`vfi_lib.speed.timer.peak_memory_gib`:
GPU allocations on CUDA, the process's peak RSS on CPU). CPU defaults are small (256x256, 5 runs,
1 warm-up) so it finishes anywhere. Writes JSON to
``outputs/benchmarks/timetest_<model>_<res>_<device>_<dtype>[_compile-<mode>][_tile<N>][_s<scale>][_<backend>]__<run id>.json``
(every setting that changes the number is in the name and the file; ``-2``, ``-3``, ... before
``.json`` when the name is taken, :func:`vfi_lib.paths.result_path`) unless ``--json`` says otherwise.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import torch
import torch.nn as nn

RESOLUTIONS = {"1080p": (1920, 1080), "2k": (2048, 1080), "4k": (4096, 2160), "720p": (1280, 720), "480p": (854, 480)}
CPU_DEFAULT = "256x256"


def parse_resolution(text: str) -> tuple[int, int]:
    """"1080p" | "4k" | "2k" | "720p" | "480p" | "WxH" -> (W, H)."""
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
    profile_runs: int = 0,
    breakdown_runs: int = 0,
    breakdown_depth: int = 2,
) -> dict:
    """Time ``runs`` forward passes (after ``warmup``) on random (1, 3, height, width) inputs.

    ``compile``: "off" | "default" | "cudagraphs" (:func:`vfi_lib.model.compile.compile_model`); the first
    call, which compiles, is reported as ``first_call_s`` (None without compile) and is not one of the
    timed runs. ``tile``: tiled inference (:func:`vfi_lib.infer.predict`, overlap min(64, tile/4)), e.g.
    512 to bound memory at 1080p/4K on CPU. ``profile_runs`` > 0: after timing, that many more calls run under
    torch.profiler and ``result["profile"]`` holds its table of the top 25 ops by device time.
    ``breakdown_runs`` > 0 (eager only): that many more calls with per-module timing hooks
    (:func:`vfi_lib.speed.breakdown.module_breakdown`, modules up to ``breakdown_depth`` dots deep);
    ``result["breakdown"]`` maps module names to inclusive ms per call.
    """
    from vfi_lib.infer.interpolate import predict
    from vfi_lib.model.compile import compile_model
    from vfi_lib.speed.timer import device_name, peak_memory_gib, reset_peak_memory, sync, time_fn

    if runs < 1 or warmup < 0:
        raise ValueError(f"runs must be >= 1 and warmup >= 0, got runs={runs}, warmup={warmup}")
    if breakdown_runs and compile != "off":
        raise ValueError("a per-module breakdown needs the eager model (compiled graphs skip module hooks); "
                         "drop --compile or --breakdown")
    device = torch.device(device)
    model = compile_model(model.to(device).eval(), compile)
    gen = torch.Generator().manual_seed(seed)
    img0 = torch.rand(1, 3, height, width, generator=gen).to(device)
    img1 = torch.rand(1, 3, height, width, generator=gen).to(device)
    dt = None if dtype in (None, "fp32") else dtype

    def once() -> None:
        predict(model, img0, img1, 0.5, scale=scale, dtype=dt, tile=tile, overlap=min(64, tile // 4) if tile else 64)

    with torch.no_grad():
        first_call_s = None
        if compile != "off":  # the compilation, kept out of warm-up and runs
            t0 = time.perf_counter()
            once()
            sync(device)
            first_call_s = time.perf_counter() - t0
        for _ in range(warmup):
            once()
        reset_peak_memory(device)
        t = time_fn(once, device, warmup=0, runs=runs)
        table = _profile(once, device, profile_runs) if profile_runs > 0 else None
        if breakdown_runs > 0:
            from vfi_lib.speed.breakdown import module_breakdown

            breakdown = module_breakdown(model, once, device, breakdown_runs, breakdown_depth)
    return {
        "width": width, "height": height, "runs": runs, "warmup": warmup, "dtype": dtype or "fp32",
        "scale": scale, "compile": compile, "tile": tile, "first_call_s": first_call_s, "device": str(device),
        "device_name": device_name(device), **t.as_dict(), "fps": 1000.0 / t.median_ms, "torch": torch.__version__,
        "threads": torch.get_num_threads(), "peak_mem_gib": peak_memory_gib(device),
        "peak_mem_kind": "cuda_max_allocated" if device.type == "cuda" else "process_peak_rss",
        **({"profile": table} if table is not None else {}),
        **({"breakdown": breakdown} if breakdown_runs > 0 else {}),
    }


def _profile(fn, device: torch.device, runs: int, row_limit: int = 25) -> str:
    """torch.profiler table of ``runs`` calls of ``fn``: top ops by device time (CPU time on CPU)."""
    from torch.profiler import ProfilerActivity, profile

    from vfi_lib.speed.timer import sync

    cuda = device.type == "cuda"
    with profile(activities=[ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])) as prof:
        for _ in range(runs):
            fn()
        sync(device)
    sort = "cuda_time_total" if cuda else "cpu_time_total"
    return f"{runs} calls\n" + prof.key_averages().table(sort_by=sort, row_limit=row_limit)


def build_parser() -> argparse.ArgumentParser:
    from vfi_lib.cli import add_model_args, add_runtime_args

    ap = argparse.ArgumentParser(prog="python -m vfi_lib.speed.timetest", description="Inference speed test.")
    ap.add_argument("--resolution", help=f"{' | '.join(RESOLUTIONS)} | WxH (default 1080p on CUDA, {CPU_DEFAULT} on CPU)")
    add_model_args(ap, sources=("phase", "ckpt", "baseline", "peer"), required=False)
    add_runtime_args(ap)
    ap.add_argument("--runs", type=int, help="timed runs (default 100 on CUDA, 5 on CPU)")
    ap.add_argument("--warmup", type=int, help="warm-up runs (default 10 on CUDA, 1 on CPU)")
    ap.add_argument("--scale", type=float, default=1.0, help="model flow scale (0.5 for 2K, 0.25 for 4K)")
    ap.add_argument("--tile", type=int, help="tiled inference with this tile size (bounds memory, e.g. 512 on CPU)")
    ap.add_argument("--conv1d", choices=("auto", "conv", "shift"), default="auto",
                    help="Mamba2 causal conv: cuDNN conv1d, shifted multiply-adds, or auto (shift only when compiled)")
    ap.add_argument("--chunk_size", type=int, help="SSD chunk length of every Mamba2 (exact for any value: speed and "
                    "memory only; default: the model's own, 64 in the presets)")
    ap.add_argument("--profile", type=Path, help="also profile 5 calls (torch.profiler) and write the top-ops table here")
    ap.add_argument("--breakdown", type=Path, help="also time 5 calls per submodule (eager; CUDA events in forward "
                    "hooks) and write the per-module table here (JSON key 'breakdown')")
    ap.add_argument("--breakdown_depth", type=int, default=2,
                    help="modules up to this many dots deep in --breakdown (default 2: e.g. flow.blocks.0)")
    ap.add_argument("--json", help="output JSON (default: outputs/benchmarks/timetest_<settings>__<run id>.json, "
                    "-2, -3, ... added when taken)")
    return ap


def result_stem(label: str, res: str, args: argparse.Namespace, device: torch.device | str) -> str:
    """``timetest_<model>_<res>_<device>_<dtype>[_compile-<mode>][_tile<N>][_s<scale>][_<backend>]``;
    ``<device>`` is the device type, with the index of a GPU other than the first (``cpu``, ``cuda``,
    ``cuda1``), so CPU and GPU runs of the same settings are told apart."""
    device = torch.device(device)
    parts = ["timetest", label, res.lower(), f"{device.type}{device.index if device.index else ''}", args.dtype]
    if args.compile != "off":
        parts.append(f"compile-{args.compile}")
    if args.tile:
        parts.append(f"tile{args.tile}")
    if args.scale != 1.0:
        parts.append(f"s{args.scale:g}")
    if args.ssm_backend != "auto":
        parts.append(args.ssm_backend)
    if getattr(args, "conv1d", "auto") != "auto":
        parts.append(f"conv-{args.conv1d}")
    if getattr(args, "chunk_size", None):
        parts.append(f"chunk{args.chunk_size}")
    return "_".join(parts)


def run_cli(argv: list[str] | None = None) -> dict:
    from vfi_lib.cli import load_model_from_args, model_settings, resolve_device
    from vfi_lib.model import count_parameters
    from vfi_lib.paths import result_path

    ap = build_parser()
    args = ap.parse_args(argv)
    if args.chunk_size is not None and args.chunk_size < 1:
        ap.error(f"--chunk_size must be >= 1, got {args.chunk_size}")
    if args.breakdown and args.compile != "off":
        ap.error("--breakdown times the eager model's submodules (compiled graphs skip module hooks); drop --compile")
    if not (args.ckpt or args.baseline or args.peer or args.phase):
        args.phase = 1
    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    res = args.resolution or ("1080p" if cuda else CPU_DEFAULT)
    width, height = parse_resolution(res)
    runs = args.runs if args.runs is not None else (100 if cuda else 5)
    warmup = args.warmup if args.warmup is not None else (10 if cuda else 1)
    from vfi_lib.ssm.mamba2 import set_conv1d_impl

    set_conv1d_impl(args.conv1d)
    model, label = load_model_from_args(args, device, compile=False)  # time_model compiles (first call timed apart)
    if args.chunk_size is not None:
        from vfi_lib.ssm.mamba2 import set_chunk_size

        if not set_chunk_size(model, args.chunk_size):
            ap.error(f"--chunk_size: {label} has no Mamba2 (SSD) layer")
    result = {"model": label, "params": count_parameters(model), "resolution": res,
              "settings": {**model_settings(args), **({"chunk_size": args.chunk_size} if args.chunk_size else {})},
              **time_model(model, width, height, runs, warmup, args.dtype, args.scale, device,
                           compile=args.compile, tile=args.tile, profile_runs=5 if args.profile else 0,
                           breakdown_runs=5 if args.breakdown else 0, breakdown_depth=args.breakdown_depth)}
    if args.profile:
        args.profile.parent.mkdir(parents=True, exist_ok=True)
        args.profile.write_text(result.pop("profile") + "\n")
    if args.breakdown:
        from vfi_lib.speed.breakdown import format_breakdown

        args.breakdown.parent.mkdir(parents=True, exist_ok=True)
        args.breakdown.write_text(format_breakdown(result["breakdown"]) + "\n")
    path = Path(args.json) if args.json else result_path("benchmarks", result_stem(label, res, args, device), "json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    mem = "GiB GPU" if cuda else "GiB peak RSS"
    print(f"{label} {width}x{height} {result['dtype']} on {result['device']}: median {result['median_ms']:.2f} ms, "
          f"p90 {result['p90_ms']:.2f} ms, {result['fps']:.2f} FPS, peak {result['peak_mem_gib']:.2f} {mem} -> {path}")
    return result


def main(argv: list[str] | None = None) -> int:
    from vfi_lib.cli import main_wrapper

    return main_wrapper(run_cli, argv)


if __name__ == "__main__":
    import sys

    sys.exit(main())
