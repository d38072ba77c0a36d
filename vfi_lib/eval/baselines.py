"""Reference baselines with the model call signature, so every runner (benchmarks, TimeTest, the
video demo) accepts them: ``model(img0, img1, t=0.5, return_aux=False, scale=1.0)`` on float
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
import torch.nn.functional as F

BASELINES = ("average", "dis")


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


def backward_warp(img: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample img at p + flow(p) (bilinear, border clamp): (B, C, H, W), (B, 2, H, W) -> (B, C, H, W)."""
    b, _, h, w = img.shape
    ys, xs = torch.meshgrid(torch.arange(h, device=img.device, dtype=img.dtype),
                            torch.arange(w, device=img.device, dtype=img.dtype), indexing="ij")
    gx = (xs + flow[:, 0]) * (2.0 / max(w - 1, 1)) - 1.0  # (B, H, W), align_corners=True grid
    gy = (ys + flow[:, 1]) * (2.0 / max(h - 1, 1)) - 1.0
    grid = torch.stack([gx, gy], dim=-1)  # (B, H, W, 2)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=True)


class DISFlowBaseline(nn.Module):
    """DIS-flow midpoint baseline (see module doc). ``preset``: cv2 DIS preset name."""

    pad_multiple = 1
    name = "baseline_dis"
    _PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
                "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
                "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}

    def __init__(self, preset: str = "medium"):
        super().__init__()
        if preset not in self._PRESETS:
            raise ValueError(f"DISFlowBaseline: preset must be one of {sorted(self._PRESETS)}, got {preset!r}")
        self.preset = preset

    def _flows(self, img0: torch.Tensor, img1: torch.Tensor, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
        """F_01, F_10 (B, 2, H, W) in pixels of the full-resolution frames."""
        dis = cv2.DISOpticalFlow_create(self._PRESETS[self.preset])
        b, _, h, w = img0.shape
        f01, f10 = [], []
        for i in range(b):
            g0, g1 = (_to_gray_u8(x[i]) for x in (img0, img1))
            if scale != 1.0:
                size = (max(int(round(w * scale)), 8), max(int(round(h * scale)), 8))
                g0, g1 = (cv2.resize(g, size, interpolation=cv2.INTER_AREA) for g in (g0, g1))
            fa, fb = dis.calc(g0, g1, None), dis.calc(g1, g0, None)  # (h', w', 2) each
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
        w0, w1 = backward_warp(img0, flow_t0), backward_warp(img1, flow_t1)
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
