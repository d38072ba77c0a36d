"""Errors and warnings of the data package.

Every problem with files on disk (missing directory, list file or frame; undecodable image;
unsupported channel layout; size mismatch inside a sample; image smaller than the crop) raises
:class:`DataError` with a one-line message that names the file and the problem. Recoverable
oddities (a grayscale frame expanded to RGB, an opaque alpha channel dropped) emit a
:class:`DataWarning` once per directory.

DataLoader workers. An exception raised in a worker process reaches the main process as an
exception of the *same type* (``DataError``), rebuilt by torch as ``DataError(msg)`` with ``msg`` =
``"Caught DataError in DataLoader worker process N.\nOriginal Traceback (most recent call
last):\n ... \nvfi_lib.data.errors.DataError: <the original one-line message>"``. So a CLI must not
print ``str(e)``: ``vfi_lib.cli.one_line(e)`` (the shared error wrapper; cli may not import data)
returns the original line. DataError must stay constructible from one string, or torch would
re-raise it as a RuntimeError.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path


class DataError(ValueError):
    """A dataset file or directory is missing or unusable; the message names it and the fix."""


class DataWarning(UserWarning):
    """A frame was converted on load (grayscale -> RGB, opaque alpha dropped), or a clip was skipped."""


_warned: set[tuple[str, str]] = set()


def warn_once(kind: str, path: str | os.PathLike, message: str) -> None:
    """Emit ``message`` as a :class:`DataWarning` once per (kind, parent directory)."""
    key = (kind, str(Path(path).parent))
    if key in _warned:
        return
    _warned.add(key)
    warnings.warn(message + " (shown once per directory)", DataWarning, stacklevel=3)


def require_dir(path: str | os.PathLike, what: str) -> Path:
    """Return ``Path(path)`` or raise DataError if it is not an existing directory."""
    p = Path(path)
    if not str(path):
        raise DataError(f"{what}: no directory given (empty path)")
    if not p.is_dir():
        raise DataError(f"{p}: {what} directory not found" if not p.exists() else f"{p}: {what} is not a directory")
    return p


def require_file(path: str | os.PathLike, what: str) -> Path:
    """Return ``Path(path)`` or raise DataError if it is not an existing file."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: {what} not found" if not p.exists() else f"{p}: {what} is not a file")
    return p
