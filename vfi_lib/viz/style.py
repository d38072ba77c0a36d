"""One figure style for the thesis, and one way to save a figure (PDF with embedded fonts + PNG).

Sizes are derived from the thesis text width (A4, 25 mm margins: 160 mm = 6.3 in), so a figure made
with ``figsize(1.0)`` is placed at 100 % scale and its 8-9 pt labels match the body text's
footnote size. Fonts are DejaVu (shipped with matplotlib), so nothing is fetched at run time.

    with thesis_style():
        fig, ax = plt.subplots(figsize=figsize(0.5))
        ...
        save_figure(fig, "01_ssd_parity")   # -> outputs/figures/01_ssd_parity.{pdf,png}

Every figure is written twice under :func:`vfi_lib.paths.outputs_root` (``outputs/``, or
``outputs/smoke/`` in smoke runs, so ``make run`` never touches a full run's figures):
``figures/<run id>/<name>.{pdf,png}``, which no later run overwrites, and ``figures/<name>.{pdf,png}``,
the latest version at a stable path for the thesis (LaTeX includegraphics). Tables likewise.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import matplotlib

from vfi_lib.paths import outputs_dir, run_id

__all__ = [
    "TEXT_WIDTH_IN",
    "THESIS_RC",
    "figsize",
    "thesis_style",
    "apply_style",
    "save_figure",
    "image_axes",
]

TEXT_WIDTH_MM = 160.0  # A4 with 25 mm margins
TEXT_WIDTH_IN = TEXT_WIDTH_MM / 25.4  # 6.3 in
GOLDEN = 0.618  # default height / width

THESIS_RC: dict[str, Any] = {
    "font.family": "serif",
    "font.serif": ["DejaVu Serif"],
    "mathtext.fontset": "dejavuserif",
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "figure.titlesize": 10,
    "axes.linewidth": 0.6,
    "lines.linewidth": 1.2,
    "lines.markersize": 4,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "axes.grid": True,
    "grid.linewidth": 0.4,
    "grid.alpha": 0.35,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "figure.dpi": 100,
    "savefig.dpi": 300,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.02,
    "pdf.fonttype": 42,  # TrueType, embedded: text stays text in the PDF
    "ps.fonttype": 42,
    "image.interpolation": "nearest",
    "figure.constrained_layout.use": True,
}


def figsize(width_frac: float = 1.0, aspect: float = GOLDEN) -> tuple[float, float]:
    """(width, height) in inches: ``width_frac`` of the text width, height = width * ``aspect``."""
    if width_frac <= 0 or aspect <= 0:
        raise ValueError(f"figsize: width_frac and aspect must be > 0, got {width_frac}, {aspect}")
    w = TEXT_WIDTH_IN * width_frac
    return (w, w * aspect)


@contextlib.contextmanager
def thesis_style(**overrides: Any) -> Iterator[None]:
    """Context manager: matplotlib rcParams of the thesis style (plus ``overrides``)."""
    with matplotlib.rc_context({**THESIS_RC, **overrides}):
        yield


def apply_style(**overrides: Any) -> None:
    """Set the thesis style globally (for notebooks: call once after the imports)."""
    matplotlib.rcParams.update({**THESIS_RC, **overrides})


def image_axes(ax, frame: bool = True, color: str = "0.3") -> None:
    """Style an Axes that shows an image or a grid: no ticks, no grid, a thin full frame (or none)."""
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for sp in ax.spines.values():
        sp.set_visible(frame)
        sp.set_linewidth(0.6)
        sp.set_color(color)


_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def target_dirs(kind: str, name: str, subdir: str | None) -> tuple[Path, Path]:
    """(``outputs/<kind>s/<run id>/[subdir]``, ``outputs/<kind>s/[subdir]``), created, after checking
    that ``name`` is a bare file stem."""
    if not _NAME_RE.match(name) or name.endswith((".pdf", ".png", ".csv", ".md")):
        raise ValueError(
            f"save_{kind}: name {name!r} must be a bare file stem of letters, digits, '_', '-', '.' "
            "(no folder, no extension), e.g. '01_ssd_parity'"
        )
    base = outputs_dir(kind + "s")
    if subdir and (Path(subdir).is_absolute() or ".." in Path(subdir).parts):
        raise ValueError(f"save_{kind}: subdir {subdir!r} must be a relative folder inside outputs/")
    dirs = (base / run_id() / (subdir or ""), base / (subdir or ""))
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    return dirs


def save_figure(
    fig: "matplotlib.figure.Figure",
    name: str,
    subdir: str | None = None,
    formats: Sequence[str] = ("pdf", "png"),
    dpi: int = 300,
) -> list[Path]:
    """Save ``fig`` as ``outputs/figures/<run id>/[subdir/]name.{pdf,png}`` and, as the latest version,
    ``outputs/figures/[subdir/]name.{pdf,png}`` (module doc); returns the written paths (run copies first).

    PDF with TrueType (Type 42) embedded fonts, PNG at ``dpi`` (300). Works with the Agg backend.
    """
    bad = [f for f in formats if f not in ("pdf", "png", "svg")]
    if bad or not formats:
        raise ValueError(f"save_figure: formats must be a non-empty subset of pdf, png, svg; got {list(formats)}")
    run_dir, latest_dir = target_dirs("figure", name, subdir)
    paths = []
    with matplotlib.rc_context({"pdf.fonttype": 42, "ps.fonttype": 42}):
        for fmt in formats:
            path = run_dir / f"{name}.{fmt}"
            fig.savefig(path, format=fmt, dpi=dpi, bbox_inches="tight", pad_inches=0.02)
            paths.append(path)
    for path in list(paths):
        latest = latest_dir / path.name
        shutil.copyfile(path, latest)
        paths.append(latest)
    return paths
