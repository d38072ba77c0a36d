"""Training and test datasets on tiny on-disk fixtures that mirror each real layout."""

from __future__ import annotations

import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from vfi_lib.config import preset
from vfi_lib.data import (BBBSequence, DataError, Middlebury, MixedDataset, MixedSampler, SNUFilm, UCF101,
                          Vimeo90K, X4KTrain, XTest, Xiph, build_train_dataset, build_val_dataset, make_sampler)
from vfi_lib.data.augment import NO_AUGMENT, Augment
from vfi_lib.data.xtest import crop_4k, resize_2k


def _png(path: Path, img: np.ndarray | None = None, h: int = 24, w: int = 32, seed: int = 0, value: int | None = None):
    path.parent.mkdir(parents=True, exist_ok=True)
    if img is None:
        img = (np.full((h, w, 3), value, np.uint8) if value is not None
               else np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))
    cv2.imwrite(str(path), img[:, :, ::-1])
    return img


def _vimeo(root: Path, train=("00001/0001", "00001/0002", "00002/0001"), test=("00003/0001",)):
    frames = {}
    for n, name in enumerate(train + test):
        frames[name] = [_png(root / "sequences" / name / f"im{k}.png", seed=10 * n + k) for k in (1, 2, 3)]
    (root / "tri_trainlist.txt").write_text("\n".join(train) + "\n\n")
    (root / "tri_testlist.txt").write_text("\n" + "\n".join(test) + "\n")
    return frames


# ----------------------------------------------------------------------------- Vimeo90K
def test_vimeo_splits_counts_and_contract(tmp_path):
    frames = _vimeo(tmp_path)
    test = Vimeo90K(tmp_path, "test")
    assert len(test) == 1 and len(Vimeo90K(tmp_path, "train")) == 3
    item = test[0]
    assert item["name"] == "00003/0001" and item["t"].item() == 0.5 and item["t"].dtype == torch.float32
    for key, k in (("img0", 0), ("gt", 1), ("img1", 2)):
        assert item[key].dtype == torch.uint8 and item[key].shape == (3, 24, 32)
        np.testing.assert_array_equal(item[key].permute(1, 2, 0).numpy(), frames["00003/0001"][k])
    train = Vimeo90K(tmp_path, "train", crop_size=16, seed=3)
    a, b = train[1], train[1]
    assert a["img0"].shape == (3, 16, 16) and torch.equal(a["gt"], b["gt"])  # deterministic with a seed
    pickle.loads(pickle.dumps(train))
    train.set_crop((8, 12))
    assert train[0]["gt"].shape == (3, 8, 12)


def test_vimeo_crop_is_a_window_of_the_frames(tmp_path):
    frames = _vimeo(tmp_path)
    ds = Vimeo90K(tmp_path, "train", crop_size=(10, 20), augment=NO_AUGMENT, seed=0)
    item = ds[0]
    full = frames["00001/0001"]
    crop0 = item["img0"].permute(1, 2, 0).numpy()
    hits = [(y, x) for y in range(24 - 10 + 1) for x in range(32 - 20 + 1)
            if np.array_equal(full[0][y:y + 10, x:x + 20], crop0)]
    assert len(hits) == 1
    y, x = hits[0]
    np.testing.assert_array_equal(item["gt"].permute(1, 2, 0).numpy(), full[1][y:y + 10, x:x + 20])
    np.testing.assert_array_equal(item["img1"].permute(1, 2, 0).numpy(), full[2][y:y + 10, x:x + 20])


