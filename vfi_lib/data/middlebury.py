"""Middlebury "other" set (Baker et al., IJCV 2011) with the public interpolation GT.

Layout: ``<root>/other-data/<Name>/frame10.png frame11.png`` and
``<root>/other-gt-interp/<Name>/frame10i11.png``. Every ``<Name>`` with a GT is an item (sorted),
``t = 0.5``; the published metric is IE (mean absolute error on uint8).
"""

from __future__ import annotations

import os

from .base import TestTriplets
from .errors import DataError, require_dir


class Middlebury(TestTriplets):
    """``Middlebury(root)``: the ``other`` sequences that have interpolation GT."""

    def __init__(self, root: str | os.PathLike) -> None:
        super().__init__()
        self.root = require_dir(root, "Middlebury root")
        data = require_dir(self.root / "other-data", "Middlebury other-data")
        gt = require_dir(self.root / "other-gt-interp", "Middlebury other-gt-interp")
        for folder in sorted(p for p in gt.iterdir() if p.is_dir()):
            paths = [data / folder.name / "frame10.png", folder / "frame10i11.png", data / folder.name / "frame11.png"]
            for p in paths:
                if not p.is_file():
                    raise DataError(f"{p}: Middlebury frame not found")
            self.entries.append((paths, 0.5, folder.name))
        if not self.entries:
            raise DataError(f"{gt}: no Middlebury GT folders found")
