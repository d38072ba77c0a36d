"""Benchmark runners on tiny fixtures in each dataset's real layout, with the averaging baseline.

The expected numbers are recomputed here independently from the PNG files (cv2 + numpy), so a
wrong rounding / padding / resize / metric in the runner or the dataset classes fails the test.
"""

import csv
import json
import math
from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from vfi_lib.eval import protocols
from vfi_lib.paths import path_tag
from vfi_lib.eval.__main__ import main
from vfi_lib.model.baselines import FrameAverage, build_baseline
from vfi_lib.eval.benchmarks import run_benchmark
from vfi_lib.eval.metrics import ssim_matlab
from vfi_lib.checkpoint import available_checkpoints as available, display_name, resolve_checkpoint

H, W = 20, 28  # fixture frame size (not a multiple of 32: exercises the protocol padding)


def _frame(rng, h=H, w=W):
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _write(path, img):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img)


def _result(out, stem, ext):
    """The one result file ``<stem>__<run id>.<ext>`` under ``out``."""
    (path,) = out.glob(f"{stem}__*.{ext}")
    return path


def _read(path):
    return cv2.imread(str(path)).astype(np.float64) / 255.0  # BGR, as the peers


def _blend_round(p0, p1, t=0.5):
    """The rounded blend as the runner computes it in float32 (ties at .5 are common with uint8 pairs)."""
    tt = np.float32(t)
    a, b = (np.asarray(x, np.float32) for x in (p0, p1))
    return np.round(((np.float32(1) - tt) * a + tt * b) * np.float32(255)).astype(np.float64) / 255


def _psnr(pred, gt):
    return -10 * math.log10(((pred - gt) ** 2).mean())


class Recorder(FrameAverage):
    """Frame averaging that records every call (input shape, t, scale)."""

    name = "rec"

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, img0, img1, t=0.5, return_aux=False, scale=1.0):
        self.calls.append((tuple(img0.shape), float(t), scale))
        return super().forward(img0, img1, t, return_aux, scale)


