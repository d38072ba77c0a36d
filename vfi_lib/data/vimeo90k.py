"""Vimeo90K triplets (Xue et al., IJCV 2019), the standard 2-frame VFI training/test set.

Layout::

    <root>/tri_trainlist.txt      lines "00001/0001" (blank lines ignored)
    <root>/tri_testlist.txt
    <root>/sequences/<a>/<b>/im1.png im2.png im3.png      448x256; im2 is the middle frame

Train split: random crop to ``crop_size`` (curriculum: ``set_crop``) and the augmentations of
:mod:`.augment` (flips, 90-degree rotation, channel order, temporal reverse). Frames smaller than
the crop raise DataError (no resizing: Vimeo frames are all 448x256). Test split: full frames,
list order, ``t = 0.5``, ``name = "00001/0001"``.
"""

from __future__ import annotations

import os
from pathlib import Path

from .augment import NO_AUGMENT, Augment, random_crop
from .base import TrainDataset
from .errors import DataError, require_dir
from .io import load_frames, read_list
from .item import make_item

SPLITS = {"train": "tri_trainlist.txt", "test": "tri_testlist.txt"}


class Vimeo90K(TrainDataset):
    """``Vimeo90K(root, split="train"|"test", crop_size=256, augment=None, seed=None)``.

    ``crop_size`` applies to the train split (None = full frames); ``augment`` defaults to
    :class:`Augment()` for train and none for test.
    """

    def __init__(self, root: str | os.PathLike, split: str = "train", crop_size: int | tuple[int, int] | None = 256,
                 augment: Augment | None = None, seed: int | None = None) -> None:
        if split not in SPLITS:
            raise DataError(f"Vimeo90K split must be one of {', '.join(SPLITS)}, got {split!r}")
        super().__init__(crop_size if split == "train" else None, seed)
        self.root = require_dir(root, "Vimeo90K triplet root")
        self.split = split
        seq = self.root / "sequences"
        require_dir(seq, "Vimeo90K sequences")
        self.names = read_list(self.root / SPLITS[split], f"Vimeo90K {split} list")
        for name in self.names[:1]:  # cheap sanity check of the list format
            if len(Path(name).parts) != 2:
                raise DataError(f"{self.root / SPLITS[split]}: line {name!r} is not of the form 00001/0001")
        self.augment = augment if augment is not None else (Augment() if split == "train" else NO_AUGMENT)

    def __len__(self) -> int:
        return len(self.names)

    def paths(self, index: int) -> list[Path]:
        """[img0, gt, img1] paths of sample ``index``."""
        d = self.root / "sequences" / self.names[index]
        return [d / "im1.png", d / "im2.png", d / "im3.png"]

    def __getitem__(self, index: int) -> dict:
        name = self.names[index]
        frames = load_frames(self.paths(index))
        t = 0.5
        if self.split == "train":
            rng = self.rng(index)
            if self.crop_size is not None:
                frames = random_crop(frames, self.crop_size, rng, name=str(self.root / "sequences" / name))
            frames, t = self.augment(frames, t, rng)
        return make_item(frames[0], frames[1], frames[2], t, name)
