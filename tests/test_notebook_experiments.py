"""vfi_lib.notebooks.experiments: the numbered notebooks' logic on tiny sizes, checked on what it computes."""

from __future__ import annotations

import json
import shlex

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from vfi_lib.config import preset  # noqa: E402
from vfi_lib.model import build_model, count_parameters  # noqa: E402
from vfi_lib.notebooks import experiments as ex  # noqa: E402


def _tiny(seed: int = 0, **overrides):
    torch.manual_seed(seed)
    return build_model(preset("phase1", tiny=True, ssm_backend="torch", **overrides)).eval()


def _pair(size: int = 32, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, size, size, generator=g), torch.rand(1, 3, size, size, generator=g)


# ---------------------------------------------------------------------------------------------- shared
def test_model_or_untrained_builds_or_loads(tmp_path):
    from vfi_lib.checkpoint import save_checkpoint

    net, trained = ex.model_or_untrained("", "phase1_gated_attn_only")
    assert not trained and not net.training and net.cfg.model.backbone_mode == "gated_attn_only"
    assert count_parameters(net) == count_parameters(_tiny(backbone_mode="gated_attn_only"))
    cfg = preset("phase1", tiny=True, ssm_backend="torch")
    ref = _tiny(3)
    path = save_checkpoint(tmp_path / "ckpt" / "tiny" / "best.pt", model=ref.state_dict(), config=cfg.to_dict())
    loaded, trained = ex.model_or_untrained(str(path))
    assert trained and not loaded.training
    for a, b in zip(loaded.state_dict().values(), ref.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_attention_blocks_keep_maps_only_for_the_call():
    model = _tiny(backbone_mode="gated_attn_only")
    img0, img1 = _pair(32)
    blocks = ex.attention_blocks(model, img0, img1)
    ws = model.cfg.model.window_size
    n = 2 * ws * ws  # joint (2, w, w) window
    assert [b["shift"] for b in blocks] == [0, ws // 2]  # the stage's unshifted and shifted blocks
    for b in blocks:
        assert b["attn"].shape[-2:] == (n, n)
        torch.testing.assert_close(b["attn"].sum(-1), torch.ones(b["attn"].shape[:-1]))  # softmax rows
        assert b["gate"].shape == (1, 2, 8, 8, model.cfg.model.stage_dims[0])  # 32 px / stride 4 tokens
    assert len(ex.attention_blocks(model, img0, img1, stage=None)) == sum(model.cfg.model.depths)
    mods = [m for m in model.modules() if hasattr(m, "keep_attn")]
    assert mods and not any(m.keep_attn for m in mods)  # switched off again
    with pytest.raises(ValueError, match="no attention maps"):
        ex.attention_blocks(_tiny(backbone_mode="mamba2_only"), img0, img1)


def test_window_patches_finds_the_moving_window():
    img0 = torch.zeros(1, 3, 32, 48)
    img1 = img0.clone()
    img1[..., 16:32, 0:16] = 0.25  # window (1, 0) of 16-px windows, 3 per row
    win = ex.window_patches(img0, img1, cell=16, n_w=3)
    assert (win["window"], win["row"], win["col"]) == (3, 1, 0) and win["motion"] == pytest.approx(0.25)
    p0, p1 = win["patches"]
    assert p0.shape == p1.shape == (16, 16, 3) and (p0 == 0).all() and np.allclose(p1, 0.25)


def test_block_sink_stats_average_the_blocks_sink_stats():
    from vfi_lib.viz.attention import sink_stats

    model = _tiny(backbone_mode="gated_attn_only")
    img0, img1 = _pair(32)
    stats = ex.block_sink_stats(model, img0, img1)
    per = [sink_stats(b["attn"]) for b in ex.attention_blocks(model, img0, img1, stage=None)]
    assert set(stats) == set(per[0])
    for k in stats:
        assert stats[k] == pytest.approx(np.mean([p[k] for p in per]))
    assert stats["uniform"] == pytest.approx(1 / (2 * 4 * 4))  # 1/N of a joint 2 x 4 x 4 window


def test_psnr_u8_is_the_eval_metric_on_the_uint8_grid():
    from vfi_lib.eval.metrics import psnr

    gt = np.full((4, 6, 3), 10, np.uint8)
    pred = np.zeros_like(gt)
    assert ex.psnr_u8(pred, gt) == pytest.approx(20 * np.log10(25.5))  # MSE (10/255)^2 -> 28.13 dB
    assert ex.psnr_u8(gt, gt) == float("inf")
    rng = np.random.default_rng(0)
    a, b = (rng.integers(0, 256, (5, 7, 3), dtype=np.uint8) for _ in range(2))
    ref = psnr(*(torch.from_numpy(x).permute(2, 0, 1)[None].double() / 255 for x in (a, b)))
    assert ex.psnr_u8(a, b) == pytest.approx(float(ref[0]))
    # a (3, H, W) float tensor in [0, 1] is rounded to the uint8 grid first
    assert ex.psnr_u8(torch.from_numpy(a).permute(2, 0, 1) / 255.0, b) == pytest.approx(float(ref[0]))


# ---------------------------------------------------------------------------------------------- 00
def test_package_versions_and_model_sizes():
    import vfi_lib

    rows = ex.package_versions(("numpy", "surely_not_a_module_xyz"))
    got = {r["package"]: r["version"] for r in rows}
    assert got["vfi_lib"] == vfi_lib.__version__ and got["numpy"] == np.__version__
    assert got["surely_not_a_module_xyz"] == "not installed" and rows[-1]["package"] == "platform"
    (row,) = ex.model_size_rows(["phase1_hybrid"])
    from vfi_lib.model import model_config

    assert row["params [M]"] == pytest.approx(count_parameters(build_model(model_config("phase1_hybrid"))) / 1e6)
    assert row["tiny params [k]"] == pytest.approx(count_parameters(_tiny()) / 1e3)
    assert row["phase"] == 1 and row["backbone_mode"] == "hybrid" and row["mHC"] is False


# ---------------------------------------------------------------------------------------------- 01 SSD
def test_random_ssd_inputs_have_the_layout_and_decay_ranges():
    x, dt, A, B, C, D = ex.random_ssd_inputs(2, 50, 3, 4, 1, 5, generator=torch.Generator().manual_seed(0))
    assert x.shape == (2, 50, 3, 4) and dt.shape == (2, 50, 3) and A.shape == (3,) and D.shape == (3,)
    assert B.shape == C.shape == (2, 50, 1, 5) and x.dtype == torch.float64
    assert 1e-3 <= float(dt.min()) and float(dt.max()) <= 1e-1 and -16 <= float(A.min()) and float(A.max()) <= -1


def test_ssd_parity_table_and_summary():
    rows = ex.ssd_parity_table([5, 20], [8], groups=(1, 2), heads=2, headdim=3, d_state=4)
    assert len(rows) == 2 * 2 * 1 * 2  # dtypes x lengths x chunks x groups
    for r in rows:
        tol = 1e-10 if r["dtype"] == "float64" else 1e-4
        assert r["max |dy| / max|y|"] < tol and r["max |d state|"] < tol * 100
    fake = [{"dtype": "f", "length": 1, "max |dy| / max|y|": e, "max |d state|": s}
            for e, s in ((1.0, 5.0), (3.0, 2.0))]
    assert ex.ssd_parity_summary(fake) == [{"dtype": "f", "length": 1, "worst rel. error": 3.0,
                                            "worst state error": 5.0}]  # the worst of each, over chunks and groups


def test_ssd_impulse_matrices_are_the_causal_decay_mask():
    m = ex.ssd_impulse_matrices(12, 4, a=-2.0)
    torch.testing.assert_close(m["M_chunked"], m["M_naive"], rtol=0, atol=1e-12)
    L = m["L"]
    assert float(L.triu(1).abs().max()) == 0.0  # causal
    torch.testing.assert_close(torch.diagonal(L), torch.ones(12, dtype=torch.float64))  # empty sum: exp(0)
    # segment sums compose: L[t, s] = L[t, k] L[k, s] for s <= k <= t; and decay: 0 < L <= 1
    torch.testing.assert_close(L[9, 2], L[9, 5] * L[5, 2])
    assert float(L.tril().min()) >= 0 and float(L.max()) <= 1 + 1e-12
    assert float((m["M_bc"] - m["M_naive"]).abs().max()) > 0  # random B, C change M, not its support
    assert float(m["M_bc"].triu(1).abs().max()) == 0.0


def test_ssd_speed_table_rows():
    rows = ex.ssd_speed_table([16, 32], reps=1, h=1, p=2, n=2, chunk=8)
    assert [r["length"] for r in rows] == [16, 32]
    for r in rows:
        assert r["naive [ms]"] > 0 and r["chunked [ms]"] > 0
        assert r["speed-up"] == pytest.approx(r["naive [ms]"] / r["chunked [ms]"])


# ---------------------------------------------------------------------------------------------- 02 SS2D
def test_scan_order_is_the_models_path_and_draws():
    from vfi_lib.modules.scan import cross_scan
    from vfi_lib.viz import plot_scan_paths

    o = ex.scan_order(2, 3, frames=2)  # (4, 12, 3) of (t, y, x)
    assert o.shape == (4, 12, 3) and np.issubdtype(o.dtype, np.integer)
    # row-major interleaved: f0(0,0), f1(0,0), f0(0,1), ...
    np.testing.assert_array_equal(o[0, :4], [[0, 0, 0], [1, 0, 0], [0, 0, 1], [1, 0, 1]])
    # column-major: down the first column first, frames innermost
    np.testing.assert_array_equal(o[1, :4], [[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]])
    np.testing.assert_array_equal(o[2], o[0][::-1])
    # every direction visits every (t, y, x) exactly once
    for d in range(4):
        assert len({tuple(p) for p in o[d]}) == 12
    # it is cross_scan's own permutation: scanning a value map visits the values in this order
    vals = torch.randn(1, 2, 2, 3, 1)
    seq = cross_scan(vals)[0, :, :, 0]  # (4, L)
    np.testing.assert_array_equal(seq.numpy(), vals[0, o[..., 0], o[..., 1], o[..., 2], 0].numpy())
    with pytest.raises(ValueError, match=">= 1"):
        ex.scan_order(0, 3)
    fig = plot_scan_paths(ex.scan_order(3, 3, frames=2), numbers=True)
    assert len(fig.axes) == 4 and "interleaved" in fig._suptitle.get_text()
    plt.close(fig)


def test_ss2d_probe_sees_frame_1_only_with_the_interleave():
    cfg = preset("phase1", tiny=True, ssm_backend="torch").model
    with_cross, without = ex.ss2d_cross_frame_probe(cfg, size=4)
    assert with_cross["cross_frame"] and not without["cross_frame"]
    assert with_cross["output shape"] == without["output shape"] == (1, 2, 4, 4, cfg.stage_dims[0])
    assert with_cross["max |change of frame 0 output|"] > 1e-6 and without["max |change of frame 0 output|"] == 0.0


# ---------------------------------------------------------------------------------------------- 03 gate
def test_shift_mask_maps_are_the_modules_and_draw():
    from vfi_lib.modules.gated_window_attention import region_and_valid_maps, window_mask
    from vfi_lib.viz import plot_shift_masks

    maps = ex.shift_mask_maps(8, 8, window=4, shift=2)
    region, valid = region_and_valid_maps(8, 8, 4, 2)
    assert torch.equal(maps["region"], region) and torch.equal(maps["valid"], valid)
    assert torch.equal(maps["mask"], window_mask(8, 8, 4, 2, num_frames=1))
    assert (maps["window"], maps["shift"]) == (4, 2)
    assert ex.shift_mask_maps(8, 8, window=4, shift=0)["mask"] is None  # no shift, no padding: nothing masked
    fig = plot_shift_masks(**maps, windows=(0, 3))
    titles = [a.get_title() for a in fig.axes]
    assert titles[1] == "window 0: 256/256 pairs" and titles[2] == "window 3: 64/256 pairs"  # 4 regions of 2x2
    plt.close(fig)


def test_ungated_copy_is_the_gate_wide_open():
    from vfi_lib.modules.gated_window_attention import GatedWindowAttention

    model = _tiny(backbone_mode="gated_attn_only")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ungated = ex.ungated_copy(model)
    g_layers = [m for m in model.modules() if isinstance(m, GatedWindowAttention)]
    u_layers = [m for m in ungated.modules() if isinstance(m, GatedWindowAttention)]
    assert len(g_layers) == len(u_layers) == 2
    assert all(g.gate is not None for g in g_layers) and all(u.gate is None for u in u_layers)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # the original is untouched
    gate_params = sum(g.gate.weight.numel() + g.gate.bias.numel() for g in g_layers)
    assert count_parameters(ungated) == count_parameters(model) - gate_params
    # same other weights: with the gate forced open (sigmoid -> 1) the gated layer computes the ungated one
    g, u = g_layers[1], u_layers[1]  # the shifted block
    x = torch.randn(1, 2, 8, 8, g.dim)
    with torch.no_grad():
        g.gate.weight.zero_()
        g.gate.bias.fill_(40.0)
        torch.testing.assert_close(g(x), u(x))


def test_train_steps_is_seeded_and_learns():
    from vfi_lib.data import SampleTriplets
    from vfi_lib.train.losses import CompositeLoss

    cfg = preset("phase1", tiny=True, backbone_mode="gated_attn_only", ssm_backend="torch")
    ds = SampleTriplets(crop_size=32, augment=True, seed=0, repeats=10)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        net = build_model(cfg)
        start = {k: v.clone() for k, v in net.state_dict().items()}
        runs.append(ex.train_steps(net, CompositeLoss(cfg), ds, steps=2, batch_size=1, lr=1e-3, seed=5))
    assert len(runs[0]) == 2 and runs[0] == runs[1]  # same seed: same batches, same losses
    assert any(not torch.equal(v, start[k]) for k, v in net.state_dict().items())  # the optimizer stepped


def test_sink_experiment_gated_and_ungated_start_alike():
    exp = ex.sink_experiment(seed=0, steps=1, crop=32, batch_size=1, eval_crop=32)
    assert list(exp.models) == ["gated, init", "ungated, init", "gated, trained", "ungated, trained"]
    assert list(exp.settings) == ["gated, init", "ungated, init", "gated, 1 steps", "ungated, 1 steps"]
    assert len(exp.losses["gated"]) == len(exp.losses["ungated"]) == 1
    # same init, same batch, zero-residual synthesis head at init: the first losses agree
    assert exp.losses["gated"][0] == pytest.approx(exp.losses["ungated"][0], rel=1e-6)
    torch.manual_seed(0)
    fresh = build_model(exp.cfg)
    init = exp.models["gated, init"].state_dict().values()
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), init))
    assert exp.held_out[0].shape == (1, 3, 32, 32)
    for setting, s in exp.stats.items():
        assert s == pytest.approx(ex.block_sink_stats(exp.models[setting], *exp.held_out)), setting
        assert s["uniform"] == pytest.approx(1 / 32) and 0 < s["entropy"] <= 1


