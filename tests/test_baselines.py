"""Baselines with the model call signature (vfi_lib.model.baselines): DIS flow, frame average."""

import numpy as np
import pytest
import torch

from vfi_lib.model.baselines import DISFlowBaseline, FrameAverage, build_baseline, dis_flow


def _textured(h: int = 80, w: int = 96) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(0)
    return cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (0, 0), 2.0)


def test_dis_flow_recovers_a_translation():
    base = _textured()
    shifted = np.roll(base, shift=(2, 3), axis=(0, 1))  # content moves by dx=+3, dy=+2
    f = dis_flow(base, shifted)
    assert f.shape == (80, 96, 2) and f.dtype == np.float32
    inner = f[16:-16, 16:-16].reshape(-1, 2)
    np.testing.assert_allclose(np.median(inner, axis=0), [3.0, 2.0], atol=0.25)
    with pytest.raises(ValueError, match="preset"):
        dis_flow(base, shifted, preset="slow")
    with pytest.raises(TypeError, match="uint8"):
        dis_flow(base.astype(np.float32), shifted)


def test_dis_baseline_halfway_frame_of_a_translation():
    """Content moving 4 px right: the DIS baseline's t=0.5 frame is the 2-px shift (inside the image)."""
    base = _textured(96, 128)
    x0 = torch.from_numpy(base).permute(2, 0, 1)[None].float() / 255
    x1 = torch.roll(x0, shifts=4, dims=3)
    mid = torch.roll(x0, shifts=2, dims=3)
    out = DISFlowBaseline()(x0, x1, 0.5)
    avg = FrameAverage()(x0, x1, 0.5)
    inner = (slice(None), slice(None), slice(16, -16), slice(16, -16))
    err_dis = (out - mid)[inner].abs().mean()
    err_avg = (avg - mid)[inner].abs().mean()
    assert err_dis < 0.25 * err_avg, (float(err_dis), float(err_avg))


def test_build_baseline_names():
    assert isinstance(build_baseline("average"), FrameAverage)
    assert isinstance(build_baseline("dis"), DISFlowBaseline)
    with pytest.raises(ValueError, match="average"):
        build_baseline("rife")
