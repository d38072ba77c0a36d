"""Backward warping: exactness, a slow bilinear reference, gradients, flow resizing."""

from __future__ import annotations

import math

import pytest
import torch

from vfi_lib.model.warp import base_grid, clear_grid_cache, resize_flow, warp


def _warp_loop(img: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Obviously-correct bilinear backward warp, one pixel at a time, border clamping."""
    b, c, h, w = img.shape
    out = torch.zeros_like(img, dtype=torch.float64)
    im = img.double()
    for n in range(b):
        for y in range(h):
            for x in range(w):
                sx = min(max(x + float(flow[n, 0, y, x]), 0.0), w - 1.0)
                sy = min(max(y + float(flow[n, 1, y, x]), 0.0), h - 1.0)
                x0, y0 = math.floor(sx), math.floor(sy)
                x1, y1 = min(x0 + 1, w - 1), min(y0 + 1, h - 1)
                ax, ay = sx - x0, sy - y0
                out[n, :, y, x] = (
                    (1 - ax) * (1 - ay) * im[n, :, y0, x0]
                    + ax * (1 - ay) * im[n, :, y0, x1]
                    + (1 - ax) * ay * im[n, :, y1, x0]
                    + ax * ay * im[n, :, y1, x1]
                )
    return out


def test_zero_flow_is_identity() -> None:
    torch.manual_seed(0)
    img = torch.rand(2, 3, 13, 21)
    out = warp(img, torch.zeros(2, 2, 13, 21))
    torch.testing.assert_close(out, img, rtol=0, atol=1e-6)


@pytest.mark.parametrize("dx,dy", [(3, -2)])
def test_integer_translation_shifts_interior(dx: int, dy: int) -> None:
    torch.manual_seed(1)
    img = torch.rand(1, 3, 16, 20)
    flow = torch.zeros(1, 2, 16, 20)
    flow[:, 0], flow[:, 1] = dx, dy
    out = warp(img, flow)
    # out(y, x) = img(y + dy, x + dx) wherever the source lies inside the image
    expect = torch.roll(img, shifts=(-dy, -dx), dims=(2, 3))
    ys = slice(max(0, -dy), 16 - max(0, dy))
    xs = slice(max(0, -dx), 20 - max(0, dx))
    torch.testing.assert_close(out[..., ys, xs], expect[..., ys, xs], rtol=0, atol=1e-5)
    # outside, border padding repeats the edge: the last column samples column 19 again
    torch.testing.assert_close(out[..., ys, -1], img[..., ys.start + dy : ys.stop + dy, -1], rtol=0, atol=1e-5)


def test_matches_loop_reference_fractional_flow() -> None:
    torch.manual_seed(2)
    img = torch.rand(2, 2, 6, 7)
    flow = torch.randn(2, 2, 6, 7) * 2.5  # fractional, some samples leave the image
    ref = _warp_loop(img, flow)
    torch.testing.assert_close(warp(img, flow).double(), ref, rtol=0, atol=1e-5)
    # float64 path agrees to round-off
    torch.testing.assert_close(warp(img.double(), flow.double()), ref, rtol=0, atol=1e-10)


def test_gradient_reaches_flow_and_image() -> None:
    torch.manual_seed(3)
    img = torch.rand(1, 3, 8, 9, dtype=torch.float64, requires_grad=True)
    flow = (torch.rand(1, 2, 8, 9, dtype=torch.float64) * 2 - 1).mul(1.3).requires_grad_(True)
    out = warp(img, flow)
    out.square().sum().backward()
    assert flow.grad is not None and flow.grad.abs().sum() > 0
    assert img.grad is not None and img.grad.abs().sum() > 0
    # analytic gradient equals finite differences (away from integer coordinates and borders)
    assert torch.autograd.gradcheck(lambda f: warp(img.detach(), f), (flow.detach().clone().mul(0.3).add(0.123).requires_grad_(True),))


def test_grid_cache_and_dtype() -> None:
    clear_grid_cache()
    g1 = base_grid(5, 7, torch.device("cpu"), torch.float32)
    g2 = base_grid(5, 7, torch.device("cpu"), torch.float32)
    assert g1 is g2 and g1.shape == (1, 5, 7, 2)
    assert g1[0, 0, 0].tolist() == [-1.0, -1.0] and g1[0, -1, -1].tolist() == [1.0, 1.0]
    img = torch.rand(1, 3, 5, 7, dtype=torch.bfloat16)
    assert warp(img, torch.zeros(1, 2, 5, 7)).dtype == torch.bfloat16


def test_bad_shapes_raise() -> None:
    with pytest.raises(ValueError, match="flow must be"):
        warp(torch.rand(1, 3, 8, 8), torch.zeros(1, 2, 8, 9))
    with pytest.raises(ValueError, match="4-D"):
        warp(torch.rand(3, 8, 8), torch.zeros(2, 8, 8))


def test_resize_flow_rescales_vectors() -> None:
    flow = torch.zeros(1, 2, 4, 6)
    flow[:, 0], flow[:, 1] = 1.5, -0.5
    up = resize_flow(flow, (12, 12))  # x2 in width, x3 in height
    torch.testing.assert_close(up[:, 0], torch.full((1, 12, 12), 3.0))
    torch.testing.assert_close(up[:, 1], torch.full((1, 12, 12), -1.5))
    # stacked (F_t0 | F_t1) fields: every (dx, dy) pair is rescaled
    both = torch.cat([flow, 2 * flow], 1)  # (1, 4, 4, 6)
    up4 = resize_flow(both, (12, 12))
    torch.testing.assert_close(up4[:, 2], torch.full((1, 12, 12), 6.0))
    torch.testing.assert_close(up4[:, 3], torch.full((1, 12, 12), -3.0))
    # a translated image warped at low res then at high res with the resized flow agree
    torch.manual_seed(4)
    img = torch.rand(1, 1, 12, 12)
    f = torch.zeros(1, 2, 6, 6)
    f[:, 0] = 1.0  # 1 px at 6x6 = 2 px at 12x12
    hi = warp(img, resize_flow(f, (12, 12)))
    torch.testing.assert_close(hi[..., :, :10], img[..., :, 2:], rtol=0, atol=1e-5)
