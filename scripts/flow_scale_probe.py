"""CPU probe (issue 16): a Phase-2 checkpoint with its flow at scale 1.0 and 0.5, beside OpenCV DIS, on the
first N triplets of a clip folder at gaps 2 and 1 (the flow's search range against large motion).

    python scripts/flow_scale_probe.py --ckpt .devdata/ckpt/scratch_ft.pt --clips .devdata/real/bikes --limit 16

At scale 1 the IFNet's initial cost volume searches +-32 px of frame-0 -> frame-1 motion (radius 4 on the
1/8 grid); scale 0.5 runs the whole flow at half resolution (+-64 px). Results: outputs/reference/
cpu_2026-12-07_flow_scale_probe/.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vfi_lib.checkpoint import load_model  # noqa: E402
from vfi_lib.eval.benchmarks import run_benchmark  # noqa: E402
from vfi_lib.model.baselines import build_baseline  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python scripts/flow_scale_probe.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--ckpt", required=True, help="Phase-2 checkpoint (.pt)")
    ap.add_argument("--clips", required=True, help="a folder of video files / frame folders (vfi_lib clips benchmark)")
    ap.add_argument("--limit", type=int, default=16, help="first N triplets of each gap (default 16)")
    ap.add_argument("--out_dir", default="/tmp/flow_scale_probe", help="per-sample results")
    args = ap.parse_args(argv)
    cpu = torch.device("cpu")
    ours = load_model(args.ckpt, ssm_backend="torch")
    for label, model, scale in (("DIS", build_baseline("dis"), None), ("ours, scale 1", ours, 1.0),
                                ("ours, scale 0.5", ours, 0.5)):
        for gap in (2, 1):
            t0 = time.time()
            r = run_benchmark(model, "clips", args.clips, gap=gap, device=cpu, progress=False, limit=args.limit,
                              model_name=label.replace(", ", "_").replace(" ", ""), out_dir=args.out_dir,
                              **({} if scale is None else {"scale": scale}))
            print(f"{label:16s} gap {gap}: PSNR {r['psnr']:.2f} (n={r['n']}, {time.time() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
