"""Synthetic layered motion: item contract, determinism, the backward-flow convention, and the
realism features (large/non-linear/elastic motion, occlusions, photometry, real textures)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from vfi_lib.data import DataError, SyntheticMotion
from vfi_lib.data.embedded import SAMPLE_DIR
from vfi_lib.data.io import load_image
from vfi_lib.data.synthetic import PHOTO_TEXTURES, PROCEDURAL_TEXTURES, SAMPLE_TEXTURES, TEXTURES, load_texture

NO_PHOTO = dict(photometric=0.0, noise=0.0, blur=0.0)
RIGID = dict(large_prob=0.0, nonlinear=0.0, affine=0.0, elastic_prob=0.0, **NO_PHOTO)


def _warp(img: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Backward warp with cv2.remap: out(p) = img(p + flow(p)), flow (2, H, W) in pixels."""
    h, w = img.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(img, xs + flow[0], ys + flow[1], cv2.INTER_LINEAR)


def _err(a: np.ndarray, b: np.ndarray, sel: np.ndarray) -> float:
    return float(np.abs(a.astype(float) - b.astype(float))[sel].mean())


def test_item_contract_and_determinism():
    ds = SyntheticMotion(length=5, size=(48, 64), seed=3)
    item = ds[2]
    for k in ("img0", "gt", "img1"):
        assert item[k].dtype == torch.uint8 and item[k].shape == (3, 48, 64)
    for k in ("flow_t0", "flow_t1"):
        assert item[k].dtype == torch.float32 and item[k].shape == (2, 48, 64)
    assert item["t"].dtype == torch.float32 and item["t"].item() == 0.5 and isinstance(item["name"], str)
    again = SyntheticMotion(length=5, size=(48, 64), seed=3)[2]
    for k in ("img0", "gt", "img1", "flow_t0", "flow_t1"):
        assert torch.equal(again[k], item[k]), k  # a pure function of (seed, epoch, index), photometry included
    assert not torch.equal(ds[3]["gt"], item["gt"])
    assert not torch.equal(SyntheticMotion(length=5, size=(48, 64), seed=4)[2]["gt"], item["gt"])
    ds.set_epoch(1)
    assert not torch.equal(ds[2]["gt"], item["gt"])  # a fresh triplet every epoch
    ds.set_crop(32)
    assert ds[0]["img0"].shape == (3, 32, 32)
    with pytest.raises(IndexError):
        ds[5]
    with pytest.raises(DataError, match="texture"):
        SyntheticMotion(textures=("nope",))
    with pytest.raises(DataError, match="large_prob"):
        SyntheticMotion(large_prob=1.5)
    masked = SyntheticMotion(length=2, size=32, seed=0, return_masks=True)[1]
    assert masked["valid_t0"].shape == (1, 32, 32) and masked["layers_t"].shape == (1, 32, 32)


def test_pure_translation_has_constant_flow():
    ds = SyntheticMotion(length=4, size=64, num_objects=(0, 0), max_rotation=0, max_scale=0, motion=(8, 16),
                         bg_motion=1.0, t=0.25, seed=1, **RIGID)
    g = ds.generate(0)
    f0, f1 = g["flow_t0"], g["flow_t1"]
    v = f1[:, 0, 0] - f0[:, 0, 0]  # flow_t1 - flow_t0 = the displacement v from frame 0 to frame 1
    assert 8 - 1e-3 <= np.hypot(*v) <= 16 + 1e-3
    np.testing.assert_allclose(f0, f0[:, :1, :1] * np.ones_like(f0), atol=1e-3)  # constant field
    np.testing.assert_allclose(f0[:, 0, 0], -0.25 * v, atol=1e-3)  # flow_t0 = -t * motion
    np.testing.assert_allclose(f1[:, 0, 0], 0.75 * v, atol=1e-3)   # flow_t1 = (1 - t) * motion
    m = 20  # away from borders
    err = np.abs(_warp(g["img0"], f0).astype(float) - g["gt"])[m:-m, m:-m].mean()
    assert err < 2.0


def test_backward_flow_reproduces_gt_away_from_occlusions():
    # default geometry (large/non-linear/elastic motion on), photographs as textures, no photometry
    ds = SyntheticMotion(length=8, size=96, motion=(4, 20), t=None, seed=7, return_masks=True,
                         textures=PHOTO_TEXTURES, **NO_PHOTO)
    ts = []
    for i in range(4):
        g = ds.generate(i)
        ts.append(g["t"])
        for key, src in (("t0", "img0"), ("t1", "img1")):
            valid = g["valid_" + key]
            assert valid.mean() > 0.5
            err = _err(_warp(g[src], g["flow_" + key]), g["gt"], valid)
            err_identity = _err(g[src], g["gt"], valid)
            err_wrong_sign = _err(_warp(g[src], -g["flow_" + key]), g["gt"], valid)
            assert err < 2.5, (i, key, err)
            assert err < 0.5 * min(err_identity, err_wrong_sign), (i, key, err, err_identity, err_wrong_sign)
    assert all(0.1 <= t <= 0.9 for t in ts) and len(set(ts)) == 4


