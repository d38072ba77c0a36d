"""vfi_lib.runs (run collection, notebook training helpers), vfi_lib.sota (seed tables) and
vfi_lib.maps (attention/gate summaries)."""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from vfi_lib import maps, runs, sota
from vfi_lib.config import preset

SEED_README = Path("/work/shared/seed/README-thesis-vfi.md")


# ----------------------------------------------------------------------------- runs
def _write_run(root: Path, name: str, records: list, cfg=None, tail: str = "") -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records) + tail)
    if cfg is not None:
        cfg.to_json(d / "config.json")
    return d


def test_read_jsonl_skips_a_half_written_tail_but_names_bad_lines(tmp_path):
    p = _write_run(tmp_path, "a", [{"kind": "train", "step": 1, "loss": 0.5}], tail='{"kind": "tr') / "metrics.jsonl"
    assert runs.read_jsonl(p) == [{"kind": "train", "step": 1, "loss": 0.5}]
    p.write_text('{"step": 1}\nnot json\n{"step": 2}\n')
    with pytest.raises(ValueError, match=r"metrics\.jsonl:2: not valid JSON"):
        runs.read_jsonl(p)
    p.write_text("[1, 2]\n{}\n")
    with pytest.raises(ValueError, match=r":1: expected a JSON object"):
        runs.read_jsonl(p)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        runs.read_jsonl(tmp_path / "missing.jsonl")


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
    assert [p.name for p in runs.find_runs(tmp_path)] == ["other", "phase1_mamba2_only"]
    run = runs.load_runs(tmp_path, ["phase1_mamba2_only"])[0]
    assert run.series("loss") == ([1.0, 2.0], [0.9, 0.7])  # NaN dropped
    assert run.series("val_psnr") == ([2.0, 4.0, 6.0], [28.0, 29.5, 29.0])
    assert run.series("psnr", x="epoch") == ([0.0, 1.0, 2.0], [28.0, 29.5, 29.0])
    assert "val_ssim" in run.keys() and "loss" in run.keys()
    row = runs.summarize(run)
    from vfi_lib.model import build_model

    n_params = sum(p.numel() for p in build_model(cfg).parameters())
    assert row == {"run": "phase1_mamba2_only", "backbone_mode": "mamba2_only", "use_mhc": False,
                   "params_M": round(n_params / 1e6, 4), "steps": 2, "final_loss": 0.7,
                   "best_val_psnr": 29.5, "best_val_ssim": 0.95}
    no_cfg = runs.summarize(runs.load_run(tmp_path / "other"))
    assert no_cfg["params_M"] is None and no_cfg["best_val_psnr"] is None and no_cfg["backbone_mode"] == "?"
    md = runs.markdown([row, {"run": "x|y", "extra": 1.23456}]).splitlines()
    assert md[0].startswith("| run | backbone_mode") and md[0].endswith("| extra |")
    assert md[3].startswith("| x\\|y | -- |") and md[3].endswith("| 1.235 |")
    with pytest.raises(FileNotFoundError, match=r"runs \['nope'\] not found.*available: other, phase1_mamba2_only"):
        runs.load_runs(tmp_path, ["nope"])
    with pytest.raises(ValueError, match="no rows"):
        runs.markdown([])


def test_training_config_smoke_and_full(tmp_path, capsys, monkeypatch):
    full = runs.training_config(2, smoke=False, exp_name="p2", data_path="/data/vimeo", epochs=7, batch_size=3,
                                use_mhc=True, seed=5)
    assert (full.model.phase, full.train.dataset, full.train.data_path, full.train.epochs) == (2, "vimeo90k", "/data/vimeo", 7)
    assert full.model.use_mhc and full.train.batch_size == 3
    assert (full.train.log_dir, full.train.ckpt_dir) == (str(runs.REPO_ROOT / "log"), str(runs.REPO_ROOT / "ckpt"))
    assert runs.project_path("outputs") == runs.REPO_ROOT / "outputs" and runs.project_path(tmp_path) == tmp_path
    monkeypatch.setenv("VFI_CKPT_DIR", str(tmp_path / "weights"))
    assert runs.ckpt_root() == tmp_path / "weights"
    monkeypatch.delenv("VFI_CKPT_DIR")
    assert runs.ckpt_root() == runs.REPO_ROOT / "ckpt"
    assert full.model.stage_dims == preset("phase2").model.stage_dims  # not tiny
    smoke = runs.training_config(1, smoke=True, exp_name="nb", backbone_mode="gated_attn_only", runs_root=tmp_path)
    assert smoke.model.stage_dims == preset("phase1", tiny=True).model.stage_dims
    assert (smoke.train.dataset, smoke.train.max_steps, smoke.train.crop_size, smoke.train.num_workers) == ("sample", 2, 64, 0)
    assert smoke.train.log_dir == str(tmp_path / "log") and smoke.train.ckpt_dir == str(tmp_path / "ckpt")
    assert smoke.model.backbone_mode == "gated_attn_only"
    p3 = runs.training_config(3, smoke=True, exp_name="nb12", runs_root=tmp_path)
    assert p3.train.dataset == "synthetic" and "X4K1000FPS" in capsys.readouterr().out
    fresh = [Path(runs.training_config(1, smoke=True, exp_name="nb").train.log_dir).parent for _ in range(2)]
    for d in fresh:
        assert d.is_dir() and d.name.startswith("vfi_nb_")
        shutil.rmtree(d)
    assert fresh[0] != fresh[1]  # concurrent smoke runs never share a folder
    with pytest.raises(ValueError, match="phase must be 1, 2 or 3"):
        runs.training_config(4, smoke=True, exp_name="x")