# ---------------------------------------------------------------------------------------------- 04 mHC
def test_sinkhorn_convergence_and_the_n2_closed_form():
    errors, rows = ex.sinkhorn_convergence(3, (0.5, 8.0), max_iters=25, samples=8, at=20)
    assert set(errors) == {0.5, 8.0} and errors[8.0].shape == (25, 8)
    assert np.median(errors[8.0][-1]) < np.median(errors[8.0][0])  # iterating converges
    assert rows[0]["sigma"] == 0.5 and rows[0]["median error @ 20 it"] < 1e-10
    assert rows[1]["median error @ 20 it"] == pytest.approx(float(np.median(errors[8.0][19])))
    chk = ex.sinkhorn_n2_check(32, iters=(20, 200))
    assert chk["delta"].shape == chk["err20"].shape == (32,)
    assert chk["err200"].max() < 1e-6 and chk["err200"].max() <= chk["err20"].max()


def test_hres_examples_are_doubly_stochastic_and_training_reaches_the_permutation():
    mats = ex.hres_examples(4, steps=40)
    checks = ex.doubly_stochastic_checks(mats)
    assert [c["matrix"] for c in checks][1] == "random, sigma=1"  # labels made plain for the table
    for c in checks:
        assert c["min entry"] >= 0 and c["max |row sum - 1|"] < 1e-5 and c["max |col sum - 1|"] < 1e-5
    perm = torch.eye(4).roll(1, dims=1)
    assert float((mats["trained to a perm. (40 st.)"] - perm).abs().max()) < 0.05
    assert float(torch.diagonal(mats["init (bias 4I)"]).min()) > 0.9  # the static bias 4I: near identity
    (bad,) = ex.doubly_stochastic_checks({"x": torch.tensor([[1.0, 1.0], [0.0, -0.5]])})
    assert bad == {"matrix": "x", "min entry": -0.5, "max |row sum - 1|": 1.5, "max |col sum - 1|": 0.5}


