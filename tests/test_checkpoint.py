"""Checkpoint files: atomic write, weights_only round trip, corrupt fallback, config checks, load_model."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from vfi_lib.config import preset
from vfi_lib.model import build_model
from vfi_lib.checkpoint import (
    CheckpointError,
    IncompatibleCheckpointError,
    load_checkpoint,
    load_model,
    resolve_checkpoint,
    save_checkpoint,
)
from vfi_lib.train.checkpoint import capture_rng, find_resume_checkpoint, restore_rng


def _state(cfg, step, model=None):
    model = model or build_model(cfg)
    return {"config": cfg.to_dict(), "model": model.state_dict(), "rng": [capture_rng()],
            "train_state": {"epoch": 0, "step": step, "step_in_epoch": step, "best_psnr": 30.5}}


def test_roundtrip_weights_only_atomic_previous(tmp_path):
    cfg = preset("phase1", tiny=True)
    st = _state(cfg, 3)
    p = save_checkpoint(tmp_path / "e" / "latest.pt", keep_previous=True, **st)
    assert sorted(x.name for x in p.parent.iterdir()) == ["latest.pt"]  # no temp file left
    st5 = _state(cfg, 5)
    save_checkpoint(p, keep_previous=True, **st5)
    assert sorted(x.name for x in p.parent.iterdir()) == ["latest.pt", "previous.pt"]
    back = load_checkpoint(p)  # torch.load(weights_only=True) inside
    assert back["train_state"]["step"] == 5 and back["format"] == "vfi_lib.ckpt/1"
    assert load_checkpoint(p.parent / "previous.pt")["train_state"]["step"] == 3
    for k, v in st5["model"].items():
        assert torch.equal(back["model"][k], v)
    # a state with a non-tensor object is refused by weights_only loading
    torch.save({"format": "x", "config": {}, "model": {}, "obj": object()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(tmp_path / "evil.pt")


def test_rng_capture_restore_roundtrip():
    state = capture_rng()
    a = (random.random(), np.random.rand(), torch.rand(3))
    torch.save(state, "/dev/null")  # plain containers only
    restore_rng(state)
    b = (random.random(), np.random.rand(), torch.rand(3))
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])


def test_corrupt_latest_falls_back(tmp_path, capsys):
    cfg = preset("phase1", tiny=True)
    d = tmp_path / "exp"
    model = build_model(cfg)
    save_checkpoint(d / "epoch_000.pt", **_state(cfg, 4, model))
    save_checkpoint(d / "latest.pt", **_state(cfg, 6, model))
    save_checkpoint(d / "latest.pt", keep_previous=True, **_state(cfg, 8, model))
    data = (d / "latest.pt").read_bytes()
    (d / "latest.pt").write_bytes(data[: len(data) // 2])  # truncated by a crash
    with pytest.raises(CheckpointError, match=r"latest\.pt.*corrupt or truncated"):
        load_checkpoint(d / "latest.pt")
    logs = []
    path, state = find_resume_checkpoint(d, log=logs.append)
    assert path.name == "previous.pt" and state["train_state"]["step"] == 6
    assert "latest.pt" in logs[0] and "corrupt" in logs[0]
    # previous also corrupt -> newest epoch file
    (d / "previous.pt").write_bytes(b"garbage")
    path, state = find_resume_checkpoint(d, log=logs.append)
    assert path.name == "epoch_000.pt" and state["train_state"]["step"] == 4
    (d / "epoch_000.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="no readable checkpoint.*--no_resume"):
        find_resume_checkpoint(d, log=logs.append)
    assert find_resume_checkpoint(tmp_path / "empty") is None


def test_incompatible_config_lists_fields(tmp_path):
    cfg1 = preset("phase1", tiny=True)
    save_checkpoint(tmp_path / "latest.pt", **_state(cfg1, 1))
    cfg2 = preset("phase2", tiny=True, backbone_mode="mamba2_only")
    with pytest.raises(IncompatibleCheckpointError) as e:
        load_checkpoint(tmp_path / "latest.pt", cfg=cfg2)
    msg = str(e.value)
    assert "phase: checkpoint=1, current=2" in msg and "backbone_mode" in msg and "--no_resume" in msg
    # runtime-only fields may differ
    load_checkpoint(tmp_path / "latest.pt", cfg=preset("phase1", tiny=True, ssm_backend="torch"))


def test_load_model_by_path_and_name(tmp_path):
    cfg = preset("phase1", tiny=True)
    torch.manual_seed(1)
    model = build_model(cfg)
    ema = build_model(cfg)
    st = _state(cfg, 2, model)
    st["ema"] = {"module": ema.state_dict(), "updates": 2, "decay": 0.9}
    save_checkpoint(tmp_path / "run1" / "best.pt", **st)
    m = load_model(tmp_path / "run1" / "best.pt")
    k = next(iter(ema.state_dict()))
    assert torch.equal(m.state_dict()[k], ema.state_dict()[k]) and not m.training
    m2 = load_model("run1_best", ckpt_dir=tmp_path, ema=False)
    assert torch.equal(m2.state_dict()[k], model.state_dict()[k])
    assert resolve_checkpoint("run1", ckpt_dir=tmp_path).name == "best.pt"
    with pytest.raises(CheckpointError, match="checkpoint 'run9' not found .*available: run1_best"):
        load_model("run9", ckpt_dir=tmp_path)
