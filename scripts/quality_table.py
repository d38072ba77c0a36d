"""One quality table, every row from the same code: checkpoints, peers and baselines on real footage.

    python scripts/quality_table.py --device cuda --out outputs/reference/quality.json \
        --model ours=ckpt/p2_scratch/best.pt --model rife-4.2x=peer:.whl/peers/rife-4.2x/flownet.pkl \
        --model rife-hdv3=peer:.whl/peers/rife-hdv3/flownet.pkl --model DIS=baseline:dis \
        --model average=baseline:average \
        --bench bbb=.devdata/bbb --bench bikes=clips:.devdata/real/bikes:1 --bench bikes_x2=clips:.devdata/real/bikes:2

Each model is loaded once and run on every benchmark in this process (``vfi_lib.eval.run_benchmark``,
per-sample results under ``outputs/benchmarks/``); the script prints a markdown table (PSNR / SSIM
per benchmark, the mean over the gap-1 and the large-motion (gap-2) sets) and writes it as JSON.
``--dtype bf16`` applies to our checkpoints only (peers and baselines run as released, fp32).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vfi_lib.checkpoint import load_model  # noqa: E402
from vfi_lib.cli import resolve_device  # noqa: E402
from vfi_lib.eval.benchmarks import run_benchmark  # noqa: E402
from vfi_lib.model.baselines import build_baseline  # noqa: E402
from vfi_lib.model.peers import build_peer  # noqa: E402
from vfi_lib.viz.tables import markdown_table  # noqa: E402


def _model(spec: str, device: torch.device):
    if spec.startswith("baseline:"):
        return build_baseline(spec.split(":", 1)[1]).to(device), False
    if spec.startswith("peer:"):
        path = spec.split(":", 1)[1]
        name = "rife-hdv3" if "hdv3" in path else "rife-4.2x"
        return build_peer(name, path, device=device), False
    return load_model(spec, device=device, ssm_backend="auto"), True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", action="append", required=True, metavar="LABEL=SPEC",
                    help="checkpoint path | peer:WEIGHTS | baseline:average|dis")
    ap.add_argument("--bench", action="append", required=True, metavar="LABEL=SPEC",
                    help="bbb=FRAME_DIR | clips:DIR:GAP")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dtype", default="fp32", choices=("fp32", "bf16"))
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    device = resolve_device(args.device)
    benches = []
    for b in args.bench:
        label, spec = b.split("=", 1)
        if spec.startswith("clips:"):
            _, path, gap = spec.split(":")
            benches.append((label, "clips", path, int(gap)))
        else:
            benches.append((label, "bbb", spec, None))
    rows, detail = [], {}
    for m in args.model:
        label, spec = m.split("=", 1)
        model, ours = _model(spec, device)
        row = {"model": label}
        for blabel, bench, path, gap in benches:
            t0 = time.time()
            res = run_benchmark(model, bench, path, gap=gap, device=device, progress=False, model_name=label,
                                dtype=args.dtype if ours and args.dtype != "fp32" else None)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
