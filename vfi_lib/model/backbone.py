"""Cross-frame LGS feature backbone and the Phase-1 synthesis head.

Backbone (shared by both frames, which are batched together through every conv):

    I0, I1 --ConvEncoder--> e_j (stride 2^(j+1), ``cfg.enc_channels``) --1x1 proj-->
    LGSStage_0 (stride 2^E, joint over both frames) --conv s2--> LGSStage_1 --> ...

where E = len(enc_channels). Each LGS stage mixes the two frames (interleaved Mamba2 scan and joint
window attention, see ``vfi_lib.modules.lgs_block``), so its outputs are already motion-aware.

Phase-1 synthesis (direct synthesis, no flow): a decoder walks back from the deepest stage to full
resolution, doubling with PixelShuffle and concatenating at each stride the features of both frames
that live there (LGS stages, encoder levels, finally the images) and a constant t-plane, then
predicts a residual over the linear blend:

    I_t = clamp((1 - t) I0 + t I1 + 4 t (1 - t) R(I0, I1, t), 0, 1).

The gate 4t(1-t) (1 at t = 0.5) makes the correction vanish at the endpoints, where the blend is
exact (I_0 = I0, I_1 = I1); near them the blend error is O(t), the order of the gate, so nothing is
lost in (0, 1). t also enters every decoder level as a constant plane (Phase 1 trains at t = 0.5,
XTest asks for t = k/8). The last conv is zero-initialised, so an untrained head returns the blend.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from vfi_lib.config import ModelConfig
from vfi_lib.model.flow import time_plane
from vfi_lib.modules.lgs_block import LGSStage

__all__ = ["ConvEncoder", "LGSBackbone", "SynthesisHead", "Features"]

# Per-frame features of one level: (f0, f1), each (B, C, H/stride, W/stride).
Pair = tuple[torch.Tensor, torch.Tensor]


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.LeakyReLU(0.2))


class ConvEncoder(nn.Module):
    """Shallow conv encoder: per level a stride-2 conv and a conv. (N, 3, H, W) -> list of (N, c_j, H/2^(j+1), ...)."""

    def __init__(self, channels: tuple[int, ...], in_channels: int = 3) -> None:
        super().__init__()
        layers, prev = [], in_channels
        for c in channels:
            layers.append(nn.Sequential(_conv(prev, c, 2), _conv(c, c)))
            prev = c
        self.levels = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for level in self.levels:
            x = level(x)
            out.append(x)
        return out


@dataclass
class Features:
    """Backbone output: per-frame feature pairs (f0, f1) of the encoder levels and the LGS stages."""

    encoder: list[Pair]  # level j: (B, enc_channels[j], H / 2^(j+1), W / 2^(j+1)) each
    stages: list[Pair]  # stage i: (B, stage_dims[i], H / 2^(E+i), W / 2^(E+i)) each
    enc_strides: list[int]
    stage_strides: list[int]

    def at_stride(self) -> dict[int, list[Pair]]:
        """{stride: [pairs living at that stride]} (encoder levels first, then LGS stages)."""
        out: dict[int, list[Pair]] = {}
        for s, p in zip(self.enc_strides + self.stage_strides, self.encoder + self.stages):
            out.setdefault(s, []).append(p)
        return out


class LGSBackbone(nn.Module):
    """Conv encoder + cross-frame LGS stages. forward(img0, img1) -> :class:`Features`.

    Inputs (B, 3, H, W) with H, W multiples of ``cfg.pad_multiple``.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = ConvEncoder(cfg.enc_channels)
        self.proj = nn.Conv2d(cfg.enc_channels[-1], cfg.stage_dims[0], 1)
        self.stages = nn.ModuleList(
            LGSStage(d, n, h, cfg) for d, n, h in zip(cfg.stage_dims, cfg.depths, cfg.num_heads)
        )
        self.downs = nn.ModuleList(  # between stages: stride-2 conv, shared by both frames
            nn.Conv2d(a, b, 3, 2, 1) for a, b in zip(cfg.stage_dims[:-1], cfg.stage_dims[1:])
        )
        e = len(cfg.enc_channels)
        self.enc_strides = [2 ** (j + 1) for j in range(e)]
        self.stage_strides = [2 ** (e + i) for i in range(len(cfg.stage_dims))]

    def forward(self, img0: torch.Tensor, img1: torch.Tensor) -> Features:
        b = img0.shape[0]
        enc = self.encoder(torch.cat([img0, img1], 0))  # list of (2B, c_j, H/2^(j+1), W/2^(j+1))
        x = self.proj(enc[-1])  # (2B, d_0, H/2^E, W/2^E)
        f0, f1 = x[:b], x[b:]
        stages = []
        for i, stage in enumerate(self.stages):
            if i > 0:
                x = self.downs[i - 1](torch.cat([f0, f1], 0))  # (2B, d_i, ...)
                f0, f1 = x[:b], x[b:]
            f0, f1 = stage(f0, f1)
            stages.append((f0, f1))
        return Features([(e[:b], e[b:]) for e in enc], stages, self.enc_strides, self.stage_strides)

    def attention_maps(self) -> list[list[dict]]:
        """Per stage that keeps them (``keep_attention``), the list of its blocks' last maps.

        Each entry is LGSStage's dict {'attn': (B*nW, heads, N, N), 'gate': (B, 2, h, w, C),
        'shift': int} at the padded stage resolution; [] when no stage keeps maps.
        """
        maps = []
        for stage in self.stages:
            if stage.keep_attn:
                m = [d for d in stage.attention_maps() if d.get("attn") is not None]
                if m:
                    maps.append(m)
        return maps

    def keep_attention(self, flag: bool = True) -> None:
        """Ask every LGS stage to keep its last attention maps and gates (for plots)."""
        for stage in self.stages:
            stage.keep_attn = flag


