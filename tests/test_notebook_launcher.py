"""The training notebooks' launcher (vfi_lib.notebooks.launcher): smoke/full configs, in-process or
torchrun dispatch, live curves."""

import json
from pathlib import Path

import pytest

from vfi_lib import paths
from vfi_lib.config import preset
from vfi_lib.notebooks import launcher


def test_training_config_smoke_and_full(tmp_path, capsys, monkeypatch):
    full = launcher.training_config(2, smoke=False, exp_name="p2", data_path="/data/vimeo", epochs=7, batch_size=3,
                                use_mhc=True, seed=5)
    assert (full.model.phase, full.train.dataset, full.train.data_path, full.train.epochs) == (2, "vimeo90k", "/data/vimeo", 7)
    assert full.model.use_mhc and full.train.batch_size == 3
    assert (full.train.log_dir, full.train.ckpt_dir) == (str(paths.project_root() / "log"), str(paths.project_root() / "ckpt"))
    assert full.model.stage_dims == preset("phase2").model.stage_dims  # not tiny
    smoke = launcher.training_config(1, smoke=True, exp_name="nb", backbone_mode="gated_attn_only", runs_root=tmp_path)
    assert smoke.model.stage_dims == preset("phase1", tiny=True).model.stage_dims
    assert (smoke.train.dataset, smoke.train.max_steps, smoke.train.crop_size, smoke.train.num_workers) == ("sample", 2, 64, 0)
    assert smoke.train.log_dir == str(tmp_path / "log") and smoke.train.ckpt_dir == str(tmp_path / "ckpt")
    assert smoke.model.backbone_mode == "gated_attn_only"
    p3 = launcher.training_config(3, smoke=True, exp_name="nb12", runs_root=tmp_path)
    assert p3.train.dataset == "synthetic" and "X4K1000FPS" in capsys.readouterr().out
    monkeypatch.setenv("VFI_OUTPUTS", str(tmp_path / "outputs"))
    monkeypatch.setenv("VFI_RUN_ID", "r7")
    fresh = [launcher.training_config(1, smoke=True, exp_name="nb").train for _ in range(2)]
    runs = tmp_path / "outputs" / "smoke" / "runs" / "r7"  # paths.smoke_runs_dir(): never full runs' ckpt/log
    assert paths.smoke_runs_dir() == runs and paths.smoke_runs_dir("other") == runs.parent / "other"
    assert [(t.ckpt_dir, t.log_dir) for t in fresh] == [(str(runs / d / "ckpt"), str(runs / d / "log"))
                                                       for d in ("nb", "nb-2")]  # repeated runs never share one
    with pytest.raises(ValueError, match="phase must be 1, 2 or 3"):
        launcher.training_config(4, smoke=True, exp_name="x")


def test_run_training_dispatches_like_the_cli_and_plots_live(tmp_path, monkeypatch):
    cfg = launcher.training_config(1, smoke=True, exp_name="live", runs_root=tmp_path)
    calls = []

    def fake_train(c):
        calls.append(("train", c.train.exp_name))
        d = Path(c.train.log_dir) / c.train.exp_name
        d.mkdir(parents=True, exist_ok=True)
        (d / "metrics.jsonl").write_text(json.dumps({"kind": "train", "step": 1, "loss": 0.3}) + "\n")
        return {"step": 1}

    def fake_launch(c, n):
        calls.append(("launch", n))
        return {"step": 2}

    assert launcher.run_training(cfg, 1, train_fn=fake_train, launch_fn=fake_launch) == {"step": 1}
    assert launcher.run_training(cfg, 3, train_fn=fake_train, launch_fn=fake_launch) == {"step": 2}
    assert calls == [("train", "live"), ("launch", 3)]
    drawn = []
    monkeypatch.setattr(launcher, "_redraw", lambda run, keys, handle: drawn.append((run.series("loss"), tuple(keys))) or "h")
    assert launcher.run_training(cfg, 1, live=True, every_s=0.01, train_fn=fake_train, launch_fn=fake_launch) == {"step": 1}
    assert drawn[-1] == (([1.0], [0.3]), ("loss",))

    def broken(c):
        raise RuntimeError("diverged")

    with pytest.raises(RuntimeError, match="diverged"):
        launcher.run_training(cfg, 1, live=True, every_s=0.01, train_fn=broken, launch_fn=fake_launch)
    with pytest.raises(ValueError, match="nproc must be >= 1"):
        launcher.run_training(cfg, 0)