def test_large_motion_has_a_heavy_tail():
    ds = SyntheticMotion(length=24, size=256, t=0.5, seed=11, **NO_PHOTO)
    disp = np.concatenate([np.hypot(*(g["flow_t1"] - g["flow_t0"])).ravel()[::9]
                           for g in (ds.generate(i) for i in range(24))])  # |frame0 -> frame1| at each gt pixel
    assert np.median(disp) < 24  # most motion is moderate ...
    assert (disp > 32).mean() > 0.03 and disp.max() > 64  # ... with a tail of large displacements
    small = SyntheticMotion(length=8, size=256, t=0.5, seed=11, large_prob=0.0, **NO_PHOTO)
    assert max(np.hypot(*(g["flow_t1"] - g["flow_t0"])).max() for g in (small.generate(i) for i in range(8))) < 48
    tiny = SyntheticMotion(length=4, size=32, seed=0, large_prob=1.0, motion=(0, 1), num_objects=(0, 0),
                           max_rotation=0, max_scale=0, affine=0, bg_elastic_prob=0, bg_motion=1.0, **NO_PHOTO)
    assert np.hypot(*(tiny.generate(0)["flow_t1"] - tiny.generate(0)["flow_t0"])).max() <= 16 + 1e-3  # cap: side / 2


def test_nonlinear_motion_moves_off_the_linear_midpoint():
    kw = dict(size=128, num_objects=(0, 0), max_rotation=0, max_scale=0, motion=(16, 24), bg_motion=1.0, t=0.5,
              seed=2, large_prob=0.0, affine=0.0, elastic_prob=0.0, bg_elastic_prob=0.0,
              textures=("astronaut", "coffee", "chelsea"), **NO_PHOTO)
    dev, m = [], 24
    for i in range(6):
        g = SyntheticMotion(length=6, nonlinear=0.5, **kw).generate(i)
        f0, f1 = g["flow_t0"][:, 0, 0], g["flow_t1"][:, 0, 0]
        v = f1 - f0
        dev.append(np.hypot(*(f0 + 0.5 * v)) / np.hypot(*v))  # 0 for linear motion, |a|/(4|v|) <= 1/8 here
        inner = np.zeros(g["gt"].shape[:2], bool)
        inner[m:-m, m:-m] = True
        err = _err(_warp(g["img0"], g["flow_t0"]), g["gt"], inner)
        linear = np.broadcast_to((-0.5 * v)[:, None, None], g["flow_t0"].shape)  # the linear-midpoint guess
        assert err < 4.0, (i, err)  # bilinear resampling of photo texture only
        if dev[-1] > 0.05:  # >= 0.05 |v| >= 0.8 px off the linear midpoint: the exact flow is clearly better
            assert err < 0.8 * _err(_warp(g["img0"], linear), g["gt"], inner), i
    assert max(dev) > 0.05 and max(dev) <= 0.125 + 1e-6
    lin = SyntheticMotion(length=6, nonlinear=0.0, **kw).generate(0)
    np.testing.assert_allclose(lin["flow_t0"], -0.5 * (lin["flow_t1"] - lin["flow_t0"]), atol=1e-3)


def test_elastic_layers_are_non_rigid_and_their_flows_exact():
    ds = SyntheticMotion(length=6, size=128, num_objects=(0, 0), bg_elastic_prob=1.0, elastic=8.0, t=None, seed=5,
                         return_masks=True, textures=PHOTO_TEXTURES, **NO_PHOTO)
    ys, xs = np.mgrid[:128, :128].astype(np.float64)
    design = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)], 1)
    for i in range(3):
        g = ds.generate(i)
        # the best affine fit of the frame0 -> frame1 motion (what a rigid/affine layer could give) misses
        # the non-rigid part ...
        disp = g["flow_t1"] - g["flow_t0"]
        coef = np.linalg.lstsq(design, disp.reshape(2, -1).T, rcond=None)[0]
        affine_disp = (design @ coef).T.reshape(disp.shape).astype(np.float32)
        assert np.abs(disp - affine_disp).max() > 1.0
        # ... and the exact flows explain the rendered frames far better than affine fits of them
        for key, src in (("t0", "img0"), ("t1", "img1")):
            flow, valid = g["flow_" + key], g["valid_" + key]
            coef = np.linalg.lstsq(design, flow.reshape(2, -1).T, rcond=None)[0]
            affine = (design @ coef).T.reshape(flow.shape).astype(np.float32)
            err = _err(_warp(g[src], flow), g["gt"], valid)
            err_affine = _err(_warp(g[src], affine), g["gt"], valid)
            if np.abs(flow - affine)[:, valid].mean() > 0.2:
                assert err < 0.7 * err_affine, (i, key, err, err_affine)
            assert err < 2.5, (i, key, err)