def test_vimeo_errors_name_the_file(tmp_path):
    with pytest.raises(DataError, match="nothere"):
        Vimeo90K(tmp_path / "nothere")
    frames_root = tmp_path / "v"
    _vimeo(frames_root)
    (frames_root / "tri_testlist.txt").unlink()
    with pytest.raises(DataError, match=r"tri_testlist\.txt.*not found"):
        Vimeo90K(frames_root, "test")
    (frames_root / "tri_testlist.txt").write_text("\n\n")
    with pytest.raises(DataError, match=r"tri_testlist\.txt.*empty"):
        Vimeo90K(frames_root, "test")
    (frames_root / "sequences/00001/0002/im2.png").unlink()
    ds = Vimeo90K(frames_root, "train", crop_size=16)
    with pytest.raises(DataError, match=r"00001/0002/im2\.png.*not found"):
        ds[1]
    _png(frames_root / "sequences/00001/0002/im2.png", h=20, w=32)
    with pytest.raises(DataError, match=r"im2\.png.*differs"):
        ds[1]
    ds.set_crop(28)
    with pytest.raises(DataError, match=r"00001/0001.*smaller than the 28x28"):
        ds[0]
    (frames_root / "tri_trainlist.txt").write_bytes(bytes(range(128, 256)) * 4)  # binary junk, not a list
    with pytest.raises(DataError, match=r"tri_trainlist\.txt: Vimeo90K train list is not a UTF-8 text file"):
        Vimeo90K(frames_root, "train")


# ----------------------------------------------------------------------------- augmentations
def _triplet(h=12, w=12):
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(3)]


def test_temporal_reverse_swaps_inputs_keeps_target():
    f = _triplet()
    out, t = Augment(0, 0, 0, 0, reverse=1.0)(f, 0.3, np.random.default_rng(0))
    assert t == pytest.approx(0.7)
    np.testing.assert_array_equal(out[0], f[2])
    np.testing.assert_array_equal(out[1], f[1])
    np.testing.assert_array_equal(out[2], f[0])


def test_flips_rotations_and_channels_apply_to_all_frames():
    f = _triplet()
    rng = np.random.default_rng(1)
    out, t = Augment(hflip=1.0, vflip=1.0, rot90=0, channel_shuffle=0, reverse=0)(f, 0.5, rng)
    assert t == 0.5
    for o, x in zip(out, f):
        np.testing.assert_array_equal(o, x[::-1, ::-1])
    ks = set()
    for seed in range(20):  # square: any of the 3 non-zero rotations, the same for all frames
        out, _ = Augment(0, 0, rot90=1.0, channel_shuffle=0, reverse=0)(f, 0.5, np.random.default_rng(seed))
        k = next(k for k in (1, 2, 3) if np.array_equal(out[0], np.rot90(f[0], k)))
        ks.add(k)
        for o, x in zip(out, f):
            np.testing.assert_array_equal(o, np.rot90(x, k))
    assert ks == {1, 2, 3}
    rect = _triplet(8, 14)
    for seed in range(6):  # non-square frames keep their shape (180 degrees only)
        out, _ = Augment(0, 0, rot90=1.0, channel_shuffle=0, reverse=0)(rect, 0.5, np.random.default_rng(seed))
        assert all(o.shape == (8, 14, 3) for o in out)
        np.testing.assert_array_equal(out[1], np.rot90(rect[1], 2))
    out, _ = Augment(0, 0, 0, channel_shuffle=1.0, reverse=0)(f, 0.5, np.random.default_rng(2))
    perm = [next(c for c in range(3) if np.array_equal(out[0][:, :, j], f[0][:, :, c])) for j in range(3)]
    assert sorted(perm) == [0, 1, 2] and perm != [0, 1, 2]
    for o, x in zip(out, f):
        np.testing.assert_array_equal(o, x[:, :, perm])


# ----------------------------------------------------------------------------- X4K1000FPS
def _x4k(root: Path, clips=(("002", "occ008.320"), ("003", "occ011.120")), n=65, size=16):
    for scene, clip in clips:
        for i in range(n):  # frame i has value i: the item reveals which frames were taken
            _png(root / "train" / scene / clip / f"{i:04d}.png", h=size, w=size, value=i)


