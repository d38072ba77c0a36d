"""Real footage as a triplet dataset: any folder of video files and/or frame folders (``--dataset video``).

``VideoClips(root, split="train"|"val"|"test", crop_size=256, max_gap=2, target="middle"|"random",
val_fraction=0.1, cut_threshold=0.15, index=None, seed=None, test_gap=1, test_stride=1)``

``split="test"`` evaluates footage never trained on (``python -m vfi_lib.eval clips``): every clean
window (i, i+g, i+2g) of every whole clip, g = ``test_gap`` (1: the clip's frame rate; 2: large
motion, the middle of every other frame), i stepping by ``test_stride``, full frames, t = 0.5.

**Clips.** ``root`` is searched recursively (names starting with ``.`` are skipped). Every video
file (:data:`VIDEO_EXTS`: mp4, avi, mkv, mov, webm, ...) is one clip; every directory that holds
images (png/jpg/...) is one clip of those frames, ordered by their trailing frame number
(``frame_0007.png``; name order when the names carry no number). A gap in the numbering breaks
the clip there, like a scene cut.

**Triplets.** ``target="middle"`` (phase 1, t = 0.5): a gap k uniform in 1..max_gap and frames
(i, i+k, i+2k). ``target="random"`` (phases 2/3, as :class:`~vfi_lib.data.x4k.X4KTrain`): a span
n uniform in 2..2*max_gap, j uniform in 1..n-1, frames (i, i+j, i+n) and t = j/n. The window
[i, i+n] never contains a scene cut (:func:`~vfi_lib.data.video.cut_score` of a consecutive pair
above ``cut_threshold``, the video demo's detector), a repeated (duplicate / telecine) frame
(:func:`~vfi_lib.data.video.repeats_from_diffs`, as for Big Buck Bunny; unlike there the repeat
itself never starts a window either, since footage may drop a frame and repeat the previous one,
so that the content after it is not delayed) or a numbering gap:
only gaps/spans for which the clip has such a clean window are drawn, and a clip with no clean
window at all is skipped with a :class:`DataWarning` ("too short"). Then: upscaling of frames
smaller than the crop (aspect kept), a random crop and the :mod:`.augment` augmentations
(temporal reverse gives t -> 1 - t).

**Hold-out.** The last ``val_fraction`` of every clip (frames >= ``count - ceil(count *
val_fraction)``) is validation footage: train windows end before it, val windows lie inside it,
so the two splits share no frame. ``split="val"`` is deterministic: per clip up to
``val_per_clip`` non-overlapping windows (i, i+k, i+2k) at t = 0.5, k cycling through
1..max_gap, full frames (or a centre crop with ``crop_size``).

**Epochs and randomness.** ``len(train)`` = the number of clean gap-1 triplets in the training
parts of all clips (about one sample per frame per epoch). Item ``index`` belongs to a clip by
cumulative count (clips weighted by usable length); the window inside it, the gap, t, the crop
and the augmentations come from ``self.rng(index)``: a pure function of (seed, epoch, index) with
an integer ``seed``, and of the per-item torch seed of the trainer's ``SeededItems`` with
``seed=None``, as for the other training sets.

**Index.** Scanning decodes every frame once, so it is done once and cached in a JSON index
(default ``<root>/.vfi_video_index.json``, or ``~/.cache/vfi_lib/video_index/<hash>.json``
when ``root`` is read-only, as :func:`vfi_lib.paths.video_index_path` decides; ``index=PATH``
(a file or a directory) chooses, ``index=False`` disables the cache). Per clip it stores a
signature (videos: file size + mtime; frame folders: names, sizes and mtimes of the files), the
decoded frame count, size, fps, the cut score and the repeat difference of every consecutive
pair (raw values, so another ``cut_threshold`` needs no rescan) and, for videos, an 8x8 grey
fingerprint of every frame and whether seeking is frame-exact. Unreadable files are cached as
errors (warned about, not retried until they change). Clips whose signature changed are
rescanned; a different OpenCV version rebuilds the index. The scan shows a tqdm bar. Under DDP
every rank builds the index on first use: build it once beforehand (``VideoClips(DIR)``) to avoid
the duplicated work.

**Decoding.** ``cv2.VideoCapture`` + ``CAP_PROP_POS_FRAMES`` seeks to a keyframe and decodes
forward, which is frame-exact for common constant-rate files but not for every codec/container
(variable frame rate, broken timestamps). Reading a sample therefore seeks to frame i, decodes
the consecutive run i..i+n (grabbing, not converting, the frames in between) and checks the
fingerprints of the frames it keeps against the index. On a mismatch that file is read by
decoding from its first frame from then on (exact but O(i); a warning suggests converting it to
frames or an intra-frame codec such as MJPEG), and the index marks files whose seeks already
failed a probe at scan time. The check cannot tell apart frames that are identical at 8x8
(static shots), where a misplaced run is harmless: its frames are still consecutive. Frame
folders are read exactly (``load_image``). Trade-off: no pre-extraction (no extra disk), at the
cost of decoding up to a GOP per sample; pre-extract to frame folders for long-GOP/4K footage.

Unreadable or unusable clips are skipped with a warning naming the file; DataError (naming
``root``) when no usable clip remains, when ``root`` holds no video or frame folder at all, or
when the hold-out yields no val triplet.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from vfi_lib.paths import VIDEO_INDEX_NAME, video_index_path

from .augment import NO_AUGMENT, Augment, crop_hw, random_crop, resize_to_cover
from .base import TrainDataset
from .errors import DataError, DataWarning, require_dir
from .io import IMAGE_EXTS, check_same_size, load_frames, load_image, read_json
from .item import make_item
from .video import CUT_THRESHOLD, cut_thumb, repeat_thumb, repeats_from_diffs

VIDEO_EXTS = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".mts",
              ".m2ts", ".3gp", ".ogv")
INDEX_NAME = VIDEO_INDEX_NAME
INDEX_VERSION = 1
FP_SIZE = 8  # side of the grey fingerprints that verify seeks
TARGETS = ("middle", "random")
_NUM = re.compile(r"(\d+)$")


# ----------------------------------------------------------------------------- helpers
def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")


def _unb64(s: str, dtype) -> np.ndarray:
    return np.frombuffer(base64.b64decode(s), dtype=dtype).copy()


def fingerprint(frame: np.ndarray, thumb: np.ndarray | None = None) -> np.ndarray:
    """(64,) uint8: the 8x8 grey thumbnail of an (H, W, 3) uint8 frame (block means of its 32x32
    cut thumbnail, averaged over the channels, so independent of RGB/BGR order)."""
    thumb = cut_thumb(frame) if thumb is None else thumb
    small = cv2.resize(thumb, (FP_SIZE, FP_SIZE), interpolation=cv2.INTER_AREA)
    return np.round(small.mean(axis=2)).astype(np.uint8).reshape(-1)


def _order_frames(files: list[Path]) -> tuple[list[Path], list[int]]:
    """Frame files in clip order and the positions j where the numbering jumps between j-1 and j."""
    nums = [_NUM.search(p.stem) for p in files]
    if not files or any(m is None for m in nums) or len({int(m.group(1)) for m in nums}) != len(files):
        return sorted(files, key=lambda p: p.name), []
    order = sorted(zip((int(m.group(1)) for m in nums), files))
    gaps = [j for j in range(1, len(order)) if order[j][0] != order[j - 1][0] + 1]
    return [p for _, p in order], gaps


def discover(root: Path) -> list[tuple[str, str, Path]]:
    """(name, kind, path) of every clip under ``root``: kind "video" (a file) or "frames" (a folder)."""
    out = []
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if not x.startswith("."))
        dpath = Path(d)
        rel = dpath.relative_to(root)
        visible = sorted(f for f in files if not f.startswith("."))
        if any(Path(f).suffix.lower() in IMAGE_EXTS for f in visible):
            out.append((rel.as_posix(), "frames", dpath))  # "." for frames directly in root
        for f in visible:
            if Path(f).suffix.lower() in VIDEO_EXTS:
                out.append(((rel / f).as_posix(), "video", dpath / f))
    return out


def _signature(kind: str, path: Path) -> str:
    if kind == "video":
        st = path.stat()
        return f"{st.st_size}:{st.st_mtime_ns}"
    h = hashlib.sha1()
    for p in sorted(q for q in path.iterdir() if q.suffix.lower() in IMAGE_EXTS and not q.name.startswith(".")):
        st = p.stat()
        h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def default_index_path(root: Path, index: str | os.PathLike | None = None) -> Path:
    """Where the index of ``root`` lives: :func:`vfi_lib.paths.video_index_path` (the one place that decides)."""
    return video_index_path(root, index)


class _Scan:
    """Accumulates the per-pair scores and fingerprints of one clip's frames in order."""

    def __init__(self) -> None:
        self.cut: list[float] = []
        self.rep: list[float] = []
        self.fp: list[np.ndarray] = []
        self.prev: tuple[np.ndarray, np.ndarray] | None = None
        self.shape: tuple[int, ...] | None = None

    def add(self, frame: np.ndarray) -> None:
        ct, rt = cut_thumb(frame), repeat_thumb(frame)
        if self.prev is not None:
            self.cut.append(float(np.abs(ct - self.prev[0]).mean() / 255.0))
            self.rep.append(float(np.abs(rt - self.prev[1]).mean()))
        self.prev = (ct, rt)
        self.fp.append(fingerprint(frame, ct))
        self.shape = frame.shape

    def entry(self, count: int) -> dict:
        cut = np.asarray(self.cut, np.float32)
        rep = np.asarray(self.rep, np.float32)
        h, w = self.shape[:2]
        return {"count": count, "size": [w, h], "cut": _b64(cut), "rep": _b64(rep),
                "cuts": [int(j) + 1 for j in np.flatnonzero(cut > CUT_THRESHOLD)],
                "repeats": sorted(repeats_from_diffs({j + 1: float(d) for j, d in enumerate(rep)}))}


