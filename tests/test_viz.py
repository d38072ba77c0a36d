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

    scored = []

    def fake_psnr(pred, gt):  # the caller's score: sees the uint8 prediction and ground truth
        scored.append((pred.dtype, gt.dtype, pred.shape))
        return 12.5

    box = frame_scrubber(frames, predict_fn=fake_predict, span=2, psnr_fn=fake_psnr)
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
    assert v1 != v0 and "index 2/3" in box.status.value and "PSNR: 12.50 dB" in box.status.value
    assert scored[-1] == (np.uint8, np.uint8, (16, 24, 3))
    box.t_slider.value = 0.25  # no ground-truth frame at i + 0.5
    assert bytes(box.image.value) != v1 and "no ground truth" in box.status.value
    assert calls == [0.5, 0.25]
    box.index_slider.value = 0  # (0, 0.25) is new; going back to (2, 0.25) is cached
    box.index_slider.value = 2
    assert calls == [0.5, 0.25, 0.25]
    np.testing.assert_array_equal(box.render(0, 0.5), mosaic)
    n_scored = len(scored)
    box.t_slider.value = 0.5
    plain = frame_scrubber(frames, predict_fn=fake_predict, span=2)  # no psnr_fn: no score, the GT frame named
    assert "ground truth: frame 1" in plain.status.value and "PSNR" not in plain.status.value
    assert len(scored) == n_scored + 1  # only the box with a psnr_fn scored (its move back to t = 0.5)
    with pytest.raises(ValueError, match="at least span"):
        frame_scrubber(frames[:2], span=2)


# ------------------------------------------------------------------------------------------ scan paths
def _orders(h: int, w: int, frames: int) -> np.ndarray:
    """Hand-built (4, L, 3) interleaved orders: row-major, column-major and both reversed, frames innermost."""
    row = [(t, y, x) for y in range(h) for x in range(w) for t in range(frames)]
    col = [(t, y, x) for x in range(w) for y in range(h) for t in range(frames)]
    return np.array([row, col, row[::-1], col[::-1]])


def test_scan_path_pictures_draw_the_given_orders():
    from vfi_lib.viz.scan_paths import plot_scan_path, plot_scan_paths

    fig = plot_scan_paths(_orders(2, 3, 2), numbers=True)  # grid size and frame count read off the coordinates
    assert len(fig.axes) == 4 and "2 frames per pixel cell" in fig._suptitle.get_text()
    ax = fig.axes[1]
    assert ax.get_title() == "column-major" and ax.get_xlim() == (-0.5, 2.5) and ax.get_ylim() == (1.5, -0.5)
    steps = [t.get_text() for t in ax.texts if t.get_text()]  # (the arrows are empty annotations)
    assert steps == [str(i) for i in range(12)] and len(ax.texts) == 12 + 11  # a number per token, 11 arrows
    start = ax.lines[-1].get_xydata()[0]  # the red start marker: token (0, 0, 0), left half of cell (0, 0)
    np.testing.assert_allclose(start, [-0.25, 0.0])
    plt.close(fig)
    fig, ax = plt.subplots()
    plot_scan_path(ax, _orders(3, 3, 1)[2], numbers=False)  # one frame, reversed: starts at the last pixel
    assert not any(t.get_text() for t in ax.texts) and ax.lines[-1].get_xydata()[0].tolist() == [2.0, 2.0]
    plt.close(fig)
    bad = _orders(2, 2, 1)
    bad[0, 1] = bad[0, 0]  # a token visited twice
    with pytest.raises(ValueError, match="exactly once"):
        plot_scan_paths(bad)
    with pytest.raises(ValueError, match="expected 4 directions"):
        plot_scan_paths(_orders(2, 2, 1)[:2])


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
    from vfi_lib.viz.attention import plot_gate_histogram, plot_window_attention

    layer = GatedWindowAttention(8, 2, 4, keep_attn=True)
    layer(torch.randn(1, 2, 8, 8, 8))
    fig = plot_window_attention(layer.last_attn, 4, window=1, queries=(0, 17))
    assert len(fig.axes) == 1 + 1 + 2 * 2  # matrix, its colour bar, 2 queries x 2 frames
    plt.close(fig)
    ax = plot_gate_histogram(layer.last_gate)
    plt.close(ax.figure)