def test_x4k_stride_target_and_t(tmp_path):
    _x4k(tmp_path)
    ds = X4KTrain(tmp_path, crop_size=16, stride=(8, 32), augment=Augment(0, 0, 0, 0, reverse=0.5), seed=0)
    assert len(ds) == 2 and ds.names == ["002/occ008.320", "003/occ011.120"]
    strides, reversed_ = [], 0
    for i in range(24):
        ds.set_epoch(i)
        item = ds[i % 2]
        v0, vt, v1 = (int(item[k][0, 0, 0]) for k in ("img0", "gt", "img1"))
        s = abs(v1 - v0)
        assert 8 <= s <= 32 and min(v0, v1) < vt < max(v0, v1) and max(v0, v1) <= 64
        assert item["t"].item() == pytest.approx((vt - v0) / (v1 - v0))  # also after temporal reverse
        strides.append(s)
        reversed_ += v0 > v1
    assert 0 < reversed_ < 24
    draws = [ds.draw(0, np.random.default_rng(k)) for k in range(3000)]
    ss = np.array([d[2] - d[0] for d in draws])
    assert ss.min() == 8 and ss.max() == 32 and abs(ss.mean() - 20) < 0.5  # uniform on [8, 32]
    assert all(d[3] == pytest.approx((d[1] - d[0]) / (d[2] - d[0])) for d in draws)
    mid = X4KTrain(tmp_path, stride=(8, 8), target="middle", seed=0)
    i0, it, i1, t = mid.draw(0, np.random.default_rng(0))
    assert (it - i0, i1 - i0, t) == (4, 8, 0.5)


def test_x4k_resize_safety_and_errors(tmp_path):
    _x4k(tmp_path, clips=(("002", "a"),), n=10, size=12)
    ds = X4KTrain(tmp_path / "train", crop_size=20, stride=(2, 4), seed=1)  # the train dir itself also works
    assert ds[0]["img0"].shape == (3, 20, 20)  # 12x12 clip upscaled to cover the 20x20 crop
    with pytest.raises(DataError, match="stride"):
        X4KTrain(tmp_path, stride=(1, 4))
    (tmp_path / "empty" / "train").mkdir(parents=True)
    with pytest.raises(DataError, match="no X4K clips"):
        X4KTrain(tmp_path / "empty")


# ----------------------------------------------------------------------------- mixing
def test_mixed_sampler_ratio_exact_in_expectation():
    s = MixedSampler([300, 100], ratio=(2, 1), num_replicas=1, rank=0, seed=0)
    assert len(s) == 450  # one pass over the first set + half as many of the second
    counts = np.zeros(2)
    pos_first = np.zeros(3)
    for epoch in range(40):
        s.set_epoch(epoch)
        idx = np.array(list(s))
        src = (idx >= 300).astype(int)
        assert (src.reshape(-1, 3).sum(1) == 1).all()  # exactly 1 of every 3 from the second set
        counts += np.bincount(src, minlength=2)
        pos_first += (src.reshape(-1, 3) == 0).mean(0)
        assert sorted(idx[src == 0]) == list(range(300))  # the first set visited once
    assert counts[0] / counts.sum() == pytest.approx(2 / 3)
    np.testing.assert_allclose(pos_first / 40, 2 / 3, atol=0.03)  # each position: P(first) = 2/3


def test_mixed_sampler_ddp_disjoint_and_deterministic():
    ranks = [MixedSampler([60, 30], (2, 1), num_replicas=3, rank=r, seed=5) for r in range(3)]
    for s in ranks:
        s.set_epoch(2)
    parts = [list(s) for s in ranks]
    assert len({len(p) for p in parts}) == 1 and len(parts[0]) == len(ranks[0])
    flat = [i for p in parts for i in p]
    assert len(flat) == len(set(flat)) == 90  # disjoint, covering both sets exactly once
    again = MixedSampler([60, 30], (2, 1), num_replicas=3, rank=1, seed=5)
    again.set_epoch(2)
    assert list(again) == parts[1]
    again.set_epoch(3)
    assert list(again) != parts[1]
    fracs = [np.mean(np.array(p) < 60) for p in parts]
    assert all(abs(f - 2 / 3) < 0.2 for f in fracs)


