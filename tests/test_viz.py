"""vfi_lib.viz: flow colours, figure export, frame panels, scrubber widget, scan-path pictures."""

from __future__ import annotations

import colorsys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from vfi_lib.viz import flow as vflow  # noqa: E402
from vfi_lib.viz import frames as vframes  # noqa: E402
from vfi_lib.viz import maps as vmaps  # noqa: E402
from vfi_lib.viz import style  # noqa: E402


def _hue(rgb) -> float:
    r, g, b = (np.asarray(rgb, float) / 255.0).tolist()
    return colorsys.rgb_to_hsv(r, g, b)[0] * 360.0


# ------------------------------------------------------------------------------------------ flow colours
def test_colorwheel_segments():
    w = vflow.make_colorwheel()
    assert w.shape == (55, 3)
    # segment starts of the Middlebury wheel: red, yellow, green, cyan, blue, magenta
    np.testing.assert_array_equal(w[[0, 15, 21, 25, 36, 49]],
                                  [[255, 0, 0], [255, 255, 0], [0, 255, 0], [0, 255, 255], [0, 0, 255], [255, 0, 255]])


def test_flow_to_color_zero_is_white_and_shapes():
    img = vflow.flow_to_color(np.zeros((5, 7, 2)))
    assert img.shape == (5, 7, 3) and img.dtype == np.uint8
    assert (img == 255).all()
    # torch (2, H, W) and (1, 2, H, W) inputs give the same picture as the (H, W, 2) array
    f = torch.randn(2, 6, 4)
    ref = vflow.flow_to_color(f.permute(1, 2, 0).numpy())
    np.testing.assert_array_equal(vflow.flow_to_color(f), ref)
    np.testing.assert_array_equal(vflow.flow_to_color(f[None]), ref)
    with pytest.raises(ValueError, match="flow must be"):
        vflow.flow_to_color(np.zeros((4, 4, 3)))
    with pytest.raises(ValueError, match="max_flow"):
        vflow.flow_to_color(np.zeros((4, 4, 2)), max_flow=0)


def test_flow_to_color_known_hues_and_saturation():
    # +x -> red (wheel index 0), +y -> index 13.75 (orange-yellow), -x -> cyan-blue, -y -> blue-violet
    f = np.array([[[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0], [0.5, 0.0]]])  # (1, 5, 2)
    img = vflow.flow_to_color(f)  # normalised by the max magnitude 1
    np.testing.assert_array_equal(img[0, 0], [255, 0, 0])
    assert 50 < _hue(img[0, 1]) < 60  # between red (0) and yellow (60), near yellow
    assert 180 < _hue(img[0, 2]) < 200  # cyan-blue
    assert 240 < _hue(img[0, 3]) < 270  # blue-violet
    # half magnitude: same hue, half-way to white
    np.testing.assert_array_equal(img[0, 4], [255, 128, 128])
    # a given max_flow: magnitude 0.5 of max_flow 1.0 stays the same; beyond max_flow it darkens to 75 %
    img2 = vflow.flow_to_color(np.array([[[0.5, 0.0], [2.0, 0.0]]]), max_flow=1.0)
    np.testing.assert_array_equal(img2[0, 0], [255, 128, 128])
    np.testing.assert_array_equal(img2[0, 1], [191, 0, 0])
    # the sign of a zero dy does not matter (continuous wheel at +-pi)
    np.testing.assert_array_equal(vflow.flow_to_color(np.array([[[1.0, -0.0]]]))[0, 0], [255, 0, 0])
    # BGR order on request
    np.testing.assert_array_equal(vflow.flow_to_color(f, bgr=True)[0, 0], [0, 0, 255])


def test_flow_wheel_legend():
    wh = vflow.flow_wheel(65)
    assert wh.shape == (65, 65, 3) and wh.dtype == np.uint8
    np.testing.assert_array_equal(wh[32, 32], [255, 255, 255])  # centre: zero flow
    np.testing.assert_array_equal(wh[32, 64], [255, 0, 0])  # right edge: +x at full saturation
    np.testing.assert_array_equal(wh[0, 0], [255, 255, 255])  # outside the disc


# ------------------------------------------------------------------------------------------ style / export
def test_figsize_from_text_width():
    w, h = style.figsize(0.5, aspect=1.0)
    assert w == pytest.approx(160 / 25.4 / 2) and h == pytest.approx(w)
    with pytest.raises(ValueError):
        style.figsize(0)