def test_occlusions_masks_and_visible_layer_flows():
    ds = SyntheticMotion(length=10, size=128, num_objects=(3, 3), cross_prob=1.0, soft_prob=0.0, t=None, seed=3,
                         return_masks=True, textures=PHOTO_TEXTURES, **NO_PHOTO)
    occluded_any = 0
    for i in range(5):
        g = ds.generate(i)
        layers = g["layers_t"]
        assert set(np.unique(layers)) - {0, 1, 2, 3} == set() and (layers > 0).any()
        for key, src in (("t0", "img0"), ("t1", "img1")):
            flow, valid = g["flow_" + key], g["valid_" + key]
            # where a foreground layer is visible, the flow is that layer's motion, not the background's
            fg = layers > 0
            assert valid[~fg].any() and valid[fg].any()
            # occluded pixels: in the frame and interior at t, but another layer covers them in the source
            h, w = layers.shape
            ys, xs = np.mgrid[:h, :w]
            sx, sy = xs + flow[0], ys + flow[1]
            inside = (sx >= 0) & (sx <= w - 1) & (sy >= 0) & (sy <= h - 1)
            interior = cv2.erode((cv2.erode(layers.astype(np.float32), np.ones((5, 5))) ==
                                  cv2.dilate(layers.astype(np.float32), np.ones((5, 5)))).astype(np.uint8), np.ones((3, 3)))
            occluded = inside & (interior > 0) & ~valid
            assert not (valid & ~inside).any()
            if occluded.mean() > 0.01:
                occluded_any += 1
                warped = _warp(g[src], flow)
                assert _err(warped, g["gt"], occluded) > 3 * _err(warped, g["gt"], valid), (i, key)
    assert occluded_any >= 3  # crossing layers really occlude each other


def test_photometry_changes_images_not_geometry():
    plain = SyntheticMotion(length=4, size=64, t=None, seed=9, return_masks=True, **NO_PHOTO)
    drift = SyntheticMotion(length=4, size=64, t=None, seed=9, return_masks=True, photometric=1.0, noise=0.0, blur=0.0)
    noisy = SyntheticMotion(length=4, size=64, t=None, seed=9, return_masks=True, photometric=0.0, noise=1.0, blur=0.0)
    for i in range(3):
        a, b, n = plain.generate(i), drift.generate(i), noisy.generate(i)
        for k in ("flow_t0", "flow_t1", "valid_t0", "valid_t1"):
            np.testing.assert_array_equal(a[k], b[k])  # photometry has its own random stream
            np.testing.assert_array_equal(a[k], n[k])
        assert a["t"] == b["t"]
        np.testing.assert_array_equal(a["img0"], b["img0"])  # the drift starts at frame 0 ...
        assert np.abs(a["img1"].astype(int) - b["img1"]).mean() > 0.5  # ... and changes frame 1
        d = (n["img1"].astype(float) - a["img1"])[(a["img1"] > 20) & (a["img1"] < 235)]
        assert 0.8 < d.std() < 4.5 and abs(d.mean()) < 0.5  # sensor noise, sigma in [1, 4]
        assert not np.array_equal(n["img0"] - a["img0"], n["img1"] - a["img1"])  # independent per frame


def test_textures_real_frames_and_procedural():
    assert set(PHOTO_TEXTURES + SAMPLE_TEXTURES + PROCEDURAL_TEXTURES) == set(TEXTURES)
    np.testing.assert_array_equal(load_texture("bbb_012"), load_image(SAMPLE_DIR / "triplets" / "bbb_012" / "im2.jpg"))
    np.testing.assert_array_equal(load_texture("bbb_096"), load_image(SAMPLE_DIR / "sequence" / "frame_096.jpg"))
    for name in PROCEDURAL_TEXTURES:
        tex = load_texture(name)
        assert tex.dtype == np.uint8 and tex.shape == (512, 512, 3) and tex.std() > 20, name
    from vfi_lib.data import synthetic

    first = load_texture("proc_cells").copy()
    synthetic._TEX_CACHE.pop("proc_cells")
    np.testing.assert_array_equal(load_texture("proc_cells"), first)  # deterministic (fixed seed per texture)
    assert all(int(n.split("_")[1]) < 102 for n in SAMPLE_TEXTURES)  # never the Big Buck Bunny hold-out
    with pytest.raises(DataError, match="held-out"):
        synthetic._sample_frame("bbb_110")
    ds = SyntheticMotion(length=2, size=64, seed=0, textures=("bbb_042",), num_objects=(0, 0), **NO_PHOTO)
    assert ds[0]["img0"].float().std() > 5  # a real frame as the background
