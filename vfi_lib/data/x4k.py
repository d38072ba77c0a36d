"""X4K1000FPS training clips (Sim et al., XVFI, ICCV 2021) with temporal-stride sampling.

Layout (as XVFI's ``make_2D_dataset_X_Train`` expects)::

    <root>/train/<scene>/<clip>/0000.png ... 0064.png      65 frames at 1000 fps, 768x768

(``root`` may also be the ``train`` directory itself.) A sample draws a stride ``s`` uniformly
from ``stride = (lo, hi)`` (inclusive; capped at clip length - 1), a start frame ``i`` uniformly
in [0, n - 1 - s], inputs i and i + s, and a target i + k with t = k / s, where
``target="random"`` draws k uniformly in 1..s-1 (XVFI; arbitrary-t training) and
``target="middle"`` uses k = s // 2 (t = 0.5 for even strides). Then: resize safety (clips
smaller than the crop are upscaled, aspect kept), random crop (default 256x256) and the
:mod:`.augment` augmentations (temporal reverse gives t -> 1 - t). One epoch visits every clip
once (``len`` = number of clips).
"""

from __future__ import annotations

import os
from pathlib import Path

from .augment import Augment, random_crop, resize_to_cover
from .base import TrainDataset
from .errors import DataError, require_dir
from .io import load_frames
from .item import make_item

TARGETS = ("random", "middle")


class X4KTrain(TrainDataset):
    """``X4KTrain(root, crop_size=256, stride=(8, 32), target="random", augment=None, seed=None)``."""

    def __init__(self, root: str | os.PathLike, crop_size: int | tuple[int, int] | None = 256,
                 stride: tuple[int, int] = (8, 32), target: str = "random", augment: Augment | None = None,
                 seed: int | None = None) -> None:
        super().__init__(crop_size, seed)
        root = require_dir(root, "X4K1000FPS root")
        self.root = root / "train" if (root / "train").is_dir() else root
        lo, hi = (int(s) for s in stride)
        if not 2 <= lo <= hi:
            raise DataError(f"X4KTrain stride must be (lo, hi) with 2 <= lo <= hi, got {stride!r}")
        if target not in TARGETS:
            raise DataError(f"X4KTrain target must be one of {', '.join(TARGETS)}, got {target!r}")
        self.stride, self.target = (lo, hi), target
        self.augment = augment if augment is not None else Augment()
        self.clips: list[list[Path]] = []  # sorted frame paths of each <scene>/<clip>
        self.names: list[str] = []
        for scene in sorted(p for p in self.root.iterdir() if p.is_dir()):
            for clip in sorted(p for p in scene.iterdir() if p.is_dir()):
                frames = sorted(clip.glob("*.png"))
                if len(frames) < 3:
                    raise DataError(f"{clip}: X4K clip has {len(frames)} PNG frames, needs at least 3 (65 expected)")
                self.clips.append(frames)
                self.names.append(f"{scene.name}/{clip.name}")
        if not self.clips:
            raise DataError(f"{self.root}: no X4K clips found (expected <scene>/<clip>/0000.png ... 0064.png)")

    def __len__(self) -> int:
        return len(self.clips)

    def draw(self, index: int, rng) -> tuple[int, int, int, float]:
        """(first, target, last) frame indices and t of one random sample of clip ``index``."""
        n = len(self.clips[index])
        s = int(rng.integers(self.stride[0], self.stride[1] + 1))
        s = min(s, n - 1)
        i = int(rng.integers(0, n - s))  # first frame in [0, n - 1 - s]
        k = int(rng.integers(1, s)) if self.target == "random" else s // 2
        return i, i + k, i + s, k / s

    def __getitem__(self, index: int) -> dict:
        rng = self.rng(index)
        i0, it, i1, t = self.draw(index, rng)
        clip = self.clips[index]
        frames = load_frames([clip[i0], clip[it], clip[i1]])
        if self.crop_size is not None:
            frames = resize_to_cover(frames, self.crop_size)
            frames = random_crop(frames, self.crop_size, rng, name=self.names[index])
        frames, t = self.augment(frames, t, rng)
        return make_item(frames[0], frames[1], frames[2], t, f"{self.names[index]}/{i0:04d}-{it:04d}-{i1:04d}")