def test_build_x4k_mix_and_sampler(tmp_path):
    _vimeo(tmp_path / "vimeo")
    _x4k(tmp_path / "x4k", n=40, size=24)
    cfg = preset("phase3", data_path=str(tmp_path / "vimeo"), x4k_path=str(tmp_path / "x4k"), crop_size=16,
                 crop_schedule=((0, 8), (2, 16)))
    ds = build_train_dataset(cfg, epoch=0)
    assert isinstance(ds, MixedDataset) and len(ds) == 5
    sampler = make_sampler(ds, num_replicas=2, rank=1, seed=0)
    assert isinstance(sampler, MixedSampler)
    loader = torch.utils.data.DataLoader(ds, batch_size=3, sampler=sampler)
    batch = next(iter(loader))
    assert batch["img0"].shape == (3, 3, 8, 8)  # curriculum crop of epoch 0
    ds.set_crop(cfg.train.crop_at(2))
    assert ds[4]["gt"].shape == (3, 16, 16) and ds[0]["gt"].shape == (3, 16, 16)
    assert isinstance(build_val_dataset(cfg), Vimeo90K)
    with pytest.raises(DataError, match="train.data_path"):
        build_train_dataset(preset("phase1"))


# ----------------------------------------------------------------------------- test sets
def test_ucf101(tmp_path):
    for name in ("v_b_2", "v_a_1"):
        for f, s in (("frame_00.png", 1), ("frame_01_gt.png", 2), ("frame_02.png", 3)):
            _png(tmp_path / name / f, seed=s)
    ds = UCF101(tmp_path)
    assert [ds[i]["name"] for i in range(2)] == ["v_a_1", "v_b_2"] and ds[0]["t"].item() == 0.5
    np.testing.assert_array_equal(ds[0]["gt"].permute(1, 2, 0).numpy(), _png(tmp_path / "x.png", seed=2))
    (tmp_path / "v_b_2" / "frame_01_gt.png").unlink()
    with pytest.raises(DataError, match=r"v_b_2/frame_01_gt\.png"):
        UCF101(tmp_path)


def test_middlebury(tmp_path):
    for name in ("Walking", "Beanbags"):
        _png(tmp_path / "other-data" / name / "frame10.png", seed=1)
        _png(tmp_path / "other-data" / name / "frame11.png", seed=3)
        _png(tmp_path / "other-gt-interp" / name / "frame10i11.png", seed=2)
    ds = Middlebury(tmp_path)
    assert [ds[i]["name"] for i in range(2)] == ["Beanbags", "Walking"]
    item = ds[1]
    np.testing.assert_array_equal(item["img1"].permute(1, 2, 0).numpy(), _png(tmp_path / "x.png", seed=3))
    (tmp_path / "other-data" / "Walking" / "frame11.png").unlink()
    with pytest.raises(DataError, match=r"Walking/frame11\.png"):
        Middlebury(tmp_path)


def test_snu_film_path_remapping(tmp_path):
    seq = tmp_path / "test" / "GOPRO_test" / "GOPR0384_11_00"
    for i in (1, 3, 5):
        _png(seq / f"{i:06d}.png", value=i)
    (tmp_path / "test-easy.txt").write_text(
        "data/SNU-FILM/test/GOPRO_test/GOPR0384_11_00/000001.png data/SNU-FILM/test/GOPRO_test/GOPR0384_11_00/000003.png "
        "data/SNU-FILM/test/GOPRO_test/GOPR0384_11_00/000005.png\n\n"
        "test/GOPRO_test/GOPR0384_11_00/000003.png test/GOPRO_test/GOPR0384_11_00/000001.png "
        "test/GOPRO_test/GOPR0384_11_00/000005.png\n")
    ds = SNUFilm(tmp_path, "easy")
    assert len(ds) == 2 and ds[0]["name"] == "GOPRO_test/GOPR0384_11_00/000003"
    assert [int(ds[0][k][0, 0, 0]) for k in ("img0", "gt", "img1")] == [1, 3, 5]  # list order: in, gt, in
    assert [int(ds[1][k][0, 0, 0]) for k in ("img0", "gt", "img1")] == [3, 1, 5]
    with pytest.raises(DataError, match=r"test-hard\.txt.*not found"):
        SNUFilm(tmp_path, "hard")
    (tmp_path / "test-medium.txt").write_text("test/GOPRO_test/GOPR0384_11_00/000001.png test/x/000009.png\n")
    with pytest.raises(DataError, match=r"test-medium\.txt.*line 1 has 2 paths"):
        SNUFilm(tmp_path, "medium")
    (tmp_path / "test-extreme.txt").write_text("a/test/Y/1.png a/test/Y/2.png a/test/Y/3.png\n")
    with pytest.raises(DataError, match=r"test/Y/1\.png.*not found"):
        SNUFilm(tmp_path, "extreme")
    (tmp_path / "test-extreme.txt").write_bytes(b"\xff\xd8\xff\xe0 a JPEG saved under the list's name")
    with pytest.raises(DataError, match=r"test-extreme\.txt: SNU-FILM extreme list is not a UTF-8 text file"):
        SNUFilm(tmp_path, "extreme")


