"""ThesisModel: the one network of all three phases, switched by ``cfg.model.phase``.

Conventions: images (B, 3, H, W) float RGB in [0, 1]; t in [0, 1] is the fraction of the way from
frame 0 to frame 1, a float or a (B,) tensor; flows ``flow_t0``/``flow_t1`` (B, 2, H, W) are in
pixels, (dx, dy), for backward warping (``warp(img0, flow_t0)`` is frame 0 moved to time t).
Any H, W: inputs are replicate-padded to ``model.pad_multiple`` and every output is cropped back.

Phase 1 (direct synthesis, ~1.26M):  LGSBackbone -> SynthesisHead -> blend + residual.
Phase 2/3 (flow-guided, ~9.0M):      LGSBackbone -> IFNet(t) -> warp images, pre-warp features
                                     -> RefineUNet -> M*W0 + (1-M)*W1 + residual (RIFE Eq. 3).
                                     ``model.flow_arch = "rife4"``: Practical-RIFE 4.2x's IFNet
                                     (vfi_lib.model.rife_flow) in place of ours, to start from its weights.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from vfi_lib.config import Config
from vfi_lib.model.backbone import LGSBackbone, SynthesisHead
from vfi_lib.model.flow import IFNet, time_plane
from vfi_lib.model.refine import RefineUNet, fuse, level_of_stride, prewarp_features
from vfi_lib.model.warp import warp

__all__ = ["ThesisModel", "check_inputs", "flow_scales"]


class ThesisModel(nn.Module):
    """Video frame interpolation network; ``forward(img0, img1, t=0.5, return_aux=False, scale=1.0)``.

    ``model.cfg`` is the full :class:`~vfi_lib.config.Config`; ``model.pad_multiple`` the internal
    padding multiple.
    """

    def __init__(self, cfg: Config) -> None:
        super().__init__()
        if not isinstance(cfg, Config):
            raise TypeError(f"ThesisModel(cfg): cfg must be a vfi_lib.config.Config, got {type(cfg).__name__}")
        self.cfg = cfg
        m = cfg.model
        self.phase = m.phase
        self.backbone = LGSBackbone(m)
        multiples = [m.pad_multiple]
        if m.phase == 1:
            self.synthesis = SynthesisHead(m, self.backbone.enc_strides, self.backbone.stage_strides)
        else:
            if m.flow_arch == "rife4":
                from vfi_lib.model.rife_flow import RIFEFlow

                self.flow = RIFEFlow()
            else:
                self.flow = IFNet(m, feat_channels=m.stage_dims[0])
            levels = len(m.refine_channels)
            skip: dict[int, int] = {}
            for s, c in zip(self.backbone.enc_strides + self.backbone.stage_strides, m.enc_channels + m.stage_dims):
                k = level_of_stride(s, levels)
                skip[k] = skip.get(k, 0) + 2 * c
            # full-res stack: I0, I1, W0, W1, mask blend (15) + flows (4) + mask (1) + t (1)
            self.refine = RefineUNet(21, m.refine_channels, skip)
            multiples += [4 * max(m.flow_scales), self.refine.multiple]
        self.pad_multiple = math.lcm(*[int(x) for x in multiples])

    # ------------------------------------------------------------------ forward
    def forward(
        self,
        img0: torch.Tensor,
        img1: torch.Tensor,
        t: float | torch.Tensor = 0.5,
        return_aux: bool = False,
        scale: float | Sequence[float] = 1.0,
    ) -> torch.Tensor | tuple[torch.Tensor, dict]:
        """Interpolate the frame at time t between img0 and img1, both (B, 3, H, W) in [0, 1].

        ``scale`` (phase 2/3) runs the flow estimator at ``scale`` x resolution (RIFE --scale;
        0.5 for 2K, 0.25 for 4K); phase 1 has no flow and ignores it. A sequence of scales, e.g.
        ``(1.0, 0.5)`` (``--scale auto``), runs the flow at each and keeps, per sample, the flow whose
        warped inputs agree best (smallest mean squared difference (W0 - W1)^2 over the image; the first
        scale on ties): a coarser flow reaches motion beyond the finer one's search range. Squared, not
        absolute: the flow that misses a fast object leaves a few large local disagreements, which the
        mean |W0 - W1| drowned in the small ones of fine texture (on the first 60 bikes x2 triplets it chose
        scale 0.5 twice, +0.08 dB over scale 1; the squared mean 11 times, +0.50 dB, never worse per
        triplet). Returns (B, 3, H, W) in [0, 1], or ``(frame, aux)`` with ``aux`` holding ``residual``
        and, in phase 2/3, ``flow_t0``, ``flow_t1``, ``mask``, ``warped0``, ``warped1`` and ``flow_scale`` (B,), the scale
        used per sample; plus ``attn`` when the LGS stages keep their attention maps.
        """
        self._check_images(img0, img1)
        b, _, h, w = img0.shape
        tv = self._timestep(t, b, img0.device)
        scales = flow_scales(scale)
        x0, x1 = self._pad(img0), self._pad(img1)
        feats = self.backbone(x0, x1)
        aux: dict = {}
        if self.phase == 1:
            frame, residual = self.synthesis(x0, x1, tv, feats)
            aux["residual"] = residual
        else:
            frame, aux = self._flow_synthesis(x0, x1, tv, feats, scales, (h, w))
        frame = frame[..., :h, :w]
        if not return_aux:
            return frame
        aux = {k: v[..., :h, :w] if v.dim() == 4 else v for k, v in aux.items()}
        maps = self.backbone.attention_maps()
        if maps:
            aux["attn"] = maps
        return frame, aux

    def _flow_synthesis(self, x0, x1, t, feats, scales: tuple[float, ...], hw: tuple[int, int]) -> tuple[torch.Tensor, dict]:
        f0, f1 = feats.stages[0]
        best = best_d = None  # (flow_t0, flow_t1, mask, w0, w1, scale (B,)) kept per sample; its disagreement (B,)
        for s in scales:
            fl = self.flow(x0, x1, t, f0, f1, scale=s)
            w0, w1 = warp(x0, fl["flow_t0"]), warp(x1, fl["flow_t1"])  # (B, 3, H, W) each
            cand = (fl["flow_t0"], fl["flow_t1"], fl["mask"], w0, w1, torch.full_like(t, s))  # flows, mask float32
            if len(scales) == 1:
                best = cand
                break
            d = (w0 - w1)[..., : hw[0], : hw[1]].float().square().mean((1, 2, 3))  # on the unpadded image
            if best is None:
                best, best_d = cand, d
            else:
                take = d < best_d  # (B,) bool, per sample: no host sync
                best = tuple(torch.where(take.view(-1, *[1] * (x.dim() - 1)), x, y) for x, y in zip(cand, best))
                best_d = torch.minimum(d, best_d)
        ft0, ft1, mask, w0, w1, used = best
        mask_c = mask.to(w0.dtype)
        levels = self.refine.levels
        H, W = x0.shape[-2:]
        skips: dict[int, list[torch.Tensor]] = {}
        by_stride = feats.at_stride()
        for s in sorted(by_stride):
            pairs, k = by_stride[s], level_of_stride(s, levels)
            if self.cfg.model.feature_prewarp:
                cat = prewarp_features(pairs, ft0, ft1)  # list of (B, 2C, H/s, W/s)
            else:
                cat = [torch.cat(p, 1) for p in pairs]
            size = (H // 2**k, W // 2**k)
            cat = [c if c.shape[-2:] == size else F.interpolate(c, size=size, mode="bilinear", align_corners=False) for c in cat]
            skips.setdefault(k, []).extend(cat)
        stack = torch.cat(
            [x0, x1, w0, w1, mask_c * w0 + (1 - mask_c) * w1, ft0.to(w0.dtype), ft1.to(w0.dtype), mask_c, time_plane(t, x0)], 1
        )  # (B, 21, H, W)
        residual = self.refine(stack, {k: torch.cat(v, 1) for k, v in skips.items()})
        frame = fuse(w0, w1, mask_c, residual)
        aux = {"flow_t0": ft0, "flow_t1": ft1, "mask": mask, "warped0": w0, "warped1": w1, "residual": residual,
               "flow_scale": used}
        return frame, aux

    # ------------------------------------------------------------------ helpers
    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = self.pad_multiple
        ph, pw = (-h) % m, (-w) % m
        if ph == 0 and pw == 0:
            return x
        return F.pad(x, (0, pw, 0, ph), mode="replicate")

    def _check_images(self, img0: torch.Tensor, img1: torch.Tensor) -> None:
        """Type, shape and dtype checks (metadata only: no host sync; values: :func:`check_inputs`)."""
        _check_image_meta(img0, img1, "ThesisModel.forward")

    def _timestep(self, t: float | torch.Tensor, b: int, device: torch.device) -> torch.Tensor:
        """t as a float32 (B,) tensor on ``device``; accepts a float, a 0-d, (B,) or (B, 1, 1, 1) tensor.

        A Python float is range-checked here (free); a tensor's values are not (that would be a
        host sync in every forward): :func:`check_inputs` does it once per call, outside the model.
        """
        if isinstance(t, torch.Tensor):
            if t.numel() == 1:
                tv = t.reshape(1).expand(b)
            elif t.numel() == b:
                tv = t.reshape(b)
            else:
                raise ValueError(f"ThesisModel.forward: t must be a float or a ({b},) tensor, got shape {tuple(t.shape)}")
            return tv.to(device=device, dtype=torch.float32)
        t = float(t)
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"ThesisModel.forward: t must lie in [0, 1], got {t}")
        return torch.full((b,), t, device=device, dtype=torch.float32)

    def keep_attention(self, flag: bool = True) -> "ThesisModel":
        """Make the LGS stages keep their last attention maps; they appear as ``aux["attn"]``."""
        self.backbone.keep_attention(flag)
        return self

    def num_parameters(self) -> int:
        """Trainable parameter count."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


