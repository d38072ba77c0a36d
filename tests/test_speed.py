"""The speed package (vfi_lib.speed): one timer, GiB everywhere, result files that never collide.

No test here asserts a speed: the tools are run on tiny CPU sizes and their outputs (JSON layout,
file names, recorded settings, the timer's statistics on a known sleep) are checked.
"""

import json
import time

import pytest
import torch

from vfi_lib.speed.timer import Timing, peak_memory_gib, time_fn


def test_timer_statistics_on_a_known_workload():
    calls = []

    def fn():
        calls.append(1)
        time.sleep(0.002 if len(calls) % 2 else 0.004)

    t = time_fn(fn, "cpu", warmup=2, runs=6)
    assert isinstance(t, Timing) and len(calls) == 8 and t.runs == 6
    assert 1.9 <= t.min_ms <= t.median_ms <= t.p90_ms and t.median_ms < 50
    assert t.min_ms <= t.mean_ms <= t.p90_ms + 1e-9
    with pytest.raises(ValueError, match="runs must be >= 1"):
        time_fn(fn, "cpu", runs=0)
    assert 0.01 < peak_memory_gib("cpu") < 64  # the process's peak RSS, in GiB


def test_timetest_cli_writes_json(tmp_path):
    from vfi_lib.speed.timetest import main as timetest_main, parse_resolution

    assert parse_resolution("4k") == (4096, 2160) and parse_resolution("640x360") == (640, 360)
    with pytest.raises(ValueError, match="WxH"):
        parse_resolution("big")
    out = tmp_path / "tt.json"
    assert timetest_main(["--baseline", "average", "--resolution", "40x24", "--runs", "3", "--device", "cpu",
                          "--json", str(out)]) == 0
    js = json.loads(out.read_text())
    assert (js["width"], js["height"], js["runs"], js["model"]) == (40, 24, 3, "baseline_average")
    assert 0 < js["median_ms"] <= js["p90_ms"] and js["fps"] == pytest.approx(1000 / js["median_ms"])
    assert js["peak_mem_gib"] > 0 and js["peak_mem_kind"] == "process_peak_rss"
    assert js["compile"] == "off" and js["first_call_s"] is None and js["tile"] is None
    assert js["settings"] == {"baseline": "average", "device": "cpu", "dtype": "fp32", "compile": "off",
                              "ssm_backend": "auto"}
    assert "profile" not in js


def test_timetest_profile_writes_the_top_ops_table(tmp_path):
    from vfi_lib.speed.timetest import main as timetest_main

    prof, out = tmp_path / "p" / "prof.txt", tmp_path / "tt.json"
    assert timetest_main(["--phase", "1", "--tiny", "--resolution", "32x32", "--runs", "2", "--warmup", "0",
                          "--device", "cpu", "--profile", str(prof), "--json", str(out)]) == 0
    text = prof.read_text()
    assert text.startswith("5 calls") and "aten::conv2d" in text and "CPU total" in text
    assert "profile" not in json.loads(out.read_text())  # the table goes to its own file, not into the JSON


def test_timetest_chunk_size_sets_every_mamba2(tmp_path, monkeypatch):
    """--chunk_size: every SSD call of the timed model runs at that chunk length (recorded in the JSON); a model
    without Mamba2 layers is refused by name."""
    from vfi_lib.ssm import backends
    from vfi_lib.speed.timetest import main as timetest_main

    seen = []
    real = backends.ssd_chunked
    monkeypatch.setattr(backends, "ssd_chunked", lambda *a, **k: seen.append(a[5]) or real(*a, **k))
    out = tmp_path / "tt.json"
    assert timetest_main(["--phase", "1", "--tiny", "--resolution", "32x32", "--runs", "1", "--warmup", "0",
                          "--device", "cpu", "--ssm_backend", "torch", "--chunk_size", "8", "--json", str(out)]) == 0
    assert seen and set(seen) == {8}
    assert json.loads(out.read_text())["settings"]["chunk_size"] == 8
    with pytest.raises(SystemExit):
        timetest_main(["--baseline", "average", "--resolution", "32x32", "--device", "cpu", "--chunk_size", "8"])


