"""Symmetric cost volume + soft-argmin flow initialisation (vfi_lib.model.cost_volume) and its IFNet wiring."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from vfi_lib.config import ConfigError, preset
from vfi_lib.model.cost_volume import CostVolumeFlow, symmetric_volume
from vfi_lib.model.flow import IFNet
from vfi_lib.model.warp import resize_flow


def _naive_integer_volume(f0: torch.Tensor, f1: torch.Tensor, t: float, radius: int) -> torch.Tensor:
    """c_d(p) = cos(f0(p - t d), f1(p + (1 - t) d)) for t in {0, 1} (integer positions), border-clamped,
    after centring each channel over the image. Loops over d and pixels' index arrays."""
    centre = lambda f: f - f.mean((2, 3), keepdim=True)  # noqa: E731
    f0, f1 = centre(f0), centre(f1)
    b, c, h, w = f0.shape
    ys, xs = torch.arange(h).view(h, 1), torch.arange(w).view(1, w)
    out = []
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            y0, x0 = (ys - round(t * dy)).clamp(0, h - 1), (xs - round(t * dx)).clamp(0, w - 1)
            y1, x1 = (ys + round((1 - t) * dy)).clamp(0, h - 1), (xs + round((1 - t) * dx)).clamp(0, w - 1)
            a, bb = f0[:, :, y0, x0], f1[:, :, y1, x1]  # (B, C, h, w)
            out.append((a * bb).sum(1) / (a.norm(dim=1) * bb.norm(dim=1)).clamp_min(1e-12))
    return torch.stack(out, 1)


@pytest.mark.parametrize("t", [0.0, 1.0])
def test_volume_matches_a_naive_loop_at_integer_positions(t: float) -> None:
    torch.manual_seed(0)
    cv = CostVolumeFlow(radius=2, channels=8)
    f0, f1 = torch.randn(2, 8, 7, 9), torch.randn(2, 8, 7, 9)
    got = cv.volume(f0, f1, torch.full((2,), t))
    assert got.shape == (2, 25, 7, 9)
    torch.testing.assert_close(got, _naive_integer_volume(f0, f1, t, 2), rtol=1e-5, atol=1e-5)


def test_volume_samples_half_pixels_bilinearly_at_t_half() -> None:
    """d = (2, 0) at t = 0.5 is an integer shift of one pixel each way; d = (1, 0) samples half-way
    between two pixels (the average of the neighbours) in the interior."""
    torch.manual_seed(1)
    cv = CostVolumeFlow(radius=2, channels=4)
    f0, f1 = torch.randn(1, 4, 6, 10), torch.randn(1, 4, 6, 10)
    got = cv.volume(f0, f1, torch.full((1,), 0.5))
    c0 = F.normalize(f0 - f0.mean((2, 3), keepdim=True), dim=1)
    c1 = F.normalize(f1 - f1.mean((2, 3), keepdim=True), dim=1)
    k = lambda dx, dy: (dy + 2) * 5 + (dx + 2)  # noqa: E731  displacement index (rows dy, columns dx)
    exp2 = (c0[..., 1:-2] * c1[..., 3:]).sum(1)  # p - (1, 0) and p + (1, 0), p.x in 2..8
    torch.testing.assert_close(got[:, k(2, 0), :, 2:-1], exp2[..., :], rtol=1e-5, atol=1e-5)
    a = (c0[..., 1:-1] + c0[..., :-2]) / 2  # c0 at p.x - 0.5, p.x in 1..8
    bb = (c1[..., 1:-1] + c1[..., 2:]) / 2  # c1 at p.x + 0.5
    torch.testing.assert_close(got[:, k(1, 0), :, 1:-1], (a * bb).sum(1), rtol=1e-5, atol=1e-5)


def test_soft_argmin_recovers_a_translation_with_an_patch_encoder() -> None:
    """Image content moving by D from frame 0 to frame 1: at t the flows are F_t0 = -t D, F_t1 = (1 - t) D."""
    torch.manual_seed(2)
    cv = CostVolumeFlow(radius=3, channels=4)
    patches = nn.Conv2d(3, 27, 3, 1, 1, bias=False)  # features = the 3x3 patch around each pixel, stride 1
    with torch.no_grad():
        patches.weight.copy_(torch.eye(27).view(27, 3, 3, 3))
    cv.encoder = patches
    with torch.no_grad():
        cv.log_inv_temp.fill_(math.log(200.0))  # a near-hard argmax
    tex = torch.rand(1, 3, 40, 40)
    D = (2, -2)  # (dx, dy) px
    img0 = tex[..., 8:32, 8:32]
    img1 = tex[..., 8 - D[1]:32 - D[1], 8 - D[0]:32 - D[0]]  # img1(p) = img0(p - D)
    flow, cost = cv(img0, img1, torch.tensor([0.5]))
    assert flow.shape == (1, 4, 24, 24) and cost.shape == (1, 49, 24, 24)
    inner = flow[..., 4:-4, 4:-4]
    exp = torch.tensor([-0.5 * D[0], -0.5 * D[1], 0.5 * D[0], 0.5 * D[1]]).view(1, 4, 1, 1)
    torch.testing.assert_close(inner, exp.expand_as(inner), atol=0.05, rtol=0)


