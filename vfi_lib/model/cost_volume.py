"""Symmetric cost volumes with soft-argmin flow estimates for the IFNet (Phase 2/3).

A convolutional IFNet has to *discover* matching from the loss alone, and from scratch it did not in a
few hundred steps (issue 16: ``scripts/flow_learnability_probe.py``). Correlation layers (FlowNetC;
PWC-Net, Sun et al., CVPR 2018, Eq. 1) hand the matching to the network explicitly. Here the volume is
*symmetric in time*, as bilateral cost volumes in VFI are (BMBC, Park et al., ECCV 2020): a candidate
motion d (frame 0 -> frame 1, feature-grid px) is scored at the intermediate position p, around a
current estimate (F_t0, F_t1) (zero for the initial volume), by

    c_d(p) = cos( f0(p + F_t0(p) - t d), f1(p + F_t1(p) + (1 - t) d) ),     d in {-R..R}^2

with bilinear sampling and each feature channel centred over the image first. The cosine keeps the
volume informative from the first step (a fresh encoder's raw dot products are near-equal, the softmax
flat and d* = 0; its uncentred cosines were 0.76-1.0 everywhere). The soft-argmin
``d*(p) = sum_d softmax_d(c_d(p) / tau) d`` (learned 1/tau, initially 10) gives the two intermediate
flows directly: ``F_t0 += -t d*``, ``F_t1 += (1 - t) d*`` (linear motion through p).

The features come from a small shared conv encoder of the images on each block's grid (h, w): the
initial volume at stride s (default 2, 1/8 of the input at scale 1; +-sR block pixels), the local
volumes before later blocks at stride 4. The IFNet blocks refine each estimate as a residual (they see
both frames warped by it) and take the volume as a side input.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from vfi_lib.model.warp import resize_flow

__all__ = ["CostVolumeFlow", "symmetric_volume"]


def _displacements(radius: int) -> torch.Tensor:
    """(D, 2) integer displacements (dx, dy), dy-major, D = (2 radius + 1)^2."""
    r = torch.arange(-radius, radius + 1, dtype=torch.float32)
    dy, dx = torch.meshgrid(r, r, indexing="ij")
    return torch.stack([dx.flatten(), dy.flatten()], 1)


def _soft_argmin(cost: torch.Tensor, disp: torch.Tensor, inv_temp: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """cost (B, D, h, w), disp (D, 2), t (B,) -> flows (F_t0 | F_t1) (B, 4, h, w) = (-t d*, (1 - t) d*)."""
    prob = torch.softmax(cost * inv_temp, dim=1)
    dstar = torch.einsum("bdhw,dk->bkhw", prob, disp)  # (B, 2, h, w), feature-grid px
    tt = t.float().view(-1, 1, 1, 1)
    return torch.cat([-tt * dstar, (1.0 - tt) * dstar], 1)


def symmetric_volume(f0: torch.Tensor, f1: torch.Tensor, t: torch.Tensor, disp: torch.Tensor,
                     flow: torch.Tensor | None = None) -> torch.Tensor:
    """c_d(p) = cos(f0(p + F_t0(p) - t d), f1(p + F_t1(p) + (1 - t) d)), the module docstring's formula
    around a current estimate.

    f0, f1 (B, C, h, w); t (B,); disp (D, 2) px; flow (B, 4, h, w) = (F_t0 | F_t1) in px of this grid,
    or None (zero). Returns (B, D, h, w) in [-1, 1], float32. Each channel is centred over the image
    before the cosine: a fresh encoder's features share a large common component (cosines 0.76-1.0
    everywhere), which flattens the softmax.
    """
    b, c, h, w = f0.shape
    f0 = F.normalize(f0.float() - f0.float().mean((2, 3), keepdim=True), dim=1)
    f1 = F.normalize(f1.float() - f1.float().mean((2, 3), keepdim=True), dim=1)
    d = disp.shape[0]
    ys = torch.arange(h, device=f0.device, dtype=torch.float32)
    xs = torch.arange(w, device=f0.device, dtype=torch.float32)
    base = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1).view(1, 1, h, w, 2)  # pixel centres x, y
    tt = t.float().view(b, 1, 1, 1, 1)
    dd = disp.view(1, d, 1, 1, 2)
    p0, p1 = base - tt * dd, base + (1.0 - tt) * dd  # (B, D, h, w, 2)
    if flow is not None:
        fl = flow.float().permute(0, 2, 3, 1).unsqueeze(1)  # (B, 1, h, w, 4)
        p0, p1 = p0 + fl[..., :2], p1 + fl[..., 2:]

    def sample(f: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:  # pos (B, D, h, w, 2) px -> (B, C, D, h, w)
        # pixel centres -> grid_sample's [-1, 1] (align_corners=False); Python-float scales: no host tensor
        grid = torch.stack([(pos[..., 0] + 0.5) * (2.0 / w) - 1.0, (pos[..., 1] + 0.5) * (2.0 / h) - 1.0], -1)
        grid = grid.reshape(b, d * h, w, 2)
        out = F.grid_sample(f, grid, mode="bilinear", padding_mode="border", align_corners=False)
        return out.view(b, c, d, h, w)

    return (sample(f0, p0) * sample(f1, p1)).sum(1)


class CostVolumeFlow(nn.Module):
    """Matching for the IFNet: a wide cost volume that initialises the flow before the first block, and
    narrow ones around the current estimate before every later block (coarse-to-fine lookups, as PWC-Net
    warps features by the upsampled flow before its local correlation).

    ``init(img0, img1, t)``: images on the first block's grid (B, 3, h, w) -> flows (B, 4, h, w) px and
    the volume (B, (2R+1)^2, ceil(h/s), ceil(w/s)) on the 1/s feature grid.
    ``refine(img0, img1, t, flow)``: images on a later block's grid, the running flow there (B, 4, h, w)
    px -> the corrected flow (the soft-argmin of the local volume added) and the volume
    (B, (2r+1)^2, ceil(h/4), ceil(w/4)) on the 1/4 grid.

    Args:
        radius: R, displacements -R..R of the initial volume (±sR pixels of the first block's grid).
        channels: C, feature channels of the shared encoder.
        stride: s in 1, 2, 4, the initial volume's grid relative to the first block's.
        refine_radius: r, displacements -r..r (±4r block pixels) of the later blocks' volumes; 0: none.
    """

    def __init__(self, radius: int = 4, channels: int = 32, stride: int = 2, refine_radius: int = 0) -> None:
        super().__init__()
        if radius < 1 or stride not in (1, 2, 4) or refine_radius < 0:
            raise ValueError(f"CostVolumeFlow: radius must be >= 1, stride 1, 2 or 4 and refine_radius >= 0, got "
                             f"{radius}, {stride}, {refine_radius}")
        self.radius, self.stride, self.refine_radius = radius, stride, refine_radius
        c = channels
        n_down = {1: 0, 2: 1, 4: 2}[stride]
        layers: list[nn.Module] = []
        cin = 3
        for i in range(2):
            s = 2 if i < n_down else 1
            layers += [nn.Conv2d(cin, c if i else c // 2, 3, s, 1), nn.LeakyReLU(0.2)]
            cin = c if i else c // 2
        layers += [nn.Conv2d(cin, c, 3, 1, 1), nn.LeakyReLU(0.2), nn.Conv2d(c, c, 3, 1, 1)]
        self.encoder = nn.Sequential(*layers)
        self.register_buffer("disp", _displacements(radius), persistent=False)  # (D, 2) x, y
        self.log_inv_temp = nn.Parameter(torch.tensor(math.log(10.0)))  # learned sharpness 1/tau of the soft-argmin
        if refine_radius:
            # the 1/4-grid features of the lookups: the encoder at stride 4 (a stride-2 conv more if needed)
            extra: list[nn.Module] = []
            for _ in range({1: 2, 2: 1, 4: 0}[stride]):
                extra += [nn.LeakyReLU(0.2), nn.Conv2d(c, c, 3, 2, 1)]
            self.encoder4 = nn.Sequential(*extra) if extra else nn.Identity()
            self.register_buffer("disp_refine", _displacements(refine_radius), persistent=False)
            self.log_inv_temp_refine = nn.Parameter(torch.tensor(math.log(10.0)))

    @property
    def num_displacements(self) -> int:
        return self.disp.shape[0]

    @property
    def num_refine_displacements(self) -> int:
        return self.disp_refine.shape[0] if self.refine_radius else 0

    def volume(self, f0: torch.Tensor, f1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The initial volume of features f0, f1 (B, C, h, w): (B, D, h, w), see ``symmetric_volume``."""
        return symmetric_volume(f0, f1, t, self.disp)

    def init(self, img0: torch.Tensor, img1: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, _, h, w = img0.shape
        f = self.encoder(torch.cat([img0, img1], 0))
        cost = self.volume(f[:b], f[b:], t)  # (B, D, h/s, w/s) float32
        flow = _soft_argmin(cost, self.disp, self.log_inv_temp.exp(), t)
        return resize_flow(flow, (h, w)), cost

    def forward(self, img0: torch.Tensor, img1: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.init(img0, img1, t)

    def refine(self, img0: torch.Tensor, img1: torch.Tensor, t: torch.Tensor,
               flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.refine_radius:
            raise RuntimeError("CostVolumeFlow.refine: built with refine_radius=0")
        b, _, h, w = img0.shape
        f = self.encoder4(self.encoder(torch.cat([img0, img1], 0)))
        hf, wf = f.shape[-2:]
        flow_f = resize_flow(flow.float(), (hf, wf))  # the running estimate in 1/4-grid px
        cost = symmetric_volume(f[:b], f[b:], t, self.disp_refine, flow_f)
        delta = _soft_argmin(cost, self.disp_refine, self.log_inv_temp_refine.exp(), t)
        return flow + resize_flow(delta, (h, w)), cost
