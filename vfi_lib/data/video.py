"""Video files through OpenCV: ``VideoReader`` (RGB uint8 frames) and ``VideoWriter`` (mp4),
plus the frame comparisons shared by the video demo and the datasets.

    with VideoReader("in.mp4") as r:          # r.count, r.fps, r.size == (W, H)
        for frame in r: ...                   # (H, W, 3) uint8 RGB
    with VideoWriter("out.mp4", fps=25.0, size=(W, H), codec="auto") as w:   # w.codec: the codec it got
        w.write(frame)

Codecs: ``codec="auto"`` takes the first that this OpenCV build can write, in the order of
:data:`BROWSER_CODECS`: H.264 (``avc1``: plays everywhere, but the PyPI OpenCV wheels ship without
an H.264 encoder), VP9 in MP4 (``vp09``: Chrome, Firefox, Edge, recent Safari), and last MPEG-4
Part 2 (``mp4v``), which browsers and notebooks do not play (a warning says so).

Unreadable inputs and unwritable outputs raise DataError naming the file.

Frame comparisons (one definition for the demo, :class:`~vfi_lib.data.video_clips.VideoClips`
and :class:`~vfi_lib.data.bbb.BBBSequence`):

- **Scene cuts**: :func:`cut_score` = mean |a - b| / 255 of 32x32 INTER_AREA thumbnails; a pair
  scoring above :data:`CUT_THRESHOLD` (0.15; ordinary motion stays well below ~0.08) is a cut.
- **Repeated (duplicate / telecine) frames**: :func:`repeat_diff` = mean |a - b| in grey levels of
  448x256 thumbnails; :func:`repeats_from_diffs` turns the diffs of consecutive frames into the
  set of frames that repeat their predecessor (absolute and relative test, see there).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from .errors import DataError, require_file

CUT_SIZE = 32  # side of the thumbnails compared for scene cuts
CUT_THRESHOLD = 0.15  # cut_score above this is a scene cut (fraction of 255)
REPEAT_SIZE = (448, 256)  # (W, H) of the thumbnails compared for repeated frames
DUPLICATE_THRESHOLD = 0.15  # repeats differ by < 0.1 grey levels, real motion by > 0.29 (448x256)


def cut_thumb(frame: np.ndarray) -> np.ndarray:
    """(32, 32, C) float32 INTER_AREA thumbnail used by :func:`cut_score`."""
    return cv2.resize(frame, (CUT_SIZE, CUT_SIZE), interpolation=cv2.INTER_AREA).astype(np.float32)


def cut_score(a: np.ndarray, b: np.ndarray) -> float:
    """Mean |a - b| / 255 of 32x32 INTER_AREA thumbnails of two (H, W, 3) uint8 frames."""
    return float(np.abs(cut_thumb(a) - cut_thumb(b)).mean() / 255.0)


def repeat_thumb(frame: np.ndarray) -> np.ndarray:
    """448x256 int16 thumbnail used by :func:`repeat_diff` (INTER_AREA; frames of that size stay)."""
    small = frame if frame.shape[:2] == REPEAT_SIZE[::-1] else cv2.resize(frame, REPEAT_SIZE, interpolation=cv2.INTER_AREA)
    return small.astype(np.int16)


def repeat_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two frames in grey levels, measured at 448x256."""
    return float(np.abs(repeat_thumb(a) - repeat_thumb(b)).mean())


def repeats_from_diffs(diffs: dict[int, float]) -> set[int]:
    """Frames i that repeat frame i-1, from ``diffs[i] = repeat_diff(frame[i-1], frame[i])``.

    A repeat differs from its predecessor far less than its neighbours differ from theirs:
    d_i < DUPLICATE_THRESHOLD, or d_i < 1 grey level and d_i < 0.5 * min(d_{i-1}, d_{i+1})
    (the relative test survives JPEG/codec noise, which lifts a repeat's d_i to ~0.25).
    """
    out = set()
    for i, di in diffs.items():
        near = [diffs[j] for j in (i - 1, i + 1) if j in diffs]
        if di < DUPLICATE_THRESHOLD or (near and di < 1.0 and di < 0.5 * min(near)):
            out.add(i)
    return out


