"""vfi_lib.eval.paired: paired per-sample statistics (against direct numpy), motion bins, DIS motion on
known translations, errors naming the file, and the CLI end to end on a clips folder scored by two baselines."""

import csv
import json
import math

import cv2
import numpy as np
import pytest

from vfi_lib.eval.__main__ import main as eval_main
from vfi_lib.eval.paired import main, markdown_report, paired_comparison, read_samples, sample_motion


def _csv(path, rows, cols=("index", "name", "t", "psnr", "ssim")):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        w.writerows(rows)
    return path


def _rows(values, names=None):
    names = names or [f"clip/{i:03d}" for i in range(len(values))]
    return {(n, 0.5): float(v) for n, v in zip(names, values)}


def test_overall_statistics_match_a_direct_computation():
    rng = np.random.default_rng(0)
    a_v = rng.normal(30, 2, 200)
    b_v = a_v - 0.3 + rng.normal(0, 0.5, 200)
    a, b = _rows(a_v), _rows(b_v)
    b[("only_in_b", 0.5)] = 1.0
    rep = paired_comparison(a, b, n_boot=4000, seed=1)
    o = rep["overall"]
    d = a_v - b_v
    assert o["n"] == 200 and rep["only_b"] == 1 and rep["only_a"] == 0
    assert o["diff"] == pytest.approx(d.mean()) and o["mean_a"] == pytest.approx(a_v.mean())
    assert o["a_better"] == pytest.approx((d > 0).mean())
    se = d.std(ddof=1) / math.sqrt(len(d))  # the bootstrap interval ~ mean +- 1.96 standard errors
    assert o["ci95"][0] == pytest.approx(d.mean() - 1.96 * se, abs=0.3 * se)
    assert o["ci95"][1] == pytest.approx(d.mean() + 1.96 * se, abs=0.3 * se)
    assert paired_comparison(a, b, n_boot=4000, seed=1) == rep  # seeded: reproducible
    worst = rep["worst"]
    assert [w["diff"] for w in worst] == pytest.approx(sorted(d)[:5])


def test_motion_bins_equal_count_and_explicit_edges():
    names = [f"s{i}" for i in range(8)]
    a = _rows([30, 30, 30, 30, 30, 30, 30, 30], names)
    b = _rows([29, 29, 29, 29, 31, 31, 32, 32], names)  # A wins on small motion, loses on large
    motion = {(n, 0.5): float(m) for n, m in zip(names, [1, 2, 3, 4, 40, 50, 60, 70])}
    rep = paired_comparison(a, b, motion, bins=2, n_boot=200)
    small, large = rep["bins"]
    assert small["n"] == large["n"] == 4
    assert small["diff"] == pytest.approx(1.0) and small["a_better"] == 1.0
    assert large["diff"] == pytest.approx(-1.5) and large["a_better"] == 0.0
    assert small["motion_px"] == [1.0, 22.0] and large["motion_px"][1] == math.inf
    assert rep["worst"][0]["motion_px"] in (60.0, 70.0)
    rep = paired_comparison(a, b, motion, bins=[0, 10, 55], n_boot=200)
    assert [s["n"] for s in rep["bins"]] == [4, 2, 2]
    text = markdown_report(rep, "ours", "DIS")
    assert "| all | 8 |" in text and "motion >= 55.0 px" in text and "ours - DIS" in text


def test_errors_name_the_problem(tmp_path, capsys):
    a = _rows([30, 31])
    with pytest.raises(ValueError, match="share no sample"):
        paired_comparison(a, _rows([1, 2], ["x", "y"]))
    with pytest.raises(ValueError, match="no motion for 1 sample"):
        paired_comparison(a, a, {("clip/000", 0.5): 3.0})
    with pytest.raises(ValueError, match="increasing"):
        paired_comparison(a, a, {k: 1.0 for k in a}, bins=[5, 1])
    bad = _csv(tmp_path / "bad.csv", [[0, "x", 0.5, 1.0]], cols=("index", "name", "t", "ie"))
    with pytest.raises(ValueError, match=r"bad\.csv: missing column\(s\) \['psnr'\]"):
        read_samples(bad)
    dup = _csv(tmp_path / "dup.csv", [[0, "x", 0.5, 30, 0.9], [1, "x", 0.5, 31, 0.9]])
    with pytest.raises(ValueError, match="dup.csv: sample 'x' at t = 0.5 appears twice"):
        read_samples(dup)
    with pytest.raises(ValueError, match="empty.csv: no samples"):
        read_samples(_csv(tmp_path / "empty.csv", []))
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        read_samples(tmp_path / "nope.csv")
    assert main([str(bad), str(bad)]) == 2
    ok = _csv(tmp_path / "ok.csv", [[0, "x", 0.5, 30, 0.9]])
    for argv, msg in ((["--motion", "clips"], "--motion needs --path"), (["--plot", "f.png"], "--plot needs --motion"),
                      (["--bins", "4,x"], "--bins '4,x': expected a bin count")):
        assert main([str(ok), str(ok), *argv]) == 2
        assert msg in capsys.readouterr().err