def test_xtest_8x(tmp_path):
    for clip in ("TEST01_003_f0433", "TEST02_045_f0465"):
        for i in range(33):
            _png(tmp_path / "test" / "Type1" / clip / f"{i:04d}.png", h=8, w=8, value=i)
    ds = XTest(tmp_path, "4k")
    assert len(ds) == 14
    names = [e[2] for e in ds.entries]
    assert names[0] == "Type1/TEST01_003_f0433/0004" and names == sorted(names)
    for k in range(1, 8):
        item = ds[k - 1]
        assert item["t"].item() == pytest.approx(k / 8)
        assert [int(item[c][0, 0, 0]) for c in ("img0", "gt", "img1")] == [0, 4 * k, 32]
    f = np.random.default_rng(0).integers(0, 256, (216, 410, 3), dtype=np.uint8)
    np.testing.assert_array_equal(resize_2k(f), cv2.resize(f, (2048, 1080), interpolation=cv2.INTER_AREA))
    (tmp_path / "test" / "Type1" / "TEST02_045_f0465" / "0032.png").unlink()
    with pytest.raises(DataError, match=r"TEST02_045_f0465.*32 PNG frames"):
        XTest(tmp_path)


def test_xiph_protocol(tmp_path):
    for i in range(1, 101):
        _png(tmp_path / "netflix" / f"Tango-{i:03d}.png", h=4, w=6, value=i)
    ds = Xiph(tmp_path, "full", sequences=("Tango",))
    assert len(ds) == 49 and ds[0]["name"] == "Tango-002" and ds[48]["name"] == "Tango-098"
    assert [int(ds[48][k][0, 0, 0]) for k in ("img0", "gt", "img1")] == [97, 98, 99]
    assert Xiph(tmp_path, "2k", sequences=("Tango",))[0]["gt"].shape == (3, 1080, 2048)
    with pytest.raises(DataError, match=r"Tango-001\.png.*6x4 is too small"):
        Xiph(tmp_path, "4k", sequences=("Tango",))[0]
    big = np.arange(2160 * 4096, dtype=np.uint32).reshape(2160, 4096)
    np.testing.assert_array_equal(crop_4k(big), big[540:1620, 1024:3072])
    with pytest.raises(DataError, match=r"BoxingPractice-001\.png.*not found"):
        Xiph(tmp_path)  # the full protocol needs all 8 sequences