def test_save_figure_writes_pdf_and_png(tmp_path, monkeypatch):
    monkeypatch.setenv("VFI_OUTPUTS", str(tmp_path))
    monkeypatch.setenv("VFI_RUN_ID", "run-a")
    monkeypatch.delenv("VFI_SMOKE", raising=False)
    with style.thesis_style():
        fig, ax = plt.subplots(figsize=style.figsize(0.4))
        ax.plot([0, 1], [0, 1], label="x")
        ax.set_title("embedded font")
        paths = style.save_figure(fig, "99_test", subdir="sub")
    plt.close(fig)
    assert [p.name for p in paths] == ["99_test.pdf", "99_test.png"] * 2
    assert all(p.parent == tmp_path / "figures" / "run-a" / "sub" for p in paths[:2])  # this run's copy
    assert all(p.parent == tmp_path / "figures" / "sub" for p in paths[2:])  # the latest, at a stable path
    assert paths[0].read_bytes() == paths[2].read_bytes()
    pdf = paths[0].read_bytes()
    assert pdf.startswith(b"%PDF") and b"/FontFile2" in pdf  # TrueType font embedded (fonttype 42)
    png = paths[1].read_bytes()
    assert png.startswith(b"\x89PNG")
    import cv2

    im = cv2.imread(str(paths[1]))
    assert im.shape[1] > 0.4 * 6.3 * 300 * 0.8  # ~300 dpi at 40 % of the text width (tight bbox)
    with pytest.raises(ValueError, match="bare file stem"):
        style.save_figure(fig, "a/b.png")


def test_figures_of_later_and_smoke_runs_never_overwrite(tmp_path, monkeypatch):
    """A second run keeps the first run's copy; a smoke run writes under outputs/smoke/ only."""
    monkeypatch.setenv("VFI_OUTPUTS", str(tmp_path))
    for run_id, smoke, y in (("full-1", "0", 1), ("full-2", "0", 2), ("smoke-1", "1", 3)):
        monkeypatch.setenv("VFI_RUN_ID", run_id)
        monkeypatch.setenv("VFI_SMOKE", smoke)
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, y])
        style.save_figure(fig, "fig", formats=("png",))
        plt.close(fig)
    runs = sorted(p.parent.name for p in tmp_path.glob("figures/*/fig.png"))
    assert runs == ["full-1", "full-2"] and (tmp_path / "figures" / "fig.png").is_file()
    assert (tmp_path / "figures" / "fig.png").read_bytes() == (tmp_path / "figures" / "full-2" / "fig.png").read_bytes()
    assert sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "smoke").rglob("*.png")) == [
        "smoke/figures/fig.png", "smoke/figures/smoke-1/fig.png"]


def test_save_table_csv_and_markdown(tmp_path, monkeypatch):
    monkeypatch.setenv("VFI_OUTPUTS", str(tmp_path))
    from vfi_lib.viz.tables import save_table

    paths = save_table([{"mode": "hybrid", "params": 1.5}, {"mode": "mamba", "params": 2.25}], "05_t")
    assert paths[0].read_text().splitlines() == ["mode,params", "hybrid,1.5", "mamba,2.25"]
    assert "| hybrid | 1.5 |" in paths[1].read_text()
    assert [p.name for p in paths] == ["05_t.csv", "05_t.md"] * 2 and paths[2].read_text() == paths[0].read_text()
    mixed = save_table([{"a": 1}, {"b": 2}], "mixed")  # the union of the columns; missing cells empty / --
    assert mixed[0].read_text().splitlines() == ["a,b", "1,", ",2"] and "| -- | 2 |" in mixed[1].read_text()
    with pytest.raises(ValueError, match="no rows"):
        save_table([], "empty")


# ------------------------------------------------------------------------------------------ frames
def test_to_image_and_error_map():
    t = torch.zeros(1, 3, 4, 5)
    t[:, 0] = 1.0
    im = vframes.to_image(t)
    assert im.shape == (4, 5, 3) and im.dtype == np.uint8 and (im[..., 0] == 255).all() and (im[..., 1:] == 0).all()
    gt = np.zeros((4, 5, 3), np.uint8)
    err = vframes.error_map(im, gt)
    np.testing.assert_allclose(err, 85.0)  # |255 - 0| on one of three channels
    with pytest.raises(ValueError, match="differ in shape"):
        vframes.error_map(im, np.zeros((4, 4, 3), np.uint8))
    row = vframes.compose_row([im, None, gt], labels=["a", "b", "c"], height=8, gap=2)
    assert row.dtype == np.uint8 and row.shape[1] == 3 * 10 + 2 * 2  # tiles resized to height 8 (w 10)