def _fp_match(frame: np.ndarray, fp: np.ndarray) -> bool:
    return int(np.abs(fingerprint(frame).astype(np.int16) - fp.astype(np.int16)).max()) <= 1


def scan_video(path: Path, progress=None) -> dict:
    """Decode every frame of a video once: the index entry (DataError if unreadable)."""
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise DataError(f"{path}: cannot open video (unsupported codec, corrupt or not a video)")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        scan, n = _Scan(), 0
        while True:
            ok, frame = cap.read()
            if not ok or frame is None:
                break
            if frame.ndim != 3 or frame.shape[2] != 3:
                raise DataError(f"{path}: frame {n} has shape {frame.shape}; expected colour frames")
            scan.add(frame)  # BGR: the scores and fingerprints do not depend on the channel order
            n += 1
            if progress is not None:
                progress.update(1)
    finally:
        cap.release()
    if n == 0:
        raise DataError(f"{path}: video has no decodable frames (corrupt or unsupported codec)")
    entry = scan.entry(n)
    fps_arr = np.stack(scan.fp)
    entry.update(kind="video", fps=fps, fp=_b64(fps_arr), seekable=_probe_seeks(path, fps_arr))
    return entry


def _probe_seeks(path: Path, fp: np.ndarray) -> bool:
    """Whether seeking to a few frames lands exactly (fingerprints as in the sequential scan)."""
    n = len(fp)
    cap = cv2.VideoCapture(str(path))
    try:
        for pos in sorted({n // 2, (3 * n) // 4, n - 1, 1 if n > 1 else 0}):
            cap.set(cv2.CAP_PROP_POS_FRAMES, pos)
            ok, frame = cap.read()
            if not ok or frame is None or not _fp_match(frame, fp[pos]):
                return False
        return True
    finally:
        cap.release()


def scan_frames(path: Path, progress=None) -> dict:
    """Load every frame of a frame folder once: the index entry (DataError naming a bad file)."""
    files, gaps = _order_frames([q for q in path.iterdir() if q.suffix.lower() in IMAGE_EXTS
                                 and not q.name.startswith(".") and q.is_file()])
    scan, first = _Scan(), None
    for p in files:
        img = load_image(p)
        if first is None:
            first = (img, p)
        else:
            check_same_size([first[0], img], [first[1], p])
        scan.add(img)
        if progress is not None:
            progress.update(1)
    entry = scan.entry(len(files))
    entry.update(kind="frames", files=[p.name for p in files], gaps=gaps)
    return entry


def build_index(root: Path, index_path: Path | None, progress: bool = True,
                clips: list[tuple[str, str, Path]] | None = None) -> dict[str, dict]:
    """Index entries of every clip under ``root`` (or of ``clips`` from :func:`discover`), reusing
    the cached entries whose signatures match; writes the index back when anything changed."""
    from tqdm.auto import tqdm

    clips = discover(root) if clips is None else clips
    cached: dict = {}
    if index_path is not None and index_path.is_file():
        try:
            data = read_json(index_path, "video index")
            if data.get("version") == INDEX_VERSION and data.get("opencv") == cv2.__version__:
                cached = data.get("clips", {})
        except (DataError, AttributeError) as e:
            warnings.warn(f"{index_path}: unusable video index ({e}); rebuilding it", DataWarning, stacklevel=3)
    entries, todo = {}, []
    for name, kind, path in clips:
        try:
            sig = _signature(kind, path)
        except OSError as e:
            entries[name] = {"kind": kind, "sig": "", "error": f"{path}: cannot read ({e.strerror or e})"}
            continue
        old = cached.get(name)
        if old is not None and old.get("sig") == sig and old.get("kind") == kind:
            entries[name] = old
        else:
            todo.append((name, kind, path, sig))
    if todo:
        est = 0
        for _, kind, path, _ in todo:
            if kind == "frames":
                est += sum(1 for q in path.iterdir() if q.suffix.lower() in IMAGE_EXTS)
            else:
                cap = cv2.VideoCapture(str(path))
                est += max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
                cap.release()
        with tqdm(total=est or None, desc=f"indexing {len(todo)} clip(s) in {root}", unit="frame",
                  disable=not progress, dynamic_ncols=True, leave=False) as bar:
            for name, kind, path, sig in todo:
                try:
                    entry = scan_video(path, bar) if kind == "video" else scan_frames(path, bar)
                except DataError as e:
                    entry = {"kind": kind, "error": str(e)}
                entry["sig"] = sig
                entries[name] = entry
    if index_path is not None and (todo or set(cached) != set(entries)):
        _write_index(index_path, entries)
    return entries


def _write_index(path: Path, entries: dict) -> None:
    data = {"version": INDEX_VERSION, "opencv": cv2.__version__, "clips": entries}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, separators=(",", ":")) + "\n")
        os.replace(tmp, path)
    except OSError as e:
        warnings.warn(f"{path}: cannot write the video index ({e.strerror or e}); the clips will be rescanned "
                      "next time (set train.video_index to a writable file or directory)", DataWarning, stacklevel=3)