def test_timetest_set_overrides_the_preset_model(tmp_path, monkeypatch, capsys):
    """--set model.KEY=VALUE (with --phase): the timed untrained model is built from the overridden preset (the LGS
    stages at 1/8 and 1/16 with a third encoder level), named and recorded as such; a key that is not a model field,
    or --set with a non-preset model, is refused in one line."""
    from vfi_lib import cli
    from vfi_lib.cli import CliError
    from vfi_lib.speed.timetest import main as timetest_main

    import vfi_lib.model as model_pkg

    built = []

    orig = model_pkg.build_model
    monkeypatch.setattr(model_pkg, "build_model", lambda cfg: built.append(cfg) or orig(cfg))
    out = tmp_path / "tt.json"
    assert timetest_main(["--phase", "2", "--tiny", "--set", "model.enc_channels=[8,16,24]", "--resolution", "64x64",
                          "--runs", "1", "--warmup", "0", "--device", "cpu", "--json", str(out)]) == 0
    assert built and built[-1].model.enc_channels == (8, 16, 24)
    rec = json.loads(out.read_text())
    assert rec["settings"]["set"] == {"model.enc_channels": [8, 16, 24]}
    assert "enc_channels-8x16x24" in rec["model"]
    with pytest.raises(CliError, match="only model.KEY=VALUE"):
        cli.model_overrides(["train.lr=1"])
    base = ["--phase", "2", "--tiny", "--resolution", "32x32", "--device", "cpu", "--runs", "1", "--warmup", "0",
            "--json", str(tmp_path / "x.json")]
    for bad, msg in (("model.not_a_field=1", "unknown config key 'model.not_a_field'"),
                     ("model.enc_channels", "expects KEY=VALUE")):
        assert timetest_main([*base, "--set", bad]) != 0
        assert msg in capsys.readouterr().err
    assert timetest_main(["--baseline", "average", "--set", "model.d_state=8", "--resolution", "32x32",
                          "--device", "cpu", "--runs", "1", "--warmup", "0", "--json", str(tmp_path / "b.json")]) != 0


def test_module_breakdown_times_each_submodule_in_call_order():
    """Per-module inclusive times: a module that sleeps a known time per call shows it (summed over its two
    calls per forward), children appear after their parents and within them, and the whole call bounds all."""
    import time as _time

    import torch.nn as nn

    from vfi_lib.speed.breakdown import CALL, format_breakdown, module_breakdown

    class Sleep(nn.Module):
        def __init__(self, s: float) -> None:
            super().__init__()
            self.s = s

        def forward(self, x):
            _time.sleep(self.s)
            return x

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Sequential(Sleep(0.010), Sleep(0.020))
            self.b = Sleep(0.005)
            self.unused = Sleep(1.0)

        def forward(self, x):
            return self.b(self.b(self.a(x)))

    net, x = Net(), torch.zeros(1)
    bd = module_breakdown(net, lambda: net(x), "cpu", runs=3, depth=1)
    assert list(bd) == [CALL, "a", "a.0", "a.1", "b"]  # the unused module never ran: left out
    # sleep() lasts at least its time (upper bounds generous for a loaded CI machine)
    assert 10 <= bd["a.0"] < 40 and 20 <= bd["a.1"] < 50
    assert 10 <= bd["b"] < 40  # two 5 ms calls per forward, summed
    assert bd["a.0"] + bd["a.1"] <= bd["a"] + 0.5 and bd["a"] + bd["b"] <= bd[CALL] + 0.5
    assert list(module_breakdown(net, lambda: net(x), "cpu", runs=1, depth=0)) == [CALL, "a", "b"]
    assert not net.a._forward_hooks and not net.a._forward_pre_hooks  # hooks removed
    text = format_breakdown(bd)
    assert "  a.1" in text and "100.0%" in text.splitlines()[1]
    with pytest.raises(ValueError, match="runs must be >= 1"):
        module_breakdown(net, lambda: net(x), "cpu", runs=0)