def test_shift_masks_draw_the_given_maps():
    from vfi_lib.viz.attention import plot_shift_masks

    region = np.zeros((4, 4))
    region[:, 2:] = 1  # two regions, left and right half
    valid = np.ones((4, 4), bool)
    valid[3] = False  # padding row
    mask = np.zeros((4, 4, 4))  # window 2 x 2: 4 windows of N = 4 tokens
    mask[3, 0, 1] = mask[3, 1, 0] = -100.0  # two forbidden pairs in the last window
    fig = plot_shift_masks(torch.from_numpy(region), torch.from_numpy(valid), torch.from_numpy(mask), window=2,
                           shift=1, windows=(0, -1))
    titles = [a.get_title() for a in fig.axes]
    assert titles == ["regions after roll by -1", "window 0: 16/16 pairs", "window 3: 14/16 pairs"]
    shown = np.ma.getmaskarray(fig.axes[0].images[0].get_array())  # NaN (blank) where padding
    assert shown[3].all() and not shown[:3].any()
    plt.close(fig)
    fig = plot_shift_masks(region, valid, None, window=2, shift=0, windows=(1,))  # nothing masked
    assert fig.axes[1].get_title() == "window 1: 16/16 pairs"
    plt.close(fig)
    with pytest.raises(ValueError, match="one \\(Hp, Wp\\)"):
        plot_shift_masks(region, valid[:2], None, window=2, shift=0)


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


# ------------------------------------------------------------------------------------------ PSNR, frame figures
def test_plot_prediction_titles_the_error_with_the_callers_psnr():
    gt = np.full((4, 6, 3), 10, np.uint8)
    pred = np.zeros_like(gt)
    fig = vframes.plot_prediction(gt, gt, pred, gt, psnr=28.1308)
    assert fig.axes[4].get_title() == "|error|, 28.13 dB" and fig.axes[4].images[0].get_array().max() == 10.0
    plt.close(fig)
    fig = vframes.plot_prediction(gt, gt, pred, gt)  # no score given: none shown
    assert fig.axes[4].get_title() == "|error|"
    plt.close(fig)
    fig = vframes.plot_prediction(gt, gt, pred)  # no ground truth: no error panel
    assert [a.get_title() for a in fig.axes] == ["frame 0", "frame 1", "prediction"]
    plt.close(fig)


def _item(v: int, name: str) -> dict:
    frames = {k: torch.full((3, 8, 10), v + i, dtype=torch.uint8) for i, k in enumerate(("img0", "gt", "img1"))}
    return frames | {"name": name}


def test_plot_triplets_and_warp_errors_lay_out_their_inputs():
    fig = vframes.plot_triplets([_item(0, "a"), _item(50, "b")])
    axes = np.array(fig.axes).reshape(2, 3)
    assert [a.get_title() for a in axes[0]] == ["frame 0", "middle (target)", "frame 1"]
    assert axes[1, 0].get_ylabel() == "b" and int(axes[1, 1].images[0].get_array()[0, 0, 0]) == 51  # the gt of item b
    plt.close(fig)
    gt = np.zeros((8, 10, 3), np.uint8)
    valid = np.ones((8, 10), bool)
    valid[:, :3] = False
    err = np.full((8, 10), 7.0)
    fig = vframes.plot_warp_errors([gt, gt], [err, 2 * err], [valid, valid], gt, err_vmax=50)
    img_axes = [a for a in fig.axes if a.images]
    assert len(img_axes) == 6 and len(fig.axes) == 7  # 2 rows x 3 panels + one colour bar
    assert img_axes[4].images[0].get_array().max() == 14.0 and img_axes[4].images[0].get_clim() == (0, 50)
    assert img_axes[2].get_title() == "invalid for this source" and img_axes[2].collections  # the outline
    plt.close(fig)


def test_show_images_passes_the_colour_range_of_2d_maps():
    fig = vframes.show_images([np.zeros((4, 4)), np.ones((4, 4, 3), np.uint8)], ["map", "rgb"], vmin=-1, vmax=3)
    assert fig.axes[0].images[0].get_clim() == (-1, 3)
    plt.close(fig)