# ----------------------------------------------------------------------------- flow scales
def flow_scales(scale: float | Sequence[float]) -> tuple[float, ...]:
    """``scale`` of :meth:`ThesisModel.forward` as a tuple of positive floats (one or more; ValueError otherwise)."""
    if isinstance(scale, torch.Tensor) or not isinstance(scale, Sequence):
        scales = (float(scale),)
    else:
        scales = tuple(float(s) for s in scale)
    if not scales or any(not s > 0 for s in scales):
        raise ValueError(f"ThesisModel.forward: scale must be a float > 0 or a non-empty sequence of them, got {scale!r}")
    return scales


# ----------------------------------------------------------------------------- input checks
def _check_image_meta(img0: torch.Tensor, img1: torch.Tensor, where: str) -> None:
    """TypeError/ValueError unless img0, img1 are float tensors (B, 3, H, W) of the same shape."""
    for name, x in (("img0", img0), ("img1", img1)):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{where}: {name} must be a torch.Tensor (B, 3, H, W), got {type(x).__name__}")
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(
                f"{where}: {name} must be (B, 3, H, W) RGB, got shape {tuple(x.shape)}"
                + (" (channels-last? permute(0, 3, 1, 2))" if x.dim() == 4 and x.shape[-1] == 3 else "")
            )
        if not x.is_floating_point():
            raise TypeError(
                f"{where}: {name} has dtype {x.dtype}; the model expects float in [0, 1] "
                "(convert uint8 images with x.float() / 255)"
            )
    if img0.shape != img1.shape:
        raise ValueError(f"{where}: img0 {tuple(img0.shape)} and img1 {tuple(img1.shape)} must have the same shape")


