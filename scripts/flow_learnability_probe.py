"""Issue 16: can the Phase-2 flow estimator (IFNet) learn flow from scratch in a short budget?

Trains the IFNet alone (no backbone features) on the synthetic generator with direct L1 supervision by
its exact flows, and prints every ``--every`` steps the mean end-point error (EPE, px) of the prediction
beside the EPE of predicting zero flow. A ratio near 1.00 means the estimator has learned nothing about
matching yet. ``--antialias`` low-passes the block inputs before downsampling.

    python scripts/flow_learnability_probe.py --steps 300 --crop 96 --batch 8      # ~4 min on 1 CPU core

Measured 2026-12-07 (CPU, 1 thread; ``outputs/reference/flow_learnability_2026-12-07.log``): the ratio
stayed at 1.00 for 300 steps, with and without antialiasing, and at lr 5e-4 the EPE then jumped to 16 px
(step 350) against 5.6 px for zero flow.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vfi_lib.config import preset  # noqa: E402
from vfi_lib.data import build_train_dataset  # noqa: E402
import vfi_lib.model.flow as flow_mod  # noqa: E402
from vfi_lib.model.baselines import DISFlowBaseline  # noqa: E402


def _bounded(block, bound: float):
    """Wrap an IFBlock (input channels end with the 4 running-flow channels when no features are used)."""
    raw = block.forward

    def forward(x: torch.Tensor):
        x = torch.cat([x[:, :-4], x[:, -4:] / bound], 1)
        dflow, dlogit = raw(x)
        return bound * torch.tanh(dflow / bound), dlogit

    return forward


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--every", type=int, default=50)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=96)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--antialias", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--corr", type=int, default=0, help="model.flow_corr_radius (0: no cost volume)")
    ap.add_argument("--corr_refine", type=int, default=0, help="model.flow_corr_refine_radius (0: no local volumes)")
    ap.add_argument("--bound", type=float, default=0.0,
                    help="experiment: each block's flow update = B tanh(raw / B) (block-grid px) and the running "
                         "flow enters the block divided by B")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    if args.antialias:
        flow_mod._resize = lambda x, h, w: x if x.shape[-2:] == (h, w) else F.interpolate(
            x, size=(h, w), mode="bilinear", align_corners=False, antialias=h < x.shape[-2])
    cfg = preset("phase2", dataset="synthetic", crop_size=args.crop, batch_size=args.batch, flow_corr_radius=args.corr,
                 flow_corr_refine_radius=args.corr_refine)
    net = flow_mod.IFNet(cfg.model, feat_channels=0)
    if args.bound > 0:
        for blk in net.blocks:
            blk.forward = _bounded(blk, args.bound)
    ds = build_train_dataset(cfg, epoch=0)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr)
    dis = DISFlowBaseline("medium")  # the classical reference on the same batches
    t0, hist = time.time(), []
    for step in range(args.steps):
        b = torch.utils.data.default_collate([ds[i] for i in range(args.batch * step, args.batch * (step + 1))])
        img0, img1 = (b[k].float() / 255 for k in ("img0", "img1"))  # (B, 3, H, W)
        out = net(img0, img1, b["t"].float())
        gt = {k: b[k].float() for k in ("flow_t0", "flow_t1")}
        loss = sum((out[k] - gt[k]).abs().mean() for k in gt) / 2
        opt.zero_grad()
        loss.backward()
        opt.step()
        epe = sum((out[k] - gt[k]).norm(dim=1).mean() for k in gt).item() / 2
        with torch.no_grad():
            ref = dis(img0, img1, b["t"].float(), return_aux=True)[1]
        dis_epe = sum((ref[k] - gt[k]).norm(dim=1).mean() for k in gt).item() / 2
        hist.append((epe, sum(gt[k].norm(dim=1).mean() for k in gt).item() / 2, dis_epe))
        if (step + 1) % args.every == 0:
            e, z, d = torch.tensor(hist[-args.every:]).mean(0).tolist()
            print(f"step {step + 1:5d}  EPE {e:6.2f}  zero-flow EPE {z:6.2f}  ratio {e / z:5.2f}  DIS EPE {d:6.2f}  "
                  f"{time.time() - t0:5.0f} s", flush=True)


if __name__ == "__main__":
    main()
