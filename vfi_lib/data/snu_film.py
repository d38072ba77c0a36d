"""SNU-FILM (Choi et al., CAIN, AAAI 2020): easy / medium / hard / extreme, 310 triplets each.

The official lists ``test-{easy,medium,hard,extreme}.txt`` hold one triplet per line, three frame
paths (img0, gt, img1) such as ``data/SNU-FILM/test/GOPRO_test/GOPR0384_11_00/000001.png``. Paths
are remapped onto the user's copy: the part from the last ``test`` component on is joined to
``root`` (``<root>/test/GOPRO_test/...``); paths without a ``test`` component are taken relative
to the list file's directory. Lists are looked up in ``root`` (or ``list_dir``). Items keep the
list order; ``name`` = gt path below ``test/`` without extension; ``t = 0.5``.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from .base import TestTriplets
from .errors import DataError, require_dir
from .io import read_list

LEVELS = ("easy", "medium", "hard", "extreme")


def remap_path(entry: str, root: Path, list_dir: Path) -> Path:
    """Map a path from an official list onto ``root`` (see module docstring)."""
    parts = PurePosixPath(entry.replace("\\", "/")).parts
    if "test" in parts:
        i = len(parts) - 1 - parts[::-1].index("test")
        return root.joinpath(*parts[i:])
    p = Path(entry)
    return p if p.is_absolute() else list_dir / p


class SNUFilm(TestTriplets):
    """``SNUFilm(root, level="extreme", list_dir=None)``."""

    def __init__(self, root: str | os.PathLike, level: str = "extreme", list_dir: str | os.PathLike | None = None) -> None:
        super().__init__()
        if level not in LEVELS:
            raise DataError(f"SNU-FILM level must be one of {', '.join(LEVELS)}, got {level!r}")
        self.root = require_dir(root, "SNU-FILM root")
        self.level = level
        ldir = require_dir(list_dir, "SNU-FILM list") if list_dir is not None else self.root
        list_file = ldir / f"test-{level}.txt"
        for n, line in enumerate(read_list(list_file, f"SNU-FILM {level} list"), start=1):
            fields = line.split()
            if len(fields) != 3:
                raise DataError(f"{list_file}: line {n} has {len(fields)} paths, expected 3 (img0 gt img1)")
            paths = [remap_path(f, self.root, ldir) for f in fields]
            for p in paths:
                if not p.is_file():
                    raise DataError(f"{p}: SNU-FILM frame not found (from {list_file.name} line {n})")
            gt = paths[1]
            try:
                rel = gt.relative_to(self.root / "test")
            except ValueError:
                rel = Path(gt.parent.name) / gt.name
            self.entries.append((paths, 0.5, rel.with_suffix("").as_posix()))
