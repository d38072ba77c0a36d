"""Two-process DDP (gloo, CPU) through torchrun (via ``launch``): ranks agree, and 2 x batch 2
equals 1 x batch 4."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vfi_lib.train.checkpoint import load_checkpoint
from vfi_lib.train.cli import config_from_args, launch

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
ARGS = ["--phase", "1", "--tiny", "--dataset", "sample", "--crop_size", "32", "--num_workers", "0",
        "--val_limit", "3", "--max_steps", "3", "--warmup_steps", "1000", "--lr", "1e-3", "--log_interval", "1",
        "--ckpt_interval", "0"]


def test_two_process_gloo_agrees_with_single_process(tmp_path):
    dirs = ["--ckpt_dir", str(tmp_path / "ckpt"), "--log_dir", str(tmp_path / "log")]
    # launch() runs `python -m torch.distributed.run --standalone --nproc_per_node=2 -m vfi_lib.train ...`
    cfg = config_from_args([*ARGS, "--batch_size", "2", "--exp_name", "ddp", *dirs])
    returned = launch(cfg, nproc=2, env=ENV, echo=False, timeout_s=150)
    summary = json.loads((tmp_path / "log" / "ddp" / "summary.json").read_text())
    assert summary == returned and summary["world_size"] == 2 and summary["step"] == 3
    checks = summary["param_checksums"]
    assert len(checks) == 2 and checks[0] == checks[1]  # replicas identical after 3 steps
    st = load_checkpoint(tmp_path / "ckpt" / "ddp" / "latest.pt")
    assert st["train_state"]["world_size"] == 2 and len(st["rng"]) == 2  # one RNG state per rank
    val = [json.loads(x) for x in (tmp_path / "log" / "ddp" / "metrics.jsonl").read_text().splitlines() if '"val"' in x]
    assert val[-1]["n"] == 3  # validation sharded over the ranks, counts all-reduced

    single = subprocess.run(
        [sys.executable, "-m", "vfi_lib.train", *ARGS, "--batch_size", "4", "--exp_name", "single", *dirs],
        cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120,
    )
    assert single.returncode == 0, single.stderr[-4000:]
    # the all-reduced gradient is the mean over the joined batch: the same loss and gradient norm
    # as one process with batch 4. (A long warmup keeps the steps tiny: Adam's first update is
    # lr * sign(g), so float noise in near-zero gradient entries would otherwise flip whole steps.)
    def train_recs(exp):
        lines = (tmp_path / "log" / exp / "metrics.jsonl").read_text().splitlines()
        return [r for r in map(json.loads, lines) if r["kind"] == "train"]

    d, s = train_recs("ddp"), train_recs("single")
    assert [r["step"] for r in d] == [r["step"] for r in s] == [1, 2, 3]
    for a, b in zip(d, s):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)
        assert a["grad_norm"] == pytest.approx(b["grad_norm"], rel=1e-3)
