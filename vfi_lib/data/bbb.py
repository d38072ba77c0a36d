"""Big Buck Bunny frame sequence as a triplet dataset with a temporal hold-out.

Source: a directory of consecutive frames named with their clip index (``frame_000.png`` ...,
as written by ``scripts/extract_sample.py --all-frames DIR``), or the embedded 24-frame sample
(``frames_dir=None``). Triplets are consecutive frames (i - s, i, i + s) for each stride s in
``strides``. The hold-out is the clip's last ``holdout`` frames (indices >= clip_frames -
holdout; ``clip_frames`` from the directory's ``MANIFEST.json`` if present, else the largest
index + 1): split ``"train"`` uses triplets entirely before it, ``"val"`` triplets entirely in it.
The clip repeats some frames (25 fps telecine: 7, 32, 57, 82, 107 equal their predecessor);
triplets containing such a repeat are skipped, since their middle frame is not the temporal
midpoint. Repeats come from the manifest's ``duplicate_frames`` when present, else from
:func:`find_repeats`.
Train items are randomly cropped and augmented like Vimeo90K; val items are full frames.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import cv2
import numpy as np

from .augment import NO_AUGMENT, Augment, random_crop
from .base import TrainDataset
from .embedded import SAMPLE_DIR, sample_manifest
from .errors import DataError, require_dir
from .io import list_images, load_frames, load_image
from .item import make_item

DUPLICATE_THRESHOLD = 0.15  # repeats differ by < 0.1 grey levels, real motion by > 0.29 (448x256)
_INDEX = re.compile(r"(\d+)$")


def _frame_index(p: Path) -> int:
    m = _INDEX.search(p.stem)
    if m is None:
        raise DataError(f"{p}: frame name has no trailing frame number (expected e.g. frame_012.png)")
    return int(m.group(1))


def _diff(a: np.ndarray, b: np.ndarray) -> float:
    """Mean abs difference in grey levels, measured at 448x256."""
    small = [(x if x.shape[:2] == (256, 448) else cv2.resize(x, (448, 256), interpolation=cv2.INTER_AREA)).astype(np.int16)
             for x in (a, b)]
    return float(np.abs(small[0] - small[1]).mean())


def find_repeats(paths: dict[int, Path]) -> set[int]:
    """Clip indices i whose frame repeats frame i-1.

    A repeat differs from its predecessor far less than its neighbours differ from theirs:
    d_i < DUPLICATE_THRESHOLD, or d_i < 1 grey level and d_i < 0.5 * min(d_{i-1}, d_{i+1})
    (the relative test survives JPEG noise, which lifts a repeat's d_i to ~0.25).
    """
    idx = sorted(paths)
    d: dict[int, float] = {}
    prev = None
    for i in idx:
        img = load_image(paths[i])
        if prev is not None and prev[0] == i - 1:
            d[i] = _diff(prev[1], img)
        prev = (i, img)
    out = set()
    for i, di in d.items():
        near = [d[j] for j in (i - 1, i + 1) if j in d]
        if di < DUPLICATE_THRESHOLD or (near and di < 1.0 and di < 0.5 * min(near)):
            out.add(i)
    return out


class BBBSequence(TrainDataset):
    """``BBBSequence(frames_dir=None, split="train"|"val", holdout=30, crop_size=None, strides=(1,))``."""

    def __init__(self, frames_dir: str | os.PathLike | None = None, split: str = "train", holdout: int = 30,
                 crop_size: int | tuple[int, int] | None = None, strides: tuple[int, ...] = (1,),
                 clip_frames: int | None = None, augment: Augment | None = None, seed: int | None = None,
                 skip_repeats: bool = True) -> None:
        if split not in ("train", "val"):
            raise DataError(f"BBBSequence split must be 'train' or 'val', got {split!r}")
        super().__init__(crop_size if split == "train" else None, seed)
        if frames_dir is None:
            manifest = sample_manifest()
            files = [SAMPLE_DIR / manifest["sequence"]["pattern"].format(i) for i in manifest["sequence"]["frames"]]
        else:
            d = require_dir(frames_dir, "Big Buck Bunny frames")
            files = list_images(d)
            if not files:
                raise DataError(f"{d}: no frames found (export them with scripts/extract_sample.py --all-frames)")
            manifest = json.loads((d / "MANIFEST.json").read_text()) if (d / "MANIFEST.json").is_file() else {}
        clip_frames = clip_frames or manifest.get("clip_frames")
        by_index = {_frame_index(p): p for p in files}
        clip_frames = int(clip_frames or max(by_index) + 1)
        start = clip_frames - holdout  # first held-out index
        self.split, self.holdout_start = split, start
        repeats: set[int] = set()
        if skip_repeats:
            listed = manifest.get("duplicate_frames")
            repeats = set(listed) if listed is not None else find_repeats(by_index)
        self.repeats = repeats
        self.entries: list[tuple[list[Path], str]] = []
        for s in strides:
            for i in sorted(by_index):
                idx = (i - s, i, i + s)
                if not all(j in by_index for j in idx):
                    continue
                if (split == "train" and idx[2] >= start) or (split == "val" and idx[0] < start):
                    continue
                if any(j in repeats for j in range(idx[0] + 1, idx[2] + 1)):
                    continue
                self.entries.append(([by_index[j] for j in idx], f"bbb/{idx[0]:03d}-{idx[1]:03d}-{idx[2]:03d}"))
        if not self.entries:
            raise DataError(f"{frames_dir or SAMPLE_DIR}: no {split} triplets (frames {min(by_index)}..{max(by_index)}, "
                            f"hold-out starts at {start})")
        self.augment = augment if augment is not None else (Augment() if split == "train" else NO_AUGMENT)

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> dict:
        paths, name = self.entries[index]
        frames = load_frames(paths)
        t = 0.5
        if self.split == "train":
            rng = self.rng(index)
            if self.crop_size is not None:
                frames = random_crop(frames, self.crop_size, rng, name=str(paths[1]))
            frames, t = self.augment(frames, t, rng)
        return make_item(frames[0], frames[1], frames[2], t, name)
