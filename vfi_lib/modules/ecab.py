"""ECAB: convolutional channel-attention block with ECA instead of squeeze-excitation.

The CAB of MambaIR / VFIMamba is conv3x3 - GELU - conv3x3 followed by SE channel attention. ECA
(Wang et al., CVPR 2020, "ECA-Net", eq. 12) replaces the SE bottleneck MLP by a 1-D convolution of
kernel k over the globally pooled channel descriptor, with k adapted to the channel count:
    k = psi(C) = | log2(C) / gamma + b / gamma |_odd,  gamma = 2, b = 1
(ECA-Net code: t = int(abs((log2(C) + b) / gamma)); k = t if t is odd else t + 1).

Shapes: (B, C, H, W) -> (B, C, H, W). Used as the second sub-layer of the LGS block (its "FFN").
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def eca_kernel_size(channels: int, gamma: float = 2.0, b: float = 1.0) -> int:
    """Adaptive odd 1-D kernel size of ECA for ``channels`` (ECA-Net eq. 12)."""
    if channels < 1:
        raise ValueError(f"vfi_lib/modules/ecab.py: channels must be >= 1, got {channels}")
    t = int(abs((math.log2(channels) + b) / gamma))
    return t if t % 2 else t + 1


class ECA(nn.Module):
    """Efficient channel attention: x * sigmoid(conv1d_k(avgpool(x))). (B, C, H, W) -> same."""

    def __init__(self, channels: int, gamma: float = 2.0, b: float = 1.0) -> None:
        super().__init__()
        self.kernel_size = eca_kernel_size(channels, gamma, b)
        self.conv = nn.Conv1d(1, 1, self.kernel_size, padding=self.kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.adaptive_avg_pool2d(x, 1).flatten(1)  # (B, C)
        y = self.conv(y.unsqueeze(1)).squeeze(1)  # (B, C): local cross-channel interaction
        return x * torch.sigmoid(y)[:, :, None, None]


class ECAB(nn.Module):
    """conv3x3 (C -> hidden) - GELU - conv3x3 (hidden -> C) - ECA. (B, C, H, W) -> (B, C, H, W).

    ``ratio`` is the hidden expansion (``ModelConfig.ecab_ratio``): hidden = round(C * ratio).
    """

    def __init__(self, dim: int, ratio: float = 2.0) -> None:
        super().__init__()
        hidden = max(1, round(dim * ratio))
        self.body = nn.Sequential(
            nn.Conv2d(dim, hidden, 3, padding=1),
            nn.GELU(),
            nn.Conv2d(hidden, dim, 3, padding=1),
        )
        self.eca = ECA(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.eca(self.body(x))