def test_composite_gain_mhc_stays_at_one_and_hc_grows():
    gain = ex.composite_gain(4, depth=16, trials=4, noise=0.1)
    assert gain["mhc"].shape == gain["hc"].shape == (4, 16)
    assert gain["mhc"].max() < 1.0 + 1e-6 and gain["mhc"].min() > 0.99  # doubly stochastic: spectral norm 1
    assert np.median(gain["hc"][:, -1]) > np.median(gain["hc"][:, 0])


def test_mhc_stage_matrices_at_init():
    cfg = preset("phase1", tiny=True, use_mhc=True, mhc_n=4, ssm_backend="torch").model
    shape, rows = ex.mhc_stage_matrices(cfg, size=8)
    assert shape == (1, cfg.stage_dims[0], 8, 8) and len(rows) == 2 * cfg.depths[0]
    assert rows[0]["connection"] == "block 0 mhc_mixer" and rows[1]["connection"] == "block 0 mhc_ecab"
    for r in rows:
        assert [float(v) for v in r["H_pre"].split()] == pytest.approx([0.25] * 4, abs=1e-3)
        assert [float(v) for v in r["H_post"].split()] == pytest.approx([1.0] * 4, abs=1e-3)


# ---------------------------------------------------------------------------------------------- 05 LGS block
def test_lgs_block_parts_and_eca_weights():
    model = _tiny()
    img0, img1 = _pair(32)
    parts = ex.lgs_block_parts(model, img0, img1)
    assert list(parts) == ["input", "Mamba2 branch", "attention branch", "output"]
    c = model.cfg.model.stage_dims[0]
    assert all(v.shape == (1, 2, 8, 8, c) for v in parts.values())
    blk = model.backbone.stages[0].blocks[0]
    with torch.no_grad():
        torch.testing.assert_close(parts["output"], blk(parts["input"]))
        second = ex.lgs_block_parts(model, img0, img1, block=1)
        torch.testing.assert_close(second["input"], parts["output"])  # block 1 reads block 0's output
    w = ex.eca_channel_weights(blk, parts["output"])
    assert w.shape == (2, c) and 0 < float(w.min()) and float(w.max()) < 1
    # they are the weights the ECAB multiplies its body's output with
    y = blk.norm2(parts["output"]).reshape(2, 8, 8, c).permute(0, 3, 1, 2)
    with torch.no_grad():
        torch.testing.assert_close(blk.ecab(y), blk.ecab.body(y) * w[:, :, None, None])
    with pytest.raises(ValueError, match="use_mhc=False"):
        ex.lgs_block_parts(_tiny(use_mhc=True), img0, img1)


