"""One speed benchmark for the whole stack: ``python -m vfi_lib.speed`` (also ``make bench``).

Measures, on the current device:
  * SSD backends (torch eager, torch.compile, Triton when importable) at a VFI-like shape;
  * one LGS stage per ablation mode at 64x64 tokens (forward + backward);
  * full Phase-1 / Phase-2 models: a training step at 256x256 (samples/s), and inference latency
    (median, p90) and peak memory at 1080p and 4K, fp32 and bf16, with the 4K/1080p latency ratio
    (4K has 4x the pixels: a ratio near 4 means linear scaling).
Prints a table and writes ``outputs/benchmarks/stack_<device>__<run id>.json`` (CPU: smaller sizes).
``--phase 1 2`` picks the models, ``--ssm_backend`` the SSD backend of the eager rows (``--help``);
``--phases`` is a deprecated spelling of ``--phase``.
Times come from :func:`vfi_lib.speed.timer.time_fn`, memory in GiB from
:func:`vfi_lib.speed.timer.peak_memory_gib`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from vfi_lib.config import ABLATIONS, preset
from vfi_lib.model import count_parameters
from vfi_lib.model.precision import autocast
from vfi_lib.speed.timer import device_name, peak_memory_gib, reset_peak_memory, sync, time_fn


def _timed(fn, device, warmup: int, runs: int) -> dict[str, float]:
    t = time_fn(fn, device, warmup=warmup, runs=runs)
    return {"median_ms": t.median_ms, "p90_ms": t.p90_ms}


def _peak(device: torch.device) -> float | None:
    return peak_memory_gib(device) if device.type == "cuda" else None


def bench_ssd(device: torch.device, quick: bool) -> list[dict[str, Any]]:
    """SSD backends at one VFI-like shape via :mod:`vfi_lib.speed.ssd` (``python -m vfi_lib.speed.ssd`` runs the full grid)."""
    from vfi_lib.speed.ssd import run_benchmarks

    res = run_benchmarks(device, quick=True, lengths=[4096] if device.type == "cuda" else [256], dstates=[64],
                         modes=["fwd", "fwd+bwd"], log=lambda *_: None)
    rows = []
    for r in res["rows"]:
        for impl in ("naive", "eager", "compiled", "triton"):
            if r.get(impl) is not None:
                rows.append({"bench": "ssd", "variant": impl, "dtype": r["dtype"], "shape": f"l{r['l']} n{r['d_state']} {r['mode']}",
                             "median_ms": r[impl], "ratio": r.get("compiled_over_triton") if impl == "compiled" else None})
    return rows


def bench_lgs(device: torch.device, quick: bool, ssm_backend: str = "auto") -> list[dict[str, Any]]:
    """One LGS stage per ablation mode (forward + backward), its Mamba2 on ``ssm_backend``."""
    from vfi_lib.modules.lgs_block import LGSStage

    rows = []
    size = 64 if not quick else 16
    bsz = 4 if not quick else 1
    for mode, sw in ABLATIONS.items():
        cfg = preset("phase1", ssm_backend=ssm_backend, **sw)
        dim, heads = cfg.model.stage_dims[0], cfg.model.num_heads[0]
        stage = LGSStage(dim, cfg.model.depths[0], heads, cfg.model).to(device)
        f0 = torch.randn(bsz, dim, size, size, device=device, requires_grad=True)
        f1 = torch.randn(bsz, dim, size, size, device=device, requires_grad=True)

        def step():
            a, b_ = stage(f0, f1)
            (a.float().mean() + b_.float().mean()).backward()

        t = _timed(step, device, warmup=2, runs=3 if quick else 10)
        rows.append({"bench": "lgs_stage_fwd_bwd", "variant": mode, "shape": f"b{bsz} c{dim} {size}x{size}",
                     "params": count_parameters(stage), **t})
    return rows


def _emit(rows: list[dict[str, Any]], row: dict[str, Any]) -> None:
    """Append a result row and print it at once (a run cut short keeps what it measured in its log)."""
    rows.append(row)
    print("  " + json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}), flush=True)


def default_flow_scale(phase: int, height: int) -> float:
    """The flow scale the benchmarks use (RIFE's --scale): 1 for Phase 1 (no flow), else 0.5 up to
    1100 rows (1080p/2K) and 0.25 above (4K)."""
    return 1.0 if phase == 1 else (0.5 if height <= 1100 else 0.25)


def _compiled(model: torch.nn.Module, how: str, ssm_backend: str = "auto") -> torch.nn.Module:
    """``how``: "eager" (the model as built, its SSD on ``ssm_backend``: "auto" is Triton on CUDA),
    "eager_torch" (eager with our torch SSD), "compile" (inductor), "cudagraphs" (inductor + CUDA graphs,
    torch.compile mode "reduce-overhead": one graph replay per call for a fixed input size). Compiled
    variants always run our torch SSD, so the model is one graph; "eager_torch" is their eager reference."""
    from vfi_lib.model.compile import compile_model
    from vfi_lib.ssm.mamba2 import set_ssm_backend

    set_ssm_backend(model, ssm_backend if how == "eager" else "torch")
    if how in ("eager", "eager_torch"):  # eager_torch: eager with our torch SSD (the compiled variants' scan)
        return model
    return compile_model(model, "default" if how == "compile" else how)


def bench_models(device: torch.device, quick: bool, compile_model: bool = False,
                 phases: tuple[int, ...] = (1, 2), dtypes: tuple[str, ...] = ("fp32", "bf16"),
                 ssm_backend: str = "auto") -> list[dict[str, Any]]:
    """Training step (256x256) and inference (1080p, 4K) of the full models, fp32 and bf16.

    ``compile_model``: also time the training step under torch.compile (bf16) and 1080p bf16
    inference compiled and compiled with CUDA graphs, plus the eager step with our torch SSD
    ("eager_torch", the compiled variants' scan); "compile_s" is the first call (compilation).
    ``dtypes``: the precisions of the eager rows (CPU: fp32 only). ``ssm_backend``: the SSD backend of
    the eager rows ("auto": Triton on CUDA when importable, else torch); the "eager_torch" and compiled
    rows always run our torch SSD.
    """
    from vfi_lib.model import build_model

    cuda = device.type == "cuda"
    rows = []
    train_hw = 256 if not quick else 64
    infer_sizes = {"1080p": (1080, 1920), "4k": (2160, 3840)} if not quick else {"270p": (270, 480), "540p": (540, 960)}
    for phase in phases:
        cfg = preset(f"phase{phase}", ssm_backend=ssm_backend, tiny=quick)
        model = build_model(cfg).to(device)
        params = count_parameters(model)
        # --- training step at 256x256 ---
        bsz = 8 if not quick else 2
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        img0, img1, gt = (torch.rand(bsz, 3, train_hw, train_hw, device=device) for _ in range(3))
        dts = [d for d in dtypes if cuda or d == "fp32"] or ["fp32"]
        variants = [(d, "eager") for d in dts]
        if compile_model:
            d = "bf16" if cuda else "fp32"
            variants += [(d, "eager_torch"), (d, "compile")]
        for dtype, how in variants:
            net = _compiled(model, how, ssm_backend)

            def train_step():
                with autocast(device, dtype):
                    pred = net(img0, img1, 0.5)
                loss = (pred.float() - gt).abs().mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

            reset_peak_memory(device)
            t0 = time.perf_counter()
            train_step()
            sync(device)
            first_s = time.perf_counter() - t0
            t = _timed(train_step, device, warmup=2, runs=3 if quick else 10)
            _emit(rows, {"bench": "train_step", "variant": f"phase{phase}" + ("" if how == "eager" else f"+{how}"),
                         "dtype": dtype, "params": params, "shape": f"b{bsz} {train_hw}x{train_hw}", **t,
                         "samples_per_s": bsz / (t["median_ms"] / 1e3), "peak_mem_gib": _peak(device),
                         **({"compile_s": round(first_s, 1)} if how not in ("eager", "eager_torch") else {})})
            net = None
        # --- inference latency ---
        model.eval()
        first_res = next(iter(infer_sizes))
        variants = [(d, "eager", r) for d in dts for r in infer_sizes]
        if compile_model:
            d = "bf16" if cuda else "fp32"
            variants += [(d, how, first_res) for how in (("compile", "cudagraphs") if cuda else ("compile",))]
        lat: dict[tuple[str, str], dict[str, float]] = {}
        for dtype, how, res in variants:
            h, w = infer_sizes[res]
            x0 = torch.rand(1, 3, h, w, device=device)
            x1 = torch.rand(1, 3, h, w, device=device)
            scale = default_flow_scale(phase, h)
            net = _compiled(model, how, ssm_backend)

            def infer():
                with torch.inference_mode(), autocast(device, dtype):
                    net(x0, x1, 0.5, scale=scale)

            reset_peak_memory(device)
            variant = f"phase{phase}" + ("" if how == "eager" else f"+{how}")
            try:
                t0 = time.perf_counter()
                infer()
                sync(device)
                first_s = time.perf_counter() - t0
                t = _timed(infer, device, warmup=1 if quick else 2, runs=2 if quick else 5)
            except torch.OutOfMemoryError as e:
                _emit(rows, {"bench": "inference", "variant": variant, "dtype": dtype, "shape": res, "error": f"OOM: {e}"[:200]})
                continue
            finally:
                net = None
            lat.setdefault((dtype, how), {})[res] = t["median_ms"]
            _emit(rows, {"bench": "inference", "variant": variant, "dtype": dtype, "shape": res,
                         "flow_scale": scale, **t, "peak_mem_gib": _peak(device),
                         **({"compile_s": round(first_s, 1)} if how != "eager" else {})})
        for (dtype, how), by_res in lat.items():
            if len(by_res) == 2:
                a, b_ = by_res.values()
                _emit(rows, {"bench": "inference_scaling", "variant": f"phase{phase}", "dtype": dtype,
                             "shape": "/".join(reversed(list(by_res))), "ratio": b_ / a, "pixel_ratio": 4.0})
        model.train()
        model = opt = None  # free before the next phase is built
        if compile_model:
            torch._dynamo.reset()
    return rows


def profile_models(device: torch.device, quick: bool, row_limit: int = 15, compile_model: bool = False,
                   phases: tuple[int, ...] = (1, 2), ssm_backend: str = "auto") -> str:
    """torch.profiler summary (top kernels by device time) of a Phase-1/2 training step at 256x256
    (bf16 on CUDA; ``compile_model``: of the torch.compile'd model, after its compilation, with our
    torch SSD; else eager with its SSD on ``ssm_backend``)."""
    from torch.profiler import ProfilerActivity, profile

    from vfi_lib.model import build_model

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    sort = "cuda_time_total" if device.type == "cuda" else "cpu_time_total"
    hw, bsz = (256, 8) if not quick else (64, 2)
    parts = []
    for phase in phases:
        cfg = preset(f"phase{phase}", ssm_backend=ssm_backend, tiny=quick)
        model = build_model(cfg).to(device)
        net = _compiled(model, "compile" if compile_model else "eager", ssm_backend)
        x0, x1, gt = (torch.rand(bsz, 3, hw, hw, device=device) for _ in range(3))

        def step():
            with autocast(device, "bf16" if device.type == "cuda" else "fp32"):
                pred = net(x0, x1, 0.5)
            (pred.float() - gt).abs().mean().backward()

        for _ in range(3):
            step()
        sync(device)
        t0 = time.perf_counter()
        with profile(activities=acts) as prof:
            for _ in range(3):
                step()
            sync(device)
        wall = (time.perf_counter() - t0) / 3 * 1e3
        parts.append(f"== phase{phase} train step b{bsz} {hw}x{hw} (3 steps){' compiled' if compile_model else ''}, "
                     f"{wall:.1f} ms/step wall under the profiler\n"
                     + prof.key_averages().table(sort_by=sort, row_limit=row_limit))
        model = net = None
        if compile_model:
            torch._dynamo.reset()
    return "\n".join(parts)


def format_rows(rows: list[dict[str, Any]]) -> str:
    cols = ["bench", "variant", "dtype", "shape", "median_ms", "p90_ms", "samples_per_s", "peak_mem_gib", "ratio",
            "compile_s", "params", "error"]
    cols = [c for c in cols if any(c in r for r in rows)]
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3f}" if abs(v) < 100 else f"{v:.1f}"
        return "" if v is None else str(v)
    table = [[fmt(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in table)) for i, c in enumerate(cols)]
    out = ["  ".join(c.ljust(w) for c, w in zip(cols, widths)), "  ".join("-" * w for w in widths)]
    out += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in table]
    return "\n".join(out)


SSM_BACKEND_HELP = (
    "SSD backend of the eager rows (the LGS stages, the 'phaseN' train/inference rows, the eager profile): "
    "auto (default: triton on CUDA when importable, else torch) | torch | triton. The '+eager_torch' and "
    "compiled ('+compile', '+cudagraphs') rows always run our torch SSD (one graph for the compiler; "
    "eager_torch is their eager reference); the 'ssd' bench times every backend itself")


def build_parser() -> argparse.ArgumentParser:
    from vfi_lib.cli import add_runtime_args

    ap = argparse.ArgumentParser(prog="python -m vfi_lib.speed", description=__doc__.split("\n\n")[0])
    add_runtime_args(ap, multi_dtype=True, helps={
        "--compile": "any mode but off: also time the compiled variants (training step; first inference size, "
                     "on CUDA also with CUDA graphs) and the eager step with our torch SSD (eager_torch), "
                     "and profile the compiled step",
        "--ssm_backend": SSM_BACKEND_HELP})
    ap.add_argument("--quick", action="store_true", help="small sizes (default on CPU)")
    ap.add_argument("--only", nargs="*", choices=["ssd", "lgs", "models"], default=["ssd", "lgs", "models"],
                    help="benchmarks to run (none: only --profile)")
    ap.add_argument("--profile", type=Path, default=None, help="also write a torch.profiler summary here")
    ap.add_argument("--phase", type=int, nargs="+", choices=[1, 2], default=[1, 2],
                    help="model phases to time and profile (default 1 2)")
    ap.add_argument("--phases", type=int, nargs="+", choices=[1, 2], dest="phase", default=argparse.SUPPRESS,
                    help=argparse.SUPPRESS)  # deprecated spelling of --phase
    ap.add_argument("--json", type=Path, default=None,
                    help="output JSON (default outputs/benchmarks/stack_<device>__<run id>.json)")
    return ap


def main(argv: list[str] | None = None) -> int:
    from vfi_lib.cli import main_wrapper, resolve_device
    from vfi_lib.paths import result_path
    from vfi_lib.ssm.backends import resolve_backend

    ap = build_parser()

    def run(argv_):
        args = ap.parse_args(argv_)
        device = resolve_device(args.device)
        resolve_backend(args.ssm_backend, device)  # e.g. triton without CUDA: one error line before any bench
        quick = args.quick or device.type == "cpu"
        compiled = args.compile != "off"  # --compile: also time the compiled (and, on CUDA, CUDA-graph) variants
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
            torch.backends.cudnn.benchmark = True
        rows: list[dict[str, Any]] = []
        backend = args.ssm_backend
        benches = {"ssd": bench_ssd, "lgs": lambda d, q: bench_lgs(d, q, ssm_backend=backend),
                   "models": lambda d, q: bench_models(d, q, compile_model=compiled, phases=tuple(args.phase),
                                                     dtypes=tuple(args.dtype), ssm_backend=backend)}
        for name in args.only:
            print(f"== {name}", flush=True)
            new = benches[name](device, quick)
            print(format_rows(new), flush=True)
            rows += new
        meta = {"device": device_name(device), "torch": torch.__version__, "quick": quick,
                "tf32": device.type == "cuda", "memory_unit": "GiB", "ssm_backend": backend}
        path = args.json or result_path("benchmarks", f"stack_{device.type}", "json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
        if args.profile:
            args.profile.parent.mkdir(parents=True, exist_ok=True)
            args.profile.write_text(profile_models(device, quick, compile_model=compiled, phases=tuple(args.phase),
                                                    ssm_backend=backend))
            print(f"wrote profiler summary {args.profile}")
        print("\n" + format_rows(rows))
        print(f"\nwrote {path}")

    return main_wrapper(run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