def test_sample_motion_measures_a_known_translation():
    rng = np.random.default_rng(3)
    tex = cv2.GaussianBlur(rng.integers(0, 256, (96, 160, 3), dtype=np.uint8), (0, 0), 1.5)
    items = []
    for shift in (0, 3, 7):
        img1 = np.roll(tex, shift, axis=1)
        items.append({"img0": _chw(tex), "img1": _chw(img1), "name": f"shift{shift}", "t": 0.5})
    motion = sample_motion(items)
    for shift in (0, 3, 7):
        assert motion[(f"shift{shift}", 0.5)] == pytest.approx(shift, abs=0.6)


def _chw(img):
    import torch

    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)


def test_cli_end_to_end_dis_beats_average_most_on_large_motion(tmp_path, capsys):
    """Two baselines scored on a footage folder with slow and fast pans, then compared by the CLI."""
    rng = np.random.default_rng(7)
    tex = cv2.GaussianBlur(rng.integers(0, 256, (64, 96, 3), dtype=np.uint8), (0, 0), 2.0)
    for clip, step in (("slow", 1), ("fast", 6)):
        for i in range(5):
            path = tmp_path / "footage" / clip / f"frame_{i:03d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            assert cv2.imwrite(str(path), np.roll(tex, i * step, axis=1)[..., ::-1])
    out = tmp_path / "bench"
    files = {}
    for base in ("average", "dis"):
        assert eval_main(["clips", "--baseline", base, "--path", str(tmp_path / "footage"), "--out_dir", str(out),
                          "--no_progress"]) == 0
        (files[base],) = out.glob(f"clips_gap1_*_baseline_{base}__*.json")
    rep_path, fig_path = tmp_path / "paired.json", tmp_path / "fig" / "paired.png"
    assert main([str(files["dis"]), str(files["average"]), "--labels", "DIS", "average", "--motion", "clips",
                 "--path", str(tmp_path / "footage"), "--bins", "2", "--out", str(rep_path), "--plot", str(fig_path)]) == 0
    assert fig_path.stat().st_size > 1000 and cv2.imread(str(fig_path)) is not None
    assert main([str(files["dis"]), str(files["average"]), "--plot", str(fig_path)]) == 2  # no motion: clear error
    rep = json.loads(rep_path.read_text())
    slow, fast = rep["bins"]
    assert rep["overall"]["n"] == 6 and slow["n"] == fast["n"] == 3
    for m in rep["motion"]:  # p95 |F_01| of a pan by 2 x step px (img0 -> img1 spans two frames)
        assert m["p95_px"] == pytest.approx(2.0 if m["name"].startswith("slow") else 12.0, abs=2.5)
    assert slow["motion_px"][1] == fast["motion_px"][0] and fast["motion_px"][1] == math.inf
    assert slow["diff"] > 0 and fast["diff"] > 0 and fast["mean_b"] < slow["mean_b"]  # averaging suffers from motion
    assert len(rep["motion"]) == 6
    rows_dis, rows_avg = _csv_rows(files["dis"]), _csv_rows(files["average"])  # same triplet order
    assert sorted(x["diff"] for x in rep["samples"]) == pytest.approx(
        sorted(x["psnr"] - y["psnr"] for x, y in zip(rows_dis, rows_avg)))
    assert "| all | 6 |" in capsys.readouterr().out


def test_notebook_helper_pairs_the_runs_of_a_plan(tmp_path):
    """notebooks/20's paired_reports: one report per benchmark of the plan both models ran, equal to
    paired_comparison of the summaries' own per-sample rows."""
    from vfi_lib.model.baselines import build_baseline
    from vfi_lib.notebooks.experiments import benchmark_plan, paired_reports, run_benchmark_plan

    plan = benchmark_plan(True, str(tmp_path))
    models = {"baseline_average": build_baseline("average"), "baseline_dis": build_baseline("dis")}
    results = run_benchmark_plan(plan, models, out_dir=tmp_path / "bench")
    (key, rep), = paired_reports(results, plan, "baseline_dis", "baseline_average", bins=2)
    by = {s["model"]: s for s in results}
    d = [x["psnr"] - y["psnr"] for x, y in zip(by["baseline_dis"]["samples"], by["baseline_average"]["samples"])]
    assert key == "vimeo90k" and rep["overall"]["n"] == len(d) >= 2
    assert rep["overall"]["diff"] == pytest.approx(float(np.mean(d)))
    assert sum(b["n"] for b in rep["bins"]) == len(d)
    assert paired_reports(results, plan, "baseline_dis", "nobody") == []


def _csv_rows(json_path):
    """The per-sample rows of a result, read from the CSV its JSON names, in file order."""
    with open(json.loads(json_path.read_text())["files"]["csv"], newline="") as f:
        return [{k: float(v) if k == "psnr" else v for k, v in r.items()} for r in csv.DictReader(f)]
