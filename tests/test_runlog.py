"""The run log (vfi_lib.train.runlog): the trainer's writer and the reader notebooks use, one format."""

import json
import time
from pathlib import Path

import pytest

from vfi_lib.config import preset
from vfi_lib.train import runlog
from vfi_lib.viz import markdown_table


def _write_run(root: Path, name: str, records: list, cfg=None, tail: str = "") -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records) + tail)
    if cfg is not None:
        cfg.to_json(d / "config.json")
    return d


def test_read_jsonl_skips_a_half_written_tail_but_names_bad_lines(tmp_path):
    p = _write_run(tmp_path, "a", [{"kind": "train", "step": 1, "loss": 0.5}], tail='{"kind": "tr') / "metrics.jsonl"
    assert runlog.read_jsonl(p) == [{"kind": "train", "step": 1, "loss": 0.5}]
    p.write_text('{"step": 1}\nnot json\n{"step": 2}\n')
    with pytest.raises(ValueError, match=r"metrics\.jsonl:2: not valid JSON"):
        runlog.read_jsonl(p)
    p.write_text("[1, 2]\n{}\n")
    with pytest.raises(ValueError, match=r":1: expected a JSON object"):
        runlog.read_jsonl(p)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        runlog.read_jsonl(tmp_path / "missing.jsonl")


def test_series_summary_and_markdown_from_trainer_style_records(tmp_path):
    cfg = preset("phase1", tiny=True, backbone_mode="mamba2_only")
    recs = [{"time": 0.1, "kind": "train", "epoch": 0, "step": 1, "loss": 0.9, "lr": 1e-4},
            {"time": 0.2, "kind": "train", "epoch": 0, "step": 2, "loss": 0.7, "lr": 2e-4},
            {"time": 0.3, "kind": "val", "epoch": 0, "step": 2, "psnr": 28.0, "ssim": 0.90, "n": 2},
            {"time": 0.4, "kind": "train", "epoch": 1, "step": 3, "loss": float("nan")},
            {"time": 0.5, "kind": "val", "epoch": 1, "step": 4, "psnr": 29.5, "ssim": 0.93, "n": 2},
            {"time": 0.6, "kind": "val", "epoch": 2, "step": 6, "psnr": 29.0, "ssim": 0.95, "n": 2}]
    _write_run(tmp_path, "phase1_mamba2_only", recs, cfg)
    _write_run(tmp_path, "other", recs[:2])
    (tmp_path / "not_a_run").mkdir()
    assert [p.name for p in runlog.find_runs(tmp_path)] == ["other", "phase1_mamba2_only"]
    run = runlog.load_runs(tmp_path, ["phase1_mamba2_only"])[0]
    assert run.series("loss") == ([1.0, 2.0], [0.9, 0.7])  # NaN dropped
    assert run.series("val_psnr") == ([2.0, 4.0, 6.0], [28.0, 29.5, 29.0])
    assert run.series("val_n") == ([2.0, 4.0, 6.0], [2.0, 2.0, 2.0])
    assert run.series("psnr") == ([], [])  # psnr is a val key: one spelling, "val_psnr"
    assert "val_ssim" in run.keys() and "loss" in run.keys()
    row = runlog.summarize(run)
    from vfi_lib.model import build_model, count_parameters

    n_params = count_parameters(build_model(cfg))
    assert row == {"run": "phase1_mamba2_only", "backbone_mode": "mamba2_only", "use_mhc": False,
                   "params_M": round(n_params / 1e6, 4), "steps": 2, "final_loss": 0.7,
                   "best_val_psnr": 29.5, "best_val_ssim": 0.95}
    no_cfg = runlog.summarize(runlog.load_run(tmp_path / "other"))
    assert no_cfg["params_M"] is None and no_cfg["best_val_psnr"] is None and no_cfg["backbone_mode"] == "?"
    md = markdown_table([row, {"run": "x|y", "extra": 1.23456}]).splitlines()
    assert md[0].startswith("| run | backbone_mode") and md[0].endswith("| extra |")
    assert md[3].startswith("| x\\|y | -- |") and md[3].endswith("| 1.235 |")
    with pytest.raises(FileNotFoundError, match=r"runs \['nope'\] not found.*available: other, phase1_mamba2_only"):
        runlog.load_runs(tmp_path, ["nope"])
    with pytest.raises(ValueError, match="no rows"):
        markdown_table([])


def test_writer_records_round_trip_through_the_reader(tmp_path):
    """What the writer appends is what the reader's series() returns; trim() drops a killed run's tail."""
    w = runlog.RunLogWriter(tmp_path / "exp", t0=100.0)
    w.write_config(preset("phase1", tiny=True))
    for step in (1, 2, 3):
        w.append("train", step, 0, 100.0 + step, loss=1.0 / step)
    w.append("val", 3, 0, 104.0, psnr=30.0, ssim=0.9)
    with pytest.raises(ValueError, match="kind must be one of"):
        w.append("test", 4, 0, 105.0, loss=0.1)
    run = runlog.load_run(tmp_path / "exp")
    assert run.series("loss") == ([1.0, 2.0, 3.0], [1.0, 0.5, 1.0 / 3])
    assert run.series("val_psnr") == ([3.0], [30.0]) and run.records[0]["time"] == 1.0
    assert run.config_value("model.phase") == 1
    with open(w.metrics_path, "a") as f:
        f.write('{"kind": "train", "st')  # a line cut by kill -9
    w.trim(2)
    assert [r["step"] for r in runlog.read_jsonl(w.metrics_path)] == [1, 2]
    w.trim(0)
    assert runlog.read_jsonl(w.metrics_path) == []
    w.write_summary({"step": 3})
    assert json.loads((tmp_path / "exp" / runlog.SUMMARY_FILE).read_text()) == {"step": 3}
