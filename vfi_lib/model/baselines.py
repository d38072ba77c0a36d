"""Reference baselines with the model call signature, so every runner (benchmarks, speed tests, the
video demo, the pair CLI) accepts them: ``model(img0, img1, t=0.5, return_aux=False, scale=1.0)`` on float
(B, 3, H, W) RGB in [0, 1], returning (B, 3, H, W) (or ``(frame, aux)``).

- :class:`FrameAverage`: the linear blend ``(1 - t) I0 + t I1`` (the plain average at t = 0.5);
  translation-equivariant and pointwise, which the tiling tests rely on.
- :class:`DISFlowBaseline`: OpenCV DIS optical flow (Kroeger et al., ECCV 2016) both ways on
  grayscale, intermediate flows by the linear-motion approximation of Super SloMo (Jiang et al.,
  CVPR 2018, Eq. 4)

      F_t0 = -(1 - t) t F_01 + t^2 F_10,        F_t1 = (1 - t)^2 F_01 - t (1 - t) F_10,

  i.e. a (1 - t : t) mix of the two estimates -t F_01 and t F_10 of the motion from time t back to
  frame 0 (each reads the flow at the target pixel instead of following the trajectory, exact for
  locally constant motion). Each input is backward-warped to time t and the two are blended with
  weights (1 - t, t). ``scale < 1`` computes the flow on downscaled frames (faster at 4K).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn as nn

from vfi_lib.model.warp import warp

BASELINES = ("average", "dis")
DIS_PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
               "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}


def dis_flow(img0: np.ndarray, img1: np.ndarray, preset: str = "medium") -> np.ndarray:
    """OpenCV DIS optical flow (Kroeger et al., ECCV 2016) F_01 from ``img0`` to ``img1``.

    Images: (H, W) uint8 grey or (H, W, 3) uint8 RGB (converted to grey). Returns (H, W, 2) float32
    in pixels (dx, dy) with img1(p + F_01(p)) ~ img0(p). The one DIS entry point of the library
    (the baseline below, notebooks' motion statistics).
    """
    if preset not in DIS_PRESETS:
        raise ValueError(f"dis_flow: preset must be one of {sorted(DIS_PRESETS)}, got {preset!r}")
    g0, g1 = (cv2.cvtColor(np.ascontiguousarray(x), cv2.COLOR_RGB2GRAY) if x.ndim == 3 else x for x in (img0, img1))
    if g0.shape != g1.shape:
        raise ValueError(f"dis_flow: img0 {g0.shape} and img1 {g1.shape} differ in size")
    if g0.dtype != np.uint8 or g1.dtype != np.uint8:
        raise TypeError(f"dis_flow: images must be uint8, got {g0.dtype} and {g1.dtype}")
    return cv2.DISOpticalFlow_create(DIS_PRESETS[preset]).calc(g0, g1, None)


def _t_tensor(t: float | torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """t as (B, 1, 1, 1) on x's device/dtype."""
    t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
    return t.reshape(-1, 1, 1, 1).expand(x.shape[0], 1, 1, 1)


class FrameAverage(nn.Module):
    """Linear blend (1 - t) img0 + t img1; no parameters. pad_multiple = 1."""

    pad_multiple = 1
    name = "baseline_average"

    def forward(self, img0, img1, t=0.5, return_aux=False, scale=1.0):
        tt = _t_tensor(t, img0)
        out = (1 - tt) * img0 + tt * img1  # (B, 3, H, W)
        return (out, {}) if return_aux else out


class DISFlowBaseline(nn.Module):
    """DIS-flow midpoint baseline (see module doc). ``preset``: cv2 DIS preset name."""

    pad_multiple = 1
    name = "baseline_dis"

    def __init__(self, preset: str = "medium"):
        super().__init__()
        if preset not in DIS_PRESETS:
            raise ValueError(f"DISFlowBaseline: preset must be one of {sorted(DIS_PRESETS)}, got {preset!r}")
        self.preset = preset

    def _flows(self, img0: torch.Tensor, img1: torch.Tensor, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
        """F_01, F_10 (B, 2, H, W) in pixels of the full-resolution frames."""
        b, _, h, w = img0.shape
        f01, f10 = [], []
        for i in range(b):
            g0, g1 = (_to_gray_u8(x[i]) for x in (img0, img1))
            if scale != 1.0:
                size = (max(int(round(w * scale)), 8), max(int(round(h * scale)), 8))
                g0, g1 = (cv2.resize(g, size, interpolation=cv2.INTER_AREA) for g in (g0, g1))
            fa, fb = dis_flow(g0, g1, self.preset), dis_flow(g1, g0, self.preset)  # (h', w', 2) each
            if scale != 1.0:
                fa, fb = (cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR) / scale for f in (fa, fb))
            f01.append(fa)
            f10.append(fb)
        to_t = lambda fs: torch.from_numpy(np.stack(fs)).permute(0, 3, 1, 2).to(img0)  # (B, 2, H, W)
        return to_t(f01), to_t(f10)

    @torch.no_grad()
    def forward(self, img0, img1, t=0.5, return_aux=False, scale=1.0):
        tt = _t_tensor(t, img0)
        f01, f10 = self._flows(img0, img1, float(scale))
        flow_t0 = -(1 - tt) * tt * f01 + tt * tt * f10  # Super SloMo Eq. 4
        flow_t1 = (1 - tt) ** 2 * f01 - tt * (1 - tt) * f10
        w0, w1 = warp(img0, flow_t0), warp(img1, flow_t1)
        out = ((1 - tt) * w0 + tt * w1).clamp(0, 1)
        if return_aux:
            return out, {"flow_t0": flow_t0, "flow_t1": flow_t1, "warped0": w0, "warped1": w1}
        return out


def _to_gray_u8(img: torch.Tensor) -> np.ndarray:
    """(3, H, W) float RGB in [0, 1] -> (H, W) uint8 gray."""
    rgb = (img.detach().float().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)


def build_baseline(name: str) -> nn.Module:
    """``"average"`` -> FrameAverage, ``"dis"`` -> DISFlowBaseline; eval mode."""
    if name == "average":
        return FrameAverage().eval()
    if name == "dis":
        return DISFlowBaseline().eval()
    raise ValueError(f"--baseline must be one of {BASELINES}, got {name!r}")