def test_timetest_breakdown_names_the_model_parts(tmp_path):
    from vfi_lib.speed.timetest import main as timetest_main

    bd, out = tmp_path / "bd.txt", tmp_path / "tt.json"
    assert timetest_main(["--phase", "2", "--tiny", "--resolution", "64x64", "--runs", "1", "--warmup", "0",
                          "--device", "cpu", "--breakdown", str(bd), "--json", str(out)]) == 0
    parts = json.loads(out.read_text())["breakdown"]
    assert {"backbone", "flow", "refine", "flow.blocks.0", "flow.corr.encoder"} <= set(parts)
    assert parts["backbone"] + parts["flow"] + parts["refine"] <= parts["(whole call)"] * 1.05
    assert "flow.blocks.0" in bd.read_text()
    with pytest.raises(SystemExit):
        timetest_main(["--phase", "2", "--tiny", "--compile", "--breakdown", str(bd)])


def test_timetest_result_names_differ_by_setting(tmp_path, monkeypatch):
    """Eager, tiled, bf16, compiled and checkpoint runs of one resolution write different files, each
    naming its settings and the device; the same settings again in one run get a ``-2`` file."""
    from vfi_lib.checkpoint import save_checkpoint
    from vfi_lib.config import preset
    from vfi_lib.model import build_model
    from vfi_lib.speed.timetest import main as timetest_main

    monkeypatch.setenv("VFI_OUTPUTS", str(tmp_path / "outputs"))
    monkeypatch.setenv("VFI_RUN_ID", "r1")
    monkeypatch.setattr(torch, "compile", lambda model, **kw: model)  # the name only (compiling: test below)
    cfg = preset("phase1", tiny=True)
    ckpt = save_checkpoint(tmp_path / "ckpt" / "tt" / "best.pt", model=build_model(cfg).state_dict(),
                           config=cfg.to_dict())
    size = ["--resolution", "32x32", "--runs", "1", "--warmup", "0", "--device", "cpu"]
    base = ["--phase", "1", "--tiny", *size]
    assert timetest_main(base) == 0
    assert timetest_main(base + ["--tile", "32"]) == 0
    assert timetest_main(base + ["--dtype", "bf16"]) == 0
    assert timetest_main(base + ["--compile"]) == 0
    assert timetest_main(["--ckpt", str(ckpt), *size]) == 0
    bench = tmp_path / "outputs" / "benchmarks"
    names = sorted(p.name for p in bench.glob("*.json"))
    assert names == ["timetest_phase1_tiny_untrained_32x32_cpu_bf16__r1.json",
                     "timetest_phase1_tiny_untrained_32x32_cpu_fp32__r1.json",  # the plain run
                     "timetest_phase1_tiny_untrained_32x32_cpu_fp32_compile-default__r1.json",
                     "timetest_phase1_tiny_untrained_32x32_cpu_fp32_tile32__r1.json",
                     "timetest_tt_best_32x32_cpu_fp32__r1.json"]  # --ckpt: named after the checkpoint
    assert json.loads((bench / names[-1]).read_text())["settings"]["ckpt"] == str(ckpt)
    assert timetest_main(base) == 0  # the same settings again in run r1: a new file, the first one kept
    assert (bench / "timetest_phase1_tiny_untrained_32x32_cpu_fp32__r1-2.json").is_file()
    monkeypatch.setenv("VFI_RUN_ID", "r2")  # a later run of the same settings keeps the first files
    assert timetest_main(base) == 0
    assert len(list(bench.glob("timetest_phase1_tiny_untrained_32x32_cpu_fp32__*.json"))) == 3


