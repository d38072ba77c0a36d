"""Image and list-file I/O with strict checks: every frame becomes (H, W, 3) uint8 RGB.

``load_image`` reads with ``cv2.imread(..., IMREAD_UNCHANGED)`` so that channel count and bit
depth are visible, then normalises:

=====================  ===================================================================
on disk                result
=====================  ===================================================================
8-bit BGR              RGB (channel order flipped)
16-bit                 8-bit by ``round(x * 255 / 65535)`` (not truncation ``x >> 8``)
grayscale (1 channel)  expanded to 3 equal channels, with a DataWarning (once per directory)
BGRA / gray+alpha      alpha dropped with a DataWarning if fully opaque; DataError otherwise
float / other depths   DataError
missing / undecodable  DataError; JPEGs without an end-of-image marker count as truncated
=====================  ===================================================================
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from .errors import DataError, require_file, warn_once

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def _jpeg_truncated(p: Path) -> bool:
    """A complete JPEG ends with the EOI marker FF D9 (allowing a little trailing padding)."""
    with open(p, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - 64))
        tail = f.read()
    return b"\xff\xd9" not in tail


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Load an image as (H, W, 3) uint8 RGB; raise DataError (naming the file) if unusable."""
    p = require_file(path, "image file")
    img = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        raise DataError(f"{p}: cannot decode image (corrupt, truncated or not an image)")
    if p.suffix.lower() in (".jpg", ".jpeg") and _jpeg_truncated(p):
        raise DataError(f"{p}: truncated JPEG (no end-of-image marker); re-extract the file")
    if img.dtype == np.uint16:
        img = np.round(img.astype(np.float32) * (255.0 / 65535.0)).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise DataError(f"{p}: unsupported pixel type {img.dtype}; expected 8- or 16-bit integers")
    if img.ndim == 2:
        img = img[:, :, None]
    channels = img.shape[2]
    if channels in (2, 4):  # gray+alpha or BGRA
        alpha = img[:, :, -1]
        if not np.all(alpha == 255):
            raise DataError(
                f"{p}: has a transparent alpha channel (min alpha {int(alpha.min())}); "
                "flatten it onto a background and save as RGB"
            )
        warn_once("alpha", p, f"{p}: dropped a fully opaque alpha channel")
        img = img[:, :, :-1]
        channels -= 1
    if channels == 1:
        warn_once("gray", p, f"{p}: grayscale image expanded to 3 channels")
        return np.ascontiguousarray(np.repeat(img, 3, axis=2))
    if channels != 3:
        raise DataError(f"{p}: unsupported channel count {channels}; expected 1, 3 or 4")
    return np.ascontiguousarray(img[:, :, ::-1])  # BGR -> RGB


def save_image(path: str | os.PathLike, img: np.ndarray, jpeg_quality: int = 95) -> Path:
    """Write an (H, W, 3) uint8 RGB image (PNG/JPEG by extension); DataError if it cannot."""
    p = Path(path)
    if not (isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3):
        raise DataError(f"{p}: save_image needs an (H, W, 3) uint8 RGB array, got "
                        f"{getattr(img, 'dtype', type(img).__name__)} {getattr(img, 'shape', '')}")
    if not p.parent.is_dir():
        raise DataError(f"{p}: output directory {p.parent} does not exist")
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if p.suffix.lower() in (".jpg", ".jpeg") else []
    try:
        ok = cv2.imwrite(str(p), np.ascontiguousarray(img[:, :, ::-1]), params)
    except cv2.error as e:  # unknown extension and similar
        raise DataError(f"{p}: cannot write image ({str(e).strip().splitlines()[-1]})") from None
    if not ok:
        raise DataError(f"{p}: cannot write image (unwritable location or unsupported extension)")
    return p


def read_text(path: str | os.PathLike, what: str = "text file") -> str:
    """The UTF-8 text of a list/manifest file (a BOM is dropped); DataError naming the file if it is
    missing, unreadable or binary (undecodable bytes or NUL characters) instead of a bare
    ``UnicodeDecodeError``."""
    p = require_file(path, what)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise DataError(f"{p}: cannot read {what} ({e.strerror or e})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{p}: {what} is not a UTF-8 text file (undecodable byte 0x{data[e.start]:02x} at offset "
                        f"{e.start}); is it the right file?") from None
    if "\x00" in text:
        raise DataError(f"{p}: {what} is a binary file (contains NUL bytes), not a text list; is it the right file?")
    return text


def read_list(path: str | os.PathLike, what: str = "list file") -> list[str]:
    """Non-blank, stripped lines of a text list; DataError if missing, binary or empty."""
    p = require_file(path, what)
    lines = [ln.strip() for ln in read_text(p, what).splitlines()]
    lines = [ln for ln in lines if ln]
    if not lines:
        raise DataError(f"{p}: {what} is empty")
    return lines


def read_json(path: str | os.PathLike, what: str = "JSON file"):
    """Parsed JSON of a manifest/index file; DataError naming the file if unreadable or invalid."""
    import json

    p = require_file(path, what)
    try:
        return json.loads(read_text(p, what))
    except json.JSONDecodeError as e:
        raise DataError(f"{p}: {what} is not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None


def check_same_size(frames: Sequence[np.ndarray], paths: Sequence[str | os.PathLike | None]) -> None:
    """DataError naming both files if the frames of one sample differ in height/width."""
    h0, w0 = frames[0].shape[:2]
    for img, path in zip(frames[1:], paths[1:]):
        if img.shape[:2] != (h0, w0):
            raise DataError(
                f"{path}: frame size {img.shape[1]}x{img.shape[0]} differs from {paths[0]} "
                f"({w0}x{h0}) in the same sample"
            )


def load_frames(paths: Sequence[str | os.PathLike]) -> list[np.ndarray]:
    """Load the frames of one sample and check they have one size."""
    frames = [load_image(p) for p in paths]
    check_same_size(frames, list(paths))
    return frames


def list_images(directory: str | os.PathLike) -> list[Path]:
    """Sorted image files (by name) directly inside ``directory``."""
    return sorted(q for q in Path(directory).iterdir() if q.suffix.lower() in IMAGE_EXTS and q.is_file())
