"""scripts/quality_table.py: models named as the other commands name them (vfi_lib.cli), on the embedded sample."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from vfi_lib.cli import CliError, model_args_from_spec

ROOT = Path(__file__).resolve().parent.parent


def _script():
    spec = importlib.util.spec_from_file_location("quality_table", ROOT / "scripts" / "quality_table.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_model_specs_map_to_the_shared_flags():
    ns = model_args_from_spec("peer:rife-4.2x:w/flownet.pkl", device="cpu")
    assert (ns.peer, ns.weights, ns.ckpt, ns.baseline, ns.device) == ("rife-4.2x", "w/flownet.pkl", None, None, "cpu")
    assert model_args_from_spec("baseline:dis").baseline == "dis"
    assert model_args_from_spec("ckpt:p2_best").ckpt == "p2_best" and model_args_from_spec("a/b.pt").ckpt == "a/b.pt"
    for bad in ("peer:.whl/peers/rife-hdv3/flownet.pkl", "peer:rife-4.2x", "baseline:nope"):
        with pytest.raises(CliError, match="model"):
            model_args_from_spec(bad)


def test_quality_table_on_the_embedded_sample(tmp_path, monkeypatch, capsys):
    """A tiny checkpoint (by name) and the averaging baseline on sample frames, gap 1 and 2: the baseline's
    row equals ``python -m vfi_lib.eval clips --baseline average`` on the same folder."""
    import cv2

    from vfi_lib.checkpoint import save_checkpoint
    from vfi_lib.config import preset
    from vfi_lib.data.embedded import SAMPLE_DIR
    from vfi_lib.eval.__main__ import main as eval_main
    from vfi_lib.model import build_model

    monkeypatch.setenv("VFI_OUTPUTS", str(tmp_path / "outputs"))
    footage = tmp_path / "footage" / "shot"
    footage.mkdir(parents=True)
    for i in range(96, 101):  # 5 frames at half size: 3 triplets at gap 1, 1 at gap 2
        frame = cv2.imread(str(SAMPLE_DIR / "sequence" / f"frame_{i:03d}.jpg"))
        cv2.imwrite(str(footage / f"frame_{i:03d}.png"), cv2.resize(frame, (224, 128), interpolation=cv2.INTER_AREA))
    torch.manual_seed(0)
    cfg = preset("phase1", tiny=True)
    save_checkpoint(tmp_path / "ckpt" / "tiny" / "best.pt", model=build_model(cfg).state_dict(), config=cfg.to_dict())
    out, per_sample = tmp_path / "table.json", tmp_path / "bench"
    qt = _script()
    assert qt.main(["--device", "cpu", "--out", str(out), "--out_dir", str(per_sample),
                    "--ckpt_dir", str(tmp_path / "ckpt"), "--model", "tiny=tiny_best", "--model", "avg=baseline:average",
                    "--bench", f"near=clips:{footage.parent}:1", "--bench", f"far=clips:{footage.parent}:2"]) == 0
    js = json.loads(out.read_text())
    rows = {r["model"]: r for r in js["rows"]}
    assert list(rows) == ["tiny", "avg"]
    for r in rows.values():
        assert r["mean PSNR"] == r["near PSNR"] and r["large-motion PSNR"] == r["far PSNR"]
    assert js["detail"]["avg/near"]["n"] == 3 and js["detail"]["avg/far"]["n"] == 1
    assert len(list(per_sample.glob("*.json"))) == 4  # per-sample results of every (model, bench) under --out_dir
    assert eval_main(["clips", "--baseline", "average", "--path", str(footage.parent), "--out_dir", str(tmp_path / "e"),
                      "--no_progress"]) == 0
    (ref,) = (tmp_path / "e").glob("*.json")
    assert round(json.loads(ref.read_text())["psnr"], 2) == rows["avg"]["near PSNR"]
    capsys.readouterr()
    # the old "peer:WEIGHTS" (peer guessed from the file name) is refused with one line, before any model loads
    assert qt.main(["--device", "cpu", "--out", str(out), "--model", "p=peer:.whl/peers/rife-hdv3/flownet.pkl",
                    "--bench", f"near=clips:{footage.parent}:1"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: model ") and "peer:NAME:WEIGHTS" in line


def test_scale_and_tta_reach_our_checkpoints_only(tmp_path, monkeypatch):
    """--scale / --tta: the flow scale and TTA of our checkpoints' benchmark runs; peers and baselines keep the
    protocol's scale (None) and run without TTA."""
    from vfi_lib.checkpoint import save_checkpoint
    from vfi_lib.config import preset
    from vfi_lib.model import build_model

    cfg = preset("phase1", tiny=True)
    save_checkpoint(tmp_path / "t.pt", model=build_model(cfg).state_dict(), config=cfg.to_dict())
    qt = _script()
    seen = []

    def fake(model, bench, path, **kw):
        seen.append((kw["model_name"], kw["scale"], kw["tta"]))
        return {"psnr": 30.0, "ssim": 0.9, "n": 1, "rounding": "float", "files": {}}

    monkeypatch.setattr(qt, "run_benchmark", fake)
    args = ["--device", "cpu", "--out", str(tmp_path / "o.json"), "--model", f"ours=ckpt:{tmp_path / 't.pt'}",
            "--model", "avg=baseline:average", "--bench", f"b=clips:{tmp_path}:1"]
    assert qt.main([*args, "--scale", "0.5"]) == 0 and seen == [("ours", 0.5, False), ("avg", None, False)]
    seen.clear()
    assert qt.main([*args, "--tta"]) == 0 and seen == [("ours", None, True), ("avg", None, False)]
    seen.clear()
    assert qt.main(args) == 0 and seen == [("ours", None, False), ("avg", None, False)]


def test_plot_runs_draws_the_training_curves_of_run_logs(tmp_path):
    """scripts/plot_runs.py: one panel per metric from run logs written by the trainer's RunLogWriter; a
    directory without metrics.jsonl is refused with its name."""
    import matplotlib.image as mpimg

    from vfi_lib.config import preset
    from vfi_lib.train.runlog import RunLogWriter

    spec = importlib.util.spec_from_file_location("plot_runs", ROOT / "scripts" / "plot_runs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    dirs = []
    for name, sup in (("scratch", True), ("ft", False)):
        w = RunLogWriter(tmp_path / name, t0=0.0)
        w.write_config(preset("phase2", tiny=True, exp_name=name))
        for step in range(1, 31):
            extra = {"loss_flow_sup": 5.0 / step} if sup else {}
            w.append("train", step, 0, float(step), loss=1.0 / step, **extra)
        w.append("val", 30, 0, 31.0, psnr=30.0 + (not sup))
        dirs.append(str(tmp_path / name))
    out = tmp_path / "fig" / "curves.png"
    assert mod.main([*dirs, "--out", str(out)]) == 0
    img = mpimg.imread(out)
    assert img.shape[1] > 2.5 * img.shape[0]  # three panels side by side
    with pytest.raises(SystemExit) as err:
        mod.main([str(tmp_path / "missing"), "--out", str(out)])
    assert err.value.code == 2
