"""Image/video I/O, DataError cases, the item contract and the embedded sample."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from vfi_lib.data import (DataError, DataWarning, SampleTriplets, VideoReader, VideoWriter, load_image,
                          sample_manifest, sample_sequence, sample_triplets, save_image, to_float)
from vfi_lib.data.io import check_same_size, read_json, read_list


def _rand(h=24, w=32, c=3, seed=0, dtype=np.uint8, hi=256):
    return np.random.default_rng(seed).integers(0, hi, (h, w, c) if c else (h, w), dtype=np.int64).astype(dtype)


def test_load_image_returns_rgb_uint8(tmp_path):
    rgb = _rand()
    cv2.imwrite(str(tmp_path / "a.png"), rgb[:, :, ::-1])  # cv2 writes BGR
    out = load_image(tmp_path / "a.png")
    assert out.dtype == np.uint8 and out.shape == (24, 32, 3)
    np.testing.assert_array_equal(out, rgb)


def test_16bit_png_is_scaled_with_rounding(tmp_path):
    x = _rand(c=3, dtype=np.uint16, hi=65536, seed=1)
    x[0, 0] = [193, 65535, 0]  # 193 * 255 / 65535 = 0.75 -> 1 (truncation x >> 8 would give 0)
    cv2.imwrite(str(tmp_path / "d.png"), x)
    out = load_image(tmp_path / "d.png")
    expected = np.floor(x[:, :, ::-1].astype(np.float64) * 255 / 65535 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(out, expected)
    assert out[0, 0].tolist() == [0, 255, 1]


def test_gray_is_expanded_with_warning(tmp_path):
    g = _rand(c=0, seed=2)
    cv2.imwrite(str(tmp_path / "g.png"), g)
    with pytest.warns(DataWarning, match="g.png"):
        out = load_image(tmp_path / "g.png")
    assert out.shape == (24, 32, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[:, :, c], g)


def test_rgba_opaque_dropped_transparent_rejected(tmp_path):
    rgb = _rand(seed=3)
    opaque = np.dstack([rgb[:, :, ::-1], np.full((24, 32), 255, np.uint8)])
    cv2.imwrite(str(tmp_path / "o.png"), opaque)
    with pytest.warns(DataWarning, match="alpha"):
        np.testing.assert_array_equal(load_image(tmp_path / "o.png"), rgb)
    opaque[3, 4, 3] = 10
    cv2.imwrite(str(tmp_path / "t.png"), opaque)
    with pytest.raises(DataError, match=r"t\.png.*alpha"):
        load_image(tmp_path / "t.png")


def test_bad_files_raise_dataerror_naming_file(tmp_path):
    with pytest.raises(DataError, match=r"missing\.png.*not found"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "garbage.png").write_bytes(b"not an image")
    with pytest.raises(DataError, match=r"garbage\.png.*decode"):
        load_image(tmp_path / "garbage.png")
    img = _rand(64, 64, seed=4)
    for ext in ("png", "jpg"):
        cv2.imwrite(str(tmp_path / f"full.{ext}"), img)
        data = (tmp_path / f"full.{ext}").read_bytes()
        (tmp_path / f"cut.{ext}").write_bytes(data[: len(data) // 2])
        with pytest.raises(DataError, match=rf"cut\.{ext}.*(decode|truncated)"):
            load_image(tmp_path / f"cut.{ext}")
        load_image(tmp_path / f"full.{ext}")  # the intact file loads
    cv2.imwrite(str(tmp_path / "f.tiff"), img.astype(np.float32))
    with pytest.raises(DataError, match=r"f\.tiff.*float32"):
        load_image(tmp_path / "f.tiff")
    assert issubclass(DataError, ValueError)


def test_save_image_round_trip_and_errors(tmp_path):
    img = _rand(seed=5)
    load = load_image(save_image(tmp_path / "x.png", img))
    np.testing.assert_array_equal(load, img)
    with pytest.raises(DataError, match="nodir"):
        save_image(tmp_path / "nodir" / "x.png", img)
    with pytest.raises(DataError, match="uint8"):
        save_image(tmp_path / "y.png", img.astype(np.float32))


def test_lists_and_size_checks(tmp_path):
    (tmp_path / "l.txt").write_text("\n00001/0001\n\n  00001/0002  \n\n")
    assert read_list(tmp_path / "l.txt") == ["00001/0001", "00001/0002"]
    (tmp_path / "e.txt").write_text("\n \n")
    with pytest.raises(DataError, match=r"e\.txt.*empty"):
        read_list(tmp_path / "e.txt")
    with pytest.raises(DataError, match=r"nolist\.txt.*not found"):
        read_list(tmp_path / "nolist.txt")
    with pytest.raises(DataError, match=r"b\.png.*30x24.*differs"):
        check_same_size([_rand(), _rand(24, 30)], ["a.png", "b.png"])
    (tmp_path / "bom.txt").write_bytes("\ufeff00001/0001\r\n00001/0002\r\n".encode())  # Windows editors
    assert read_list(tmp_path / "bom.txt") == ["00001/0001", "00001/0002"]


def test_binary_list_and_manifest_files_raise_dataerror_naming_them(tmp_path):
    (tmp_path / "tri_trainlist.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")  # an image, not a list
    with pytest.raises(DataError, match=r"tri_trainlist\.txt: list is not a UTF-8 text file") as e:
        read_list(tmp_path / "tri_trainlist.txt", "list")
    assert "\n" not in str(e.value) and e.value.__cause__ is None and e.value.__suppress_context__
    (tmp_path / "nul.txt").write_bytes(b"00001/0001\x00\x00\x00")  # decodes as UTF-8 but is binary
    with pytest.raises(DataError, match=r"nul\.txt.*binary"):
        read_list(tmp_path / "nul.txt")
    (tmp_path / "MANIFEST.json").write_text("{not json")
    with pytest.raises(DataError, match=r"MANIFEST\.json: manifest is not valid JSON \(.* line 1"):
        read_json(tmp_path / "MANIFEST.json", "manifest")


class _BadFrames(torch.utils.data.Dataset):
    """Item 2 is an undecodable image on disk (as a corrupt frame inside a real dataset)."""

    def __init__(self, root):
        self.paths = []
        for i in range(4):
            p = root / f"im{i}.png"
            if i == 2:
                p.write_bytes(b"garbage")
            else:
                cv2.imwrite(str(p), _rand(8, 8, seed=i))
            self.paths.append(p)

    def __len__(self):
        return 4

    def __getitem__(self, i):
        return torch.from_numpy(load_image(self.paths[i]))


def test_dataerror_crossing_dataloader_workers_keeps_one_line(tmp_path):
    from vfi_lib.cli import one_line  # the shared CLI error wrapper's extractor

    ds = _BadFrames(tmp_path)
    with pytest.raises(DataError) as direct:
        ds[2]

    def first_error(loader):  # as a CLI should: use the exception inside ``except``, keep only strings
        try:
            for _ in loader:
                pass
        except Exception as e:  # (a kept exception keeps the DataLoader iterator alive: its later
            return type(e), str(e), one_line(e)  # shutdown then waits ~10 s for the workers)
        return None

    kind, msg, line = first_error(torch.utils.data.DataLoader(ds, batch_size=1, num_workers=2))
    assert kind is DataError  # the same type arrives in the main process ...
    # ... but torch rebuilt it with the worker traceback in the message
    assert msg.startswith("Caught DataError in DataLoader worker process") and "Traceback" in msg
    assert line == str(direct.value)  # one_line: the original single line, naming the file
    assert "im2.png: cannot decode image" in line and "\n" not in line
    assert one_line(direct.value) == str(direct.value)  # raised in the main process: unchanged


def test_to_float_batch_and_single_item():
    b = {"img0": torch.full((2, 3, 4, 5), 255, dtype=torch.uint8), "img1": torch.zeros(2, 3, 4, 5, dtype=torch.uint8),
         "gt": torch.full((2, 3, 4, 5), 51, dtype=torch.uint8), "t": torch.tensor([0.25, 0.5])}
    img0, img1, gt, t = to_float(b, "cpu")
    assert img0.dtype == torch.float32 and img0.shape == (2, 3, 4, 5)
    assert img0.max() == 1.0 and img1.max() == 0.0 and torch.allclose(gt, torch.full_like(gt, 0.2))
    assert t.tolist() == [0.25, 0.5]
    item = {k: v[0] for k, v in b.items()}
    img0, _, _, t = to_float(item)
    assert img0.shape == (1, 3, 4, 5) and t.shape == (1,)


def test_video_round_trip_and_errors(tmp_path):
    frames = [np.full((48, 64, 3), (20 * i, 100, 200 - 20 * i), np.uint8) for i in range(8)]
    with VideoWriter(tmp_path / "v.mp4", fps=12.0, size=(64, 48)) as w:
        for f in frames:
            w.write(f)
        with pytest.raises(DataError, match=r"v\.mp4.*\(48, 64, 3\)"):
            w.write(np.zeros((10, 10, 3), np.uint8))
    with VideoReader(tmp_path / "v.mp4") as r:
        assert (r.count, r.fps, r.size) == (8, 12.0, (64, 48))
        got = r.read_all()
    assert got.shape == (8, 48, 64, 3)
    err = np.abs(got.astype(int) - np.stack(frames).astype(int)).mean(axis=(1, 2, 3))
    assert err.max() < 6  # lossy codec, but RGB order and frame order preserved
    (tmp_path / "bad.mp4").write_text("not a video")
    with pytest.raises(DataError, match=r"bad\.mp4"):
        VideoReader(tmp_path / "bad.mp4")
    with pytest.raises(DataError, match=r"missing\.mp4.*not found"):
        VideoReader(tmp_path / "missing.mp4")
    with pytest.raises(DataError, match=r"nodir"):
        VideoWriter(tmp_path / "nodir" / "o.mp4", 25, (64, 48))


def test_embedded_sample():
    man = sample_manifest()
    assert "Blender Foundation" in man["attribution"] and "CC-BY" in man["license"]
    tris = sample_triplets()
    assert len(tris) == 6 and all(t["img0"].shape == (256, 448, 3) for t in tris)
    assert all(t["frames"][2] < man["clip_frames"] - man["holdout"] for t in tris)  # triplets avoid the hold-out
    # consecutive real frames: the middle frame is closer to the inputs' average than to a far frame
    t0 = tris[0]
    near = np.abs(t0["gt"].astype(int) - (t0["img0"].astype(int) + t0["img1"]) // 2).mean()
    far = np.abs(t0["gt"].astype(int) - tris[-1]["gt"].astype(int)).mean()
    assert near < far
    seq = sample_sequence()
    assert seq.frames.shape == (24, 256, 448, 3) and seq.frames.dtype == np.uint8
    assert seq.indices == list(range(seq.indices[0], seq.indices[0] + 24))
    assert any(i >= seq.holdout_start for i in seq.indices) and any(i < seq.holdout_start for i in seq.indices)
    ds = SampleTriplets(crop_size=128, augment=True, seed=0)
    item = ds[0]
    assert item["img0"].shape == (3, 128, 128) and item["img0"].dtype == torch.uint8
    assert item["t"].dtype == torch.float32 and item["t"].dim() == 0 and isinstance(item["name"], str)
