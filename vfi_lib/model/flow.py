"""IFNet-style coarse-to-fine intermediate flow estimator with a timestep input (Phase 2/3).

After RIFE (Huang et al., ECCV 2022, Sec. 3.1 "IFNet") in its 4.x form: a stack of IFBlocks at
decreasing downscale factors ``s_i`` (``cfg.flow_scales``, default 4, 2, 1). Block i works on the
grid g_i = (round(H / s_i), round(W / s_i)). It sees the two inputs, both inputs backward-warped with
the current estimate, the current flows and fusion-mask logit, and a constant plane holding each
sample's timestep t, all on g_i, and predicts a *residual* there (RIFE Eq. 1-2, coarse-to-fine
residual refinement). The running estimate is accumulated **on the block grids**:

    (F, m)^(0)   = IFBlock_0([I0, I1, I0, I1, t, 0, 0])                                 on g_0
    (F, m)^(i)   = R_i((F, m)^(i-1)) + IFBlock_i([I0, I1, W(I0, F_t0), W(I1, F_t1), t, m, F])
                   with (F, m) = R_i((F, m)^(i-1)), everything on g_i
    (F_t0 | F_t1, m) = R_HW((F, m)^(n-1))                          (one final upsample; identity if s = 1)

where R_i is the bilinear resize to g_i (``align_corners=False``) and, for flows, the vectors are
rescaled to pixels of the new grid (``resize_flow``). The running flow is thus resized once per
block (g_{i-1} -> g_i) and upsampled once at the end, instead of every residual being upsampled
to full resolution and the full-resolution sum resized back to each block's grid. Bilinear
down/up-sampling are not exact inverses, so this is not bit-identical to the full-resolution form
(R_i(sum_j U(d_j)) vs. the chain above); constant and affine-in-the-interior flows are reproduced
exactly by both. The final fusion mask is sigmoid(m). With ``cfg.flow_use_features`` the blocks are
also given backbone (LGS) features of both frames, projected to ``cfg.flow_feat_channels``
channels, resized to the block's grid and warped with the current flows (as RIFE 4.x warps its
learned image features).

With ``cfg.flow_corr_radius > 0`` (the default) the IFNet matches explicitly (``vfi_lib.model.cost_volume``;
a purely convolutional IFNet did not learn to match in a short from-scratch training, issue 16): the
initial estimate (F, m)^(0) starts from the soft-argmin flow of a wide symmetric cost volume instead of
zero (and block 0 sees both inputs warped by it), with ``cfg.flow_corr_refine_radius > 0`` every later
block's resized estimate is first corrected by the soft-argmin of a local volume around it, and each
volume enters its block as a side input (``IFBlock.side``).

``scale`` is RIFE's ``--scale``: every block runs at ``s_i / scale`` (0.5 at 1080p, 0.25 at 4K); the
flows are estimated at that reduced resolution and resized back with vectors multiplied by 1/scale
(``resize_flow``). Flows are accumulated in float32 (pixel magnitudes at 4K do not fit bf16).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from vfi_lib.config import ModelConfig
from vfi_lib.model.cost_volume import CostVolumeFlow
from vfi_lib.model.warp import resize_flow, warp

__all__ = ["IFBlock", "IFNet", "time_plane"]


def time_plane(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Constant per-sample timestep plane (B, 1, H, W) shaped after ``like`` (B, C, H, W); t is (B,)."""
    b, _, h, w = like.shape
    return t.to(like.dtype).view(b, 1, 1, 1).expand(b, 1, h, w)


