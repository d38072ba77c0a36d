"""U-Net refinement and mask fusion of the two warped frames (Phase 2/3).

RIFE (Huang et al., ECCV 2022, Eq. 3) fuses the backward-warped inputs with a mask M and adds a
residual Delta predicted by a context U-Net:

    I_t = M * W(I0, F_t0) + (1 - M) * W(I1, F_t1) + Delta,   clamped to [0, 1].

Our U-Net takes the full-resolution cues (inputs, warped inputs, flows, mask, t) at level 0 and, at
level k (resolution 1/2^k), the backbone features of both frames pre-warped to time t with the
resized flows (``prewarp_features``), so multi-scale LGS context enters where its resolution fits.
Widths ``cfg.refine_channels`` go fine -> coarse. The output conv is zero-initialised, so an untrained
refiner returns exactly the mask blend.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from vfi_lib.model.warp import resize_flow, warp

__all__ = ["RefineUNet", "prewarp_features", "fuse", "level_of_stride"]


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.LeakyReLU(0.2))


def prewarp_features(
    feats: list[tuple[torch.Tensor, torch.Tensor]], flow_t0: torch.Tensor, flow_t1: torch.Tensor
) -> list[torch.Tensor]:
    """Warp each pair (f0, f1) of (B, C, h, w) features to time t -> list of (B, 2C, h, w).

    The full-resolution flows (B, 2, H, W) are resized to (h, w) with their vectors rescaled.
    """
    out = []
    for f0, f1 in feats:
        size = f0.shape[-2:]
        w0 = warp(f0, resize_flow(flow_t0, size))
        w1 = warp(f1, resize_flow(flow_t1, size))
        out.append(torch.cat([w0, w1], 1))
    return out


def fuse(warped0: torch.Tensor, warped1: torch.Tensor, mask: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
    """RIFE Eq. 3: clamp(M * W0 + (1 - M) * W1 + residual, 0, 1); all (B, 3|1, H, W)."""
    return (mask * warped0 + (1 - mask) * warped1 + residual).clamp(0.0, 1.0)


class RefineUNet(nn.Module):
    """Context U-Net predicting the residual (B, 3, H, W).

    Args:
        in_channels: channels of the full-resolution input stack.
        channels: widths per level, fine -> coarse (level k at 1/2^k).
        skip_channels: ``{level: channels}`` of the extra (pre-warped feature) inputs per level.
    """

    def __init__(self, in_channels: int, channels: tuple[int, ...], skip_channels: dict[int, int]) -> None:
        super().__init__()
        if not channels:
            raise ValueError("RefineUNet: refine_channels must name at least one level")
        bad = [k for k in skip_channels if not 0 <= k < len(channels)]
        if bad:
            raise ValueError(f"RefineUNet: skip levels {bad} outside 0..{len(channels) - 1}")
        self.levels = len(channels)
        self.skip_channels = dict(skip_channels)
        self.down = nn.ModuleList()
        prev = in_channels
        for k, c in enumerate(channels):
            first = _conv(prev, c, stride=1 if k == 0 else 2)  # level k input at 1/2^k
            self.down.append(nn.ModuleList([first, _conv(c + self.skip_channels.get(k, 0), c)]))
            prev = c
        self.up = nn.ModuleList()  # up[k] takes level k+1 -> level k
        for k in range(self.levels - 1):
            c_hi, c = channels[k + 1], channels[k]
            self.up.append(
                nn.ModuleDict(
                    {
                        "shuffle": nn.Sequential(nn.Conv2d(c_hi, 4 * c, 1), nn.PixelShuffle(2), nn.LeakyReLU(0.2)),
                        "fuse": _conv(2 * c, c),
                    }
                )
            )
        self.out = nn.Conv2d(channels[0], 3, 3, 1, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    @property
    def multiple(self) -> int:
        """Input H, W must be multiples of this."""
        return 2 ** (self.levels - 1)

    def forward(self, x: torch.Tensor, skips: dict[int, torch.Tensor]) -> torch.Tensor:
        """x (B, in_channels, H, W); skips {level: (B, skip_channels[level], H/2^k, W/2^k)}."""
        h, w = x.shape[-2:]
        if h % self.multiple or w % self.multiple:
            raise ValueError(f"RefineUNet: H, W = {h}, {w} must be multiples of {self.multiple}")
        if set(skips) != set(self.skip_channels):
            raise ValueError(f"RefineUNet: expected skip levels {sorted(self.skip_channels)}, got {sorted(skips)}")
        enc = []
        for k, (first, second) in enumerate(self.down):
            x = first(x)
            if k in skips:
                x = torch.cat([x, skips[k]], 1)  # (B, c_k + skip_k, H/2^k, W/2^k)
            x = second(x)
            enc.append(x)
        for k in reversed(range(self.levels - 1)):
            x = self.up[k]["shuffle"](x)  # (B, c_k, H/2^k, W/2^k)
            x = self.up[k]["fuse"](torch.cat([x, enc[k]], 1))
        return self.out(x)


def level_of_stride(stride: int, levels: int) -> int:
    """U-Net level whose resolution is 1/stride (clamped to the coarsest level)."""
    return min(int(round(math.log2(stride))), levels - 1)