def test_eca_kernel_rows_by_hand():
    rows = ex.eca_kernel_rows([512, 16, 64, 16])
    assert [r["channels C"] for r in rows] == [16, 64, 512]  # sorted, deduplicated
    # k = |(log2 C + 1) / 2|_odd: 16 -> 2 -> 3, 64 -> 3, 512 -> 5; SE: 2 C (C / 16)
    assert [r["ECA kernel k"] for r in rows] == [3, 3, 5] == [r["ECA params"] for r in rows]
    assert [r["SE params (r=16)"] for r in rows] == [32, 512, 32768]


@pytest.mark.filterwarnings("ignore:model_cost:UserWarning")  # the SSD variant counts on the CPU
def test_ablation_cost_rows_sum_to_the_model_cost():
    from vfi_lib.speed.flops import model_cost

    variants = [("attn", preset("phase1", tiny=True, backbone_mode="gated_attn_only", ssm_backend="torch")),
                ("mamba", preset("phase1", tiny=True, backbone_mode="mamba2_only", ssm_backend="torch"))]
    rows, parts = ex.ablation_cost_rows(variants, 64)
    assert [r["model"] for r in rows] == ["attn", "mamba"] == [p["model"] for p in parts]
    for (_, cfg), r, p in zip(variants, rows, parts):
        cost = model_cost(cfg, 64, device="cpu")
        assert r["params [M]"] == pytest.approx(cost.params / 1e6) and r["GMACs @64"] == pytest.approx(cost.macs / 1e9)
        assert r["GFLOPs @64"] == pytest.approx(2 * r["GMACs @64"])
        assert sum(v for k, v in p.items() if k != "model") == pytest.approx(r["GMACs @64"])
    assert "mHC" not in parts[0] and "flow (IFNet)" not in parts[0]  # components without MACs in every row dropped
    assert parts[0]["SS2D-Mamba2"] == 0 and parts[1]["window attention"] == 0 and parts[0]["window attention"] > 0


