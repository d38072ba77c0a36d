"""Losses: zero on identical inputs, positive otherwise, differentiable, hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vfi_lib.config import preset
from vfi_lib.train.losses import (
    RGB_TO_GREY,
    CompositeLoss,
    FlowSmoothnessLoss,
    LapLoss,
    TernaryLoss,
    VGGPerceptualLoss,
    edge_aware_smoothness,
    gaussian_kernel_5x5,
    laplacian_pyramid,
)
from vfi_lib.train.vgg import VGG19Features, VGGWeightsError, load_vgg19


def _pair(h=32, w=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(2, 3, h, w, generator=g), torch.rand(2, 3, h, w, generator=g)


# ----------------------------------------------------------------------------- LapLoss
def test_lap_one_level_is_l1_and_zero_on_identical():
    a, b = _pair()
    assert torch.allclose(LapLoss(levels=1)(a, b), F.l1_loss(a, b), atol=1e-7)
    assert LapLoss()(a, a).item() == 0.0
    assert LapLoss()(a, b).item() > 0.0


def test_lap_blur_of_impulse_is_binomial_kernel():
    k = gaussian_kernel_5x5()
    assert torch.allclose(k.sum(), torch.tensor(1.0))
    x = torch.zeros(1, 1, 9, 9)
    x[0, 0, 4, 4] = 1.0
    from vfi_lib.train.losses import _blur

    out = _blur(x, k)[0, 0]
    assert torch.allclose(out[2:7, 2:7], k)
    assert out[4, 4].item() == pytest.approx(36 / 256)


def test_lap_pyramid_reconstructs_and_constant_offset():
    a, _ = _pair(40, 24)  # even sizes: a constant stays constant under down/up
    bands = laplacian_pyramid(a, levels=4)
    assert [tuple(b.shape[-2:]) for b in bands] == [(40, 24), (20, 12), (10, 6), (5, 3)]
    from vfi_lib.train.losses import _pyr_up

    rec = bands[-1]
    for band in reversed(bands[:-1]):
        rec = band + _pyr_up(rec, gaussian_kernel_5x5(), band.shape[-2:])
    assert torch.allclose(rec, a, atol=1e-6)
    # a global brightness offset c lives only in the low-pass residual: loss = c; RIFE's loss (no
    # residual) does not see it at all
    c = 0.1
    assert LapLoss(levels=4)(a + c, a).item() == pytest.approx(c, abs=1e-5)
    assert LapLoss(levels=4, include_lowpass=False)(a + c, a).item() == pytest.approx(0.0, abs=1e-6)


# ----------------------------------------------------------------------------- Ternary
def test_ternary_constant_images_and_single_impulse_hand_value():
    tern = TernaryLoss()
    c0 = torch.full((1, 3, 13, 13), 0.2)
    c1 = torch.full((1, 3, 13, 13), 0.7)
    assert tern(c0, c1).item() == pytest.approx(0.0, abs=1e-7)  # census ignores brightness offsets
    # one bright pixel of grey value g at the centre vs a black image (see the module docstring):
    # the centre differs from its 48 neighbours, each of the 48 neighbours from the centre only
    v = 2 / 255  # two grey levels: in 0..255 units (UnFlow) the census already sees a clear edge
    img = torch.zeros(1, 3, 13, 13)
    img[0, :, 6, 6] = v
    g = 255 * v * sum(RGB_TO_GREY)
    s = g * g / (0.81 + g * g)
    h = s / (0.1 + s)
    expected = (48 / 49 * h + 48 * (1 / 49) * h) / 49  # mean over the 7x7 valid pixels
    assert tern(img, torch.zeros_like(img)).item() == pytest.approx(expected, rel=1e-5)


def _census_reference(pred: torch.Tensor, gt: torch.Tensor, scale: float = 255.0, patch: int = 7) -> torch.Tensor:
    """UnFlow / RIFE census loss written out directly: grey = 255 * BT.601 luma, 7x7 neighbours by
    unfold, c = d / sqrt(0.81 + d^2), soft Hamming mean_d D / (0.1 + D), mean over interior pixels."""
    r = patch // 2

    def census(img):
        grey = scale * (0.2989 * img[:, 0] + 0.5870 * img[:, 1] + 0.1140 * img[:, 2])  # (B, H, W)
        b, h, w = grey.shape
        nb = F.unfold(grey[:, None].double(), patch, padding=r).view(b, patch * patch, h, w)
        d = nb - grey[:, None].double()
        return d / torch.sqrt(0.81 + d * d)

    D = (census(pred) - census(gt)) ** 2
    ham = (D / (0.1 + D)).mean(1)  # (B, H, W)
    return ham[:, r:-r, r:-r].mean()


@pytest.mark.parametrize("scale", [255.0, 1.0])
def test_ternary_equals_direct_census_formula(scale):
    """Default: UnFlow's census on 0..255 intensities (eps 0.81, 0.1 in those units); scale=1 is
    RIFE's port on [0, 1] images (same formula, about 100x weaker gradient)."""
    g = torch.Generator().manual_seed(3)
    gt = torch.rand(2, 3, 20, 24, generator=g)
    pred = (gt + 0.02 * torch.randn(2, 3, 20, 24, generator=g)).clamp(0, 1)
    got = TernaryLoss(scale=scale)(pred, gt)
    torch.testing.assert_close(got.double(), _census_reference(pred, gt, scale), rtol=1e-5, atol=1e-7)
    if scale == 255.0:  # and not the [0, 1] variant: the x255 matters by a large factor here
        assert got.item() > 5 * _census_reference(pred, gt, 1.0).item()
    with pytest.raises(ValueError, match="scale must be > 0"):
        TernaryLoss(scale=0)