def test_timetest_result_stem_names_the_device():
    """CPU and CUDA runs (and two named GPUs) of the same settings never share a name."""
    import argparse

    from vfi_lib.speed.timetest import result_stem

    args = argparse.Namespace(dtype="fp32", compile="off", tile=None, scale=1.0, ssm_backend="auto")
    stems = {d: result_stem("m", "1080p", args, d) for d in ("cpu", "cuda", "cuda:0", "cuda:1")}
    assert stems == {"cpu": "timetest_m_1080p_cpu_fp32", "cuda": "timetest_m_1080p_cuda_fp32",
                     "cuda:0": "timetest_m_1080p_cuda_fp32", "cuda:1": "timetest_m_1080p_cuda1_fp32"}


def test_timetest_compile_flag(cheap_compile, tmp_path):
    from vfi_lib.speed.timetest import main as timetest_main

    calls = cheap_compile("eager")
    out = tmp_path / "tt.json"
    assert timetest_main(["--phase", "1", "--tiny", "--resolution", "48x32", "--runs", "2", "--warmup", "0",
                          "--device", "cpu", "--compile", "default", "--tile", "32", "--json", str(out)]) == 0
    js = json.loads(out.read_text())
    assert js["compile"] == "default" and js["first_call_s"] > 0 and len(calls) == 1 and js["tile"] == 32


def test_ssd_bench_cpu_subset_writes_json(tmp_path):
    """The SSD grid runs on CPU (a tiny grid here) and writes one JSON row per (shape, mode)."""
    from vfi_lib.speed.ssd import main

    out = tmp_path / "ssm.json"
    assert main(["--device", "cpu", "--lengths", "40", "--batch", "1", "--impls", "naive", "eager",
                 "--chunk_size", "16", "--torch_chunk_sizes", "8", "16", "--dtype", "fp32", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["meta"]["chunk_size"] == 16 and data["meta"]["batch"] == 1
    assert [(r["l"], r["mode"], r["dtype"]) for r in data["rows"]] == [(40, "fwd", "fp32"), (40, "fwd+bwd", "fp32")]
    for row in data["rows"]:
        assert row["naive"] > 0 and row["eager"] > 0 and row["compiled_over_triton"] is None
        assert set(row["eager_by_chunk"]) == {"8", "16"} and row["eager"] == min(row["eager_by_chunk"].values())


def test_stack_bench_cpu_quick(tmp_path, capsys):
    """``python -m vfi_lib.speed`` on CPU (quick sizes): LGS rows per ablation, the Phase-1 training step
    and inference rows with the latency ratio between the two sizes, and a profiler summary."""
    from vfi_lib.config import ABLATIONS
    from vfi_lib.speed.stack import main as bench_main

    out, prof = tmp_path / "cpu.json", tmp_path / "prof.txt"
    assert bench_main(["--device", "cpu", "--only", "lgs", "models", "--phase", "1", "--json", str(out),
                       "--profile", str(prof), "--ssm_backend", "torch"]) == 0
    data = json.loads(out.read_text())
    rows = data["rows"]
    assert data["meta"]["memory_unit"] == "GiB" and data["meta"]["ssm_backend"] == "torch"
    assert sorted(r["variant"] for r in rows if r["bench"] == "lgs_stage_fwd_bwd") == sorted(ABLATIONS)
    train = [r for r in rows if r["bench"] == "train_step"]
    assert [r["variant"] for r in train] == ["phase1"] and train[0]["samples_per_s"] > 0
    inf = {r["shape"]: r["median_ms"] for r in rows if r["bench"] == "inference"}
    (scaling,) = [r for r in rows if r["bench"] == "inference_scaling"]
    assert scaling["ratio"] == pytest.approx(inf["540p"] / inf["270p"])
    assert "phase1 train step" in prof.read_text() and "train_step" in capsys.readouterr().out
    # the Triton SSD needs CUDA: one error line before any benchmark runs
    assert bench_main(["--device", "cpu", "--ssm_backend", "triton", "--only", "lgs", "--json", str(out)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: SSM backend 'triton' needs CUDA")
