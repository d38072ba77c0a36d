"""``--dataset video``: triplets from a folder of real footage (video files + frame folders).

The fixture footage encodes each frame's index as 8 binary blocks in its top rows, so a test can
read back which frames a triplet used. Layout, as a user's footage folder would be::

    footage/trip/day1.mp4        60 frames, frame 20 repeats frame 19, scene cut before frame 40
    footage/trip/day2.avi        30 frames (MJPEG)
    footage/scans/shot_01/frame_0000.png ... frame_0030.png   (frame_0015.png missing)
    footage/notes.txt, footage/.trash/old.mp4                  (ignored)
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from vfi_lib.config import preset
from vfi_lib.data import DataError, DataWarning, VideoClips, build_train_dataset, build_val_dataset, cut_score
from vfi_lib.data import video_clips as vc
from vfi_lib.data.augment import NO_AUGMENT

W, H, BW, BH = 128, 96, 16, 6
DAY1_CUT, DAY1_REPEAT = 40, 20


def _frame(content: int, scene: int = 0) -> np.ndarray:
    """Moving smooth pattern (scene 0 or a different scene 1) with ``content`` in binary blocks."""
    yy, xx = np.mgrid[:H, :W].astype(np.float32)
    if scene == 0:
        img = 128 + 70 * np.sin((xx + 3 * content) / 9)[..., None] * np.array([1, 0.7, 0.4]) \
            + 25 * np.cos((yy + content) / 6)[..., None]
    else:
        img = 60 + 40 * np.cos((yy - 2 * content) / 5)[..., None] * np.array([0.3, 1, 0.6]) + 20 * np.sin(xx / 4)[..., None]
    img = img.clip(0, 255).astype(np.uint8)
    for b in range(8):
        img[:BH, b * BW:(b + 1) * BW] = 255 if (content >> b) & 1 else 0
    return img


def _decode(img) -> int:
    """The content index written by :func:`_frame` (img: (3, H, W) tensor or (H, W, 3) array)."""
    a = img.permute(1, 2, 0).numpy() if isinstance(img, torch.Tensor) else img
    return sum(1 << b for b in range(8) if a[1:BH - 1, b * BW + 3:(b + 1) * BW - 3].mean() > 128)


def _write(path: Path, frames: list[np.ndarray], fourcc: str = "mp4v") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 25.0, (W, H))
    assert w.isOpened(), f"OpenCV cannot write {fourcc} to {path}"
    for f in frames:
        w.write(np.ascontiguousarray(f[:, :, ::-1]))
    w.release()
    return path


def _make_footage(root: Path) -> Path:
    day1 = [_frame(i - 1 if i == DAY1_REPEAT else i, int(i >= DAY1_CUT)) for i in range(60)]
    _write(root / "trip" / "day1.mp4", day1)
    _write(root / "trip" / "day2.avi", [_frame(i) for i in range(30)], "MJPG")
    shot = root / "scans" / "shot_01"
    shot.mkdir(parents=True)
    for i in range(31):
        if i != 15:  # a dropped frame: the numbering has a gap
            cv2.imwrite(str(shot / f"frame_{i:04d}.png"), _frame(i)[:, :, ::-1])
    (root / "notes.txt").write_text("shot list\n")
    _write(root / ".trash" / "old.mp4", [_frame(0)] * 3)
    return root


@pytest.fixture(scope="module")
def footage(tmp_path_factory) -> Path:
    return _make_footage(tmp_path_factory.mktemp("footage"))


def _positions(name: str) -> tuple[int, int, int]:
    return tuple(int(x) for x in name.rsplit("/", 1)[1].split("-"))


def _clip(ds: VideoClips, suffix: str):
    return next(c for c in ds.clips if c.name.endswith(suffix))


def test_index_finds_clips_cuts_repeats_and_gaps(footage):
    ds = VideoClips(footage, crop_size=None, progress=False)
    assert sorted(c.name for c in ds.clips) == ["scans/shot_01", "trip/day1.mp4", "trip/day2.avi"]
    day1, day2, shot = _clip(ds, "day1.mp4"), _clip(ds, "day2.avi"), _clip(ds, "shot_01")
    assert (day1.count, day2.count, shot.count) == (60, 30, 30)
    assert day1.cuts == [DAY1_CUT] and day1.repeats == [DAY1_REPEAT]
    assert day2.cuts == day2.repeats == [] and shot.cuts == shot.repeats == []
    assert np.flatnonzero(shot.bad).tolist() == [15]  # frame_0016 follows frame_0014: the gap breaks the clip
    assert np.flatnonzero(day1.bad).tolist() == [DAY1_REPEAT, DAY1_REPEAT + 1, DAY1_CUT]
    assert (day1.split_at, day2.split_at, shot.split_at) == (54, 27, 27)  # last 10 % held out
    assert day1.seekable and day2.seekable
    assert "3 clip(s), 120 frames, 1 cut(s), 1 repeated frame(s)" in ds.describe()
    # the demo's scene-cut detector is the data layer's
    import vfi_lib.infer.video as demo

    assert demo.cut_score is cut_score
    assert cut_score(_frame(39, 0), _frame(40, 1)) > 0.15 > cut_score(_frame(38), _frame(39))


@pytest.mark.parametrize("target", ["middle", "random"])
def test_triplets_are_clean_consecutive_runs_at_the_gap(footage, target):
    ds = VideoClips(footage, crop_size=None, augment=NO_AUGMENT, seed=0, max_gap=3, target=target, progress=False)
    spans, ts = Counter(), set()
    for i in range(len(ds)):
        item = ds[i]
        clip = item["name"].rsplit("/", 1)[0]
        i0, it, i1 = _positions(item["name"])
        got = tuple(_decode(item[k]) for k in ("img0", "gt", "img1"))
        assert got == (i0, it, i1), (item["name"], got)  # the encoded frame indices are the named frames
        n, j = i1 - i0, it - i0
        assert 2 <= n <= 6 and 0 < j < n and abs(item["t"].item() - j / n) < 1e-6
        if target == "middle":
            assert n % 2 == 0 and j == n // 2 and item["t"].item() == 0.5
        assert not i0 <= DAY1_REPEAT <= i1 or clip != "trip/day1.mp4", (item["name"], "window holds the repeat")
        for bad in {"trip/day1.mp4": (DAY1_CUT,), "scans/shot_01": (16,)}.get(clip, ()):  # first frame after a cut / gap
            assert not i0 < bad <= i1, (item["name"], "window crosses a cut / gap")
        assert i1 < {"trip/day1.mp4": 54, "trip/day2.avi": 27, "scans/shot_01": 28}[clip]  # before the hold-out
        spans[n] += 1
        ts.add(round(item["t"].item(), 4))
    assert set(spans) == ({2, 4, 6} if target == "middle" else {2, 3, 4, 5, 6})  # every gap is drawn
    assert ts == {0.5} if target == "middle" else len(ts) >= 6


def test_val_is_held_out_footage_disjoint_from_training(footage):
    val = VideoClips(footage, "val", crop_size=None, max_gap=2, progress=False)
    frames_val = set()
    for i in range(len(val)):
        item = val[i]
        clip = item["name"].rsplit("/", 1)[0]
        i0, it, i1 = _positions(item["name"])
        assert tuple(_decode(item[k]) for k in ("img0", "gt", "img1")) == (i0, it, i1)
        assert item["img0"].shape == (3, H, W) and item["t"].item() == 0.5 and it - i0 == i1 - it
        frames_val |= {(clip, f) for f in range(i0, i1 + 1)}
    assert {c for c, _ in frames_val} == {"trip/day1.mp4", "trip/day2.avi", "scans/shot_01"}
    again = VideoClips(footage, "val", crop_size=None, max_gap=2, progress=False)
    assert [again[i]["name"] for i in range(len(again))] == [val[i]["name"] for i in range(len(val))]
    for target in ("middle", "random"):
        train = VideoClips(footage, crop_size=None, augment=NO_AUGMENT, seed=1, max_gap=2, target=target, progress=False)
        for e in range(2):
            train.set_epoch(e)
            for i in range(len(train)):
                clip, c = train.draw(i, train.rng(i))[:2]
                name = train.clips[clip].name
                assert not {(name, train.clips[clip].label(f)) for f in range(c[0], c[2] + 1)} & frames_val
    centre = VideoClips(footage, "val", crop_size=64, progress=False)[0]
    assert centre["img0"].shape == (3, 64, 64)


def test_crops_augmentation_and_determinism(footage):
    a = VideoClips(footage, crop_size=64, seed=5, progress=False)
    b = VideoClips(footage, crop_size=64, seed=5, progress=False)
    items = [a[i] for i in (0, 7, 50)]
    for i, item in zip((0, 7, 50), items):
        other = b[i]
        assert item["img0"].shape == (3, 64, 64) and item["name"] == other["name"]
        for k in ("img0", "gt", "img1", "t"):
            assert torch.equal(item[k], other[k])
    a.set_epoch(1)
    assert any(not torch.equal(a[i]["gt"], it["gt"]) for i, it in zip((0, 7, 50), items))
    assert {round(a[i]["t"].item(), 3) for i in range(len(a))} == {0.5}  # reverse keeps t = 0.5 in middle mode
    a.set_crop(128)  # larger than the 96-px frames: upscaled to cover, then cropped
    assert a[3]["img0"].shape == (3, 128, 128)
    unseeded = VideoClips(footage, crop_size=64, progress=False)  # seed=None: torch's RNG, as under SeededItems
    torch.manual_seed(3)
    x = unseeded[4]
    torch.manual_seed(3)
    assert torch.equal(unseeded[4]["gt"], x["gt"])


def test_index_is_cached_and_rescans_only_changed_clips(tmp_path, monkeypatch):
    root = _make_footage(tmp_path / "footage")
    VideoClips(root, progress=False)
    index = root / vc.INDEX_NAME
    assert index.is_file()
    calls = []
    real_video, real_frames = vc.scan_video, vc.scan_frames
    monkeypatch.setattr(vc, "scan_video", lambda p, bar=None: calls.append(p.name) or real_video(p, bar))
    monkeypatch.setattr(vc, "scan_frames", lambda p, bar=None: calls.append(p.name) or real_frames(p, bar))
    ds = VideoClips(root, progress=False)
    assert calls == [] and len(ds.clips) == 3  # everything from the cache
    strict = VideoClips(root, cut_threshold=0.075, progress=False)  # another threshold needs no rescan
    assert calls == [] and len(_clip(strict, "day1.mp4").cuts) > 1
    day2 = root / "trip" / "day2.avi"
    os.utime(day2, ns=(day2.stat().st_atime_ns, day2.stat().st_mtime_ns + 10**9))
    VideoClips(root, progress=False)
    assert calls == ["day2.avi"]  # only the touched file
    index.write_bytes(b"\x00\xff not json")
    with pytest.warns(DataWarning, match=r"unusable video index"):
        VideoClips(root, progress=False)
    assert sorted(calls[1:]) == ["day1.mp4", "day2.avi", "shot_01"]  # rebuilt
    (root / "scans" / "shot_01" / "frame_0030.png").unlink()  # a frame folder changes with its files
    assert len(_clip(VideoClips(root, progress=False), "shot_01").files) == 29 and calls[-1] == "shot_01"
    own = tmp_path / "cache"
    own.mkdir()
    VideoClips(root, index=own, progress=False)
    assert len(list(own.glob("*.json"))) == 1
    index.unlink()
    VideoClips(root, index=False, progress=False)
    assert not index.exists()


def test_unreadable_short_and_empty_inputs(tmp_path):
    root = tmp_path / "footage"
    _write(root / "good.mp4", [_frame(i) for i in range(20)])
    (root / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video")
    _write(root / "short.mp4", [_frame(0), _frame(1)])
    with pytest.warns(DataWarning) as rec:
        ds = VideoClips(root, progress=False)
    msgs = [str(w.message) for w in rec]
    assert any("broken.mp4" in m and "skipped" in m for m in msgs)
    assert any("short.mp4" in m and "too short" in m for m in msgs)
    assert [c.name for c in ds.clips] == ["good.mp4"] and len(ds) > 0
    (root / "good.mp4").unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        with pytest.raises(DataError, match=r"footage: no usable clip for training") as e:
            VideoClips(root, progress=False)
    assert "\n" not in str(e.value) and ("broken.mp4" in str(e.value) or "short.mp4" in str(e.value))
    only_bad = tmp_path / "bad"
    only_bad.mkdir()
    shutil.copy(root / "broken.mp4", only_bad / "clip.mkv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        with pytest.raises(DataError, match=r"clip\.mkv: cannot open video"):
            VideoClips(only_bad, progress=False)
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(DataError, match=r"empty: no video files .* or frame folders"):
        VideoClips(tmp_path / "empty", progress=False)
    with pytest.raises(DataError, match=r"missing.*not found"):
        VideoClips(tmp_path / "missing", progress=False)
    _write(tmp_path / "one" / "a.mp4", [_frame(i) for i in range(20)])
    with pytest.raises(DataError, match=r"no validation triplets \(train.video_val_fraction is 0"):
        VideoClips(tmp_path / "one", "val", val_fraction=0.0, progress=False)
    with pytest.raises(DataError, match="max_gap"):
        VideoClips(tmp_path / "one", max_gap=0, progress=False)


def test_inexact_seek_is_detected_and_decoding_falls_back(footage, monkeypatch):
    ds = VideoClips(footage, crop_size=None, augment=NO_AUGMENT, seed=0, progress=False)
    day1 = next(i for i, c in enumerate(ds.clips) if c.name == "trip/day1.mp4")
    monkeypatch.setattr(VideoClips, "_seek", staticmethod(lambda cap, pos: cap.set(cv2.CAP_PROP_POS_FRAMES, pos + 3)))
    with pytest.warns(DataWarning, match=r"day1\.mp4: seeking is not frame-exact"):
        frames = ds.read(day1, (30, 31, 32))
    assert [_decode(f) for f in frames] == [30, 31, 32]
    assert [_decode(f) for f in ds.read(day1, (5, 7, 9))] == [5, 7, 9]  # sequential from now on, still exact


def test_build_from_config_and_dataloader_workers(footage):
    cfg = preset("phase1", dataset="video", data_path=str(footage), crop_size=32, video_max_gap=2)
    train = build_train_dataset(cfg)
    assert isinstance(train, VideoClips) and train.target == "middle" and train.crop_size == (32, 32)
    val = build_val_dataset(cfg)
    assert val.split == "val" and val[0]["img0"].shape == (3, H, W)
    assert build_train_dataset(preset("phase2", dataset="video", data_path=str(footage))).target == "random"
    with pytest.raises(DataError, match="data_path is empty"):
        build_train_dataset(preset("phase1", dataset="video"))
    loader = DataLoader(train, batch_size=4, num_workers=2, shuffle=True)
    batch = next(iter(loader))
    assert batch["img0"].shape == (4, 3, 32, 32) and batch["t"].shape == (4,)
