"""Per-sample vs per-region choice between flow scales 1 and 0.5 (first N bikes gap-2 triplets), PSNR like clips."""
import sys, json
import numpy as np, torch, torch.nn.functional as F
from vfi_lib.checkpoint import load_model
from vfi_lib.eval.benchmarks import open_dataset
from vfi_lib.eval.protocols import get_protocol
from vfi_lib.eval.metrics import psnr
from vfi_lib.model.warp import warp
from vfi_lib.model.refine import fuse, level_of_stride, prewarp_features
from vfi_lib.model.flow import time_plane
torch.set_grad_enabled(False)
N = int(sys.argv[1]); modes = sys.argv[2].split(","); bench, root, gap = sys.argv[3], sys.argv[4], int(sys.argv[5])
model = load_model('.devdata/ckpt/scratch_ft_s4e48.pt', device='cpu').eval()
ds = open_dataset(bench, root, None, get_protocol(bench), gap=gap); N = min(N, len(ds))

def finish(m, x0, x1, t, feats, ft0, ft1, mask, w0, w1):
    mask_c = mask.to(w0.dtype); levels = m.refine.levels; H, W = x0.shape[-2:]; skips = {}
    by = feats.at_stride()
    for s in sorted(by):
        pairs, k = by[s], level_of_stride(s, levels)
        cat = prewarp_features(pairs, ft0, ft1)
        size = (H // 2**k, W // 2**k)
        cat = [c if c.shape[-2:] == size else F.interpolate(c, size=size, mode="bilinear", align_corners=False) for c in cat]
        skips.setdefault(k, []).extend(cat)
    stack = torch.cat([x0, x1, w0, w1, mask_c * w0 + (1 - mask_c) * w1, ft0, ft1, mask_c, time_plane(t, x0)], 1)
    res = m.refine(stack, {k: torch.cat(v, 1) for k, v in skips.items()})
    return fuse(w0, w1, mask_c, res)

res = {mo: [] for mo in modes}
for i in range(N):
    it = ds[i]
    x0, x1, gt = (it[k].float()[None] / 255 for k in ('img0', 'img1', 'gt'))
    h, w = x0.shape[-2:]
    p0, p1 = model._pad(x0), model._pad(x1)
    feats = model.backbone(p0, p1); f0, f1 = feats.stages[0]
    t = torch.full((1,), 0.5)
    cands = []
    for s in (1.0, 0.5):
        fl = model.flow(p0, p1, t, f0, f1, scale=s)
        w0, w1 = warp(p0, fl["flow_t0"]), warp(p1, fl["flow_t1"])
        cands.append((fl["flow_t0"], fl["flow_t1"], fl["mask"], w0, w1))
    dmap = [(c[3] - c[4]).abs().mean(1, keepdim=True) for c in cands]  # (1,1,H,W)
    for mo in modes:
        if mo in ("s1", "s05"):
            sel = cands[0] if mo == "s1" else cands[1]
        elif mo in ("img_l1", "img_l2"):
            pw = 1 if mo == "img_l1" else 2
            d = [(c[3] - c[4])[..., :h, :w].abs().pow(pw).mean().item() for c in cands]
            sel = cands[int(d[1] < d[0])]
        elif mo.startswith("loc"):  # loc16[r0.8]: hard per-region choice on k x k mean disagreement
            k, _, r = mo[3:].partition("r"); k = int(k); r = float(r or 1.0)
            dd = [F.avg_pool2d(x, k, stride=1, padding=k // 2, count_include_pad=False)[..., :x.shape[-2], :x.shape[-1]] for x in dmap]
            take = dd[1] < r * dd[0]
            sel = tuple(torch.where(take, b, a) for a, b in zip(*cands))
        out = finish(model, p0, p1, t, feats, *sel)[..., :h, :w]
        q = (torch.round(out.clamp(0, 1) * 255) / 255) if bench == 'clips' else out.clamp(0, 1)
        res[mo].append(float(psnr(q, gt)[0]))
    print(i, {mo: round(v[-1], 2) for mo, v in res.items()}, flush=True)
print({mo: round(float(np.mean(v)), 3) for mo, v in res.items()})
json.dump(res, open(sys.argv[6], 'w'))
