"""Image quality metrics with the peers' exact definitions (EMA-VFI / VFIMamba / RIFE benchmarks).

All tensor metrics take float tensors (B, 3, H, W) in [0, 1] (any device) and return (B,) float64;
the benchmark score is the mean over the set of the per-image values.

- ``psnr``: PSNR = -10 log10(MSE) per image (peak 1), the MSE taken in float64 as the peers'
  numpy code does. Identical images give +inf.
- ``ssim_matlab``: the peers' ``benchmark/utils/pytorch_msssim.ssim_matlab``: the colour image is a
  volume (C, H, W) filtered with a 3-D Gaussian window 11x11x11 (sigma 1.5, normalised), inputs
  replicate-padded by 5 on all three axes, then SSIM (Wang et al. 2004, Eq. 13)
  ``((2 mu_x mu_y + C1)(2 s_xy + C2)) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2))`` with
  C1 = (0.01 L)^2, C2 = (0.03 L)^2, averaged over the (3, H, W) map. L is detected as they do
  (max > 128 -> 255, min < -0.5 -> range from -1). The window is separable, so we filter with three
  1-D passes (identical up to float rounding, ~1e-7, to their 1331-tap conv3d).
  Cross-check: against ``skimage.metrics.structural_similarity(data_range=255, channel_axis=-1)``
  (7x7 uniform window per channel, sample covariance) both give 1 for identical images; for
  good interpolations (blur / sub-pixel misalignment, SSIM > 0.95) they differ by about 3e-4 to
  1e-2, either sign; for white noise ssim_matlab is much higher (0.96 vs 0.90 at sigma 5/255),
  because its 3-D window also averages over the colour axis (tests/test_metrics.py checks both).
- ``interpolation_error``: Middlebury IE = mean |round(255 pred) - 255 gt| (prediction rounded to
  uint8), per image; the benchmark averages it over the sequences.
- ``skimage_psnr_ssim``: the SoftSplat / Xiph protocol on uint8 HxWx3 arrays.
- ``lpips``: not bundled (needs network weights); see its docstring.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

_WINDOW = 11  # peers' window size
_SIGMA = 1.5  # peers' Gaussian sigma
_PAD = 5  # peers' replicate padding (fixed, even when the window shrinks for tiny images)


def _check_pair(pred: torch.Tensor, gt: torch.Tensor, fn: str) -> None:
    for name, x in (("pred", pred), ("gt", gt)):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{fn}: {name} must be a torch.Tensor (B, 3, H, W), got {type(x).__name__}")
        if x.dim() != 4:
            raise ValueError(f"{fn}: {name} must be 4-D (B, 3, H, W), got shape {tuple(x.shape)}")
        if not x.is_floating_point():
            raise TypeError(f"{fn}: {name} must be a float tensor in [0, 1], got {x.dtype}")
    if pred.shape != gt.shape:
        raise ValueError(f"{fn}: pred and gt shapes differ: {tuple(pred.shape)} vs {tuple(gt.shape)}")


def psnr(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB (peak 1.0): (B, 3, H, W), (B, 3, H, W) -> (B,) float64."""
    _check_pair(pred, gt, "psnr")
    mse = (pred.double() - gt.double()).pow(2).flatten(1).mean(1)  # (B,)
    return -10.0 * torch.log10(mse)