# ---------------------------------------------------------------------------------------------- 06 flow
def test_warp_with_flows_and_the_oracle_blend():
    g = torch.Generator().manual_seed(0)
    img0, img1 = torch.rand(1, 3, 8, 10, generator=g), torch.rand(1, 3, 8, 10, generator=g)
    zero = torch.zeros(1, 2, 8, 10)
    valid0 = np.ones((8, 10), bool)
    valid1 = valid0.copy()
    valid1[:, :4] = False
    warped, rows = ex.warp_with_flows(img0, img1, img0, zero, zero, valid0, valid1)
    torch.testing.assert_close(warped["warped0"], img0, atol=1e-6, rtol=0)  # zero flow: the input itself
    assert np.abs(warped["err0"]).max() < 0.5  # warp(I0, 0) vs I0: below half a grey level
    assert rows[0]["share invalid"] == 0 and np.isnan(rows[0]["mean error, occluded/invalid px"])
    assert rows[1]["share invalid"] == pytest.approx(0.4)
    assert rows[1]["mean error, valid px"] == pytest.approx(float(warped["err1"][valid1].mean()))
    assert rows[1]["mean error, occluded/invalid px"] == pytest.approx(float(warped["err1"][~valid1].mean()))
    a, b = torch.zeros(1, 3, 8, 10), torch.ones(1, 3, 8, 10)
    none = np.zeros((8, 10), bool)
    blend = ex.oracle_blend(a, b, valid0, valid1)
    assert (blend[..., :4] == 0).all() and (blend[..., 4:] == 0.5).all()  # only frame 0 sees | both see
    assert (ex.oracle_blend(a, b, none, valid1)[..., 4:] == 1).all()  # only frame 1 sees
    assert (ex.oracle_blend(a, b, none, none) == 0.5).all()  # neither: the plain average