def test_ternary_weight_balances_lap_gradient_on_real_frames():
    """The preset weight w_ternary (config comment): on the embedded real triplets, for the blend
    prediction, w_ternary * ||grad Ternary|| is within 2x of ||grad LapLoss||."""
    from vfi_lib.data import sample_triplets

    def f(a):
        return torch.from_numpy(a).permute(2, 0, 1).float().div(255)[None]

    tri = sample_triplets()
    img0, gt, img1 = (torch.cat([f(d[k]) for d in tri]) for k in ("img0", "gt", "img1"))
    grads = {}
    for name, fn in (("lap", LapLoss()), ("ternary", TernaryLoss())):
        pred = (0.5 * img0 + 0.5 * img1).requires_grad_(True)
        fn(pred, gt).backward()
        grads[name] = pred.grad.norm().item()
    w = preset("phase2").train.w_ternary
    assert preset("phase1").train.w_ternary == w == preset("phase3").train.w_ternary
    ratio = w * grads["ternary"] / grads["lap"]
    assert 0.5 < ratio < 2.0, (grads, w, ratio)


def test_ternary_zero_identical_positive_differentiable():
    a, b = _pair(16, 16)
    tern = TernaryLoss()
    assert tern(a, a).item() == 0.0
    a.requires_grad_(True)
    loss = tern(a, b)
    loss.backward()
    assert loss.item() > 0 and a.grad is not None and a.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="too small"):
        tern(torch.rand(1, 3, 6, 6), torch.rand(1, 3, 6, 6))


# ----------------------------------------------------------------------------- smoothness
def test_smoothness_linear_ramp_hand_value():
    h, w, a, b = 8, 10, 0.3, -0.7
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    flow = (a * xx + b * yy).expand(2, 2, h, w).clone()
    flat = torch.full((2, 3, h, w), 0.5)
    assert edge_aware_smoothness(flow, flat).item() == pytest.approx(abs(a) + abs(b), rel=1e-6)
    # an image ramp of slope s in x damps the x term by exp(-alpha s)
    s = 0.05
    ramp = (s * xx).expand(2, 3, h, w)
    assert edge_aware_smoothness(flow, ramp, alpha=10.0).item() == pytest.approx(abs(a) * math.exp(-0.5) + abs(b), rel=1e-6)
    assert edge_aware_smoothness(torch.full((1, 2, h, w), 3.0), flat[:1]).item() == 0.0
    f = flow.clone().requires_grad_(True)
    FlowSmoothnessLoss()({"flow_t0": f, "flow_t1": f}, flat).backward()
    assert f.grad.abs().sum() > 0
    with pytest.raises(KeyError, match="w_flow_smooth 0"):
        FlowSmoothnessLoss()({"residual": flat}, flat)