# ----------------------------------------------------------------------------- dataset
@dataclass
class Clip:
    """One indexed clip. ``bad[j]``: frames j-1 and j must not both be in a window (cut, repeat or
    numbering gap); ``prefix`` its cumulative sum; frames >= ``split_at`` are held out."""

    name: str
    path: Path
    kind: str
    count: int
    size: tuple[int, int]
    bad: np.ndarray
    split_at: int
    files: list[str] = field(default_factory=list)
    fp: np.ndarray | None = None
    seekable: bool = True
    cuts: list[int] = field(default_factory=list)
    repeats: list[int] = field(default_factory=list)
    prefix: np.ndarray = field(init=False, repr=False)
    numbers: list[int] | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.prefix = np.cumsum(self.bad, dtype=np.int32)
        nums = [_NUM.search(Path(f).stem) for f in self.files]
        self.numbers = [int(m.group(1)) for m in nums] if self.files and all(nums) else None

    def label(self, i: int) -> int:
        """Frame ``i`` as named on disk: the file's frame number in a numbered folder, else i."""
        return self.numbers[i] if self.numbers is not None else i

    def starts(self, span: int, lo: int, hi: int) -> np.ndarray:
        """Starts i of clean windows [i, i + span] with lo <= i and i + span < hi."""
        if hi - lo <= span:
            return np.empty(0, np.int64)
        p = self.prefix
        return lo + np.flatnonzero(p[lo + span:hi] == p[lo:hi - span])


