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

Validation never scores training frames. The embedded frames (``vfi_lib/data/sample/``, or a
byte-identical copy of its ``sequence/`` files) are Big Buck Bunny clip frames, and every one
before the clip's hold-out (clip frame 102) is trained on (``--dataset sample``: the 6 triplets,
11..65; ``--dataset bbb``: 96..101). ``split="val"`` on such a directory therefore raises
DataError if any val triplet would contain one of them: ``sample/sequence`` has no manifest, so
its hold-out would be computed from its own last frame (119) and start at 90. Validate with
``frames_dir=None`` (the embedded hold-out, 102..119) or on the full clip exported with
``scripts/extract_sample.py --all-frames DIR`` (its MANIFEST.json places the hold-out at 102).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from .augment import NO_AUGMENT, Augment, random_crop
from .base import TrainDataset
from .embedded import SAMPLE_DIR, sample_manifest
from .errors import DataError, require_dir
from .io import list_images, load_frames, load_image, read_json
from .item import make_item
from .video import DUPLICATE_THRESHOLD, repeat_thumb, repeats_from_diffs

__all__ = ["BBBSequence", "DUPLICATE_THRESHOLD", "find_repeats"]
_INDEX = re.compile(r"(\d+)$")


def _frame_index(p: Path) -> int:
    m = _INDEX.search(p.stem)
    if m is None:
        raise DataError(f"{p}: frame name has no trailing frame number (expected e.g. frame_012.png)")
    return int(m.group(1))


def find_repeats(paths: dict[int, Path]) -> set[int]:
    """Clip indices i whose frame repeats frame i-1 (:func:`vfi_lib.data.video.repeats_from_diffs`
    on the 448x256 grey-level differences of consecutive frames)."""
    d: dict[int, float] = {}
    prev = None
    for i in sorted(paths):
        small = repeat_thumb(load_image(paths[i]))
        if prev is not None and prev[0] == i - 1:
            d[i] = float(np.abs(prev[1] - small).mean())
        prev = (i, small)
    return repeats_from_diffs(d)


def _embedded_frames(d: Path, files: list[Path]) -> bool:
    """True if ``d`` holds embedded sample frames: it is (inside) ``vfi_lib/data/sample``, or its
    files named like the embedded sequence frames are byte-identical copies of them."""
    sample = SAMPLE_DIR.resolve()
    rd = d.resolve()
    if rd == sample or sample in rd.parents:
        return True
    seq = sample_manifest()["sequence"]
    embedded = {Path(seq["pattern"].format(i)).name: SAMPLE_DIR / seq["pattern"].format(i) for i in seq["frames"]}
    same = [p for p in files if p.name in embedded]
    return bool(same) and all(p.stat().st_size == embedded[p.name].stat().st_size
                              and p.read_bytes() == embedded[p.name].read_bytes() for p in same)


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
            manifest = read_json(d / "MANIFEST.json", "Big Buck Bunny frame manifest") if (d / "MANIFEST.json").is_file() else {}
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
        if split == "val" and frames_dir is not None and _embedded_frames(d, files):
            emb = sample_manifest()
            first_holdout = emb["clip_frames"] - emb["holdout"]  # every embedded frame before it is trained on
            leaked = sorted({j for paths, _ in self.entries for j in map(_frame_index, paths) if j < first_holdout})
            if leaked:
                raise DataError(
                    f"{d}: these are the embedded sample frames, and a val split here would score clip frames "
                    f"{leaked[0]}..{leaked[-1]}, which --dataset bbb/sample train on (every embedded frame before "
                    f"{first_holdout} is training data); validate with no path (the embedded hold-out, frames "
                    f"{first_holdout}..{max(emb['sequence']['frames'])}) or on the full clip exported with "
                    "scripts/extract_sample.py --all-frames DIR, then pass DIR")
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
