"""Metrics: hand-computed values, a slow direct reference of the peers' 3-D SSIM, skimage cross-check."""

import math

import numpy as np
import pytest
import torch
from numpy.lib.stride_tricks import sliding_window_view
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from vfi_lib.eval.metrics import interpolation_error, lpips, psnr, skimage_psnr_ssim, ssim_matlab


def _ssim_matlab_direct(x: np.ndarray, y: np.ndarray, window: int = 11, pad: int = 5) -> float:
    """Slow reference: explicit 3-D Gaussian weighted sums over every (C, H, W) window (float64)."""
    k = min(window, x.shape[1], x.shape[2])
    g = np.exp(-((np.arange(k) - k // 2) ** 2) / (2 * 1.5**2))
    g /= g.sum()
    w = g[:, None, None] * g[None, :, None] * g[None, None, :]  # (k, k, k), not separable-applied

    def filt(v):
        vp = np.pad(v, pad, mode="edge")  # replicate on all three axes
        return np.einsum("dhwabc,abc->dhw", sliding_window_view(vp, (k, k, k)), w)

    mx, my = filt(x), filt(y)
    sx, sy, sxy = filt(x * x) - mx**2, filt(y * y) - my**2, filt(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    m = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sx + sy + c2))
    return float(m.mean())


def _smooth_u8(h=48, w=64, seed=0) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    base = np.stack([127 + 80 * np.sin(xx / 9 + c) * np.cos(yy / 13) + 30 * np.sin(xx * yy / 300) for c in range(3)], -1)
    return np.clip(base, 0, 255).astype(np.uint8)


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255.0


def test_psnr_of_known_mse_per_image():
    gt = torch.full((2, 3, 4, 5), 0.5)
    pred = gt.clone()
    pred[0] += 0.1  # MSE 0.01 -> 20 dB
    pred[1, :, :2] += 0.1  # half of the rows: MSE 0.005 -> 23.0103 dB
    out = psnr(pred, gt)
    assert out.shape == (2,) and out.dtype == torch.float64
    assert out[0].item() == pytest.approx(20.0, abs=1e-5)
    assert out[1].item() == pytest.approx(-10 * math.log10(0.01 * 2 / 4), abs=1e-5)


@pytest.mark.parametrize("shape", [(3, 14, 13), (3, 8, 9)])  # second: window shrinks to 8 (peer quirk)
def test_ssim_matlab_matches_direct_3d_gaussian(shape):
    rng = np.random.default_rng(1)
    x = rng.random(shape)
    y = np.clip(x + 0.15 * rng.standard_normal(shape), 0, 1)
    ref = _ssim_matlab_direct(x, y)
    got = ssim_matlab(torch.from_numpy(y)[None].float(), torch.from_numpy(x)[None].float())
    assert got.shape == (1,)
    assert got.item() == pytest.approx(ref, abs=2e-6)


def test_ssim_matlab_identical_is_one_and_batch_is_per_image():
    torch.manual_seed(0)
    a = torch.rand(3, 3, 20, 24)
    b = (a + 0.05 * torch.randn_like(a)).clamp(0, 1)
    assert torch.allclose(ssim_matlab(a, a), torch.ones(3, dtype=torch.float64), atol=1e-6)
    batch = ssim_matlab(b, a)
    single = torch.cat([ssim_matlab(b[i : i + 1], a[i : i + 1]) for i in range(3)])
    assert torch.allclose(batch, single, atol=1e-7) and (batch < 0.99).all()


def test_ssim_matlab_value_range_detected_like_the_peers():
    torch.manual_seed(0)
    a = torch.rand(1, 3, 16, 16)
    b = (a + 0.1 * torch.randn_like(a)).clamp(0, 1)
    assert ssim_matlab(b * 255, a * 255).item() == pytest.approx(ssim_matlab(b, a).item(), abs=1e-5)


def test_ssim_matlab_vs_skimage_close_not_identical():
    gt = _smooth_u8()
    blurred = __import__("cv2").GaussianBlur(gt, (5, 5), 0)  # interpolation-like error
    ours = ssim_matlab(_t(blurred), _t(gt)).item()
    sk = structural_similarity(gt, blurred, data_range=255, channel_axis=-1)
    assert 1e-5 < abs(ours - sk) < 1e-2
    noisy = np.clip(gt + np.random.default_rng(0).normal(0, 5, gt.shape), 0, 255).astype(np.uint8)
    ours_n = ssim_matlab(_t(noisy), _t(gt)).item()
    sk_n = structural_similarity(gt, noisy, data_range=255, channel_axis=-1)
    assert ours_n > sk_n + 0.02  # 3-D window averages white noise over the colour axis too


def test_interpolation_error_hand_values():
    gt = torch.tensor([10.0, 20.0, 30.0, 40.0]).view(1, 1, 2, 2).expand(1, 3, 2, 2) / 255.0
    pred = torch.tensor([10.4, 22.6, 29.5, 40.0]).view(1, 1, 2, 2).expand(1, 3, 2, 2) / 255.0
    # rounded: 10, 23, 30 (29.5 -> 30, round half to even), 40 -> |err| = 0, 3, 0, 0
    assert interpolation_error(pred, gt).item() == pytest.approx(0.75, abs=1e-9)


def test_skimage_protocol_psnr_hand_value_and_errors():
    gt = np.full((8, 8, 3), 100, np.uint8)
    pred = gt.copy()
    pred[:4] = 110  # MSE = 50 on the 0..255 scale
    p, s = skimage_psnr_ssim(pred, gt)
    assert p == pytest.approx(10 * math.log10(255**2 / 50), abs=1e-9)
    assert p == pytest.approx(peak_signal_noise_ratio(gt, pred, data_range=255))
    assert 0 < s < 1
    with pytest.raises(ValueError, match="pred_u8 must be a uint8"):
        skimage_psnr_ssim(pred.astype(np.float32), gt)


def test_errors_and_lpips_message():
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 5))
    with pytest.raises(TypeError, match="float tensor"):
        ssim_matlab(torch.zeros(1, 3, 4, 4, dtype=torch.uint8), torch.zeros(1, 3, 4, 4, dtype=torch.uint8))
    with pytest.raises(NotImplementedError, match="never .*downloaded"):
        lpips(torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4))


@pytest.mark.gpu
def test_metrics_on_gpu_match_cpu():
    torch.manual_seed(0)
    a = torch.rand(2, 3, 32, 32)
    b = (a + 0.05 * torch.randn_like(a)).clamp(0, 1)
    for fn in (psnr, ssim_matlab, interpolation_error):
        assert torch.allclose(fn(b.cuda(), a.cuda()).cpu(), fn(b, a), atol=1e-5)