@pytest.fixture()
def vimeo(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "vimeo_triplet"
    names = ["00001/0001", "00002/0003"]
    (root / "tri_testlist.txt").parent.mkdir(parents=True)
    (root / "tri_testlist.txt").write_text("\n".join(names) + "\n\n")
    for n in names:
        for k in (1, 2, 3):
            _write(root / "sequences" / n / f"im{k}.png", _frame(rng))
    return root, names


def test_vimeo90k_float_protocol_and_round_option(vimeo, tmp_path):
    root, names = vimeo
    out = tmp_path / "out"
    res = run_benchmark(FrameAverage(), "vimeo90k", root, out_dir=out, progress=False)
    exp_psnr, exp_ssim = [], []
    for n in names:
        i0, gt, i1 = (_read(root / "sequences" / n / f"im{k}.png") for k in (1, 2, 3))
        mid = (i0 + i1) / 2  # float prediction, no rounding (EMA-VFI / VFIMamba)
        exp_psnr.append(_psnr(mid, gt))
        exp_ssim.append(ssim_matlab(torch.from_numpy(mid.transpose(2, 0, 1))[None].float(),
                                    torch.from_numpy(gt.transpose(2, 0, 1))[None].float()).item())
    assert res["n"] == 2 and res["rounding"] == "float" and res["tta"] is False
    assert res["psnr"] == pytest.approx(np.mean(exp_psnr), abs=1e-4)
    assert res["ssim"] == pytest.approx(np.mean(exp_ssim), abs=1e-5)
    # files: per-sample CSV, JSON with the protocol, markdown row
    assert res["files"]["csv"] == str(_result(out, "vimeo90k_baseline_average", "csv"))
    rows = list(csv.DictReader(open(res["files"]["csv"])))
    assert [r["name"] for r in rows] == names
    js = json.loads(_result(out, "vimeo90k_baseline_average", "json").read_text())
    for key in ("protocol", "rounding", "tta", "scale", "padding", "limit", "path", "run_id", "settings"):
        assert key in js
    assert js["psnr"] == pytest.approx(res["psnr"]) and js["path"] == str(root.resolve())
    md = _result(out, "vimeo90k_baseline_average", "md").read_text().splitlines()
    assert md[0].startswith("| model | benchmark | PSNR | SSIM") and md[2].startswith("| baseline_average | vimeo90k |")
    # --round (RIFE's protocol)
    r2 = run_benchmark(FrameAverage(), "vimeo90k", root, round=True, limit=1, write=False, progress=False)
    i0, gt, i1 = (_read(root / "sequences" / names[0] / f"im{k}.png") for k in (1, 2, 3))
    assert r2["rounding"] == "uint8" and r2["n"] == 1 and r2["limit"] == 1
    assert r2["psnr"] == pytest.approx(_psnr(_blend_round(i0, i1), gt), abs=1e-6)


def test_ucf101_rounded_sorted_and_cli(tmp_path):
    rng = np.random.default_rng(1)
    root = tmp_path / "ucf101_interp_ours"
    folders = ["1040", "120", "7"]
    for d in folders:
        for f in ("frame_00.png", "frame_01_gt.png", "frame_02.png"):
            _write(root / d / f, _frame(rng))
    out = tmp_path / "bench"
    assert main(["ucf101", "--baseline", "average", "--path", str(root), "--out_dir", str(out), "--no_progress"]) == 0
    js = json.loads(_result(out, "ucf101_baseline_average", "json").read_text())
    exp = []
    for d in sorted(folders):
        i0, gt, i1 = (_read(root / d / f) for f in ("frame_00.png", "frame_01_gt.png", "frame_02.png"))
        exp.append(_psnr(_blend_round(i0, i1), gt))  # rounded, as UCF101.py
    assert js["rounding"] == "uint8" and js["n"] == 3
    assert js["psnr"] == pytest.approx(np.mean(exp), abs=1e-6)
    rows = list(csv.DictReader(open(_result(out, "ucf101_baseline_average", "csv"))))
    assert [r["name"] for r in rows] == sorted(folders)
    # bad dataset path: one-line error, exit code 2
    assert main(["ucf101", "--baseline", "average", "--path", str(tmp_path / "missing"), "--no_progress"]) == 2


def test_middlebury_ie_with_pad32(tmp_path):
    rng = np.random.default_rng(2)
    root = tmp_path / "middlebury"
    seqs = ["Beanbags", "Walking"]
    for s in seqs:
        _write(root / "other-data" / s / "frame10.png", _frame(rng))
        _write(root / "other-data" / s / "frame11.png", _frame(rng))
        _write(root / "other-gt-interp" / s / "frame10i11.png", _frame(rng))
    model = Recorder()
    res = run_benchmark(model, "middlebury", root, write=False, progress=False)
    exp = []
    for s in seqs:
        i0, i1 = _read(root / "other-data" / s / "frame10.png"), _read(root / "other-data" / s / "frame11.png")
        gt = cv2.imread(str(root / "other-gt-interp" / s / "frame10i11.png")).astype(np.float64)
        exp.append(np.abs(_blend_round(i0, i1) * 255 - gt).mean())
    assert res["ie"] == pytest.approx(np.mean(exp), abs=1e-9)
    assert "psnr" not in res and res["padding"] == 32
    assert all(s[2] % 32 == 0 and s[3] % 32 == 0 for s, _, _ in model.calls)


def test_snu_film_pad32_scale_and_tta(tmp_path):
    rng = np.random.default_rng(3)
    root = tmp_path / "SNU-FILM"
    lines = []
    for i in range(2):
        rel = [f"data/SNU-FILM/test/GOPRO_test/clip{i}/{k:06d}.png" for k in (1, 2, 3)]
        for r in rel:
            _write(root / r.split("SNU-FILM/")[1], _frame(rng))
        lines.append(" ".join(rel))
    (root / "test-hard.txt").write_text("\n".join(lines) + "\n")
    model = Recorder()
    res = run_benchmark(model, "snu_film", root, level="hard", tta=True, write=False, progress=False)
    assert res["level"] == "hard" and res["scale"] == 0.5 and res["tta"] is True and res["rounding"] == "float"
    assert len(model.calls) == 4  # 2 samples x (plain + flipped)
    assert all(c[0] == (1, 3, 32, 32) and c[2] == 0.5 for c in model.calls)  # 20x28 -> 32x32
    exp = []
    for line in lines:
        i0, gt, i1 = (_read(root / p.split("SNU-FILM/")[1]) for p in line.split())
        exp.append(_psnr((i0 + i1) / 2, gt))
    assert res["psnr"] == pytest.approx(np.mean(exp), abs=1e-4)
    with pytest.raises(ValueError, match="level must be one of"):
        run_benchmark(model, "snu_film", root, level="insane", write=False, progress=False)


def _xtest(tmp_path, h=16, w=24):
    rng = np.random.default_rng(4)
    root = tmp_path / "X4K1000FPS" / "test"
    for clip in ("Type1/TEST01_003_f0433", "Type2/TEST06_001_f0273"):
        base0, base1 = _frame(rng, h, w).astype(np.float64), _frame(rng, h, w).astype(np.float64)
        for k in range(33):  # gt frames near the linear blend, plus noise
            img = (1 - k / 32) * base0 + k / 32 * base1 + rng.normal(0, 8, base0.shape)
            _write(root / clip / f"{k:04d}.png", np.clip(img, 0, 255).astype(np.uint8))
    return root


def test_xtest_4k_direct_and_recursive(tmp_path):
    root = _xtest(tmp_path)
    direct = Recorder()
    res = run_benchmark(direct, "xtest", root.parent, resolution="4k", write=False, progress=False)
    assert res["n"] == 14 and res["scale"] == 0.25 and res["rounding"] == "uint8" and res["recursive"] is False
    assert sorted({c[1] for c in direct.calls}) == [k / 8 for k in range(1, 8)]
    exp = []
    for clip in sorted(p for p in root.glob("*/*")):
        i0, i1 = _read(clip / "0000.png"), _read(clip / "0032.png")
        for k in range(1, 8):
            exp.append(_psnr(_blend_round(i0, i1, k / 8), _read(clip / f"{4 * k:04d}.png")))
    assert res["psnr"] == pytest.approx(np.mean(exp), abs=1e-6)
    rec = Recorder()
    res_r = run_benchmark(rec, "xtest", root.parent, resolution="4k", recursive=True, write=False, progress=False)
    assert len(rec.calls) == 14 and {c[1] for c in rec.calls} == {0.5}  # 7 midpoints per clip, cached
    assert res_r["recursive"] is True
    assert res_r["psnr"] == pytest.approx(res["psnr"], abs=0.05)  # averaging: midpoints of midpoints = blend


def test_xtest_2k_resizes_in_float(tmp_path, monkeypatch):
    """The 2K path (float INTER_AREA resize of inputs and GT), on a small target size for speed."""
    root = _xtest(tmp_path, h=32, w=48)
    small = replace(protocols.PROTOCOLS["xtest_2k"], resize=(24, 16))
    monkeypatch.setitem(protocols.PROTOCOLS, "xtest_2k", small)
    res = run_benchmark(FrameAverage(), "xtest", root, resolution="2k", limit=3, write=False, progress=False)
    clip = sorted(root.glob("*/*"))[0]
    rs = lambda p: cv2.resize(cv2.imread(str(p)).astype(np.float32) * (1.0 / 255.0), (24, 16), interpolation=cv2.INTER_AREA)
    i0, i1 = rs(clip / "0000.png"), rs(clip / "0032.png")
    exp = [_psnr(_blend_round(i0, i1, k / 8), rs(clip / f"{4 * k:04d}.png").astype(np.float64)) for k in (1, 2, 3)]
    assert res["n"] == 3 and res["resize"] == [24, 16] and res["scale"] == 0.5
    assert res["psnr"] == pytest.approx(np.mean(exp), abs=1e-6)


def test_xiph_4k_crop_skimage_metrics(tmp_path):
    """Xiph 4K protocol (centre crop, skimage metrics on uint8) in the real <Name>-NNN.png layout."""
    from vfi_lib.data.xtest import XIPH_SEQUENCES

    rng = np.random.default_rng(5)
    root = tmp_path / "xiph"
    for name in XIPH_SEQUENCES:  # only BoxingPractice 001..003 is read with limit=1
        for i in range(1, 100):
            real = name == XIPH_SEQUENCES[0] and i <= 3
            _write(root / f"{name}-{i:03d}.png", _frame(rng, 1096, 2060) if real else np.zeros((1, 1, 3), np.uint8))
    res = run_benchmark(FrameAverage(), "xiph", root, resolution="4k", limit=1, write=False, progress=False)
    i0, gt, i1 = (cv2.imread(str(root / f"BoxingPractice-{i:03d}.png"))[540:-540, 1024:-1024] for i in (1, 2, 3))
    assert gt.shape == (16, 12, 3)
    pred = np.round(_blend_round(i0 / np.float32(255), i1 / np.float32(255)) * 255).astype(np.uint8)
    assert res["n"] == 1 and res["n_total"] == 392 and res["padding"] == 16 and res["rounding"] == "uint8"
    assert res["psnr_skimage"] == pytest.approx(peak_signal_noise_ratio(gt, pred, data_range=255), abs=1e-9)
    assert res["ssim_skimage"] == pytest.approx(structural_similarity(gt, pred, data_range=255, channel_axis=-1), abs=1e-9)


def test_dis_baseline_beats_average_on_translation():
    yy, xx = np.mgrid[:48, :64]
    base = (127 + 100 * np.sin(xx / 5) * np.cos(yy / 7)).astype(np.float32) / 255
    f0 = torch.from_numpy(np.stack([base] * 3))[None]
    f1, mid = torch.roll(f0, 4, dims=3), torch.roll(f0, 2, dims=3)
    err = lambda m: (m(f0, f1)[..., 8:-8, 8:-8] - mid[..., 8:-8, 8:-8]).abs().mean().item()
    assert err(build_baseline("dis")) < 0.2 * err(build_baseline("average"))
    with pytest.raises(ValueError, match="--baseline must be one of"):
        build_baseline("rife")


def test_registry_names(tmp_path):
    for exp, kinds in (("phase1_hybrid_v2", ("best", "latest")), ("exp1a", ("latest",))):
        for k in kinds:
            (tmp_path / exp).mkdir(exist_ok=True)
            (tmp_path / exp / f"{k}.pt").write_bytes(b"")
    assert resolve_checkpoint("phase1_hybrid_v2_best", tmp_path) == tmp_path / "phase1_hybrid_v2" / "best.pt"
    assert resolve_checkpoint("phase1_hybrid_v2_latest", tmp_path) == tmp_path / "phase1_hybrid_v2" / "latest.pt"
    assert resolve_checkpoint("phase1_hybrid_v2", tmp_path).name == "best.pt"
    assert resolve_checkpoint("exp1a", tmp_path).name == "latest.pt"  # no best -> latest
    direct = tmp_path / "phase1_hybrid_v2" / "best.pt"
    assert resolve_checkpoint(str(direct), tmp_path) == direct
    assert display_name("phase1_hybrid_v2", tmp_path) == "phase1_hybrid_v2_best"
    assert available(tmp_path) == ["exp1a_latest", "phase1_hybrid_v2_best", "phase1_hybrid_v2_latest"]
    with pytest.raises(FileNotFoundError, match="available: exp1a_latest, phase1_hybrid_v2_best"):
        resolve_checkpoint("phase9_best", tmp_path)


def test_protocol_table_and_argument_errors():
    p = protocols.get_protocol("xtest", "2k")
    assert (p.scale, p.pad, p.round, p.resize, p.resize_space) == (0.5, 32, True, (2048, 1080), "float")
    assert protocols.get_protocol("xiph", "4k").crop == (540, 540, 1024, 1024)
    assert protocols.get_protocol("snu_film").round is False and protocols.get_protocol("ucf101").round is True
    assert "| xtest_4k |" in protocols.protocol_table_markdown()
    with pytest.raises(ValueError, match="resolution applies to xtest and xiph"):
        protocols.get_protocol("vimeo90k", "4k")
    with pytest.raises(ValueError, match="unknown benchmark"):
        protocols.get_protocol("davis")


def test_cli_with_a_real_checkpoint_name(tmp_path):
    """End to end: tiny phase-1 model saved as ckpt/<exp>/best.pt, evaluated by name."""
    from vfi_lib.config import preset
    from vfi_lib.model import build_model
    from vfi_lib.checkpoint import save_checkpoint

    torch.manual_seed(0)
    cfg = preset("phase1", tiny=True)
    model = build_model(cfg)
    save_checkpoint(tmp_path / "ckpt" / "tiny_p1" / "best.pt", model=model.state_dict(), config=cfg.to_dict(),
                    train_state={"epoch": 0, "step": 0, "best_psnr": 0.0})
    rng = np.random.default_rng(6)
    root = tmp_path / "ucf"
    for f in ("frame_00.png", "frame_01_gt.png", "frame_02.png"):
        _write(root / "a" / f, _frame(rng))
    out = tmp_path / "bench"
    args = ["ucf101", "--ckpt", "tiny_p1_best", "--ckpt_dir", str(tmp_path / "ckpt"), "--path", str(root),
            "--out_dir", str(out), "--no_progress"]
    assert main(args) == 0
    js = json.loads(_result(out, "ucf101_tiny_p1_best", "json").read_text())
    with torch.no_grad():
        i0, gt, i1 = (torch.from_numpy(cv2.imread(str(root / "a" / f))[..., ::-1].copy()).permute(2, 0, 1)[None].float() / 255
                      for f in ("frame_00.png", "frame_01_gt.png", "frame_02.png"))
        pred = model.eval()(i0, i1, 0.5).clamp(0, 1)
    exp = -10 * math.log10(((torch.round(pred * 255) / 255 - gt) ** 2).double().mean().item())
    assert js["model"] == "tiny_p1_best" and js["psnr"] == pytest.approx(exp, abs=1e-4)
    assert main(args[:2] + ["nope_best"] + args[3:]) == 2  # unknown name: error lists available names


def test_clips_benchmark_scores_every_clean_triplet_of_your_footage(tmp_path):
    """`eval clips --gap g`: every triplet (i, i+g, i+2g) of a frame folder, skipping a scene cut;
    the numbers equal an independent recomputation from the PNG files (rounded, as UCF101)."""
    rng = np.random.default_rng(5)
    clip = tmp_path / "footage" / "shot1"
    smooth = cv2.GaussianBlur(rng.integers(0, 256, (20, 28, 3), dtype=np.uint8), (0, 0), 2.0)
    base = [smooth, np.clip(smooth.astype(np.int16) + 100, 0, 255).astype(np.uint8)]  # scene B: a cut to see
    frames = []
    for i in range(9):  # a pan over scene A, then a cut to a pan over scene B at frame 6
        f = np.roll(base[0] if i < 6 else base[1], i, axis=1)
        frames.append(f)
        _write(clip / f"frame_{i:03d}.png", f[..., ::-1])
    out = tmp_path / "bench"
    for gap in (1, 2):
        assert main(["clips", "--baseline", "average", "--path", str(tmp_path / "footage"), "--gap", str(gap),
                     "--out_dir", str(out), "--no_progress"]) == 0
        tag = path_tag(tmp_path / "footage")  # the footage folder is in the result name
        js = json.loads(_result(out, f"clips_gap{gap}_{tag}_baseline_average", "json").read_text())
        starts = [i for i in range(9 - 2 * gap) if not (i < 6 <= i + 2 * gap)]  # no window across the cut
        exp = [_psnr(_blend_round(frames[i][..., ::-1] / 255.0, frames[i + 2 * gap][..., ::-1] / 255.0),
                     frames[i + gap][..., ::-1] / 255.0) for i in starts]
        assert js["n"] == len(starts) and js["gap"] == gap and js["rounding"] == "uint8"
        assert js["psnr"] == pytest.approx(np.mean(exp), abs=1e-5)
    with pytest.raises(ValueError, match="--gap applies to clips only"):
        run_benchmark(FrameAverage(), "ucf101", tmp_path, gap=2, write=False, progress=False)


def test_scale_auto_runs_our_model_names_the_result_and_is_refused_for_baselines(tmp_path, capsys):
    """`--scale auto` (flow_scale_arg): our Phase-2 model runs with (1.0, 0.5), recorded in the summary and the result
    name (`_s1-0.5`), its numbers equal a direct run with that scale tuple; a baseline given several scales fails
    in one line; the argument parser refuses scales <= 0 and text."""
    import argparse

    from vfi_lib.cli import AUTO_FLOW_SCALES, flow_scale_arg
    from vfi_lib.model.registry import create_model

    assert flow_scale_arg("auto") == AUTO_FLOW_SCALES == (1.0, 0.5)
    assert flow_scale_arg("0.5") == 0.5 and flow_scale_arg("0.5,0.25") == (0.5, 0.25)
    for bad in ("0", "-1,0.5", "fast", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            flow_scale_arg(bad)
    rng = np.random.default_rng(2)
    clip = tmp_path / "footage" / "shot"
    base = cv2.GaussianBlur(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8), (0, 0), 2.0)
    for i in range(5):
        _write(clip / f"frame_{i:03d}.png", np.roll(base, 2 * i, axis=1))
    torch.manual_seed(0)
    model = create_model("phase2_hybrid", tiny=True).eval()
    res = run_benchmark(model, "clips", tmp_path / "footage", scale=flow_scale_arg("auto"), out_dir=tmp_path / "o",
                        progress=False, model_name="tiny")
    assert tuple(res["scale"]) == (1.0, 0.5) and "_s1-0.5" in res["stem"] and res["n"] == 3
    again = run_benchmark(model, "clips", tmp_path / "footage", scale=[1.0, 0.5], write=False, progress=False)
    assert again["psnr"] == pytest.approx(res["psnr"], abs=1e-9)
    rc = main(["clips", "--baseline", "dis", "--path", str(tmp_path / "footage"), "--scale", "auto",
               "--out_dir", str(tmp_path / "o"), "--no_progress"])
    assert rc != 0 and "need one of our Phase-2 models" in capsys.readouterr().err