def test_run_training_dispatches_like_the_cli_and_plots_live(tmp_path, monkeypatch):
    cfg = runs.training_config(1, smoke=True, exp_name="live", runs_root=tmp_path)
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

    assert runs.run_training(cfg, 1, train_fn=fake_train, launch_fn=fake_launch) == {"step": 1}
    assert runs.run_training(cfg, 3, train_fn=fake_train, launch_fn=fake_launch) == {"step": 2}
    assert calls == [("train", "live"), ("launch", 3)]
    drawn = []
    monkeypatch.setattr(runs, "_redraw", lambda run, keys, handle: drawn.append((run.series("loss"), tuple(keys))) or "h")
    assert runs.run_training(cfg, 1, live=True, every_s=0.01, train_fn=fake_train, launch_fn=fake_launch) == {"step": 1}
    assert drawn[-1] == (([1.0], [0.3]), ("loss",))

    def broken(c):
        raise RuntimeError("diverged")

    with pytest.raises(RuntimeError, match="diverged"):
        runs.run_training(cfg, 1, live=True, every_s=0.01, train_fn=broken, launch_fn=fake_launch)
    with pytest.raises(ValueError, match="nproc must be >= 1"):
        runs.run_training(cfg, 0)


# ----------------------------------------------------------------------------- sota
def _seed_table(title: str) -> list[list[str]]:
    text = SEED_README.read_text()
    block = text.split(title, 1)[1].split("\n\n", 2)[1]
    lines = [ln for ln in block.splitlines() if ln.startswith("|")][2:]
    return [[c.strip() for c in ln.strip("|").split("|")] for ln in lines]


def _num(cell: str):
    m = re.search(r"\d+\.\d+", cell)
    return float(m.group()) if m else None


@pytest.mark.skipif(not SEED_README.exists(), reason="the seed README is not on this machine")
def test_sota_tables_match_the_seed_readme():
    rows = _seed_table("### SOTA Reference")
    assert [(r[0], r[1], _num(r[2]), _num(r[3])) for r in rows] == [
        (r["model"], r["venue"], r["vimeo90k"], r["ucf101"]) for r in sota.SOTA_REFERENCE]
    targets = _seed_table("### Per-Phase Targets")
    assert [r[0] for r in targets] == [sota.METRIC_LABELS[m] for m in sota.TARGET_METRICS]
    cols = ["phase1", "phase2", "phase3", "RIFE", "VFIMamba"]
    for r, metric in zip(targets, sota.TARGET_METRICS):
        assert [_num(c) for c in r[1:]] == [sota.PHASE_TARGETS[c][metric] for c in cols], metric


def test_markdown_table_merges_our_rows_in_psnr_order():
    md = sota.markdown_table([{"model": "ours", "vimeo90k": 36.62, "snu_film_extreme": 26.1},
                              {"model": "avg", "vimeo90k": None}]).splitlines()
    assert md[0] == "| Model | Venue | Vimeo90K (PSNR) | UCF101 (PSNR) | SNU-FILM Extreme |"
    models = [ln.split("|")[1].strip() for ln in md[2:]]
    assert models == ["MA-GCSPA", "EMA-VFI", "VFIMamba", "**ours**", "IQ-VFI", "AMT-G", "RIFE-Large", "**avg**"]
    assert md[5] == "| **ours** | **--** | **36.62** | **--** | **26.10** |"
    assert sota.markdown_table(sort_by=None).splitlines()[2].startswith("| MA-GCSPA | CVPR 2023 | 36.85 | -- |")
    with pytest.raises(ValueError, match=r"our_rows\[0\] has no 'model'"):
        sota.markdown_table([{"vimeo90k": 1.0}])