def test_window_stat_overlays_crop_the_padded_maps_to_the_image():
    image = np.zeros((24, 40, 3), np.uint8)
    stats = {k: np.random.default_rng(0).random((2, 3)) for k in vmaps.WINDOW_STATS}  # 3 x 16 px > 40 px: padded
    fig = vmaps.plot_window_stat_overlays(image, stats, np.full((6, 12), 0.5), window_px=16, stride=4, title="t")
    panels = [a for a in fig.axes if a.images]
    assert len(panels) == 4 and fig._suptitle.get_text() == "t"
    for ax in panels:
        assert ax.get_xlim() == (0, 40) and ax.get_ylim() == (24, 0)
    assert panels[0].images[1].get_extent() == [0, 48, 32, 0]  # windows of 16 px, beyond the image
    assert panels[3].images[1].get_clim() == (0.0, 1.0) and panels[3].images[1].get_extent() == [0, 48, 24, 0]
    plt.close(fig)


# ------------------------------------------------------------------------------------------ scrubber helpers
def _frames(n: int = 5) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.integers(0, 256, (12, 16, 3), dtype=np.uint8) for _ in range(n)]


def test_plot_scrubber_positions_titles_carry_the_psnr_of_each_position():
    from vfi_lib.viz.widgets import blend_predict, plot_scrubber_positions

    def mean_abs(pred, gt):  # a stand-in score of the caller
        return float(np.abs(pred.astype(float) - gt).mean())

    frames = _frames()
    fig = plot_scrubber_positions(frames, [0, 2], span=2, height=12, psnr_fn=mean_abs)
    titles = [a.get_title() for a in fig.axes]
    for i, title in zip((0, 2), titles):
        expected = mean_abs(blend_predict(frames[i], frames[i + 2], 0.5), frames[i + 1])
        assert title == f"position {i}: PSNR {expected:.2f} dB"
    plt.close(fig)
    fig = plot_scrubber_positions(frames, [1], span=2, t=0.25, height=12, psnr_fn=mean_abs)  # no GT at i + 0.5
    assert fig.axes[0].get_title() == "position 1"
    plt.close(fig)
    fig = plot_scrubber_positions(frames, [1], span=2, height=12)  # no psnr_fn: no score
    assert fig.axes[0].get_title() == "position 1"
    plt.close(fig)


def test_plot_time_row_predicts_at_every_t():
    from vfi_lib.viz.widgets import blend_predict, plot_time_row

    a, b = _frames(2)
    fig = plot_time_row(a, b, [0.25, 0.75], labels=("frame 8", "frame 10"))
    assert [ax.get_title() for ax in fig.axes] == ["frame 8", "t = 0.25", "t = 0.75", "frame 10"]
    np.testing.assert_array_equal(fig.axes[1].images[0].get_array(), blend_predict(a, b, 0.25))
    plt.close(fig)
    seen = []
    fig = plot_time_row(a, b, [0.5], predict_fn=lambda x, y, t: seen.append(t) or y)
    assert seen == [0.5] and np.array_equal(fig.axes[1].images[0].get_array(), b)
    plt.close(fig)


def test_show_scrubber_displays_the_widget_or_says_why_not(monkeypatch, capsys):
    import builtins

    from vfi_lib.viz.widgets import show_scrubber

    frames = _frames()
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        pass
    else:
        box = show_scrubber(frames, span=2, height=12, play=True)
        assert box.play.playing and box.index_slider.max == 2
    real_import = builtins.__import__

    def no_widgets(name, *args, **kwargs):
        if name == "ipywidgets":
            raise ImportError("no ipywidgets")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_widgets)
    assert show_scrubber(frames) is None
    assert "ipywidgets is not installed" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------ charts (viz.plots)
