"""UCF101 interpolation test set of DVF (Liu et al., ICCV 2017), ``ucf101_interp_ours``.

Layout: ``<root>/<folder>/frame_00.png frame_01_gt.png frame_02.png`` (379 folders, 256x256).
Items in sorted folder order, ``t = 0.5``, ``name`` = folder name.
"""

from __future__ import annotations

import os

from .base import TestTriplets
from .errors import DataError, require_dir

FILES = ("frame_00.png", "frame_01_gt.png", "frame_02.png")  # img0, gt, img1


class UCF101(TestTriplets):
    """``UCF101(root)``: the 379 DVF triplets."""

    def __init__(self, root: str | os.PathLike) -> None:
        super().__init__()
        self.root = require_dir(root, "UCF101 (ucf101_interp_ours) root")
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir()):
            paths = [folder / f for f in FILES]
            for p in paths:
                if not p.is_file():
                    raise DataError(f"{p}: UCF101 frame not found (each folder needs {', '.join(FILES)})")
            self.entries.append((paths, 0.5, folder.name))
        if not self.entries:
            raise DataError(f"{self.root}: no UCF101 triplet folders found")