# ---------------------------------------------------------------------------------------------- 07 data
def test_motion_magnitudes_measure_a_known_shift():
    import cv2

    rng = np.random.default_rng(0)
    big = cv2.resize(rng.integers(0, 256, (24, 32, 3)).astype(np.uint8), (160, 128), interpolation=cv2.INTER_CUBIC)
    a, b = big[16:112, 16:144], big[16:112, 13:141]  # the content moves 3 px to the right
    mags = ex.motion_magnitudes([(a, b), (a, a)])
    assert mags.shape == (2 * 96 * 128,)
    assert np.median(mags[: 96 * 128]) == pytest.approx(3.0, abs=0.25) and np.median(mags[96 * 128:]) < 0.1
    (row,) = ex.motion_stats_rows({"s": np.arange(101, dtype=float)})
    assert row == {"set": "s", "pixels": 101, "median [px]": 50.0, "90th pct [px]": 90.0, "99th pct [px]": 99.0,
                   "max [px]": 100.0}


# ---------------------------------------------------------------------------------------------- 10/11/12
def test_prepare_training_run_saves_the_config_and_a_runnable_command(tmp_path, capsys):
    from vfi_lib.config import Config
    from vfi_lib.notebooks import training_config
    from vfi_lib.train import config_to_argv

    cfg = training_config(1, smoke=True, exp_name="nb_test", runs_root=tmp_path, max_steps=1)
    run_dir = ex.prepare_training_run(cfg, nproc=2)
    assert run_dir == tmp_path / "log" / "nb_test"
    assert Config.from_json(run_dir / "config.json").to_dict() == cfg.to_dict()
    line = next(ln for ln in capsys.readouterr().out.splitlines() if "torchrun" in ln)
    argv = shlex.split(line)
    assert argv[:5] == ["torchrun", "--nproc_per_node", "2", "-m", "vfi_lib.train"]
    assert argv[5:] == config_to_argv(cfg)  # quoted: list values such as [8, 16] survive the shell


def _write_run(run_dir, cfg, val_psnr=(20.0, 22.5)):
    from vfi_lib.train.runlog import RunLogWriter

    w = RunLogWriter(run_dir, t0=0.0)
    w.write_config(cfg)
    for i, (loss, p) in enumerate(zip((0.3, 0.2), val_psnr), start=1):
        w.append("train", i, 0, float(i), loss=loss)
        w.append("val", i, 0, float(i), psnr=p, ssim=0.9)