class SynthesisHead(nn.Module):
    """Phase-1 decoder: features of both frames + t -> residual (B, 3, H, W) over the blend.

    Decoder width at stride s: the width of the LGS stage living there, else of the encoder level,
    and ``cfg.synth_channels`` at full resolution.
    """

    def __init__(self, cfg: ModelConfig, enc_strides: list[int], stage_strides: list[int]) -> None:
        super().__init__()
        width: dict[int, int] = {}
        skip: dict[int, int] = {1: 9}  # I0, I1, blend at full resolution
        for s, c in zip(enc_strides, cfg.enc_channels):
            width[s] = c
            skip[s] = skip.get(s, 0) + 2 * c
        for s, d in zip(stage_strides, cfg.stage_dims):
            width[s] = d  # an LGS stage sets the width of its stride
            skip[s] = skip.get(s, 0) + 2 * d
        width[1] = cfg.synth_channels
        self.strides = sorted(width, reverse=True)  # deepest first, ends with 1
        top = self.strides[0]
        # 1x1 fusion of both frames' deepest features and t, then a 3x3 conv
        self.stem = nn.Sequential(nn.Conv2d(skip[top] + 1, width[top], 1), nn.LeakyReLU(0.2), _conv(width[top], width[top]))
        self.ups = nn.ModuleList()
        self.fuses = nn.ModuleList()
        for hi, lo in zip(self.strides[:-1], self.strides[1:]):
            if hi != 2 * lo:
                raise ValueError(f"SynthesisHead: strides must halve level by level, got {self.strides}")
            # 1x1 conv + PixelShuffle doubles the resolution; the 3x3 fuse convs supply the spatial context
            self.ups.append(nn.Sequential(nn.Conv2d(width[hi], 4 * width[lo], 1), nn.PixelShuffle(2), nn.LeakyReLU(0.2)))
            self.fuses.append(nn.Sequential(_conv(width[lo] + skip[lo] + 1, width[lo]), _conv(width[lo], width[lo])))
        self.out = nn.Conv2d(width[1], 3, 3, 1, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, img0: torch.Tensor, img1: torch.Tensor, t: torch.Tensor, feats: Features) -> tuple[torch.Tensor, torch.Tensor]:
        """img0, img1 (B, 3, H, W); t (B,). Returns (frame, residual), each (B, 3, H, W)."""
        tt = t.to(img0.dtype).view(-1, 1, 1, 1)
        blend = (1 - tt) * img0 + tt * img1  # (B, 3, H, W)
        by_stride = {s: [torch.cat(p, 1) for p in pairs] for s, pairs in feats.at_stride().items()}
        by_stride[1] = [img0, img1, blend]

        def skips(s: int, like: torch.Tensor) -> torch.Tensor:  # (B, skip[s] + 1, H/s, W/s)
            return torch.cat(by_stride[s] + [time_plane(t, like)], 1)

        top = self.strides[0]
        x = self.stem(skips(top, by_stride[top][0]))
        for up, fuse, s in zip(self.ups, self.fuses, self.strides[1:]):
            x = up(x)  # (B, width[s], H/s, W/s)
            x = fuse(torch.cat([x, skips(s, x)], 1))
        residual = 4 * tt * (1 - tt) * self.out(x)  # endpoint gate, 1 at t = 0.5
        return (blend + residual).clamp(0.0, 1.0), residual