# ----------------------------------------------------------------------------- VGG
@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    torch.manual_seed(0)
    sd = {f"features.{k}": v for k, v in VGG19Features().features.state_dict().items()}
    sd["classifier.0.weight"] = torch.zeros(2, 2)  # torchvision files carry the classifier too
    p = tmp_path_factory.mktemp("vgg") / "vgg19_random.pth"
    torch.save(sd, p)
    return p, sd


def test_vgg_layer_indices_match_torchvision(vgg_file):
    _, sd = vgg_file
    convs = sorted(int(k.split(".")[1]) for k in sd if k.endswith(".weight") and k.startswith("features."))
    # torchvision vgg19().features conv indices
    assert convs == [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
    assert tuple(sd["features.28.weight"].shape) == (512, 512, 3, 3)
    model = load_vgg19(vgg_file[0])
    assert torch.equal(model.features[34].weight, sd["features.34.weight"])


def test_vgg_loss_zero_positive_frozen_differentiable(vgg_file):
    loss = VGGPerceptualLoss(str(vgg_file[0]))
    assert all(not p.requires_grad for p in loss.parameters())
    assert loss.mean.shape == (1, 3, 1, 1) and "mean" not in loss.state_dict()  # buffer, not persisted
    a, b = _pair(16, 16)
    assert loss(a, a).item() == 0.0
    a.requires_grad_(True)
    v = loss(a, b)
    v.backward()
    assert v.item() > 0 and a.grad.abs().sum() > 0
    loss.train()
    assert not loss.vgg.training


def test_vgg_errors(tmp_path, vgg_file):
    with pytest.raises(VGGWeightsError, match="does not exist"):
        load_vgg19(tmp_path / "nope.pth")
    bad = tmp_path / "vgg16.pth"
    sd = dict(vgg_file[1])
    del sd["features.34.weight"]
    torch.save(sd, bad)
    with pytest.raises(VGGWeightsError, match="missing keys.*features.34.weight"):
        load_vgg19(bad)
    trunc = tmp_path / "trunc.pth"
    trunc.write_bytes(vgg_file[0].read_bytes()[:1000])
    with pytest.raises(VGGWeightsError, match="cannot be read"):
        load_vgg19(trunc)


# ----------------------------------------------------------------------------- composite
def test_composite_weights_and_parts(vgg_file):
    a, b = _pair(32, 32)
    cfg = preset("phase1", tiny=True, w_lap=1.0, w_ternary=0.5)
    total, parts = CompositeLoss(cfg)(a, b)
    assert set(parts) == {"lap", "ternary", "total"}
    assert total.item() == pytest.approx(LapLoss()(a, b).item() + 0.5 * TernaryLoss()(a, b).item(), rel=1e-6)
    with pytest.raises(ValueError, match="--vgg_weights"):
        CompositeLoss(preset("phase1", tiny=True, w_vgg=0.1))
    with pytest.raises(ValueError, match="phase 2/3"):
        CompositeLoss(preset("phase1", tiny=True, w_flow_smooth=0.1))
    cfg2 = preset("phase2", tiny=True, w_vgg=0.1, vgg_weights=str(vgg_file[0]))
    comp = CompositeLoss(cfg2)
    assert comp.needs_aux
    flow = torch.zeros(2, 2, 32, 32)
    total, parts = comp(a, b, {"flow_t0": flow, "flow_t1": flow})
    assert set(parts) == {"lap", "ternary", "vgg", "flow_smooth", "total"}
    assert parts["flow_smooth"].item() == 0.0
    expect = parts["lap"] + cfg2.train.w_ternary * parts["ternary"] + 0.1 * parts["vgg"]
    assert total.item() == pytest.approx(expect.item(), rel=1e-6)