def test_training_curves_figure_draws_the_target_only_for_full_runs(tmp_path):
    from vfi_lib.eval.sota import PHASE_TARGETS
    from vfi_lib.train.runlog import load_run

    _write_run(tmp_path / "r", preset("phase1", tiny=True))
    run = load_run(tmp_path / "r")
    fig = ex.training_curves_figure(run, phase=1, smoke=False)
    loss_ax, psnr_ax = fig.axes
    assert list(loss_ax.lines[0].get_ydata()) == [0.3, 0.2] and list(psnr_ax.lines[0].get_ydata()) == [20.0, 22.5]
    target = PHASE_TARGETS["phase1"]["vimeo90k"]
    assert list(psnr_ax.lines[1].get_ydata()) == [target, target]
    plt.close(fig)
    fig = ex.training_curves_figure(run, phase=1, smoke=True)
    assert len(fig.axes[1].lines) == 1 and "smoke" in fig.axes[1].get_title()
    plt.close(fig)


def test_sample_prediction_figure_shows_the_models_error():
    from vfi_lib.data import sample_triplets
    from vfi_lib.infer import interpolate

    model = _tiny()
    fig = ex.sample_prediction_figure(model, index=1)
    tri = sample_triplets()[1]
    expected = ex.psnr_u8(interpolate(model, tri["img0"], tri["img1"], t=0.5), tri["gt"])
    assert any(a.get_title() == f"|error|, {expected:.2f} dB" for a in fig.axes)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------- 20
def test_benchmark_plan_smoke_and_full(tmp_path):
    (smoke,) = ex.benchmark_plan(True, tmp_path)
    assert smoke[0] == "vimeo90k" and (tmp_path / "sample_vimeo" / "tri_testlist.txt").is_file()
    plan = ex.benchmark_plan(False, vimeo_path="/v", snu_path="/s", snu_levels=("hard", "extreme"), xtest_path="/x")
    assert plan == [("vimeo90k", "/v", {}), ("snu_film", "/s", {"level": "hard"}),
                    ("snu_film", "/s", {"level": "extreme"}), ("xtest", "/x", {"resolution": "4k"})]
    assert ex.benchmark_plan(False) == []


def test_benchmark_models_smoke_has_random_weight_peers():
    from vfi_lib.model.peers import PEERS

    models, notes = ex.benchmark_models(True, phase=1, baselines=("average",))
    assert list(models) == ["tiny_phase1_untrained", "baseline_average"] + [f"{p} (random weights)" for p in PEERS]
    assert notes == []
    assert models["rife-hdv3 (random weights)"].supports_arbitrary_t is False


def test_benchmark_models_full_loads_given_peer_weights_and_notes_the_others(tmp_path):
    from vfi_lib.checkpoint import save_checkpoint
    from vfi_lib.model.peers import build_peer, default_weights_hint

    cfg = preset("phase1", tiny=True, ssm_backend="torch")
    ckpt = save_checkpoint(tmp_path / "ckpt" / "tiny" / "best.pt", model=_tiny(2).state_dict(), config=cfg.to_dict())
    torch.manual_seed(7)
    peer = build_peer("rife-4.2x")
    torch.save(peer.state_dict(), tmp_path / "v42.pkl")
    models, notes = ex.benchmark_models(False, 1, ckpt=str(ckpt), baselines=(),
                                        peer_weights={"rife-hdv3": "", "rife-4.2x": str(tmp_path / "v42.pkl")})
    assert list(models)[1:] == ["rife-4.2x"]  # ours first (named after the checkpoint), then the peer with weights
    assert all(torch.equal(a, b) for a, b in zip(models["rife-4.2x"].state_dict().values(), peer.state_dict().values()))
    assert notes == [f"rife-hdv3: skipped (no weights path given); {default_weights_hint('rife-hdv3')}"]