# ------------------------------------------------------------------------------------------ widget
def test_frame_scrubber_image_follows_sliders():
    pytest.importorskip("ipywidgets")
    from vfi_lib.viz.widgets import frame_scrubber

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (16, 24, 3), dtype=np.uint8) for _ in range(6)]
    calls = []

    def fake_predict(a, b, t):  # returns frame 0 shifted in brightness by t: depends on inputs and t
        calls.append(t)
        return np.clip(a.astype(np.int32) + int(100 * t), 0, 255).astype(np.uint8)

    box = frame_scrubber(frames, predict_fn=fake_predict, span=2)
    v0 = bytes(box.image.value)
    assert v0.startswith(b"\x89PNG") and box.index_slider.max == 3
    # the PNG holds frame 0 | prediction | GT | error | frame 2, under a 14-px label strip, 4-px gaps
    import cv2

    mosaic = cv2.cvtColor(cv2.imdecode(np.frombuffer(v0, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(mosaic[14:, 0:24], frames[0])
    np.testing.assert_array_equal(mosaic[14:, 28:52], fake_predict(frames[0], frames[2], 0.5))
    np.testing.assert_array_equal(mosaic[14:, 56:80], frames[1])
    calls.clear()
    box.index_slider.value = 2
    v1 = bytes(box.image.value)
    assert v1 != v0 and "index 2/3" in box.status.value and "dB" in box.status.value
    box.t_slider.value = 0.25  # no ground-truth frame at i + 0.5
    assert bytes(box.image.value) != v1 and "no ground truth" in box.status.value
    assert calls == [0.5, 0.25]
    box.index_slider.value = 0  # (0, 0.25) is new; going back to (2, 0.25) is cached
    box.index_slider.value = 2
    assert calls == [0.5, 0.25, 0.25]
    np.testing.assert_array_equal(box.render(0, 0.5), mosaic)
    with pytest.raises(ValueError, match="at least span"):
        frame_scrubber(frames[:2], span=2)


# ------------------------------------------------------------------------------------------ scan paths
def test_scan_order_and_picture():
    pytest.importorskip("vfi_lib.modules.scan")
    from vfi_lib.viz.scan_paths import plot_scan_paths, scan_order

    o = scan_order(2, 3, frames=2)  # (4, 12, 3) of (t, y, x)
    assert o.shape == (4, 12, 3)
    # row-major interleaved: f0(0,0), f1(0,0), f0(0,1), ...
    np.testing.assert_array_equal(o[0, :4], [[0, 0, 0], [1, 0, 0], [0, 0, 1], [1, 0, 1]])
    # column-major: down the first column first, frames innermost
    np.testing.assert_array_equal(o[1, :4], [[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]])
    np.testing.assert_array_equal(o[2], o[0][::-1])
    # every direction visits every (t, y, x) exactly once
    for d in range(4):
        assert len({tuple(p) for p in o[d]}) == 12
    fig = plot_scan_paths(3, 3, frames=2, numbers=True)
    assert len(fig.axes) == 4
    plt.close(fig)


# ------------------------------------------------------------------------------------------ attention
def test_sink_stats_uniform_and_sink():
    from vfi_lib.viz.attention import sink_stats

    n = 8
    uniform = torch.full((3, 2, n, n), 1.0 / n)
    s = sink_stats(uniform)
    for k in ("first_token", "top_key", "max_weight"):
        assert s[k] == pytest.approx(1.0 / n)
    assert s["entropy"] == pytest.approx(1.0) and s["uniform"] == pytest.approx(1.0 / n)
    sink = torch.zeros(3, 2, n, n)
    sink[..., 0] = 0.9  # every query puts 90 % on key 0
    sink[..., 1:] = 0.1 / (n - 1)
    s = sink_stats(sink)
    assert s["first_token"] == pytest.approx(0.9) and s["top_key"] == pytest.approx(0.9)
    with pytest.raises(ValueError, match="windows, heads, N, N"):
        sink_stats(torch.zeros(2, 3, 4))


def test_attention_figures_build_from_the_module():
    pytest.importorskip("vfi_lib.modules.gated_window_attention")
    from vfi_lib.modules.gated_window_attention import GatedWindowAttention
    from vfi_lib.viz.attention import plot_gate_histogram, plot_shift_masks, plot_window_attention

    layer = GatedWindowAttention(8, 2, 4, keep_attn=True)
    layer(torch.randn(1, 2, 8, 8, 8))
    fig = plot_window_attention(layer.last_attn, 4, window=1, queries=(0, 17))
    assert len(fig.axes) == 1 + 1 + 2 * 2  # matrix, its colour bar, 2 queries x 2 frames
    plt.close(fig)
    ax = plot_gate_histogram(layer.last_gate)
    plt.close(ax.figure)
    fig = plot_shift_masks(8, 8, window=4, shift=2, windows=(0, 3))
    titles = [a.get_title() for a in fig.axes]
    assert titles[1] == "window 0: 256/256 pairs" and titles[2] == "window 3: 64/256 pairs"  # 4 regions of 2x2
    plt.close(fig)


def test_features_to_rgb_pca():
    # a map whose only variation is one channel pattern: the first component reproduces it, others are flat
    pattern = torch.linspace(-1, 1, 12).repeat(10, 1)  # (10, 12), varies along x
    feat = torch.zeros(5, 10, 12)
    feat[2] = pattern
    img, basis = vframes.features_to_rgb(feat, border=0)
    assert img.shape == (10, 12, 3) and img.dtype == np.uint8 and basis.shape == (5, 3)
    col = img[0, :, 0].astype(int)
    assert (np.diff(col) > 0).all() or (np.diff(col) < 0).all()  # monotone along x
    img2, _ = vframes.features_to_rgb(2 * feat, basis=basis, border=0)
    np.testing.assert_array_equal(img2, img)  # standardised: a global scale does not change the picture


# ------------------------------------------------------------------------------------------ maps (notebook 30)
def test_window_stats_on_uniform_identity_and_cross_attention():
    n_h, n_w, heads, w2 = 2, 3, 2, 4  # 6 windows, N = 2 frames x 4 tokens
    n = 2 * w2
    uniform = torch.full((n_h * n_w, heads, n, n), 1.0 / n)
    assert np.allclose(vmaps.window_stat_map(uniform, n_h, n_w, "cross_frame"), 0.5)
    assert np.allclose(vmaps.window_stat_map(uniform, n_h, n_w, "entropy"), 1.0)
    assert np.allclose(vmaps.window_stat_map(uniform, n_h, n_w, "max_weight"), 1.0 / n)
    ident = torch.eye(n).expand(n_h * n_w, heads, n, n).clone()
    assert np.allclose(vmaps.window_stat_map(ident, n_h, n_w, "cross_frame"), 0.0)
    assert np.allclose(vmaps.window_stat_map(ident, n_h, n_w, "entropy"), 0.0)
    # window k: every query attends only to the other frame's token k % w2 -> cross share 1 in odd windows
    a = ident.clone()
    for k in range(1, n_h * n_w, 2):
        a[k] = 0
        a[k, :, :w2, w2] = 1.0  # frame-0 queries -> a frame-1 key
        a[k, :, w2:, 0] = 1.0  # frame-1 queries -> a frame-0 key
    m = vmaps.window_stat_map(a, n_h, n_w, "cross_frame")
    assert m.shape == (1, n_h, n_w)
    assert np.allclose(m[0], [[0, 1, 0], [1, 0, 1]])  # row-major (nh, nw) window order
    with pytest.raises(ValueError, match="stat must be one of"):
        vmaps.window_stat_map(uniform, n_h, n_w, "sink")
    with pytest.raises(ValueError, match="not a multiple"):
        vmaps.window_stat_map(uniform, 4, 4)


def test_gate_map_and_most_moving_window():
    gate = torch.rand(1, 2, 5, 7, 6)
    assert np.allclose(vmaps.gate_map(gate, 1)[0], gate[0, 1].double().mean(-1).numpy())
    with pytest.raises(ValueError, match="frame must be in 0..1"):
        vmaps.gate_map(gate, 2)
    img0 = torch.zeros(1, 3, 32, 48)
    img1 = img0.clone()
    img1[..., 16:32, 32:48] = 0.5  # block (1, 2) of 16 x 16 changes
    r, c, motion = vmaps.most_moving_window(img0, img1, 16)
    assert (r, c) == (1, 2) and motion == pytest.approx(0.5)
    with pytest.raises(ValueError, match="smaller than one 64x64 cell"):
        vmaps.most_moving_window(img0, img1, 64)
