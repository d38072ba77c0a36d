"""High-resolution test sets: XTest-8X (X4K1000FPS test) and Xiph (SoftSplat protocol).

XTest (Sim et al., XVFI 2021): ``<root>/test/TypeN/<clip>/0000.png ... 0032.png``, 15 clips of
33 frames at 4096x2160. 8x interpolation: inputs 0 and 32, targets 4k with ``t = k/8`` for
k = 1..7 (105 items). ``resolution="4k"`` keeps the frames; ``"2k"`` downsizes every frame to
2048x1080 with ``cv2.INTER_AREA``.

Xiph (Niklaus & Liu, SoftSplat 2020, ``benchmark_xiph.py``): 8 Netflix 4K sequences decoded as
``<root>/<Name>-NNN.png`` (NNN = 001..100; ``root`` may also contain them under ``netflix/``).
Triplets (i-1, i, i+1) for i = 2, 4, ..., 98: 49 per sequence, 392 in all. ``"2k"`` =
INTER_AREA resize to 2048x1080 ("resized"); ``"4k"`` = centre crop ``[540:-540, 1024:-1024]``
("cropped", 2048x1080 of the 4096x2160 frame). ``"full"`` leaves frames unchanged.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from .base import TestTriplets
from .errors import DataError, require_dir

XIPH_SEQUENCES = ("BoxingPractice", "Crosswalk", "DrivingPOV", "FoodMarket", "FoodMarket2",
                  "RitualDance", "SquareAndTimelapse", "Tango")
SIZE_2K = (2048, 1080)  # (W, H)


def resize_2k(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) -> (1080, 2048, 3) with INTER_AREA (the peers' 2K protocol)."""
    return cv2.resize(frame, SIZE_2K, interpolation=cv2.INTER_AREA)


def crop_4k(frame: np.ndarray, path: object = "frame") -> np.ndarray:
    """SoftSplat's Xiph "cropped" protocol: ``frame[540:-540, 1024:-1024]``."""
    h, w = frame.shape[:2]
    if h <= 1080 or w <= 2048:
        raise DataError(f"{path}: frame {w}x{h} is too small for the Xiph 4K centre crop [540:-540, 1024:-1024]")
    return frame[540:-540, 1024:-1024]


class XTest(TestTriplets):
    """``XTest(root, resolution="4k"|"2k", multiple=8)``: XTest-8X in sorted (Type, clip, k) order."""

    def __init__(self, root: str | os.PathLike, resolution: str = "4k", multiple: int = 8) -> None:
        super().__init__()
        if resolution not in ("4k", "2k"):
            raise DataError(f"XTest resolution must be '4k' or '2k', got {resolution!r}")
        if multiple < 2 or 32 % multiple:
            raise DataError(f"XTest multiple must divide 32 and be >= 2, got {multiple}")
        root = require_dir(root, "X4K1000FPS test root")
        self.root = root / "test" if (root / "test").is_dir() else root
        self.resolution = resolution
        step = 32 // multiple
        for type_dir in sorted(p for p in self.root.iterdir() if p.is_dir()):
            for clip in sorted(p for p in type_dir.iterdir() if p.is_dir()):
                frames = sorted(clip.glob("*.png"))
                if len(frames) < 33:
                    raise DataError(f"{clip}: XTest clip has {len(frames)} PNG frames, expected 33 (0000..0032)")
                for k in range(1, multiple):
                    self.entries.append(([frames[0], frames[k * step], frames[32]], k / multiple,
                                         f"{type_dir.name}/{clip.name}/{k * step:04d}"))
        if not self.entries:
            raise DataError(f"{self.root}: no XTest clips found (expected TypeN/<clip>/0000.png ... 0032.png)")

    def transform(self, frame: np.ndarray, path: object) -> np.ndarray:
        return resize_2k(frame) if self.resolution == "2k" else frame


class Xiph(TestTriplets):
    """``Xiph(root, resolution="2k"|"4k"|"full", sequences=XIPH_SEQUENCES)``: 392 triplets."""

    def __init__(self, root: str | os.PathLike, resolution: str = "2k",
                 sequences: tuple[str, ...] = XIPH_SEQUENCES) -> None:
        super().__init__()
        if resolution not in ("2k", "4k", "full"):
            raise DataError(f"Xiph resolution must be '2k', '4k' or 'full', got {resolution!r}")
        root = require_dir(root, "Xiph root")
        self.root = root / "netflix" if (root / "netflix").is_dir() else root
        self.resolution = resolution
        for name in sequences:
            for i in range(2, 99, 2):
                paths = [self.root / f"{name}-{j:03d}.png" for j in (i - 1, i, i + 1)]
                for p in paths:
                    if not p.is_file():
                        raise DataError(f"{p}: Xiph frame not found (decode 100 frames of {name} as {name}-NNN.png)")
                self.entries.append((paths, 0.5, f"{name}-{i:03d}"))

    def transform(self, frame: np.ndarray, path: object) -> np.ndarray:
        if self.resolution == "2k":
            return resize_2k(frame)
        if self.resolution == "4k":
            return crop_4k(frame, path)
        return frame
