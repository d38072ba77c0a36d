"""SSD speed benchmark: naive recurrence, chunked (eager), chunked (torch.compile), mamba_ssm Triton.

    python -m vfi_lib.speed.ssd [--json PATH] [--quick] [--lengths 1024 4096] [--dstates 64] [--dtype fp32 bf16] ...

Times are medians in ms (:func:`vfi_lib.speed.timer.time_fn`: synchronised wall clock) for the forward
pass and for forward + backward (gradients of x, dt, A, B, C, D), at VFI-like shapes: b=8,
l in {1024, 4096, 16384} (a 64x64 feature map is 4096 tokens, two interleaved frames 8192),
h=8 heads, p=32, n in {64, 128}, fp32 and bf16. The table's last column is
compiled / triton. ``--torch_chunk_sizes 64 128 256`` times our torch scan (eager and compiled) at
each chunk length and keeps the fastest (the chunk length changes only rounding, not the result;
the triton column always uses ``--chunk_size``); the JSON keeps every chunk's time (the dashed
spellings ``--chunk-size``, ``--torch-chunk-sizes`` are deprecated aliases). On CPU a small subset
runs (so ``make bench`` works anywhere). Results are written to JSON after every row, so an
interrupted run keeps what it measured.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Callable

import torch

from vfi_lib.speed.timer import device_name, time_fn
from vfi_lib.ssm.backends import BackendError, load_triton_ssd
from vfi_lib.ssm.ssd import ssd_chunked, ssd_naive

_TORCH_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
IMPLS = ("naive", "eager", "compiled", "triton")
NAIVE_MAX_LEN = 1024  # the per-step loop is O(l) kernel launches


def _make_inputs(b, l, h, p, n, dtype, device, seed=0):
    gen = torch.Generator(device="cpu").manual_seed(seed)
    x = torch.randn(b, l, h, p, generator=gen).to(device, dtype)
    dt = (torch.rand(b, l, h, generator=gen) * 0.1 + 0.001).to(device, torch.float32)
    A = -torch.rand(h, generator=gen).mul(15).add(1).to(device)
    B = torch.randn(b, l, 1, n, generator=gen).to(device, dtype)
    C = torch.randn(b, l, 1, n, generator=gen).to(device, dtype)
    D = torch.ones(h, device=device)
    return x, dt, A, B, C, D


def _runner(fn: Callable, inputs, backward: bool) -> Callable[[], None]:
    if not backward:
        def fwd():
            with torch.no_grad():
                fn(*inputs)
        return fwd
    leaves = [t.detach().clone().requires_grad_() for t in inputs]
    probe = fn(*leaves)
    grad = torch.randn_like(probe)

    def fwd_bwd():
        for t in leaves:
            t.grad = None
        fn(*leaves).backward(grad)
    return fwd_bwd


def run_benchmarks(device: torch.device, quick: bool = False, lengths=None, dstates=None, dtypes=None,
                   modes=None, impls=None, batch: int | None = None, chunk_size: int = 256,
                   torch_chunk_sizes=None, json_path: Path | None = None, log=print) -> dict:
    """Run the grid and return ``{"meta": ..., "rows": [...]}`` (also written to ``json_path`` row by row).

    ``torch_chunk_sizes``: chunk lengths tried for the eager/compiled torch scan (default: ``chunk_size``);
    the row keeps the fastest under "eager"/"compiled" and all of them under "<impl>_by_chunk".
    """
    cuda = device.type == "cuda"
    if cuda:
        b = batch or 8
        lengths = lengths or ([1024, 4096] if quick else [1024, 4096, 16384])
        dstates = dstates or ([64] if quick else [64, 128])
        dtypes = dtypes or ["fp32", "bf16"]
        warmup, iters = (3, 10) if quick else (5, 20)
    else:
        b = batch or 2
        lengths = lengths or ([256] if quick else [256, 1024])
        dstates = dstates or [64]
        dtypes = dtypes or ["fp32"]
        warmup, iters = (1, 3) if quick else (2, 5)
        chunk_size = min(chunk_size, 64)  # the CPU path's sweet spot (O(l T) intra-chunk work)
    torch_chunks = [int(t) for t in (torch_chunk_sizes or [chunk_size])]
    modes = modes or ["fwd", "fwd+bwd"]
    impls = list(impls or (IMPLS if cuda else (("naive", "eager") if quick else ("naive", "eager", "compiled"))))
    h, p = 8, 32
    triton_fn = None
    if "triton" in impls:
        try:
            triton_fn = load_triton_ssd() if cuda else None
        except BackendError as err:
            log(f"triton: unavailable ({err})")
    meta = {
        "device": device_name(device),
        "torch": torch.__version__, "python": platform.python_version(), "batch": b, "heads": h,
        "headdim": p, "chunk_size": chunk_size, "torch_chunk_sizes": torch_chunks, "warmup": warmup, "iters": iters,
        "ngroups": 1, "unit": "ms (median)",
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
    }
    if cuda:
        try:
            import triton
            meta["triton"] = triton.__version__
        except ImportError:
            pass
    result = {"meta": meta, "rows": []}

    for l in lengths:
        for n in dstates:
            for dtype_name in dtypes:
                dtype = _TORCH_DTYPES[dtype_name]
                inputs = _make_inputs(b, l, h, p, n, dtype, device)
                fns: dict[str, list[tuple[int, Callable]]] = {
                    "naive": [(0, lambda *a: ssd_naive(*a[:5], D=a[5]))] if l <= NAIVE_MAX_LEN else [],
                    "eager": [(T, lambda *a, T=T: ssd_chunked(*a[:5], T, D=a[5])) for T in torch_chunks],
                    "compiled": [(T, None) for T in torch_chunks],  # compiled lazily, one fresh compile each
                    "triton": [(chunk_size, lambda *a: triton_fn(*a[:5], chunk_size, D=a[5]))] if triton_fn else [],
                }
                for mode in modes:
                    row = {"l": l, "d_state": n, "dtype": dtype_name, "mode": mode}
                    for name in impls:
                        times: dict[str, float | None] = {}
                        for T, fn in fns.get(name, []):
                            if name == "compiled":
                                # a fresh compile per shape: dynamo's recompile limit (8) would otherwise
                                # silently fall back to eager after a few shapes
                                torch._dynamo.reset()
                                comp = torch.compile(ssd_chunked, dynamic=False)
                                fn = lambda *a, f=comp, T=T: f(*a[:5], T, D=a[5])  # noqa: E731
                            times[str(T)] = _time_impl(name, fn, inputs, mode, device, warmup, iters, row, log)
                        ok = {k: v for k, v in times.items() if v is not None}
                        row[name] = min(ok.values()) if ok else None
                        if name in ("eager", "compiled") and len(times) > 1:
                            row[f"{name}_by_chunk"] = times
                            row[f"{name}_chunk"] = int(min(ok, key=ok.get)) if ok else None
                    c, t = row.get("compiled"), row.get("triton")
                    row["compiled_over_triton"] = round(c / t, 3) if c and t else None
                    result["rows"].append(row)
                    log(_format_row(row, impls))
                    if json_path is not None:
                        _write_json(result, json_path)
    return result


def _time_impl(name: str, fn: Callable, inputs, mode: str, device: torch.device, warmup: int, iters: int,
               row: dict, log) -> float | None:
    """Median ms of one implementation (None on OOM or a compile failure, recorded in ``row``)."""
    cuda = device.type == "cuda"
    try:
        t0 = time.perf_counter()
        run = _runner(fn, inputs, backward=(mode == "fwd+bwd"))
        run()
        if cuda:
            torch.cuda.synchronize(device)
        if name == "compiled":  # includes the compilation (or the cache hit)
            row["compiled_first_call_s"] = round(row.get("compiled_first_call_s", 0) + time.perf_counter() - t0, 2)
        return round(time_fn(run, device, warmup, iters).median_ms, 4)
    except (RuntimeError, torch.OutOfMemoryError) as err:  # OOM, compile failure
        row[f"{name}_error"] = f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"
        log(f"  {name} l={row['l']} n={row['d_state']} {row['dtype']} {row['mode']}: {row[f'{name}_error']}")
        return None
    finally:
        if cuda:
            torch.cuda.empty_cache()


def _fmt(v) -> str:
    return "-" if v is None else (f"{v:.3f}" if v < 100 else f"{v:.1f}")


def _header(impls) -> str:
    cols = ["l", "n", "dtype", "mode"] + list(impls) + ["compiled/triton"]
    return " | ".join(f"{c:>9}" for c in cols)


def _format_row(row: dict, impls) -> str:
    vals = [str(row["l"]), str(row["d_state"]), row["dtype"], row["mode"]]
    vals += [_fmt(row.get(i)) + (f"@{row[i + '_chunk']}" if row.get(i + "_chunk") else "") for i in impls]
    vals += [_fmt(row.get("compiled_over_triton"))]
    return " | ".join(f"{v:>9}" for v in vals)


def _write_json(result: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(result, indent=2, allow_nan=False))
    tmp.replace(path)


def build_parser() -> argparse.ArgumentParser:
    from vfi_lib.cli import add_runtime_args

    ap = argparse.ArgumentParser(prog="python -m vfi_lib.speed.ssd", description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path, default=None,
                    help="output JSON (default outputs/benchmarks/ssd_<device>__<run id>.json)")
    ap.add_argument("--quick", action="store_true", help="small subset (fewer lengths, d_state 64, fewer iterations)")
    add_runtime_args(ap, multi_dtype=True, compile=False, ssm_backend=False)
    ap.add_argument("--lengths", type=int, nargs="+", help="sequence lengths l")
    ap.add_argument("--dstates", type=int, nargs="+", help="state sizes n")
    ap.add_argument("--modes", nargs="+", choices=["fwd", "fwd+bwd"])
    ap.add_argument("--impls", nargs="+", choices=list(IMPLS), help="implementations to time (all backends by default)")
    ap.add_argument("--batch", type=int, help="batch size (default 8 on GPU, 2 on CPU)")
    ap.add_argument("--chunk_size", type=int, default=256, help="SSD chunk (CPU runs cap it at 64)")
    ap.add_argument("--torch_chunk_sizes", type=int, nargs="+",
                    help="chunk lengths tried for the torch scan (eager, compiled); the fastest is reported")
    # deprecated dashed spellings, hidden from --help
    ap.add_argument("--chunk-size", type=int, dest="chunk_size", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    ap.add_argument("--torch-chunk-sizes", type=int, nargs="+", dest="torch_chunk_sizes", default=argparse.SUPPRESS,
                    help=argparse.SUPPRESS)
    ap.add_argument("--tf32", action="store_true",
                    help="allow TF32 float32 matmuls (mamba_ssm's Triton kernels use TF32 dots in float32)")
    return ap


def main(argv: list[str] | None = None) -> int:
    from vfi_lib.cli import main_wrapper, resolve_device
    from vfi_lib.paths import result_path

    ap = build_parser()

    def run(argv_):
        args = ap.parse_args(argv_)
        if args.tf32:
            torch.set_float32_matmul_precision("high")
        device = resolve_device(args.device)
        json_path = args.json or result_path("benchmarks", f"ssd_{device.type}", "json")
        impls = args.impls or (IMPLS if device.type == "cuda" else None)
        print(f"SSD benchmark on {device} (torch {torch.__version__}); ms, median")
        print(_header(impls or (("naive", "eager") if args.quick else ("naive", "eager", "compiled"))))
        result = run_benchmarks(device, quick=args.quick, lengths=args.lengths, dstates=args.dstates,
                                dtypes=args.dtype, modes=args.modes, impls=impls, batch=args.batch,
                                chunk_size=args.chunk_size, torch_chunk_sizes=args.torch_chunk_sizes, json_path=json_path)
        _write_json(result, json_path)
        ratios = [r["compiled_over_triton"] for r in result["rows"] if r.get("compiled_over_triton")]
        if ratios:
            gmean = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
            print(f"compiled/triton: geometric mean {gmean:.2f}, max {max(ratios):.2f} over {len(ratios)} rows")
        print(f"wrote {json_path}")

    return main_wrapper(run, argv)


if __name__ == "__main__":
    sys.exit(main())
