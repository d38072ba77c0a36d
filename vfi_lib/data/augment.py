"""Training augmentations for a triplet [img0, gt, img1] of (H, W, 3) uint8 RGB frames.

Every random choice is drawn once per sample and applied identically to all three frames:
random crop, horizontal/vertical flip, 90-degree rotation, channel-order shuffle, and temporal
reverse (img0 <-> img1, the target stays, t -> 1 - t), as in RIFE/EMA-VFI training.
Rotations by 90 or 270 degrees swap H and W, so they are only drawn for square frames (a batch
must keep one shape); non-square frames get 0 or 180 degrees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from .errors import DataError

Frames = list[np.ndarray]  # [img0, gt, img1], each (H, W, 3) uint8


def crop_hw(size: int | Sequence[int]) -> tuple[int, int]:
    """``256`` or ``(h, w)`` -> (h, w)."""
    if isinstance(size, (int, np.integer)):
        return int(size), int(size)
    h, w = size
    return int(h), int(w)


def random_crop(frames: Frames, size: int | Sequence[int], rng: np.random.Generator, name: str = "") -> Frames:
    """Crop the same random (h, w) window from every frame; DataError if a frame is smaller."""
    ch, cw = crop_hw(size)
    h, w = frames[0].shape[:2]
    if h < ch or w < cw:
        raise DataError(f"{name}: frames are {w}x{h}, smaller than the {cw}x{ch} training crop; "
                        "lower crop_size")
    y = int(rng.integers(0, h - ch + 1))
    x = int(rng.integers(0, w - cw + 1))
    return [f[y:y + ch, x:x + cw] for f in frames]


def resize_to_cover(frames: Frames, size: int | Sequence[int]) -> Frames:
    """Upscale (keeping aspect) so that both sides are >= the crop; frames already large stay."""
    ch, cw = crop_hw(size)
    h, w = frames[0].shape[:2]
    scale = max(ch / h, cw / w)
    if scale <= 1.0:
        return frames
    nh, nw = max(ch, int(np.ceil(h * scale))), max(cw, int(np.ceil(w * scale)))
    return [cv2.resize(f, (nw, nh), interpolation=cv2.INTER_CUBIC) for f in frames]


@dataclass
class Augment:
    """Probabilities of each augmentation (0 disables it)."""

    hflip: float = 0.5
    vflip: float = 0.5
    rot90: float = 0.5  # probability of a non-zero rotation (k uniform in 1..3)
    channel_shuffle: float = 0.5  # probability of a random RGB permutation (not the identity)
    reverse: float = 0.5  # temporal reverse

    def __call__(self, frames: Frames, t: float, rng: np.random.Generator) -> tuple[Frames, float]:
        """Apply one random draw of every augmentation to [img0, gt, img1]; return (frames, t)."""
        out = list(frames)
        if rng.random() < self.hflip:
            out = [f[:, ::-1] for f in out]
        if rng.random() < self.vflip:
            out = [f[::-1] for f in out]
        if rng.random() < self.rot90:
            square = out[0].shape[0] == out[0].shape[1]
            k = int(rng.integers(1, 4)) if square else 2
            out = [np.rot90(f, k) for f in out]
        if rng.random() < self.channel_shuffle:
            perms = ((0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))
            perm = list(perms[int(rng.integers(0, len(perms)))])
            out = [f[:, :, perm] for f in out]
        if rng.random() < self.reverse:
            out = [out[2], out[1], out[0]]
            t = 1.0 - t
        return [np.ascontiguousarray(f) for f in out], t


NO_AUGMENT = Augment(0.0, 0.0, 0.0, 0.0, 0.0)
