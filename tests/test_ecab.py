"""ECAB: ECA adaptive kernel size, ECA against a manual computation, block shapes and gradients."""

import math

import pytest
import torch
import torch.nn.functional as F

from vfi_lib.modules.ecab import ECA, ECAB, eca_kernel_size


@pytest.mark.parametrize("channels", [16, 24, 64, 96, 128, 256, 512])
def test_kernel_size_follows_eca_rule(channels):
    t = int(abs((math.log2(channels) + 1) / 2))  # ECA-Net: gamma = 2, b = 1, made odd
    expected = t if t % 2 else t + 1
    k = eca_kernel_size(channels)
    assert k == expected and k % 2 == 1
    assert ECA(channels).conv.kernel_size == (k,)


def test_kernel_size_table():
    assert [eca_kernel_size(c) for c in (16, 64, 128, 256, 512)] == [3, 3, 5, 5, 5]
    with pytest.raises(ValueError, match="ecab.py"):
        eca_kernel_size(0)


def test_eca_matches_manual_channel_convolution():
    torch.manual_seed(0)
    eca = ECA(16).double()
    x = torch.randn(2, 16, 5, 6, dtype=torch.float64)
    k = eca.kernel_size
    w = eca.conv.weight.view(k)
    pooled = x.mean(dim=(2, 3))  # (B, C)
    padded = F.pad(pooled, (k // 2, k // 2))
    mixed = torch.stack([(padded[:, c : c + k] * w).sum(-1) for c in range(16)], dim=1)  # neighbours only
    torch.testing.assert_close(eca(x), x * torch.sigmoid(mixed)[:, :, None, None])


def test_ecab_shape_params_and_backward():
    blk = ECAB(24, ratio=2.0)
    hidden = 48
    expected = (24 * hidden * 9 + hidden) + (hidden * 24 * 9 + 24) + eca_kernel_size(24)
    assert sum(p.numel() for p in blk.parameters()) == expected
    x = torch.randn(2, 24, 8, 8, requires_grad=True)
    y = blk(x)
    assert y.shape == x.shape
    y.square().mean().backward()
    assert torch.isfinite(x.grad).all() and blk.eca.conv.weight.grad.abs().sum() > 0
