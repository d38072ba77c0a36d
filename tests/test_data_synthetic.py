"""Synthetic layered motion: item contract, determinism, the backward-flow convention, speed."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
import torch

from vfi_lib.data import DataError, SyntheticMotion


def _warp(img: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Backward warp with cv2.remap: out(p) = img(p + flow(p)), flow (2, H, W) in pixels."""
    h, w = img.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(img, xs + flow[0], ys + flow[1], cv2.INTER_LINEAR)


def test_item_contract_and_determinism():
    ds = SyntheticMotion(length=5, size=(48, 64), seed=3)
    item = ds[2]
    for k in ("img0", "gt", "img1"):
        assert item[k].dtype == torch.uint8 and item[k].shape == (3, 48, 64)
    for k in ("flow_t0", "flow_t1"):
        assert item[k].dtype == torch.float32 and item[k].shape == (2, 48, 64)
    assert item["t"].dtype == torch.float32 and item["t"].item() == 0.5 and isinstance(item["name"], str)
    assert torch.equal(SyntheticMotion(length=5, size=(48, 64), seed=3)[2]["gt"], item["gt"])
    assert not torch.equal(ds[3]["gt"], item["gt"])
    ds.set_epoch(1)
    assert not torch.equal(ds[2]["gt"], item["gt"])  # a fresh triplet every epoch
    ds.set_crop(32)
    assert ds[0]["img0"].shape == (3, 32, 32)
    with pytest.raises(IndexError):
        ds[5]
    with pytest.raises(DataError, match="texture"):
        SyntheticMotion(textures=("nope",))


def test_pure_translation_has_constant_flow():
    ds = SyntheticMotion(length=4, size=64, num_objects=(0, 0), max_rotation=0, max_scale=0, motion=(8, 16),
                         bg_motion=1.0, t=0.25, seed=1)
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
    ds = SyntheticMotion(length=8, size=96, motion=(4, 20), t=None, seed=7, return_masks=True)
    ts = []
    for i in range(4):
        g = ds.generate(i)
        ts.append(g["t"])
        for key, src in (("t0", "img0"), ("t1", "img1")):
            valid = g["valid_" + key]
            assert valid.mean() > 0.5
            warped = _warp(g[src], g["flow_" + key]).astype(float)
            err = np.abs(warped - g["gt"])[valid].mean()
            err_identity = np.abs(g[src].astype(float) - g["gt"])[valid].mean()
            err_wrong_sign = np.abs(_warp(g[src], -g["flow_" + key]).astype(float) - g["gt"])[valid].mean()
            assert err < 2.5, (i, key, err)
            assert err < 0.5 * min(err_identity, err_wrong_sign), (i, key, err, err_identity, err_wrong_sign)
    assert all(0.1 <= t <= 0.9 for t in ts) and len(set(ts)) == 4


def test_generator_speed():
    ds = SyntheticMotion(length=100, size=256, seed=0)
    ds.generate(0)  # texture cache
    times = []
    for i in range(30):
        t0 = time.perf_counter()
        ds.generate(i)
        times.append(time.perf_counter() - t0)
    assert np.median(times) < 0.02  # ~3-5 ms per 256x256 triplet; loose bound for a shared CPU