def gaussian_1d(size: int, sigma: float = _SIGMA) -> torch.Tensor:
    """Normalised 1-D Gaussian of ``size`` taps centred at ``size // 2`` (float32, as the peers)."""
    g = torch.tensor([math.exp(-((x - size // 2) ** 2) / (2 * sigma**2)) for x in range(size)])
    return (g / g.sum()).float()


def _filter3d(vol: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable 3-D Gaussian filter of (N, D, H, W) volumes: replicate pad 5 on D, H and W, then
    'valid' filtering along each axis as a sum of shifted slices (much faster than a 1-channel
    conv3d on CPU; same result up to float rounding). Returns (N, D+10-k+1, H+10-k+1, W+10-k+1)."""
    k = g.numel()
    x = F.pad(vol, (_PAD,) * 4, mode="replicate")  # H, W
    x = torch.cat([x[:, :1].expand(-1, _PAD, -1, -1), x, x[:, -1:].expand(-1, _PAD, -1, -1)], 1)  # D
    taps = [float(v) for v in g]
    for dim in (1, 2, 3):  # D first: it shrinks 13 -> 3 planes for the later passes
        n_out = x.shape[dim] - k + 1
        y = x.narrow(dim, 0, n_out) * taps[0]
        for i in range(1, k):
            y.add_(x.narrow(dim, i, n_out), alpha=taps[i])
        x = y
    return x


def _value_range(img: torch.Tensor) -> float:
    """The peers' automatic dynamic range L from the first image."""
    max_val = 255.0 if float(img.max()) > 128 else 1.0
    min_val = -1.0 if float(img.min()) < -0.5 else 0.0
    return max_val - min_val


def ssim_matlab(pred: torch.Tensor, gt: torch.Tensor, val_range: float | None = None) -> torch.Tensor:
    """3-D Gaussian SSIM of the peers (see module doc): (B, C, H, W) x2 -> (B,) float64.

    ``val_range`` None detects L from ``pred`` as the peers do from their first argument.
    """
    _check_pair(pred, gt, "ssim_matlab")
    b, c, h, w = pred.shape
    L = _value_range(pred) if val_range is None else float(val_range)
    g = gaussian_1d(min(_WINDOW, h, w)).to(pred.device)
    x, y = pred.float(), gt.float()
    stats = _filter3d(torch.cat([x, y, x * x, y * y, x * y], 0), g)  # (5B, C', H', W')
    mu_x, mu_y, exx, eyy, exy = stats.split(b, 0)
    mu_x2, mu_y2, mu_xy = mu_x.pow(2), mu_y.pow(2), mu_x * mu_y
    s_x2, s_y2, s_xy = exx - mu_x2, eyy - mu_y2, exy - mu_xy
    c1, c2 = (0.01 * L) ** 2, (0.03 * L) ** 2
    ssim_map = ((2 * mu_xy + c1) * (2 * s_xy + c2)) / ((mu_x2 + mu_y2 + c1) * (s_x2 + s_y2 + c2))
    return ssim_map.flatten(1).mean(1).double()  # (B,)


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Round a [0, 1] float image to the uint8 grid and back: clamp(round(255 x), 0, 255) / 255."""
    return torch.round(x * 255.0).clamp_(0.0, 255.0) / 255.0


def interpolation_error(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Middlebury IE: mean |round(255 pred) - 255 gt| on the 0..255 scale, (B,) float64."""
    _check_pair(pred, gt, "interpolation_error")
    p = torch.round(pred * 255.0).clamp(0.0, 255.0).double()  # rounded in pred's dtype, as the peers
    g = torch.round(gt.double() * 255.0)  # gt comes from uint8: exact integers
    return (p - g).abs().flatten(1).mean(1)


def skimage_psnr_ssim(pred_u8: np.ndarray, gt_u8: np.ndarray) -> tuple[float, float]:
    """SoftSplat's Xiph metrics on uint8 (H, W, 3) arrays.

    PSNR = ``peak_signal_noise_ratio(gt, pred, data_range=255)``; SSIM =
    ``structural_similarity(gt, pred, data_range=255, multichannel=True)`` (spelled
    ``channel_axis=-1`` in scikit-image >= 0.19; defaults: 7x7 uniform window, sample covariance).
    """
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    for name, a in (("pred_u8", pred_u8), ("gt_u8", gt_u8)):
        if not isinstance(a, np.ndarray) or a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
            raise ValueError(f"skimage_psnr_ssim: {name} must be a uint8 (H, W, 3) array, got "
                             f"{getattr(a, 'dtype', type(a).__name__)} {getattr(a, 'shape', '')}")
    if pred_u8.shape != gt_u8.shape:
        raise ValueError(f"skimage_psnr_ssim: shapes differ: {pred_u8.shape} vs {gt_u8.shape}")
    p = float(peak_signal_noise_ratio(gt_u8, pred_u8, data_range=255))
    s = float(structural_similarity(gt_u8, pred_u8, data_range=255, channel_axis=-1))
    return p, s


def lpips(pred: torch.Tensor, gt: torch.Tensor, weights: str | None = None) -> torch.Tensor:
    """LPIPS is not bundled: it needs pretrained AlexNet/VGG weights, and this library never
    downloads anything. Raises ``NotImplementedError`` explaining what to use instead."""
    raise NotImplementedError(
        "lpips: not bundled with vfi_lib (it needs pretrained network weights, which are never "
        "downloaded at run time). Install the `lpips` package and load its weights from a local "
        f"path yourself (weights={weights!r}); benchmarks report PSNR/SSIM/IE only."
    )