def test_median_bands_and_loglog_timings_draw_the_data():
    from vfi_lib.viz.plots import plot_loglog_timings, plot_median_bands

    x = np.arange(1, 4)
    v = np.array([[1.0, 2.0, 3.0], [1e-20, 1e-20, 1e-20], [4.0, 5.0, 9.0]])  # (len(x), samples)
    ax = plot_median_bands(x, {"a": v}, floor=1e-16)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [2.0, 1e-16, 5.0])  # median, floored for the log axis
    assert ax.get_yscale() == "log" and len(ax.collections) == 1
    with pytest.raises(ValueError, match="3 rows for 2 x values"):
        plot_median_bands(x[:2], {"a": v})
    plt.close("all")
    rows = [{"length": 10, "t": 1.0}, {"length": 100, "t": 20.0}]
    ax = plot_loglog_timings(rows, "length", ["t"])
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [2.0, 20.0])  # O(l) guide through the last point
    plt.close("all")


def test_stacked_bars_start_where_the_previous_segment_ends():
    from vfi_lib.viz.plots import plot_stacked_bars

    rows = [{"model": "m1", "a": 1.0, "b": 2.0}, {"model": "m2", "a": -3.0, "b": None}]
    ax = plot_stacked_bars(rows, ["a", "b"])
    a_bars, b_bars = ax.containers
    assert [p.get_width() for p in a_bars] == [1.0, 0.0]  # negative drawn as 0
    assert [p.get_x() for p in b_bars] == [1.0, 0.0] and [p.get_width() for p in b_bars] == [2.0, 0.0]
    plt.close("all")


def test_channel_weights_matrices_and_ssd_pictures():
    from vfi_lib.viz.plots import plot_channel_weights, plot_matrices, plot_ssd_matrices

    fig = plot_channel_weights(torch.tensor([0.2, 0.7, 0.5]), title="w")
    assert [p.get_height() for p in fig.axes[0].patches] == pytest.approx([0.2, 0.7, 0.5])
    plt.close(fig)
    fig = plot_matrices({"I": torch.eye(2), "J": np.full((2, 2), 0.5)})
    assert len(fig.axes) == 3 and [t.get_text() for t in fig.axes[0].texts] == ["1.00", "0.00", "0.00", "1.00"]
    plt.close(fig)
    L = torch.tril(torch.ones(6, 6, dtype=torch.float64))
    fig = plot_ssd_matrices(L, 2 * L, chunk=2)
    ax = fig.axes[0]
    shown = ax.images[0].get_array()  # log10 L, blank (masked NaN) above the diagonal
    assert np.ma.getmaskarray(shown)[0, 1] and not np.ma.getmaskarray(shown)[1, 0] and shown[1, 0] == 0.0
    assert len(ax.lines) == 2 * 2  # chunk borders at 1.5 and 3.5, horizontal and vertical
    plt.close(fig)


def test_latency_fit_and_scaling_ratio():
    from vfi_lib.viz.plots import latency_fit, plot_latency_scaling

    assert latency_fit([1.0, 2.0], [2.0, 4.0]) == pytest.approx(2.0)
    assert latency_fit([1.0, 2.0], [1.0, 3.0]) == pytest.approx(7.0 / 5.0)  # sum(mp ms) / sum(mp^2)
    rows = [{"model": "m", "MP": mp, "median_ms": ms} for mp, ms in ((1.0, 10.0), (2.0, 20.0), (4.0, 40.0))]
    fig, fits = plot_latency_scaling(rows)
    assert fits["m"] == pytest.approx((10.0, 1.0))  # linear: 10 ms/MP, largest size on the fit
    plt.close(fig)


def test_ablation_summary_and_histories():
    from vfi_lib.viz.plots import plot_ablation_summary, plot_histories

    rows = [{"ablation": "hybrid", "params_M": 1.2, "best_val_psnr": 30.0},
            {"ablation": "mamba2_only", "params_M": 1.0, "best_val_psnr": None}]
    fig = plot_ablation_summary(rows, title="smoke")
    left, right = fig.axes
    assert [p.get_width() for p in left.patches] == [1.2, 1.0]
    assert right.get_xlim() == (29.0, 30.5) and np.isnan(right.patches[1].get_width())
    assert right.patches[0].get_facecolor() != right.patches[1].get_facecolor()  # the hybrid highlighted
    plt.close(fig)
    fig = plot_histories({"gated": [3, 2, 1], "ungated": [3, 2.5]})
    assert [list(line.get_ydata()) for line in fig.axes[0].lines] == [[3, 2, 1], [3, 2.5]]
    plt.close(fig)
