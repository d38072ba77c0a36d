"""Small result tables: markdown for notebooks, CSV + markdown files under ``outputs/tables/``
(``<run id>/`` copies plus the latest at a stable path, as figures: :mod:`vfi_lib.viz.style`).

Rows are lists of dicts (the columns: the union of their keys, in order); no pandas needed.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import shutil

from .style import target_dirs

__all__ = ["markdown_table", "show_table", "save_table"]


def _columns(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None, where: str) -> list[str]:
    if not rows:
        raise ValueError(f"{where}: no rows to render")
    if columns is not None:
        return list(columns)
    cols: dict[str, None] = {}
    for r in rows:
        cols.update(dict.fromkeys(r))
    return list(cols)


def _cell(v: Any, floatfmt: str) -> str:
    """A markdown cell: ``--`` for None, floats with ``floatfmt``, the column separator escaped."""
    if v is None:
        return "--"
    text = format(v, floatfmt) if isinstance(v, float) else str(v)
    return text.replace("|", "\\|")


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, floatfmt: str = ".4g",
                   headers: Sequence[str] | None = None, align: str = "") -> str:
    """A GitHub-markdown table of row dicts: the one table renderer of the library.

    ``columns``: the keys to show, in order (default: the union of the rows' keys in first-seen
    order); a missing or None value prints ``--``. ``headers``: column titles (default the keys).
    ``align``: ``""`` (``---``) or ``":"`` (``:---``, left-aligned).
    """
    cols = _columns(rows, columns, "markdown_table")
    heads = list(headers) if headers is not None else cols
    if len(heads) != len(cols):
        raise ValueError(f"markdown_table: {len(heads)} headers for {len(cols)} columns")
    lines = ["| " + " | ".join(_cell(h, floatfmt) for h in heads) + " |",
             "| " + " | ".join(f"{align}---" for _ in cols) + " |"]
    lines += ["| " + " | ".join(_cell(r.get(c), floatfmt) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def show_table(rows: Sequence[Mapping[str, Any]], floatfmt: str = ".4g") -> None:
    """Display ``rows`` as a rendered markdown table in a notebook."""
    from IPython.display import Markdown, display

    display(Markdown(markdown_table(rows, floatfmt=floatfmt)))


def save_table(rows: Sequence[dict[str, Any]], name: str, subdir: str | None = None,
               floatfmt: str = ".4g") -> list[Path]:
    """Save ``rows`` as ``outputs/tables/<run id>/[subdir/]name.csv`` (full precision) and ``name.md``,
    plus the latest copies in ``outputs/tables/[subdir/]``; returns the paths (run copies first)."""
    cols = _columns(rows, None, f"save_table({name!r})")
    out, latest = target_dirs("table", name, subdir)
    csv_path = out / f"{name}.csv"
    with csv_path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        w.writerows([[r.get(c) for c in cols] for r in rows])
    md_path = out / f"{name}.md"
    md_path.write_text(markdown_table(rows, floatfmt=floatfmt) + "\n")
    paths = [csv_path, md_path]
    for p in list(paths):
        shutil.copyfile(p, latest / p.name)
        paths.append(latest / p.name)
    return paths
