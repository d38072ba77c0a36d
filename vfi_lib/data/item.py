"""The dataset item contract and its conversion to model inputs.

An item is a dict: ``img0``, ``gt``, ``img1`` uint8 tensors (3, H, W) RGB; ``t`` float32 scalar
tensor (fraction of the way from img0 to img1); ``name`` str. Synthetic items add
``flow_t0``/``flow_t1`` (2, H, W) float32 backward flows in pixels (gt(p) = img0(p + flow_t0(p))).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def to_chw(img: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, H, W) uint8 tensor (contiguous copy)."""
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))


def make_item(img0: np.ndarray, gt: np.ndarray, img1: np.ndarray, t: float, name: str, **extra: Any) -> dict:
    """Build an item dict from (H, W, 3) uint8 RGB frames."""
    item = {"img0": to_chw(img0), "gt": to_chw(gt), "img1": to_chw(img1),
            "t": torch.tensor(float(t), dtype=torch.float32), "name": str(name)}
    item.update(extra)
    return item


def to_float(batch: dict, device: torch.device | str | None = None
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Collated batch (or a single item) -> (img0, img1, gt, t) on ``device``.

    Images become float32 (B, 3, H, W) in [0, 1]; t becomes float32 (B,). The uint8 tensors are
    moved first (4x less to transfer), then converted.
    """
    imgs = []
    for key in ("img0", "img1", "gt"):
        x = batch[key]
        if x.dim() == 3:  # a single item: (3, H, W) -> (1, 3, H, W)
            x = x.unsqueeze(0)
        x = x.to(device, non_blocking=True) if device is not None else x
        imgs.append(x.float() / 255.0 if x.dtype == torch.uint8 else x.float())
    t = torch.as_tensor(batch["t"], dtype=torch.float32)
    t = t.to(device, non_blocking=True) if device is not None else t
    t = t.reshape(-1).expand(imgs[0].shape[0]) if t.numel() == 1 else t.reshape(-1)
    return imgs[0], imgs[1], imgs[2], t.contiguous()