class VideoReader:
    """Iterate the frames of a video file as (H, W, 3) uint8 RGB arrays."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = require_file(path, "video file")
        self._cap = cv2.VideoCapture(str(self.path))
        if not self._cap.isOpened():
            self._cap.release()
            raise DataError(f"{self.path}: cannot open video (unsupported codec or not a video)")
        w = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        h = int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if w <= 0 or h <= 0:
            self._cap.release()
            raise DataError(f"{self.path}: video has no decodable frames")
        self.size = (w, h)  # (W, H)
        self.fps = float(self._cap.get(cv2.CAP_PROP_FPS))
        self.count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))  # container estimate

    def __iter__(self) -> Iterator[np.ndarray]:
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        while True:
            ok, frame = self._cap.read()
            if not ok:
                return
            yield np.ascontiguousarray(frame[:, :, ::-1])  # BGR -> RGB

    def __len__(self) -> int:
        return self.count

    def read_all(self) -> np.ndarray:
        """All frames stacked: (N, H, W, 3) uint8; DataError if none decode."""
        frames = list(self)
        if not frames:
            raise DataError(f"{self.path}: video has no decodable frames")
        return np.stack(frames)

    def close(self) -> None:
        self._cap.release()

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


BROWSER_CODECS = ("avc1", "vp09", "mp4v")  # codec="auto": the first one this OpenCV build can write
CODEC_NAMES = {"h264": "avc1", "vp9": "vp09", "mp4v": "mp4v"}
_CODEC_OK: dict[str, bool] = {}


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """OpenCV's log level at SILENT and file descriptor 2 on /dev/null for the duration: FFmpeg and
    OpenCV print from C ("[ERROR...] Failed to initialize VideoWriter", "Could not find a valid
    device"), past ``sys.stderr``. Both are restored afterwards; other threads' stderr output of that
    moment is lost too, so keep the block short."""
    import sys

    log = getattr(getattr(cv2, "utils", None), "logging", None)
    level = log.getLogLevel() if log is not None else None
    if log is not None:
        log.setLogLevel(log.LOG_LEVEL_SILENT)
    saved = None
    try:
        sys.stderr.flush()
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
        finally:
            os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no usable fd 2 (an embedded interpreter): OpenCV level only
        if saved is not None:
            os.close(saved)
        saved = None
    try:
        yield
    finally:
        if saved is not None:
            os.dup2(saved, 2)
            os.close(saved)
        if log is not None:
            log.setLogLevel(level)


def codec_available(fourcc: str) -> bool:
    """Whether this OpenCV build can write ``fourcc`` into an .mp4 (probed once per process).

    The probe opens a small writer in a temporary folder; the errors OpenCV/FFmpeg print for a
    missing encoder are silenced (:func:`_quiet_native_stderr`), so a working fallback prints nothing.
    """
    if fourcc not in _CODEC_OK:
        import tempfile

        with tempfile.TemporaryDirectory() as d, _quiet_native_stderr():
            w = cv2.VideoWriter(str(Path(d) / "probe.mp4"), cv2.VideoWriter_fourcc(*fourcc), 25.0, (64, 48))
            _CODEC_OK[fourcc] = bool(w.isOpened())
            w.release()
    return _CODEC_OK[fourcc]


def choose_codec(codec: str = "auto") -> str:
    """``auto`` | ``h264`` | ``vp9`` | ``mp4v`` (or a raw fourcc) -> the fourcc to write; DataError if
    a named codec is not in this OpenCV build."""
    if codec == "auto":
        for fourcc in BROWSER_CODECS:
            if codec_available(fourcc):
                if fourcc == "mp4v":
                    import warnings

                    warnings.warn("no H.264 or VP9 encoder in this OpenCV build: writing mp4v, which browsers and "
                                  "notebooks do not play (convert with ffmpeg -i out.mp4 -c:v libx264 web.mp4)",
                                  stacklevel=3)
                return fourcc
        raise DataError("no video codec available in this OpenCV build (tried H.264, VP9, mp4v); use --png_out")
    fourcc = CODEC_NAMES.get(codec, codec)
    if len(fourcc) != 4:
        raise DataError(f"codec must be auto, h264, vp9, mp4v or a 4-letter fourcc, got {codec!r}")
    if not codec_available(fourcc):
        avail = [k for k, v in CODEC_NAMES.items() if codec_available(v)]
        raise DataError(f"codec {codec!r} ({fourcc}) is not available in this OpenCV build; available: "
                        f"{', '.join(avail) or 'none'} (or --codec auto)")
    return fourcc


class VideoWriter:
    """Write (H, W, 3) uint8 RGB frames to an mp4 of a fixed ``size=(W, H)``; ``codec`` as
    :func:`choose_codec` (``self.codec`` is the fourcc used). The default, mp4v, is fast and always
    there (datasets, tests); the video demo asks for ``"auto"`` (a browser-playable codec)."""

    def __init__(self, path: str | os.PathLike, fps: float, size: tuple[int, int], codec: str = "mp4v") -> None:
        self.path = Path(path)
        self.size = (int(size[0]), int(size[1]))
        if fps <= 0 or min(self.size) <= 0:
            raise DataError(f"{self.path}: VideoWriter needs fps > 0 and a positive size, got fps={fps}, size={size}")
        if not self.path.parent.is_dir():
            raise DataError(f"{self.path}: output directory {self.path.parent} does not exist")
        if not os.access(self.path.parent, os.W_OK):
            raise DataError(f"{self.path}: output directory {self.path.parent} is not writable")
        self.fps = float(fps)
        self.codec = fourcc = choose_codec(codec)
        self._w = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*fourcc), self.fps, self.size)
        if not self._w.isOpened():
            raise DataError(f"{self.path}: cannot open video for writing (codec {fourcc!r} unavailable or bad path)")
        self.count = 0

    def write(self, frame: np.ndarray) -> None:
        w, h = self.size
        if not (isinstance(frame, np.ndarray) and frame.dtype == np.uint8 and frame.shape == (h, w, 3)):
            raise DataError(f"{self.path}: frame must be ({h}, {w}, 3) uint8 RGB, got "
                            f"{getattr(frame, 'dtype', type(frame).__name__)} {getattr(frame, 'shape', '')}")
        self._w.write(np.ascontiguousarray(frame[:, :, ::-1]))
        self.count += 1

    def close(self) -> None:
        self._w.release()

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