def test_run_benchmark_plan_rows_and_sota_rows(tmp_path, monkeypatch):
    from vfi_lib.model.baselines import build_baseline

    plan = ex.benchmark_plan(True, tmp_path)
    models = {"baseline_average": build_baseline("average")}
    results = ex.run_benchmark_plan(plan, models, out_dir=tmp_path / "out", limit=2)
    (row,) = ex.benchmark_rows(results)
    assert row["model"] == "baseline_average" and row["benchmark"] == "vimeo90k" and row["n"] == 2
    assert row["PSNR"] == pytest.approx(results[0]["psnr"]) and 20 < row["PSNR"] < 50
    assert json.loads(next((tmp_path / "out").rglob("*.json")).read_text())["n"] == 2  # the result file
    # X-TEST: a model without a timestep input runs recursive 2x; the others direct t
    calls = []

    def fake_run(model, bench, path, **kw):
        calls.append((kw["model_name"], kw.get("recursive")))
        return {}

    monkeypatch.setattr("vfi_lib.eval.run_benchmark", fake_run)
    fixed_t = torch.nn.Identity()
    fixed_t.supports_arbitrary_t = False
    ex.run_benchmark_plan([("xtest", "/x", {"resolution": "4k"}), ("vimeo90k", "/v", {})],
                          {"a": torch.nn.Identity(), "b": fixed_t})
    assert calls == [("a", None), ("b", True), ("a", None), ("b", None)]
    fake = [{"model": "ours", "key": "vimeo90k", "psnr": 30.0},
            {"model": "rife-4.2x (random weights)", "key": "vimeo90k", "psnr": 10.0},
            {"model": "baseline_dis", "key": "vimeo90k", "psnr": None}]
    rows = ex.sota_rows(fake, ["ours", "baseline_dis", "rife-4.2x (random weights)"], smoke=False)
    assert rows == [{"model": "ours", "venue": "this thesis", "vimeo90k": 30.0},
                    {"model": "baseline_dis", "venue": "baseline"},
                    {"model": "rife-4.2x (random weights)", "venue": "peer (our harness)", "vimeo90k": 10.0}]
    assert ex.sota_rows(fake[:1], ["ours"], smoke=True)[0]["model"] == "ours (sample, smoke)"


# ---------------------------------------------------------------------------------------------- 31
def test_scrubber_predictor():
    assert ex.scrubber_predictor("blend") is None
    with pytest.raises(ValueError, match="'model' or 'blend'"):
        ex.scrubber_predictor("rife")
    fn = ex.scrubber_predictor("model")
    rng = np.random.default_rng(0)
    a, b = (rng.integers(0, 256, (32, 48, 3), dtype=np.uint8) for _ in range(2))
    assert fn(a, b, 0.0) is a and fn(a, b, 1.0) is b  # the inputs themselves at the ends
    mid = fn(a, b, 0.5)
    assert mid.shape == a.shape and mid.dtype == np.uint8
    # untrained: a static scene stays put (the symmetric cost volume's soft-argmin is exactly 0 for two
    # equal frames at t = 0.5, the flow blocks start near zero and the residual at zero)
    import cv2

    smooth = cv2.resize(rng.integers(0, 256, (4, 6, 3), dtype=np.uint8), (48, 32), interpolation=cv2.INTER_CUBIC)
    same = fn(smooth, smooth, 0.5)
    assert np.abs(same.astype(float) - smooth).mean() < 2


# ---------------------------------------------------------------------------------------------- 40
def test_ablation_run_names_and_rows(tmp_path):
    assert ex.ablation_run_names(["hybrid", "mamba2_only"], "p1_") == ["p1_hybrid", "p1_mamba2_only"]
    with pytest.raises(ValueError, match=r"unknown ablations \['mamba3'\].*hybrid"):
        ex.ablation_run_names(["hybrid", "mamba3"], "p1_")
    from vfi_lib.train.runlog import load_runs

    cfg = preset("phase1", tiny=True, backbone_mode="mamba2_only")
    _write_run(tmp_path / "log" / "p1_mamba2_only", cfg, val_psnr=(21.0, 20.5))
    (row,) = ex.ablation_rows(["mamba2_only"], load_runs(tmp_path / "log", ["p1_mamba2_only"]))
    assert row["ablation"] == "mamba2_only" and row["run"] == "p1_mamba2_only" and row["backbone_mode"] == "mamba2_only"
    assert row["params_M"] == pytest.approx(count_parameters(build_model(cfg)) / 1e6, abs=1e-4)
    assert row["steps"] == 2 and row["final_loss"] == 0.2 and row["best_val_psnr"] == 21.0
    with pytest.raises(ValueError, match="2 ablations for 1 runs"):
        ex.ablation_rows(["hybrid", "mamba2_only"], load_runs(tmp_path / "log", ["p1_mamba2_only"]))


def test_smoke_ablation_runs_train_each_variant(tmp_path):
    from vfi_lib.train.runlog import load_runs

    log = ex.smoke_ablation_runs(["gated_attn_only"], "t_", steps=1, seed=0, root=tmp_path)
    assert log == tmp_path / "log"
    (run,) = load_runs(log, ["t_gated_attn_only"])
    assert run.config_value("model.backbone_mode") == "gated_attn_only" and run.series("loss")[0] == [1]
    with pytest.raises(ValueError, match="unknown ablations"):
        ex.smoke_ablation_runs(["nope"], "t_", steps=1, seed=0, root=tmp_path)
