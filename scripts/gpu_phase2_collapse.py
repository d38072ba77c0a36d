"""Issue 16 (Phase-2 collapse): train Phase 2 eagerly on --dataset synthetic, validate, and bisect.

Reproduces the reported run (batch 8, crop 256, lr 5e-4, warmup 100, schedule for 1200 steps,
stopped at ``--steps``; validation = the trainer's own ``validate`` on 32 synthetic 256x256 t=0.5
triplets, eager raw model, eval mode, bf16 autocast) once per SSM backend, then on the trained
model compares, on the same 8 validation triplets and on one training batch:

  eval vs train mode, batch 1 vs batch 8, bf16 autocast vs fp32, triton vs torch SSD,
  grad enabled vs no_grad, a cleared warp-grid cache,

and the SS2D outputs of triton vs torch on identical inputs. Usage on the GPU machine:

    OUT=/tmp/o bash -c 'source scripts/mamba_path.sh; python3 scripts/gpu_phase2_collapse.py \
        --backends auto,torch --steps 840 | tee $OUT/collapse.log'

(``scripts/mamba_path.sh`` puts ``.whl/mamba_ssm-*.tar.gz`` on PYTHONPATH for the triton backend.)
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vfi_lib.config import preset  # noqa: E402
from vfi_lib.data import build_train_dataset, to_float  # noqa: E402
from vfi_lib.eval.metrics import psnr, quantize  # noqa: E402
from vfi_lib.model.warp import clear_grid_cache  # noqa: E402
from vfi_lib.modules.scan import SS2D  # noqa: E402
from vfi_lib.ssm.mamba2 import set_ssm_backend  # noqa: E402


def train(backend: str, args, root: Path):
    from vfi_lib.train.trainer import Trainer

    cfg = preset(
        "phase2", dataset="synthetic", batch_size=8, crop_size=args.crop, lr=args.lr, warmup_steps=args.warmup,
        seed=0, max_steps=args.total, val_limit=args.val_limit, tiny=args.tiny, device=args.device, eval_interval=100, num_workers=args.num_workers, ssm_backend=backend,
        exp_name=f"p2_{backend}", ckpt_dir=str(root / "ckpt"), log_dir=str(root / "log"), ckpt_interval=0,
        log_interval=50, no_resume=True, **({"train.compile": args.compile} if args.compile != "off" else {}),
    )
    tr = Trainer(cfg)
    hist: list[tuple[int, float]] = []

    def hook() -> None:  # runs after every optimizer step (Trainer._pause_hook)
        if tr.step % args.val_every == 0 or tr.step >= args.steps:
            hist.append((tr.step, round(tr.validate()["psnr"], 2)))
        if tr.step >= args.steps:
            tr.stop_signal = signal.SIGTERM  # checkpoint and stop, like max_minutes did in the report

    tr._pause_hook = hook
    t0 = time.time()
    tr.fit()
    tr.close()
    recs = [json.loads(x) for x in (Path(tr.log_dir) / "metrics.jsonl").read_text().splitlines()]
    losses = [round(r["loss"], 4) for r in recs if r["kind"] == "train"]
    print(f"[{backend}] trained {tr.step} steps in {time.time() - t0:.0f}s; train loss {losses[:2]} ... {losses[-3:]}")
    print(f"[{backend}] val PSNR by step (trainer.validate, eval, bf16, B=1): {hist}")
    return tr, cfg


@torch.no_grad()
def score(model, batches, mode="eval", amp=True, backend=None, grad=False, clear=False, cat=False):
    """Mean PSNR (uint8-rounded prediction, as validate) of ``model`` over ``batches``."""
    was = model.training
    model.train(mode == "train")
    if backend is not None:
        old = {m: m.backend for m in model.modules() if hasattr(m, "backend") and hasattr(m, "A_log")}
        set_ssm_backend(model, backend)
    if clear:
        clear_grid_cache()
    if cat:
        batches = [tuple(torch.cat([b[i] for b in batches]) for i in range(4))]
    vals, stats = [], []
    for img0, img1, gt, t in batches:
        with torch.set_grad_enabled(grad), torch.autocast(img0.device.type, torch.bfloat16, enabled=amp):
            pred, aux = model(img0, img1, t, return_aux=True)
        p = quantize(pred.float().clamp(0, 1))
        vals.append(psnr(p, gt))
        stats.append(torch.stack([aux["flow_t0"].abs().amax(), aux["flow_t1"].abs().amax(), aux["mask"].float().mean(),
                                  aux["residual"].float().abs().mean(),
                                  psnr(aux["warped0"].float().clamp(0, 1), gt).mean(),
                                  psnr(aux["warped1"].float().clamp(0, 1), gt).mean()]))
    model.train(was)
    if backend is not None:
        for m, b in old.items():
            m.backend = b
    s = torch.stack(stats).mean(0).tolist()
    return float(torch.cat(vals).mean()), "max|F_t0| {:.1f} max|F_t1| {:.1f} mask {:.3f} |res| {:.4f} PSNR(W0) {:.2f} PSNR(W1) {:.2f}".format(*s)


def ss2d_parity(model, batch):
    """Max relative difference of every SS2D output, triton vs torch, on the same inputs (eval, bf16)."""
    outs: dict[str, list[torch.Tensor]] = {}
    ins: dict[str, torch.Tensor] = {}
    hooks = []
    for name, m in model.named_modules():
        if isinstance(m, SS2D):
            hooks.append(m.register_forward_hook(lambda mod, i, o, n=name: ins.setdefault(n, i[0].detach())))
    model.eval()
    with torch.no_grad(), torch.autocast(batch[0].device.type, torch.bfloat16):
        model(*batch[:2], batch[3])
    for h in hooks:
        h.remove()
    rows = []
    for name, m in model.named_modules():
        if name in ins:
            for be in ("triton", "torch"):
                m.mamba.backend = be
                with torch.no_grad(), torch.autocast(batch[0].device.type, torch.bfloat16):
                    outs.setdefault(name, []).append(m(ins[name]).float())
            m.mamba.backend = "auto"
            a, b = outs[name]
            rows.append(f"{name}: |y| {b.abs().mean():.3g}, max|triton - torch| / max|torch| = "
                        f"{float((a - b).abs().max() / b.abs().max().clamp_min(1e-12)):.3g}")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backends", default="auto,torch")
    ap.add_argument("--steps", type=int, default=840)
    ap.add_argument("--total", type=int, default=1200, help="schedule length (max_steps), as the report's run")
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--val_every", type=int, default=120)
    ap.add_argument("--compile", default="off")
    ap.add_argument("--tiny", action="store_true", help="tiny model (CPU smoke test of this script)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--val_limit", type=int, default=32)
    ap.add_argument("--num_workers", type=int, default=6)
    ap.add_argument("--crop", type=int, default=256)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="p2collapse_"))  # the runs' checkpoints and logs, removed at the end
    try:
        print("torch", torch.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu")
        for backend in args.backends.split(","):
            tr, cfg = train(backend, args, root)
            model = tr.raw_model
            dev = next(model.parameters()).device
            bad = [n for n, p in model.named_parameters() if not bool(torch.isfinite(p).all())]
            print(f"[{backend}] non-finite parameters: {bad[:5]}; max |w| {max(float(p.abs().max()) for p in model.parameters()):.3g}")
            val = [to_float(tr.val_set[i], dev) for i in range(8)]
            ds = build_train_dataset(cfg, epoch=0)
            tb = to_float(torch.utils.data.default_collate([ds[i] for i in range(8)]), dev)
            trb = [tuple(x[i : i + 1] for x in tb) for i in range(8)]
            runs = {
                "eval  bf16 auto   B=1": dict(),
                "train bf16 auto   B=1": dict(mode="train"),
                "eval  fp32 auto   B=1": dict(amp=False),
                "eval  bf16 torch  B=1": dict(backend="torch"),
                "eval  bf16 auto   B=8": dict(cat=True),
                "train bf16 auto   B=8": dict(mode="train", cat=True),
                "eval  bf16 auto   grad": dict(grad=True),
                "eval  bf16 auto   cleared grid cache": dict(clear=True),
            }
            if dev.type == "cuda" and backend != "torch":
                runs["eval  bf16 triton B=8"] = dict(backend="triton", cat=True)
                runs["eval  fp32 torch  B=1"] = dict(backend="torch", amp=False)
            for name, kw in runs.items():
                pv, sv = score(model, val, **kw)
                pt, st = score(model, trb, **kw)
                print(f"[{backend}] {name:38s} val {pv:6.2f} dB | train-batch {pt:6.2f} dB || val: {sv} || train: {st}")
            if dev.type == "cuda" and backend != "torch":
                for row in ss2d_parity(model, val[0]):
                    print(f"[{backend}] B=1 {row}")
                for row in ss2d_parity(model, tb):
                    print(f"[{backend}] B=8 {row}")
            del tr, model
            if torch.cuda.is_available():
                torch.cuda.empty_cache()

    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