class VideoClips(TrainDataset):
    """Triplets from real footage (see the module docstring)."""

    def __init__(self, root: str | os.PathLike, split: str = "train", crop_size: int | tuple[int, int] | None = 256,
                 max_gap: int = 2, target: str = "middle", val_fraction: float = 0.1,
                 cut_threshold: float = CUT_THRESHOLD, skip_repeats: bool = True,
                 index: str | os.PathLike | bool | None = None, val_per_clip: int = 8,
                 augment: Augment | None = None, seed: int | None = None, progress: bool = True,
                 test_gap: int = 1, test_stride: int = 1) -> None:
        if split not in ("train", "val", "test"):
            raise DataError(f"VideoClips split must be 'train', 'val' or 'test', got {split!r}")
        if int(test_gap) < 1 or int(test_stride) < 1:
            raise DataError(f"VideoClips test_gap and test_stride must be >= 1, got {test_gap}, {test_stride}")
        if target not in TARGETS:
            raise DataError(f"VideoClips target must be one of {', '.join(TARGETS)}, got {target!r}")
        if int(max_gap) < 1:
            raise DataError(f"VideoClips max_gap must be >= 1, got {max_gap}")
        if not 0.0 <= val_fraction < 1.0:
            raise DataError(f"VideoClips val_fraction must be in [0, 1), got {val_fraction}")
        super().__init__(crop_size, seed)
        self.root = require_dir(root, "video dataset")
        self.split, self.target, self.max_gap = split, target, int(max_gap)
        self.val_fraction, self.cut_threshold = float(val_fraction), float(cut_threshold)
        self.augment = augment if augment is not None else (Augment() if split == "train" else NO_AUGMENT)
        self.index_path = None if index is False else default_index_path(self.root, None if index is True else index)
        found = discover(self.root)
        if not found:
            raise DataError(f"{self.root}: no video files ({', '.join(e[1:] for e in VIDEO_EXTS[:6])}, ...) or frame "
                            "folders (numbered images) found; point --data_path at your footage")
        entries = build_index(self.root, self.index_path, progress=progress, clips=found)
        self.skipped: list[str] = []
        self.clips: list[Clip] = []
        for name in sorted(entries):
            e = entries[name]
            if "error" in e:
                self.skipped.append(e["error"] + "; skipped")
                continue
            self.clips.append(self._clip(name, e, skip_repeats))
        self._unseekable: set[str] = set()
        self.spans = [2 * k for k in range(1, self.max_gap + 1)] if target == "middle" else list(range(2, 2 * self.max_gap + 1))
        if split == "train":
            self._init_train()
        elif split == "val":
            self._init_val(int(val_per_clip))
        else:
            self._init_test(int(test_gap), int(test_stride))
        for msg in self.skipped:
            warnings.warn(msg, DataWarning, stacklevel=2)

    # -- construction
    def _clip(self, name: str, e: dict, skip_repeats: bool) -> Clip:
        n = int(e["count"])
        path = self.root / name
        cut = _unb64(e["cut"], np.float32)
        rep = _unb64(e["rep"], np.float32)
        bad = np.zeros(n, bool)
        cuts = [int(j) + 1 for j in np.flatnonzero(cut > self.cut_threshold)]
        repeats = sorted(repeats_from_diffs({j + 1: float(d) for j, d in enumerate(rep)})) if skip_repeats else []
        bad[cuts] = True
        bad[repeats] = True  # a repeated frame r joins no window: pairs (r-1, r) and (r, r+1) are bad, since
        bad[[r + 1 for r in repeats if r + 1 < n]] = True  # r may hold stale content (drop + repeat) or delay the rest
        bad[list(e.get("gaps", []))] = True
        hold = math.ceil(n * self.val_fraction) if self.val_fraction > 0 else 0
        fp = _unb64(e["fp"], np.uint8).reshape(n, FP_SIZE * FP_SIZE) if e["kind"] == "video" else None
        return Clip(name, path, e["kind"], n, tuple(e["size"]), bad, n - hold, list(e.get("files", [])), fp,
                    bool(e.get("seekable", True)), cuts, repeats)

    def _init_train(self) -> None:
        usable, weights = [], []
        self.clip_spans: list[list[int]] = []
        for c in self.clips:
            spans = [s for s in self.spans if len(c.starts(s, 0, c.split_at))]
            if not spans:
                self.skipped.append(f"{c.path}: too short for training triplets ({c.count} frames, {c.split_at} before "
                                    f"the hold-out, no {min(self.spans) + 1} consecutive frames without a cut, repeat or "
                                    "gap); skipped")
                continue
            usable.append(c)
            self.clip_spans.append(spans)
            weights.append(max(1, len(c.starts(2, 0, c.split_at))))
        self.clips = usable
        if not self.clips:
            raise DataError(f"{self.root}: no usable clip for training ({len(self.skipped)} skipped; first: "
                            f"{self.skipped[0] if self.skipped else '-'})")
        self.cum = np.cumsum(weights)

    def _init_val(self, per_clip: int) -> None:
        self.entries: list[tuple[int, tuple[int, int, int]]] = []
        usable = []
        for c in self.clips:
            prefix, found, m = c.prefix, [], 0
            i = c.split_at
            while i < c.count and len(found) < per_clip:
                for k in range(1 + m % self.max_gap, 0, -1):  # gap cycling 1..G, smaller if the window is unclean
                    if i + 2 * k < c.count and prefix[i + 2 * k] == prefix[i]:
                        found.append((i, i + k, i + 2 * k))
                        break
                m += 1
                i += 2 * self.max_gap + 1  # non-overlapping windows
            if found:
                self.entries += [(len(usable), idx) for idx in found]
                usable.append(c)
        self.clips = usable
        if not self.entries:
            why = ("train.video_val_fraction is 0" if self.val_fraction == 0 else
                   f"no clip has 3 clean consecutive frames in its last {self.val_fraction:.0%}")
            raise DataError(f"{self.root}: no validation triplets ({why}; {len(self.skipped)} clip(s) skipped); "
                            "raise video_val_fraction or add longer footage")

    def _init_test(self, gap: int, stride: int) -> None:
        self.entries = []
        usable = []
        for c in self.clips:
            starts = [int(i) for i in c.starts(2 * gap, 0, c.count) if int(i) % stride == 0]
            if starts:
                self.entries += [(len(usable), (i, i + gap, i + 2 * gap)) for i in starts]
                usable.append(c)
            else:
                self.skipped.append(f"{c.path}: no clean window of {2 * gap + 1} frames at gap {gap}; skipped")
        self.clips = usable
        if not self.entries:
            raise DataError(f"{self.root}: no test triplets at gap {gap} ({len(self.skipped)} clip(s) skipped)")

    # -- dataset protocol
    def __len__(self) -> int:
        return int(self.cum[-1]) if self.split == "train" else len(self.entries)

    def draw(self, index: int, rng: np.random.Generator) -> tuple[int, tuple[int, int, int], float]:
        """(clip number, (first, target, last) frame indices, t) of training sample ``index``."""
        c = int(np.searchsorted(self.cum, index, side="right"))
        clip, spans = self.clips[c], self.clip_spans[c]
        n = spans[int(rng.integers(len(spans)))]
        starts = clip.starts(n, 0, clip.split_at)
        i = int(starts[int(rng.integers(len(starts)))])
        j = n // 2 if self.target == "middle" else int(rng.integers(1, n))
        return c, (i, i + j, i + n), j / n

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(f"VideoClips index {index} out of range [0, {len(self)})")
        if self.split == "train":
            rng = self.rng(index)
            c, idx, t = self.draw(index, rng)
            frames = self.read(c, idx)
            if self.crop_size is not None:
                frames = resize_to_cover(frames, self.crop_size)
                frames = random_crop(frames, self.crop_size, rng, name=str(self.clips[c].path))
            frames, t = self.augment(frames, t, rng)
        else:
            c, idx = self.entries[index]
            t = (idx[1] - idx[0]) / (idx[2] - idx[0])
            frames = self.read(c, idx)
            if self.crop_size is not None:
                ch, cw = crop_hw(self.crop_size)
                h, w = frames[0].shape[:2]
                if h >= ch and w >= cw:
                    y, x = (h - ch) // 2, (w - cw) // 2
                    frames = [np.ascontiguousarray(f[y:y + ch, x:x + cw]) for f in frames]
        clip = self.clips[c]
        i0, it, i1 = (clip.label(i) for i in idx)
        return make_item(frames[0], frames[1], frames[2], t, f"{clip.name}/{i0:06d}-{it:06d}-{i1:06d}")

    # -- frame access
    def read(self, c: int, idx: tuple[int, ...]) -> list[np.ndarray]:
        """Frames ``idx`` (increasing) of clip ``c`` as (H, W, 3) uint8 RGB."""
        clip = self.clips[c]
        if clip.kind == "frames":
            return load_frames([clip.path / clip.files[i] for i in idx])
        if clip.seekable and clip.name not in self._unseekable:
            frames = self._decode(clip, idx, seek=True)
            if frames is not None and all(_fp_match(f, clip.fp[i]) for f, i in zip(frames, idx)):
                return [np.ascontiguousarray(f[:, :, ::-1]) for f in frames]
            self._unseekable.add(clip.name)
            warnings.warn(f"{clip.path}: seeking is not frame-exact for this file; decoding it from the first frame "
                          "instead (slow for long files: convert it to a frame folder or an intra-frame codec such as "
                          "MJPEG)", DataWarning, stacklevel=2)
        frames = self._decode(clip, idx, seek=False)
        if frames is None or not all(_fp_match(f, clip.fp[i]) for f, i in zip(frames, idx)):
            raise DataError(f"{clip.path}: frames {idx[0]}..{idx[-1]} no longer decode as when indexed (file changed or "
                            f"decoder differs); delete {self.index_path or 'the index'} to rebuild it")
        return [np.ascontiguousarray(f[:, :, ::-1]) for f in frames]

    @staticmethod
    def _seek(cap: cv2.VideoCapture, pos: int) -> None:
        cap.set(cv2.CAP_PROP_POS_FRAMES, pos)

    def _decode(self, clip: Clip, idx: tuple[int, ...], seek: bool) -> list[np.ndarray] | None:
        """BGR frames ``idx`` decoded as one consecutive run (after a seek to idx[0], or from 0)."""
        cap = cv2.VideoCapture(str(clip.path))
        try:
            if not cap.isOpened():
                raise DataError(f"{clip.path}: cannot open video any more (it was readable when indexed); "
                                f"delete {self.index_path or 'the index'} to rebuild it")
            pos = idx[0] if seek else 0
            if pos:
                self._seek(cap, pos)
            want, got = set(idx), {}
            for p in range(pos, idx[-1] + 1):
                if p in want:
                    ok, frame = cap.read()
                    if not ok or frame is None:
                        return None
                    got[p] = frame
                elif not cap.grab():
                    return None
            return [got[i] for i in idx]
        finally:
            cap.release()

    # -- reporting
    def describe(self) -> str:
        """One line: clips, frames, cuts, repeats, triplets, skipped files."""
        frames = sum(c.count for c in self.clips)
        return (f"VideoClips({self.root}, {self.split}): {len(self.clips)} clip(s), {frames} frames, "
                f"{sum(len(c.cuts) for c in self.clips)} cut(s), {sum(len(c.repeats) for c in self.clips)} repeated "
                f"frame(s), {len(self)} {'samples per epoch' if self.split == 'train' else 'triplets'}, "
                f"{len(self.skipped)} skipped")