def check_inputs(img0: torch.Tensor, img1: torch.Tensor, t: float | torch.Tensor = 0.5, tol: float = 1e-3) -> None:
    """Validate a model call's inputs, values included; raises TypeError / ValueError with the fix.

    img0, img1: float (B, 3, H, W) RGB in [0, 1] (a tolerance ``tol`` for resampling overshoot);
    t: a float or a tensor with 1 or B values, all in [0, 1]. The forward pass itself checks only
    types and shapes (free); the value ranges need the data on the host, so this costs one device
    sync: call it once per user-facing call (``vfi_lib.infer.predict`` does), never per forward.
    """
    _check_image_meta(img0, img1, "check_inputs")
    b = img0.shape[0]
    stats = [img0.amin(), img1.amin(), img0.amax(), img1.amax()]
    if isinstance(t, torch.Tensor):
        if t.numel() not in (1, b):
            raise ValueError(f"check_inputs: t must be a float or a ({b},) tensor, got shape {tuple(t.shape)}")
        tv = t.detach().reshape(-1).to(device=img0.device, dtype=torch.float32)
        stats += [tv.amin(), tv.amax()]
    else:
        tv = None
        tf = float(t)
        if not 0.0 <= tf <= 1.0:
            raise ValueError(f"check_inputs: t must lie in [0, 1], got {tf}")
    vals = torch.stack([v.detach().float() for v in stats]).tolist()  # the one host sync
    nan = any(v != v for v in vals[:4])  # NaN anywhere: amin/amax propagate it
    lo, hi = (float("nan"),) * 2 if nan else (min(vals[0], vals[1]), max(vals[2], vals[3]))
    if nan or lo < -tol or hi > 1 + tol:
        raise ValueError(
            f"check_inputs: images have values in [{lo:.3g}, {hi:.3g}]; the model expects float "
            "in [0, 1] (divide 0..255 images by 255)"
        )
    if tv is not None and not (vals[4] >= 0.0 and vals[5] <= 1.0):
        raise ValueError(f"check_inputs: t must lie in [0, 1], got {tv.tolist()}")
