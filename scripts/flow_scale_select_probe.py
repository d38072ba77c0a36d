"""CPU probe (issue 16): could a Phase-2 checkpoint choose its flow scale per image without the ground truth?

For every k-th triplet of each benchmark, the checkpoint runs at flow scale 1.0 and 0.5; the probe records
the PSNR of both predictions, OpenCV DIS's PSNR, and candidate no-reference signals of each flow -- the
disagreement of the two warped inputs (mean |W0 - W1|, its clipped form, and the mean squared difference,
which ``--scale auto`` uses since 2026-12-08), which is small where the flow explains the motion. It then
scores selection rules against the oracle (the better scale per image).

    python scripts/flow_scale_select_probe.py --ckpt .devdata/ckpt/scratch_ft.pt --every 4 \
        --bench bbb=bbb:.devdata/bbb --bench bikes=clips:.devdata/real/bikes:1 ...

Writes ``samples.json`` (one row per triplet) and ``summary.json`` / a printed table under ``--out_dir``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vfi_lib.checkpoint import load_model  # noqa: E402
from vfi_lib.eval.benchmarks import open_dataset, protocol_input  # noqa: E402
from vfi_lib.eval.metrics import psnr, quantize  # noqa: E402
from vfi_lib.eval.protocols import get_protocol  # noqa: E402
from vfi_lib.model.baselines import build_baseline  # noqa: E402

SCALES = (1.0, 0.5)


def signals(aux: dict) -> dict:
    """No-reference signals of one prediction: the warped inputs' disagreement, plain, clipped at 0.1 and squared."""
    diff = aux["warped0"].float() - aux["warped1"].float()  # (1, 3, H, W)
    d = diff.abs().mean(1)  # (1, H, W)
    return {"dis_l1": float(d.mean()), "dis_clip": float(d.clamp(max=0.1).mean()), "dis_l2": float(diff.square().mean())}


def parse_bench(text: str) -> tuple[str, str, str, int]:
    label, _, spec = text.partition("=")
    kind, _, rest = spec.partition(":")
    path, _, gap = rest.rpartition(":") if kind == "clips" else (rest, "", "")
    return label, kind, path, int(gap or 1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python scripts/flow_scale_select_probe.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--bench", action="append", required=True, help="LABEL=bbb:PATH or LABEL=clips:PATH:GAP")
    ap.add_argument("--every", type=int, default=4, help="every k-th triplet (default 4)")
    ap.add_argument("--limit", type=int, help="only the first N triplets of each benchmark (before --every)")
    ap.add_argument("--out_dir", default="/tmp/flow_scale_select_probe")
    args = ap.parse_args(argv)
    torch.set_grad_enabled(False)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = load_model(args.ckpt, ssm_backend="torch").eval()
    dis = build_baseline("dis")
    rows = []
    for text in args.bench:
        label, kind, path, gap = parse_bench(text)
        protocol = get_protocol(kind, None)
        ds = open_dataset(kind, path, None, protocol, gap=gap)
        t_start = time.time()
        for i in range(0, len(ds) if args.limit is None else min(args.limit, len(ds)), args.every):
            item = ds[i]
            x0, x1, gt = (protocol_input(item[k], protocol, "cpu") for k in ("img0", "img1", "gt"))
            t = float(item["t"])

            def score(pred: torch.Tensor) -> float:
                return float(psnr(quantize(pred) if protocol.round else pred, gt)[0])

            row = {"bench": label, "index": i, "name": item["name"], "dis": score(dis(x0, x1, t))}
            for s in SCALES:
                pred, aux = model(x0, x1, t, return_aux=True, scale=s)
                row[f"psnr_s{s}"] = score(pred)
                row.update({f"{k}_s{s}": v for k, v in signals(aux).items()})
            rows.append(row)
        n = sum(r["bench"] == label for r in rows)
        print(f"{label}: {n} triplets in {time.time() - t_start:.0f} s", flush=True)
        (out / "samples.json").write_text(json.dumps(rows, indent=1))

    summary = {}
    for label in dict.fromkeys(r["bench"] for r in rows):
        rs = [r for r in rows if r["bench"] == label]
        col = {k: float(np.mean([r[k] for r in rs])) for k in ("dis", "psnr_s1.0", "psnr_s0.5")}
        col["oracle"] = float(np.mean([max(r["psnr_s1.0"], r["psnr_s0.5"]) for r in rs]))
        for sig in ("dis_l1", "dis_clip", "dis_l2"):
            col[f"select_{sig}"] = float(np.mean([r["psnr_s1.0"] if r[f"{sig}_s1.0"] <= r[f"{sig}_s0.5"]
                                                  else r["psnr_s0.5"] for r in rs]))
        col["n"] = len(rs)
        summary[label] = col
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    keys = ["n", "dis", "psnr_s1.0", "psnr_s0.5", "oracle", "select_dis_l1", "select_dis_clip", "select_dis_l2"]
    print("| bench | " + " | ".join(keys) + " |")
    for label, col in summary.items():
        print(f"| {label} | " + " | ".join(f"{col[k]:.2f}" if k != "n" else str(col[k]) for k in keys) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