def test_volume_around_a_flow_is_the_volume_of_the_shifted_features() -> None:
    """Looking up around an integer flow (F_t0, F_t1) = (a, b) equals the zero-flow volume of f0 shifted
    by a and f1 shifted by b (interior pixels, where no border clamping happens)."""
    torch.manual_seed(3)
    f0, f1 = torch.randn(1, 6, 12, 14), torch.randn(1, 6, 12, 14)
    disp = torch.tensor([[0.0, 0.0], [1.0, 0.0], [-1.0, 1.0]])
    t = torch.tensor([0.0])
    a, b = (2, -1), (-1, 1)  # (dx, dy) px
    flow = torch.tensor([a[0], a[1], b[0], b[1]], dtype=torch.float32).view(1, 4, 1, 1).expand(1, 4, 12, 14)
    got = symmetric_volume(f0, f1, t, disp, flow)
    # f0 shifted so that g0(p) = f0(p + a); centring over the image commutes only in the interior, so
    # compare against the explicit formula on the centred features
    c0 = F.normalize(f0 - f0.mean((2, 3), keepdim=True), dim=1)
    c1 = F.normalize(f1 - f1.mean((2, 3), keepdim=True), dim=1)
    for k, (dx, dy) in enumerate(disp.long().tolist()):  # t = 0: f0 at p + a, f1 at p + b + d
        for y in range(3, 9):
            for x in range(3, 11):
                exp = (c0[0, :, y + a[1], x + a[0]] * c1[0, :, y + b[1] + dy, x + b[0] + dx]).sum()
                assert abs(float(got[0, k, y, x]) - float(exp)) < 1e-5


def test_refine_corrects_a_wrong_flow_toward_the_true_one() -> None:
    """A translation D, the running flow off by 4 px: the local lookup moves it back (hard soft-argmin,
    patch features on the 1/4 grid)."""
    torch.manual_seed(4)
    cv = CostVolumeFlow(radius=2, channels=4, stride=4, refine_radius=2)
    patches = nn.Conv2d(3, 27, 3, 1, 1, bias=False)
    with torch.no_grad():
        patches.weight.copy_(torch.eye(27).view(27, 3, 3, 3))
        cv.log_inv_temp_refine.fill_(math.log(200.0))
    cv.encoder, cv.encoder4 = nn.AvgPool2d(4), patches  # a 1/4 grid of block-grid averages, then 3x3 patches
    tex = F.interpolate(torch.rand(1, 3, 30, 30), size=(120, 120), mode="bilinear", align_corners=False)
    D = (8, -8)
    img0 = tex[..., 20:100, 20:100]
    img1 = tex[..., 20 - D[1]:100 - D[1], 20 - D[0]:100 - D[0]]
    t = torch.tensor([0.5])
    true = torch.tensor([-0.5 * D[0], -0.5 * D[1], 0.5 * D[0], 0.5 * D[1]]).view(1, 4, 1, 1)
    wrong = (true + torch.tensor([4.0, 0.0, -4.0, 0.0]).view(1, 4, 1, 1)).expand(1, 4, 80, 80)
    fixed, cost = cv.refine(img0, img1, t, wrong)
    assert cost.shape == (1, 25, 20, 20)
    err = lambda f: float((f.detach() - true)[..., 16:-16, 16:-16].abs().amax())  # noqa: E731
    assert err(wrong) == 4.0 and err(fixed) < 0.25, (err(wrong), err(fixed))


def test_ifnet_with_cost_volume_shapes_gradients_and_config() -> None:
    cfg = preset("phase2", tiny=True, flow_corr_radius=2, flow_corr_channels=8, flow_corr_refine_radius=0).model
    net = IFNet(cfg, feat_channels=0)
    assert net.corr is not None and net.blocks[0].side is not None and net.blocks[1].side is None
    cfg = preset("phase2", tiny=True, flow_corr_radius=2, flow_corr_channels=8, flow_corr_refine_radius=1).model
    net = IFNet(cfg, feat_channels=0)
    assert [b.side.in_channels for b in net.blocks] == [25, 9, 9]
    img0, img1 = torch.rand(2, 3, 40, 56), torch.rand(2, 3, 40, 56)
    out = net(img0, img1, torch.tensor([0.3, 0.7]), return_levels=True)
    assert out["flow_t0"].shape == (2, 2, 40, 56) and out["flow_t0"].dtype == torch.float32
    levels = out["flow_levels"]  # the cost volume's initial flow, then the estimate after each block
    assert len(levels) == len(net.blocks) + 1
    torch.testing.assert_close(levels[-1], torch.cat([out["flow_t0"], out["flow_t1"]], 1))
    init, _ = net.corr.init(F.interpolate(img0, size=(10, 14), mode="bilinear", align_corners=False),
                            F.interpolate(img1, size=(10, 14), mode="bilinear", align_corners=False),
                            torch.tensor([0.3, 0.7]))
    torch.testing.assert_close(levels[0], resize_flow(init, (40, 56)))
    (out["flow_t0"].square().mean() + out["flow_t1"].abs().mean()).backward()
    for p in (net.corr.encoder[0].weight, net.corr.log_inv_temp, net.blocks[0].side.weight,
              net.corr.encoder4[1].weight, net.corr.log_inv_temp_refine, net.blocks[2].side.weight):
        assert p.grad is not None and p.grad.abs().sum() > 0
    assert IFNet(preset("phase2", tiny=True, flow_corr_radius=0).model).corr is None
    with pytest.raises(ConfigError, match="flow_corr_stride"):
        preset("phase2", flow_corr_radius=4, flow_corr_stride=3)
    with pytest.raises(ConfigError, match="flow_corr_radius"):
        preset("phase2", flow_corr_radius=-1)