class ResConv(nn.Module):
    """x -> LeakyReLU(x + beta * conv3x3(x)), beta a learned per-channel scale (RIFE 4.x ResConv)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1)
        self.beta = nn.Parameter(torch.ones(1, c, 1, 1))
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.beta * self.conv(x))


class IFBlock(nn.Module):
    """One flow level: (B, in_ch, h, w) -> residual flows (B, 4, h, w) and mask logit (B, 1, h, w).

    Two stride-2 convs take the input to h/4, ``depth`` residual convs of width ``c`` work there,
    and a conv + PixelShuffle(4) returns to h, w (RIFE 4.x upsamples by transposed conv + shuffle).
    """

    def __init__(self, in_ch: int, c: int, depth: int, side_ch: int = 0) -> None:
        super().__init__()
        self.down = nn.Sequential(
            nn.Conv2d(in_ch, c // 2, 3, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(c // 2, c, 3, 2, 1), nn.LeakyReLU(0.2),
        )
        # optional side input at h/2 (the cost volume), added to the first conv's output before its activation
        self.side = nn.Conv2d(side_ch, c // 2, 1) if side_ch else None
        self.body = nn.Sequential(*[ResConv(c) for _ in range(depth)])
        self.head = nn.Sequential(nn.Conv2d(c, 5 * 16, 3, 1, 1), nn.PixelShuffle(4))
        with torch.no_grad():  # start close to "no correction" so early warps stay sane
            self.head[0].weight.mul_(0.1)
            self.head[0].bias.zero_()

    def forward(self, x: torch.Tensor, side: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, in_ch, h, w); side (B, side_ch, h', w') or None, resized to the (ceil(h/2), ceil(w/2)) grid."""
        h, w = x.shape[-2:]
        y = self.down[0](x)
        if self.side is not None and side is not None:
            y = y + self.side(_resize(side.to(y.dtype), *y.shape[-2:]))
        y = self.down[2](self.down[1](y))
        y = self.head(self.body(self.down[3](y)))[..., :h, :w]  # (B, 5, 4*ceil(h/4), ...) -> (B, 5, h, w)
        return y[:, :4], y[:, 4:5]


