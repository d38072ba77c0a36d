"""Shared machinery of the training datasets: per-sample RNG, crop curriculum, epochs.

Randomness. With ``seed=None`` (default) each sample draws a fresh generator seed from torch's
global RNG, which DataLoader seeds differently in every worker and every epoch, so training is
reproducible under ``torch.manual_seed`` and workers never repeat each other. With an integer
``seed`` the draw for sample ``i`` is a pure function of (seed, epoch, i) - used by tests.

Curriculum. ``set_crop(size)`` changes the crop of later samples and ``set_epoch(epoch)`` the
random stream. DataLoader workers copy the dataset when an epoch's iterator is created, so call
both before iterating (non-persistent workers, the default), or rebuild the DataLoader each epoch
with ``persistent_workers=True``; ``build_train_dataset(cfg, epoch)`` does both from the config.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from .augment import crop_hw


class TrainDataset(Dataset):
    """Base for random-crop training sets: ``set_crop``, ``set_epoch`` and ``rng(index)``."""

    def __init__(self, crop_size: int | tuple[int, int] | None, seed: int | None) -> None:
        self.crop_size = None if crop_size is None else crop_hw(crop_size)
        self.seed = seed
        self.epoch = 0

    def set_crop(self, size: int | tuple[int, int] | None) -> None:
        """Crop later samples to ``size`` (int or (h, w)); None keeps full frames."""
        self.crop_size = None if size is None else crop_hw(size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def rng(self, index: int) -> np.random.Generator:
        if self.seed is None:
            return np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))
        return np.random.default_rng([self.seed, self.epoch, index])


class TestTriplets(Dataset):
    """Base for fixed test sets: ``entries`` of ([img0, gt, img1] paths, t, name) in a fixed order.

    Subclasses fill ``entries`` and may override ``transform(frame)`` (e.g. 2K resize).
    """

    def __init__(self) -> None:
        self.entries: list[tuple[list, float, str]] = []

    def __len__(self) -> int:
        return len(self.entries)

    def transform(self, frame: np.ndarray, path) -> np.ndarray:
        """Per-frame transform of the protocol (resize/crop); ``path`` is for error messages."""
        return frame

    def __getitem__(self, index: int) -> dict:
        from .io import load_frames
        from .item import make_item

        paths, t, name = self.entries[index]
        frames = [self.transform(f, p) for f, p in zip(load_frames(paths), paths)]
        return make_item(frames[0], frames[1], frames[2], t, name)
