"""One quality table, every row from the same code: checkpoints, peers and baselines on real footage.

    python scripts/quality_table.py --device cuda --out outputs/reference/quality.json \
        --model ours=ckpt/p2_scratch/best.pt --model rife-4.2x=peer:rife-4.2x:.whl/peers/rife-4.2x/flownet.pkl \
        --model rife-hdv3=peer:rife-hdv3:.whl/peers/rife-hdv3/flownet.pkl --model DIS=baseline:dis \
        --model average=baseline:average \
        --bench bbb=.devdata/bbb --bench bikes=clips:.devdata/real/bikes:1 --bench bikes_x2=clips:.devdata/real/bikes:2

A model SPEC is ``ckpt:NAME|PATH`` (or a bare checkpoint name or path), ``baseline:average|dis`` or
``peer:NAME:WEIGHTS``: the flags ``--ckpt``, ``--baseline``, ``--peer NAME --weights WEIGHTS`` of the other
commands in one string (:func:`vfi_lib.cli.model_args_from_spec`), loaded by the same code
(:func:`vfi_lib.cli.load_model_from_args`) with the shared ``--device``, ``--dtype``, ``--compile`` and
``--ssm_backend``. Each model is loaded once and run on every benchmark in this process
(``vfi_lib.eval.run_benchmark``, per-sample results under ``--out_dir``, default ``outputs/benchmarks/``);
the script prints a markdown table (PSNR / SSIM per benchmark, the mean over the gap-1 and the
large-motion (gap-2) sets) and writes it as JSON. ``--dtype bf16``, ``--scale`` and ``--tta`` apply to our
checkpoints only (peers and baselines run as released: fp32, the protocol's flow scale, no TTA).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vfi_lib.cli import (  # noqa: E402
    MODEL_SPEC_HELP,
    CliError,
    add_runtime_args,
    flow_scale_arg,
    load_model_from_args,
    main_wrapper,
    model_args_from_spec,
    model_settings,
    resolve_device,
)
from vfi_lib.eval.benchmarks import run_benchmark  # noqa: E402
from vfi_lib.viz.tables import markdown_table  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python scripts/quality_table.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", action="append", required=True, metavar="LABEL=SPEC",
                    help=f"a table row (repeat); SPEC: {MODEL_SPEC_HELP}")
    ap.add_argument("--bench", action="append", required=True, metavar="LABEL=SPEC",
                    help="a table column (repeat); SPEC: FRAME_DIR (bbb) | clips:DIR:GAP")
    ap.add_argument("--ckpt_dir", help="checkpoint root for names (default <project>/ckpt or $VFI_CKPT_DIR)")
    ap.add_argument("--out", type=Path, required=True, help="the table as JSON")
    ap.add_argument("--out_dir", type=Path, help="per-sample results (default outputs/benchmarks/)")
    ap.add_argument("--scale", type=flow_scale_arg, help="flow scale of our checkpoints (default: each benchmark's "
                    "protocol, 1.0 here; 0.5 runs the flow at half resolution: twice the search range in pixels; "
                    "'auto': both, per triplet the one whose warped inputs agree best); peers and baselines keep the "
                    "protocol's")
    ap.add_argument("--tta", action="store_true", help="our checkpoints: average each prediction with the one of the "
                    "180-degree-rotated inputs (EMA-VFI's TTA; twice the compute); peers and baselines run without")
    add_runtime_args(ap, helps={"--dtype": "autocast precision of our checkpoints (default fp32; peers and "
                                           "baselines run in fp32)"})
    return ap


def _labelled(text: str, flag: str) -> tuple[str, str]:
    label, sep, spec = text.partition("=")
    if not (sep and label and spec):
        raise CliError(f"{flag} {text!r}: expected LABEL=SPEC")
    return label, spec


def run(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    device = resolve_device(args.device)
    runtime = {k: getattr(args, k) for k in ("device", "dtype", "compile", "ssm_backend", "ckpt_dir")}
    models = [(label, model_args_from_spec(spec, **runtime)) for label, spec in
              (_labelled(m, "--model") for m in args.model)]  # every spec checked before any model loads
    benches = []
    for b in args.bench:
        label, spec = _labelled(b, "--bench")
        if spec.startswith("clips:"):
            path, _, gap = spec[len("clips:"):].rpartition(":")
            if not (path and gap.isdigit()):
                raise CliError(f"--bench {b!r}: clips:DIR:GAP with GAP a frame gap (1, 2, ...)")
            benches.append((label, "clips", path, int(gap)))
        else:
            benches.append((label, "bbb", spec, None))
    rows, detail = [], {}
    for label, margs in models:
        if not margs.ckpt:
            margs.dtype = "fp32"  # peers and baselines run as released
        model, _ = load_model_from_args(margs, device)
        row = {"model": label}
        for blabel, bench, path, gap in benches:
            t0 = time.time()
            res = run_benchmark(model, bench, path, gap=gap, device=device, progress=False, model_name=label,
                                dtype=None if margs.dtype == "fp32" else margs.dtype,
                                scale=args.scale if margs.ckpt else None, tta=bool(args.tta and margs.ckpt),
                                out_dir=args.out_dir, settings=model_settings(margs))
            row[f"{blabel} PSNR"], row[f"{blabel} SSIM"] = round(res["psnr"], 2), round(res["ssim"], 4)
            detail[f"{label}/{blabel}"] = {k: res[k] for k in ("psnr", "ssim", "n", "rounding", "files")}
            print(f"{label:>12} {blabel:>12}: PSNR {res['psnr']:.2f} SSIM {res['ssim']:.4f} "
                  f"(n={res['n']}, {time.time() - t0:.0f}s)", flush=True)
        g1 = [row[f"{b[0]} PSNR"] for b in benches if b[3] in (None, 1)]
        g2 = [row[f"{b[0]} PSNR"] for b in benches if b[3] == 2]
        row["mean PSNR"] = round(sum(g1) / len(g1), 2) if g1 else None
        row["large-motion PSNR"] = round(sum(g2) / len(g2), 2) if g2 else None
        rows.append(row)
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
    table = markdown_table(rows, floatfmt="g")
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": rows, "detail": detail, "table": table}, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Exit status 0, or 2 with one ``error: ...`` line (bad spec, missing checkpoint or weights, ...)."""
    return main_wrapper(run, argv)


if __name__ == "__main__":
    sys.exit(main())