class IFNet(nn.Module):
    """Coarse-to-fine bidirectional flow ``flow_t0, flow_t1`` and fusion mask at time t.

    Args:
        cfg: ``flow_channels`` (block widths), ``flow_scales`` (block downscales), ``flow_depth``
            (residual convs per block), ``flow_use_features``, ``flow_feat_channels``.
        feat_channels: channels of the backbone features passed to ``forward`` (0: none).
    """

    def __init__(self, cfg: ModelConfig, feat_channels: int = 0) -> None:
        super().__init__()
        self.scales = tuple(float(s) for s in cfg.flow_scales)
        self.use_features = bool(cfg.flow_use_features and feat_channels > 0)
        fc = cfg.flow_feat_channels if self.use_features else 0
        self.feat_proj = (
            nn.Sequential(nn.Conv2d(feat_channels, fc, 1), nn.LeakyReLU(0.2)) if self.use_features else None
        )
        # per block: I0, I1, W(I0), W(I1) (12) + t (1) + mask logit (1) + flows (4) + features (2 fc)
        in_ch = 12 + 1 + 1 + 4 + 2 * fc
        self.corr = (CostVolumeFlow(cfg.flow_corr_radius, cfg.flow_corr_channels, cfg.flow_corr_stride,
                                    cfg.flow_corr_refine_radius) if cfg.flow_corr_radius > 0 else None)
        side = [0] * len(cfg.flow_channels)
        if self.corr is not None:
            side = [self.corr.num_displacements] + [self.corr.num_refine_displacements] * (len(side) - 1)
        self.blocks = nn.ModuleList(IFBlock(in_ch, c, cfg.flow_depth, side_ch=k) for c, k in zip(cfg.flow_channels, side))

    def forward(
        self,
        img0: torch.Tensor,
        img1: torch.Tensor,
        t: torch.Tensor,
        feat0: torch.Tensor | None = None,
        feat1: torch.Tensor | None = None,
        scale: float = 1.0,
        return_levels: bool = False,
    ) -> dict[str, torch.Tensor]:
        """img0, img1 (B, 3, H, W); t (B,); feat0/feat1 (B, C, h, w) backbone features or None.

        Returns ``flow_t0``, ``flow_t1`` (B, 2, H, W) float32 pixels, ``mask`` (B, 1, H, W) in (0, 1)
        (weight of the warped frame 0) and ``mask_logit`` (see the module docstring for the
        recurrence). With ``return_levels`` also ``flow_levels``: the estimate after each block,
        R_HW(F^(i)), each (B, 4, H, W) float32 (for multi-scale supervision; upsampled only when
        asked for), preceded by the cost volume's soft-argmin initialisation when it is on.
        """
        if scale <= 0:
            raise ValueError(f"IFNet: scale must be > 0 (RIFE --scale, e.g. 0.5 for 4K), got {scale}")
        if self.use_features and (feat0 is None or feat1 is None):
            raise ValueError("IFNet: built with flow_use_features=True, so feat0 and feat1 are required")
        b, _, H, W = img0.shape
        p0 = p1 = None
        if self.use_features:
            pf = self.feat_proj(torch.cat([feat0, feat1], 0))  # (2B, fc, h, w), shared projection
            p0, p1 = pf[:b], pf[b:]
        flow = logit = cost = None  # running (F_t0 | F_t1) (B, 4, h, w) px and mask logit (B, 1, h, w), on the block grid
        levels = []
        for i, block in enumerate(self.blocks):
            s = self.scales[i] / scale
            h, w = max(1, round(H / s)), max(1, round(W / s))
            x0 = _resize(img0, h, w)
            x1 = _resize(img1, h, w)
            if flow is None and self.corr is not None:  # first block: refine the cost volume's soft-argmin
                flow, cost = self.corr.init(x0, x1, t)
                if return_levels:
                    levels.append(resize_flow(flow, (H, W)))  # the cost volume's own estimate comes first
                logit = x0.new_zeros(b, 1, h, w, dtype=torch.float32)
                w0, w1 = warp(x0, flow[:, :2]), warp(x1, flow[:, 2:])
            elif flow is None:  # first block: zero flow, warping is the identity
                flow = x0.new_zeros(b, 4, h, w, dtype=torch.float32)
                logit = x0.new_zeros(b, 1, h, w, dtype=torch.float32)
                w0, w1 = x0, x1
            else:  # the running estimate moves to this block's grid once
                flow = resize_flow(flow, (h, w))
                logit = _resize(logit, h, w)
                cost = None
                if self.corr is not None and self.corr.refine_radius:  # local matching around it
                    flow, cost = self.corr.refine(x0, x1, t, flow)
                w0, w1 = warp(x0, flow[:, :2]), warp(x1, flow[:, 2:])
            parts = [x0, x1, w0, w1, time_plane(t, x0), logit.to(x0.dtype), flow.to(x0.dtype)]
            if self.use_features:
                q0, q1 = _resize(p0, h, w), _resize(p1, h, w)
                if i > 0 or self.corr is not None:  # warped like the images whenever the flow is not zero
                    q0, q1 = warp(q0, flow[:, :2]), warp(q1, flow[:, 2:])
                parts += [q0, q1]
            dflow, dlogit = block(torch.cat(parts, 1), cost)  # (B, 4, h, w), (B, 1, h, w)
            flow = flow + dflow.float()
            logit = logit + dlogit.float()
            if return_levels:
                levels.append(resize_flow(flow, (H, W)))
        flow = resize_flow(flow, (H, W))  # one upsample to full resolution (identity when the last s = 1)
        logit = _resize(logit, H, W)
        out = {"flow_t0": flow[:, :2], "flow_t1": flow[:, 2:], "mask": torch.sigmoid(logit), "mask_logit": logit}
        if return_levels:
            out["flow_levels"] = levels
        return out


def _resize(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Bilinear resize (B, C, *, *) -> (B, C, h, w); identity when the size already matches."""
    if x.shape[-2:] == (h, w):
        return x
    return F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