# ----------------------------------------------------------------------------- Big Buck Bunny
def test_bbb_holdout_and_repeats(tmp_path):
    rng = np.random.default_rng(0)
    base = rng.integers(0, 200, (24, 32, 3), dtype=np.uint8)
    for i in range(20):
        img = np.roll(base, i, axis=1) if i != 7 else np.roll(base, 6, axis=1)  # frame 7 repeats frame 6
        _png(tmp_path / f"frame_{i:03d}.png", img)
    train = BBBSequence(tmp_path, "train", holdout=5, crop_size=16, seed=0)
    val = BBBSequence(tmp_path, "val", holdout=5)
    assert train.repeats == {7}
    tr = [tuple(int(x) for x in e[1].split("/")[1].split("-")) for e in train.entries]
    va = [tuple(int(x) for x in e[1].split("/")[1].split("-")) for e in val.entries]
    assert all(c < 15 for t in tr for c in t) and all(c >= 15 for t in va for c in t)
    assert len(va) == 3 and (6, 7, 8) not in tr and (5, 6, 7) not in tr and len(tr) == 13 - 2
    assert train[0]["img0"].shape == (3, 16, 16) and val[0]["img0"].shape == (3, 24, 32)
    sample_val = BBBSequence(None, "val")  # embedded sequence: frames 102..119 are held out
    assert all(int(e[1].split("/")[1][:3]) >= 102 for e in sample_val.entries)
    cfg = preset("phase1", dataset="bbb", crop_size=64)
    assert len(build_train_dataset(cfg)) == len(BBBSequence(None, "train"))
    with pytest.raises(DataError, match="no train triplets"):
        BBBSequence(tmp_path, "train", holdout=19)
    (tmp_path / "MANIFEST.json").write_bytes(b"\x00\x01 binary")
    with pytest.raises(DataError, match=r"MANIFEST\.json: Big Buck Bunny frame manifest is a binary file"):
        BBBSequence(tmp_path, "val", holdout=5)


def _bbb_frames(seq) -> set[int]:
    return {int(x) for e in seq.entries for x in e[1].split("/")[1].split("-")}


def test_sample_validates_on_held_out_frames():
    cfg = preset("phase1", dataset="sample", crop_size=64)
    train, val = build_train_dataset(cfg), build_val_dataset(cfg)
    train_frames = {f for _, tri in train.entries for f in tri["frames"]}  # 11..65: the 6 embedded triplets
    val_frames = _bbb_frames(val)
    assert len(val) == 14 and min(val_frames) >= 102 and not train_frames & val_frames
    assert not _bbb_frames(BBBSequence(None, "train")) & val_frames  # nor does --dataset bbb train on them
    item = val[0]
    assert item["img0"].shape == (3, 256, 448) and item["t"].item() == 0.5


def test_bbb_val_refuses_embedded_training_frames(tmp_path):
    from vfi_lib.data.embedded import SAMPLE_DIR

    seq_dir = SAMPLE_DIR / "sequence"  # "eval bbb --path vfi_lib/data/sample/sequence"
    with pytest.raises(DataError, match=r"sequence: these are the embedded sample frames.*clip frames 96\.\.101.*"
                                        r"--dataset bbb/sample train on.*no path.*extract_sample\.py --all-frames") as e:
        BBBSequence(seq_dir, "val")
    assert "\n" not in str(e.value)
    copy = tmp_path / "copy"  # a byte-identical copy elsewhere is the same data
    copy.mkdir()
    for f in seq_dir.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    with pytest.raises(DataError, match="embedded sample frames"):
        BBBSequence(copy, "val")
    # allowed where no val triplet touches a training frame: the hold-out at 102 as in the default ...
    ok = BBBSequence(seq_dir, "val", clip_frames=132)
    assert _bbb_frames(ok) == _bbb_frames(BBBSequence(None, "val"))
    # ... and the full clip as extract_sample.py --all-frames writes it (PNG + MANIFEST.json, hold-out 102..131)
    full = tmp_path / "bbb_all"
    full.mkdir()
    rng = np.random.default_rng(1)
    base = rng.integers(0, 200, (24, 32, 3), dtype=np.uint8)
    for i in range(132):
        _png(full / f"frame_{i:03d}.png", np.roll(base, i, axis=1))
    (full / "MANIFEST.json").write_text('{"clip_frames": 132, "holdout": 30, "duplicate_frames": [7, 32, 57, 82, 107], '
                                        '"generator": "scripts/extract_sample.py"}')
    val = BBBSequence(full, "val")
    assert min(_bbb_frames(val)) >= 102 and len(val) > 14