def test_checkpoints_from_before_the_cost_volume_still_load(tmp_path) -> None:
    """A checkpoint whose saved config predates model.flow_corr_* rebuilds without the cost volume (the
    field's legacy value), loads its weights exactly, and a resume with today's defaults names the field."""
    from vfi_lib.checkpoint import IncompatibleCheckpointError, check_compatible, load_model, save_checkpoint
    from vfi_lib.model import build_model

    old_cfg = preset("phase2", tiny=True, flow_corr_radius=0)
    model = build_model(old_cfg)
    saved = old_cfg.to_dict()
    for k in ("flow_corr_radius", "flow_corr_channels", "flow_corr_stride", "flow_corr_refine_radius"):
        del saved["model"][k]
    save_checkpoint(tmp_path / "old.pt", config=saved, model=model.state_dict())
    loaded = load_model(tmp_path / "old.pt")
    assert loaded.flow.corr is None
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    assert build_model(preset("phase2", tiny=True)).flow.corr is not None  # today's default has it
    with pytest.raises(IncompatibleCheckpointError, match="flow_corr_radius: checkpoint=0, current=4"):
        check_compatible(saved, preset("phase2", tiny=True), tmp_path / "old.pt")


def test_rife4_runs_from_before_the_cost_volume_resume() -> None:
    """flow_arch rife4 does not read our IFNet's fields: a rife4 config saved before flow_corr_* existed (or
    with other IFNet widths) is compatible with today's rife4 config; other fields and ifnet configs still differ."""
    from vfi_lib.checkpoint import IncompatibleCheckpointError, check_compatible, model_config_diff

    today = preset("phase2", tiny=True, flow_arch="rife4")
    saved = today.to_dict()
    for k in ("flow_corr_radius", "flow_corr_channels", "flow_corr_stride", "flow_corr_refine_radius"):
        del saved["model"][k]
    saved["model"]["flow_depth"] = 3
    check_compatible(saved, today)  # no error
    saved["model"]["refine_channels"] = [8, 8, 8, 8]
    with pytest.raises(IncompatibleCheckpointError, match="refine_channels") as err:
        check_compatible(saved, today)
    assert "flow_depth" not in str(err.value) and "flow_corr" not in str(err.value)
    ifnet = preset("phase2", tiny=True).to_dict()["model"]
    assert model_config_diff({**ifnet, "flow_depth": 3}, ifnet) == [f"flow_depth: checkpoint=3, current={ifnet['flow_depth']!r}"]
    assert any(d.startswith("flow_arch") for d in model_config_diff(today.to_dict()["model"], ifnet))
    # the claim behind the rule: rife4 models that differ in every such field have the same weights' shapes
    from vfi_lib.config import FLOW_ARCH_UNUSED_FIELDS, FLOW_ARCHS
    from vfi_lib.model import build_model

    assert set(FLOW_ARCH_UNUSED_FIELDS) == set(FLOW_ARCHS)
    other = preset("phase2", tiny=True, flow_arch="rife4", flow_channels=(8, 8, 8), flow_depth=2, flow_use_features=False,
                   flow_feat_channels=4, flow_corr_radius=0, flow_corr_channels=4, flow_corr_stride=1,
                   flow_corr_refine_radius=0)
    shapes = lambda cfg: {k: tuple(v.shape) for k, v in build_model(cfg).state_dict().items()}  # noqa: E731
    assert shapes(other) == shapes(today)


def test_probe_translation_sanity_set_is_consistent() -> None:
    """scripts/flow_learnability_probe.py --data translate: both frames warped to t by the given flows agree."""
    import importlib.util
    from pathlib import Path

    from vfi_lib.model.warp import warp

    path = Path(__file__).resolve().parents[1] / "scripts" / "flow_learnability_probe.py"
    spec = importlib.util.spec_from_file_location("flow_learnability_probe", path)
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    b = probe.translation_batch(step=3, batch=4, crop=48)
    img0, img1 = (b[k].float() / 255 for k in ("img0", "img1"))
    assert b["flow_t0"].abs().amax() > 0 and torch.equal(b["flow_t1"], -b["flow_t0"])
    w0, w1 = warp(img0, b["flow_t0"]), warp(img1, b["flow_t1"])
    assert (w0 - w1)[..., 8:-8, 8:-8].abs().max() < 1e-5
    assert (img0 - img1)[..., 8:-8, 8:-8].abs().max() > 0.05  # the frames themselves differ
