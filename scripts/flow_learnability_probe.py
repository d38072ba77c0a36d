"""Issue 16: can the Phase-2 flow estimator (IFNet) learn flow from scratch in a short budget?

Trains the IFNet alone (no backbone features) on the synthetic generator with direct L1 supervision by
its exact flows, and prints every ``--every`` steps the mean end-point error (EPE, px) of the prediction
beside the EPE of predicting zero flow. A ratio near 1.00 means the estimator has learned nothing about
matching yet; the DIS column is OpenCV's DIS flow (medium) on the same batches, the classical bar.
``--antialias`` low-passes the block inputs before downsampling, ``--corr R --corr_refine r`` switch on
the cost volumes (``model.flow_corr_radius`` / ``flow_corr_refine_radius``; the probe's default is the
plain IFNet), ``--data translate`` uses a global-translation sanity set.

    python scripts/flow_learnability_probe.py --steps 300 --crop 96 --batch 8      # ~4 min on 1 CPU core

Measured 2026-12-07 (CPU, 1 thread; ``outputs/reference/flow_learnability_2026-12-07.log``): the ratio
stayed at 1.00 for 300 steps, with and without antialiasing, and at lr 5e-4 the EPE then jumped to 16 px
(step 350) against 5.6 px for zero flow. Even a global translation (``--data translate``) was not
learned (ratio 1.00 at step 100). With the cost volumes (``--corr 4 --corr_refine 3``) the ratio fell
to 0.81 by step 100 and 0.70 by step 400 (EPE 3.55 px, DIS 2.61 px on the same batches) and the run
stayed stable at lr 5e-4; the translation set fell to ratio 0.26 in 200 steps with ``--corr 4``.
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

    def forward(x: torch.Tensor, side: torch.Tensor | None = None):
        x = torch.cat([x[:, :-4], x[:, -4:] / bound], 1)
        dflow, dlogit = raw(x, side)
        return bound * torch.tanh(dflow / bound), dlogit

    return forward


def translation_batch(step: int, batch: int, crop: int, max_d: int = 8) -> dict[str, torch.Tensor]:
    """Sanity data: a smooth random texture translated globally by d (|d_x|, |d_y| <= 2 max_d, even, so that
    the midpoint is on the pixel grid), t = 0.5: img0(p) = tex(p - d/2), img1(p) = tex(p + d/2), middle
    frame tex(p), so flow_t0 = d/2 and flow_t1 = -d/2 everywhere (uint8 frames like the dataset's)."""
    g = torch.Generator().manual_seed(step)
    m = 2 * max_d
    tex = F.interpolate(torch.rand(batch, 3, 32, 32, generator=g), size=(crop + 2 * m, crop + 2 * m),
                        mode="bilinear", align_corners=False)
    d = torch.randint(-max_d, max_d + 1, (batch, 2), generator=g) * 2
    crop_at = lambda i, s: tex[i, :, m + s * d[i, 1] // 2:m + s * d[i, 1] // 2 + crop,  # noqa: E731
                               m + s * d[i, 0] // 2:m + s * d[i, 0] // 2 + crop]
    img0 = torch.stack([crop_at(i, -1) for i in range(batch)])
    img1 = torch.stack([crop_at(i, 1) for i in range(batch)])
    f = (d.float() / 2).view(batch, 2, 1, 1).expand(batch, 2, crop, crop)
    u8 = lambda x: (x * 255).round().to(torch.uint8)  # noqa: E731
    return {"img0": u8(img0), "img1": u8(img1), "t": torch.full((batch,), 0.5), "flow_t0": f, "flow_t1": -f}


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
    ap.add_argument("--corr_channels", type=int, default=32, help="model.flow_corr_channels")
    ap.add_argument("--data", choices=("synthetic", "translate"), default="synthetic",
                    help="translate: the global-translation sanity set (translation_batch)")
    ap.add_argument("--levels", action="store_true",
                    help="supervise every level (flow_levels: the cost volume's init and each block's estimate), "
                         "as RIFE's distillation loss does, instead of the final flow only")
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
                 flow_corr_refine_radius=args.corr_refine, flow_corr_channels=args.corr_channels)
    net = flow_mod.IFNet(cfg.model, feat_channels=0)
    if args.bound > 0:
        for blk in net.blocks:
            blk.forward = _bounded(blk, args.bound)
    ds = build_train_dataset(cfg, epoch=0)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr)
    dis = DISFlowBaseline("medium")  # the classical reference on the same batches
    t0, hist = time.time(), []
    for step in range(args.steps):
        b = (translation_batch(step, args.batch, args.crop) if args.data == "translate" else
             torch.utils.data.default_collate([ds[i] for i in range(args.batch * step, args.batch * (step + 1))]))
        img0, img1 = (b[k].float() / 255 for k in ("img0", "img1"))  # (B, 3, H, W)
        out = net(img0, img1, b["t"].float(), return_levels=args.levels)
        gt = {k: b[k].float() for k in ("flow_t0", "flow_t1")}
        if args.levels:
            g4 = torch.cat([gt["flow_t0"], gt["flow_t1"]], 1)
            loss = sum((lv - g4).abs().mean() for lv in out["flow_levels"]) / len(out["flow_levels"])
        else:
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