def test_check_targets_and_targets_markdown():
    rows = sota.check_targets(2, {"vimeo90k": 35.7, "snu_film_extreme": 25.5})
    assert [r["metric"] for r in rows] == ["vimeo90k", "ucf101", "snu_film_hard", "snu_film_extreme"]
    assert rows[0]["met"] is True and rows[0]["gap"] == pytest.approx(0.2)
    assert rows[1]["met"] is None and rows[3]["met"] is False and rows[3]["gap"] == pytest.approx(-0.5)
    assert [r["metric"] for r in sota.check_targets("phase3", {})][-1] == "xtest_4k"
    with pytest.raises(ValueError, match="unknown metric keys \\['psnr'\\]"):
        sota.check_targets(1, {"psnr": 30.0})
    with pytest.raises(ValueError, match="phase must be"):
        sota.check_targets(4, {})
    md = sota.targets_markdown({"ours": {"vimeo90k": 33.456}}).splitlines()
    assert md[2] == "| Vimeo90K (PSNR) | >= 34.5 | >= 35.5 | >= 35.5 | 35.62 | 36.64 | 33.46 |"
    assert md[6] == "| X-TEST 4K | -- | -- | >= 30.0 | -- | 30.82 | -- |"


def test_sample_vimeo_layout_reads_back_with_the_vimeo_loader(tmp_path):
    from vfi_lib.data import DataError, Vimeo90K, write_vimeo_layout

    rng = np.random.default_rng(0)
    tris = [{k: rng.integers(0, 256, (16, 24, 3), dtype=np.uint8) for k in ("img0", "gt", "img1")} for _ in range(2)]
    root = write_vimeo_layout(tmp_path / "vimeo", tris)
    ds = Vimeo90K(root, split="test")
    assert len(ds) == 2
    item = ds[1]
    for key in ("img0", "gt", "img1"):
        assert np.array_equal(item[key].permute(1, 2, 0).numpy(), tris[1][key])
    with pytest.raises(DataError, match="no triplets"):
        write_vimeo_layout(tmp_path / "empty", [])


# ----------------------------------------------------------------------------- maps
def test_window_stats_on_uniform_identity_and_cross_attention():
    n_h, n_w, heads, w2 = 2, 3, 2, 4  # 6 windows, N = 2 frames x 4 tokens
    n = 2 * w2
    uniform = torch.full((n_h * n_w, heads, n, n), 1.0 / n)
    assert np.allclose(maps.window_stat_map(uniform, n_h, n_w, "cross_frame"), 0.5)
    assert np.allclose(maps.window_stat_map(uniform, n_h, n_w, "entropy"), 1.0)
    assert np.allclose(maps.window_stat_map(uniform, n_h, n_w, "max_weight"), 1.0 / n)
    ident = torch.eye(n).expand(n_h * n_w, heads, n, n).clone()
    assert np.allclose(maps.window_stat_map(ident, n_h, n_w, "cross_frame"), 0.0)
    assert np.allclose(maps.window_stat_map(ident, n_h, n_w, "entropy"), 0.0)
    # window k: every query attends only to the other frame's token k % w2 -> cross share 1 in odd windows
    a = ident.clone()
    for k in range(1, n_h * n_w, 2):
        a[k] = 0
        a[k, :, :w2, w2] = 1.0  # frame-0 queries -> a frame-1 key
        a[k, :, w2:, 0] = 1.0  # frame-1 queries -> a frame-0 key
    m = maps.window_stat_map(a, n_h, n_w, "cross_frame")
    assert m.shape == (1, n_h, n_w)
    assert np.allclose(m[0], [[0, 1, 0], [1, 0, 1]])  # row-major (nh, nw) window order
    with pytest.raises(ValueError, match="stat must be one of"):
        maps.window_stat_map(uniform, n_h, n_w, "sink")
    with pytest.raises(ValueError, match="not a multiple"):
        maps.window_stat_map(uniform, 4, 4)


def test_gate_map_and_most_moving_window():
    gate = torch.rand(1, 2, 5, 7, 6)
    assert np.allclose(maps.gate_map(gate, 1)[0], gate[0, 1].double().mean(-1).numpy())
    with pytest.raises(ValueError, match="frame must be in 0..1"):
        maps.gate_map(gate, 2)
    img0 = torch.zeros(1, 3, 32, 48)
    img1 = img0.clone()
    img1[..., 16:32, 32:48] = 0.5  # block (1, 2) of 16 x 16 changes
    r, c, motion = maps.most_moving_window(img0, img1, 16)
    assert (r, c) == (1, 2) and motion == pytest.approx(0.5)
    with pytest.raises(ValueError, match="smaller than one 64x64 cell"):
        maps.most_moving_window(img0, img1, 64)
