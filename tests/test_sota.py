"""The thesis plan's benchmark tables as data (vfi_lib.eval.sota), checked against the plan's text."""

import re
from pathlib import Path

import numpy as np
import pytest

from vfi_lib.eval import sota

SEED_TARGETS = Path(__file__).parent / "fixtures" / "seed_benchmark_targets.md"  # the plan's section, verbatim


def _seed_table(title: str) -> list[list[str]]:
    text = SEED_TARGETS.read_text()
    block = text.split(title, 1)[1].split("\n\n", 2)[1]
    lines = [ln for ln in block.splitlines() if ln.startswith("|")][2:]
    return [[c.strip() for c in ln.strip("|").split("|")] for ln in lines]


def _num(cell: str):
    m = re.search(r"\d+\.\d+", cell)
    return float(m.group()) if m else None


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
