"""One flag dialect and one error line for every command line (vfi_lib.cli)."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch

from vfi_lib import cli
from vfi_lib.checkpoint import load_model, save_checkpoint
from vfi_lib.config import preset
from vfi_lib.data import save_image
from vfi_lib.model import build_model


def _parsers() -> dict[str, argparse.ArgumentParser]:
    from vfi_lib.eval.__main__ import build_parser as eval_parser
    from vfi_lib.infer.pair import build_parser as pair_parser
    from vfi_lib.infer.video import build_parser as video_parser
    from vfi_lib.speed.timetest import build_parser as timetest_parser
    from vfi_lib.train.cli import build_parser as train_parser

    return {"eval": eval_parser(), "infer.pair": pair_parser(), "infer.video": video_parser(),
            "speed.timetest": timetest_parser(), "train": train_parser()}


def _option(ap: argparse.ArgumentParser, flag: str) -> argparse.Action:
    (act,) = [a for a in ap._actions if flag in a.option_strings]
    return act


@pytest.mark.parametrize("name", ["eval", "infer.pair", "infer.video", "speed", "speed.ssd", "speed.timetest",
                                  "train"])
def test_shared_flags_have_one_name_and_dialect(name):
    from vfi_lib.speed.ssd import build_parser as ssd_parser
    from vfi_lib.speed.stack import build_parser as stack_parser

    ap = {**_parsers(), "speed": stack_parser(), "speed.ssd": ssd_parser()}[name]
    shown = [s for a in ap._actions if a.help != argparse.SUPPRESS for s in a.option_strings if s.startswith("--")]
    assert not [s for s in shown if "-" in s[2:]], "flags are spelled with underscores (dashed ones: hidden aliases)"
    if name != "speed.ssd":  # the SSD benchmark times every backend (and torch.compile) itself
        assert set(_option(ap, "--ssm_backend").choices) == {"auto", "torch", "triton"}
        assert set(_option(ap, "--compile").choices) == {"off", "default", "cudagraphs", "regional"}
        assert _option(ap, "--compile").const == "default"  # a bare --compile means "default" everywhere
    assert set(_option(ap, "--dtype").choices) == {"fp32", "bf16", "fp16"}
    assert _option(ap, "--device") is not None
    if name in ("speed", "speed.ssd"):  # benchmarks of built models / bare SSD: several dtypes, no model flags
        assert _option(ap, "--device").default == "auto" and _option(ap, "--dtype").default == ["fp32", "bf16"]
        old, dest, value = ((["--phases", "1"], "phase", [1]) if name == "speed"
                            else (["--chunk-size", "8"], "chunk_size", 8))
        assert getattr(ap.parse_args(old), dest) == value  # the deprecated dashed/plural spelling still parses
        if name == "speed":
            assert _option(ap, "--ssm_backend").default == "auto" and _option(ap, "--phase").nargs == "+"
    elif name != "train":  # train keeps its config defaults (auto) through its config file
        assert _option(ap, "--device").default == "auto" and _option(ap, "--ssm_backend").default == "auto"
        assert _option(ap, "--dtype").default == "fp32" and _option(ap, "--compile").default == "off"
        for flag in ("--ckpt", "--baseline", "--peer", "--weights", "--ckpt_dir"):
            assert _option(ap, flag) is not None, flag


def test_train_dtype_and_compile_map_to_the_config():
    from vfi_lib.config import ConfigError
    from vfi_lib.train.cli import config_from_args

    cfg = config_from_args(["--tiny", "--dtype", "fp32", "--compile", "--device", "cpu"])
    assert (cfg.train.amp, cfg.train.compile, cfg.train.device) == ("off", "default", "cpu")
    assert config_from_args(["--dtype", "bf16"]).train.amp == "bf16"
    assert config_from_args([]).train.compile == "off"
    with pytest.raises(ConfigError, match="disagree"):
        config_from_args(["--dtype", "bf16", "--amp", "fp16"])


@pytest.fixture
def pair_images(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)
    b = np.roll(a, 2, axis=1)
    pa, pb = tmp_path / "a.png", tmp_path / "b.png"
    save_image(pa, a)
    save_image(pb, b)
    return pa, pb, a, b


def _clis(tmp_path, pair_images, ckpt: str) -> dict[str, tuple]:
    from vfi_lib.eval.__main__ import main as eval_main
    from vfi_lib.infer.pair import main as pair_main
    from vfi_lib.infer.video import main as video_main
    from vfi_lib.speed.timetest import main as timetest_main

    pa, pb, _, _ = pair_images
    return {
        "eval": (eval_main, ["bbb", "--ckpt", ckpt, "--path", "", "--no_progress"]),
        "timetest": (timetest_main, ["--ckpt", ckpt, "--resolution", "32x32", "--runs", "1"]),
        "video": (video_main, ["--video", str(tmp_path / "v.mp4"), "--ckpt", ckpt, "--png_out", str(tmp_path / "o")]),
        "pair": (pair_main, [str(pa), str(pb), "-o", str(tmp_path / "m.png"), "--ckpt", ckpt]),
    }


def test_corrupt_checkpoint_gives_the_same_one_line_error_everywhere(tmp_path, pair_images, capsys):
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"PK\x03\x04 not a checkpoint" * 10)
    lines = {}
    for name, (main, argv) in _clis(tmp_path, pair_images, str(bad)).items():
        assert main(argv) == 2, name
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: checkpoint "), (name, err)
        assert "Traceback" not in err[0] and str(bad) in err[0] and "corrupt or truncated" in err[0]
        lines[name] = err[0]
    assert len(set(lines.values())) == 1, lines


def test_train_corrupt_resume_is_one_line(tmp_path, pair_images, capsys):
    """train --resume of a corrupt file prints exactly the one line the other commands print for it,
    a fixed reason without torch's "re-run with weights_only=False" advice."""
    from vfi_lib.train.__main__ import main as train_main

    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"\x00" * 64)  # torch reads this as a (legacy) pickle and refuses it
    pair_main, pair_argv = _clis(tmp_path, pair_images, str(bad))["pair"]
    assert pair_main(pair_argv) == 2
    (other,) = capsys.readouterr().err.strip().splitlines()
    rc = train_main(["--tiny", "--dataset", "sample", "--resume", str(bad), "--ckpt_dir", str(tmp_path / "c"),
                     "--log_dir", str(tmp_path / "l"), "--num_workers", "0"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err == [other]
    assert other == (f"error: checkpoint {str(bad)!r} is corrupt or truncated "
                     "(64 bytes; not a readable torch checkpoint)")


def test_unreadable_checkpoint_reasons_are_fixed_lines(tmp_path):
    """Torch's advice (re-run with weights_only=False) never reaches the user: a truncated file is
    "corrupt or truncated", a pickle of a foreign object names that object."""
    from vfi_lib.checkpoint import CheckpointError, load_checkpoint

    foreign = tmp_path / "foreign.pt"
    torch.save({"format": "x", "config": {}, "model": {}, "obj": object()}, foreign)
    cut = tmp_path / "cut.pt"
    save_checkpoint(cut, model={"w": torch.zeros(64)}, config={})
    cut.write_bytes(cut.read_bytes()[:100])
    msgs = {}
    for f in (foreign, cut):
        with pytest.raises(CheckpointError) as e:
            load_checkpoint(f)
        msgs[f.name] = str(e.value)
        assert "\n" not in msgs[f.name] and "weights_only" not in msgs[f.name] and str(f) in msgs[f.name]
    assert msgs["cut.pt"] == f"checkpoint {str(cut)!r} is corrupt or truncated (100 bytes; not a readable torch checkpoint)"
    assert "holds a Python object (object) that a weights-only load refuses" in msgs["foreign.pt"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_device_cuda_without_cuda_is_one_line(tmp_path, pair_images, capsys):
    from vfi_lib.train.__main__ import main as train_main

    for name, (main, argv) in _clis(tmp_path, pair_images, "x").items():
        assert main([*argv, "--device", "cuda"]) == 2, name
        err = capsys.readouterr().err.strip().splitlines()
        assert err == ["error: --device cuda: CUDA is not available on this machine "
                       f"(torch {torch.__version__}); use --device cpu (or auto)"], (name, err)
    assert train_main(["--tiny", "--device", "cuda", "--dataset", "sample"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: --device cuda: CUDA is not available")


def test_checkpoint_trained_with_triton_runs_on_cpu_through_the_flag(tmp_path, pair_images, capsys):
    """The saved backend is a runtime choice: --ssm_backend (default auto) overrides it when loading."""
    from vfi_lib.infer.pair import main as pair_main
    from vfi_lib.ssm.backends import BackendError

    cfg = preset("phase1", tiny=True, ssm_backend="triton")
    path = save_checkpoint(tmp_path / "ckpt" / "t" / "best.pt", model=build_model(cfg).state_dict(),
                           config=cfg.to_dict())
    as_saved = load_model(path, ssm_backend=None)  # None: keep the checkpoint's backend
    x = torch.rand(1, 3, 32, 32)
    with pytest.raises(BackendError, match="--ssm_backend auto|torch"):
        as_saved(x, x)
    pa, pb, _, _ = pair_images
    out = tmp_path / "mid.png"
    assert pair_main([str(pa), str(pb), "-o", str(out), "--ckpt", str(path)]) == 0  # auto -> torch on CPU
    assert out.is_file()
    assert pair_main([str(pa), str(pb), "-o", str(out), "--ckpt", str(path), "--ssm_backend", "triton"]) == 2
    assert "needs CUDA tensors" in capsys.readouterr().err


def test_one_line_reduces_a_dataloader_worker_error():
    from torch._utils import ExceptionWrapper

    from vfi_lib.data import DataError

    try:
        raise DataError("/data/x/im2.png: not a decodable image (truncated or not an image file)")
    except DataError:
        wrapped = ExceptionWrapper(where="in DataLoader worker process 0")
    try:
        wrapped.reraise()
    except DataError as e:
        assert "Original Traceback" in str(e)
        assert cli.one_line(e) == "/data/x/im2.png: not a decodable image (truncated or not an image file)"
    assert cli.one_line(ValueError("plain")) == "plain"
    rebuilt = RuntimeError("Caught UnicodeDecodeError in DataLoader worker process 1.\nOriginal Traceback (most recent "
                           "call last):\n  File \"x.py\", line 1\nUnicodeDecodeError: 'utf-8' codec can't decode byte")
    assert cli.one_line(rebuilt) == "'utf-8' codec can't decode byte"  # type taken from the "Caught X" header


def test_pair_cli_writes_frames_and_checks_its_inputs(tmp_path, pair_images, capsys):
    from vfi_lib.data import load_image
    from vfi_lib.infer.pair import main as pair_main

    pa, pb, a, b = pair_images
    out = tmp_path / "mid.png"
    assert pair_main([str(pa), str(pb), "-o", str(out), "--baseline", "average"]) == 0
    mid = load_image(out)
    exp = np.round((a.astype(np.float64) + b) / 2).astype(np.uint8)
    assert np.abs(mid.astype(int) - exp).max() <= 1  # the average of the two frames
    assert pair_main([str(pa), str(pb), "-o", str(tmp_path / "many"), "--multi", "4", "--baseline", "average"]) == 0
    assert sorted(p.name for p in (tmp_path / "many").iterdir()) == ["a_1of4.png", "a_2of4.png", "a_3of4.png"]
    q = load_image(tmp_path / "many" / "a_1of4.png").astype(np.float64)
    assert np.abs(q - (0.75 * a + 0.25 * b)).max() <= 1.0
    capsys.readouterr()
    small = tmp_path / "small.png"
    save_image(small, a[:16])
    assert pair_main([str(pa), str(small), "-o", str(out), "--baseline", "average"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "small.png: size 40x16 differs" in err[0]
    assert pair_main([str(pa), str(tmp_path / "nope.png"), "-o", str(out), "--baseline", "average"]) == 2
    assert "nope.png" in capsys.readouterr().err
    assert pair_main([str(pa), str(pb), "-o", str(out), "--t", "1.5", "--baseline", "average"]) == 2
    assert "--t must lie in (0, 1)" in capsys.readouterr().err
    assert pair_main([str(pa), str(pb), "-o", str(out), "--weights", "w.pkl", "--baseline", "dis"]) == 2
    assert "--weights is for --peer" in capsys.readouterr().err


def test_resolve_device():
    assert cli.resolve_device("cpu") == torch.device("cpu")
    assert cli.resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(cli.CliError, match="not a device"):
        cli.resolve_device("gpu0")
    with pytest.raises(cli.CliError, match="unsupported device type"):
        cli.resolve_device("meta")


def test_eval_records_every_setting_and_names_tta_runs_apart(tmp_path, monkeypatch):
    """An --tta run does not replace the plain run's file, and both JSONs record --path and the flags."""
    from vfi_lib.data import write_vimeo_layout
    from vfi_lib.eval.__main__ import main as eval_main

    rng = np.random.default_rng(3)
    root = write_vimeo_layout(tmp_path / "vimeo", [{k: rng.integers(0, 256, (16, 24, 3), dtype=np.uint8)
                                                   for k in ("img0", "gt", "img1")}])
    monkeypatch.setenv("VFI_RUN_ID", "same-run")
    out = tmp_path / "bench"
    base = ["vimeo90k", "--baseline", "average", "--path", str(root), "--out_dir", str(out), "--no_progress"]
    assert eval_main(base) == 0 and eval_main(base + ["--tta"]) == 0 and eval_main(base + ["--limit", "1"]) == 0
    names = sorted(p.name for p in out.glob("*.json"))
    assert names == ["vimeo90k_baseline_average__same-run.json", "vimeo90k_baseline_average_lim1__same-run.json",
                     "vimeo90k_baseline_average_tta__same-run.json"]
    js = json.loads((out / names[2]).read_text())
    assert js["tta"] is True and js["path"] == str(root.resolve())
    assert js["settings"] == {"baseline": "average", "device": "auto", "dtype": "fp32", "compile": "off",
                              "ssm_backend": "auto"}
    assert eval_main(base) == 0  # the same settings again in the same run: new files, the first ones kept
    assert {p.name for p in out.glob("vimeo90k_baseline_average__*")} == {
        f"vimeo90k_baseline_average__same-run{n}.{ext}" for n in ("", "-2") for ext in ("csv", "json", "md")}


def test_eval_clips_runs_on_different_footage_never_collide(tmp_path, monkeypatch):
    """`eval clips` (and `bbb`) name the --path folder in the result name: its last name and a short
    hash of the resolved path, so two folders of the same name still get different files."""
    from vfi_lib.eval.__main__ import main as eval_main
    from vfi_lib.paths import path_tag

    rng = np.random.default_rng(4)
    smooth = np.ascontiguousarray(np.repeat(np.repeat(rng.integers(0, 256, (4, 5, 3), dtype=np.uint8), 4, 0), 4, 1))
    folders = [tmp_path / "a" / "footage", tmp_path / "b" / "footage"]
    for d in folders:
        (d / "shot").mkdir(parents=True)
        for i in range(3):
            save_image(d / "shot" / f"frame_{i:03d}.png", np.roll(smooth, i, axis=1))
    monkeypatch.setenv("VFI_RUN_ID", "r")
    out = tmp_path / "bench"
    for d in folders:
        assert eval_main(["clips", "--baseline", "average", "--path", str(d), "--out_dir", str(out),
                          "--no_progress"]) == 0
    tags = [path_tag(d) for d in folders]
    assert tags[0] != tags[1] and all(t.startswith("footage-") for t in tags)
    assert sorted(p.name for p in out.glob("*.json")) == sorted(f"clips_gap1_{t}_baseline_average__r.json" for t in tags)
    for t, d in zip(tags, folders):
        assert json.loads((out / f"clips_gap1_{t}_baseline_average__r.json").read_text())["path"] == str(d.resolve())
