"""Small result tables: markdown for notebooks, CSV + markdown files under ``outputs/tables/``.

Rows are lists of dicts with the same keys (the columns, in order); no pandas needed.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .style import target_dir

__all__ = ["markdown_table", "show_table", "save_table"]


def _check_rows(rows: Sequence[dict[str, Any]], where: str) -> list[str]:
    if not rows:
        raise ValueError(f"{where}: no rows")
    cols = list(rows[0].keys())
    for i, r in enumerate(rows):
        if list(r.keys()) != cols:
            raise ValueError(f"{where}: row {i} has columns {list(r.keys())}, expected {cols}")
    return cols


def _fmt(v: Any, floatfmt: str) -> str:
    return _cell(format(v, floatfmt) if isinstance(v, float) else str(v))


def _cell(text: str) -> str:
    """Escape the column separator inside a markdown cell."""
    return text.replace("|", "\\|")


def markdown_table(rows: Sequence[dict[str, Any]], floatfmt: str = ".4g") -> str:
    """A GitHub-markdown table of ``rows``; floats formatted with ``floatfmt``."""
    cols = _check_rows(rows, "markdown_table")
    lines = ["| " + " | ".join(_cell(c) for c in cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(_fmt(r[c], floatfmt) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def show_table(rows: Sequence[dict[str, Any]], floatfmt: str = ".4g") -> None:
    """Display ``rows`` as a rendered markdown table in a notebook."""
    from IPython.display import Markdown, display

    display(Markdown(markdown_table(rows, floatfmt)))


def save_table(rows: Sequence[dict[str, Any]], name: str, subdir: str | None = None,
               floatfmt: str = ".4g") -> list[Path]:
    """Save ``rows`` as ``outputs/tables/[subdir/]name.csv`` (full precision) and ``name.md``."""
    cols = _check_rows(rows, f"save_table({name!r})")
    out = target_dir("table", name, subdir)
    csv_path = out / f"{name}.csv"
    with csv_path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        w.writerows([[r[c] for c in cols] for r in rows])
    md_path = out / f"{name}.md"
    md_path.write_text(markdown_table(rows, floatfmt) + "\n")
    return [csv_path, md_path]
