"""A frame scrubber for notebooks: step through a sequence and look at input | prediction | GT | error.

``frame_scrubber(frames, predict_fn, psnr_fn=...)`` returns an ``ipywidgets.VBox`` with a Play button
linked to an IntSlider over the start index i, a FloatSlider for the timestep t, a status line (index,
t, PSNR) and an ``ipywidgets.Image`` holding PNG bytes of the mosaic

    frame i | prediction at t | ground truth (frame i + t*span, when it exists) | |error|

The inputs of position i are frames i and i + ``span``; with ``span=2`` and t = 0.5 the ground truth
is frame i + 1 (the Vimeo90K triplet setting). For other t the ground truth exists only where
t*span is an integer; elsewhere its tile reads "n/a". The mosaic is drawn with OpenCV (no
matplotlib per move), and predictions are cached per (i, t). Without ``predict_fn`` the
"prediction" is the t-weighted blend of the two inputs, the baseline every model must beat.

Scores come from the caller: ``psnr_fn(pred, gt) -> dB`` on uint8 (H, W, 3) RGB images (e.g.
``vfi_lib.notebooks.experiments.psnr_u8``, which uses ``vfi_lib.eval.metrics``; this layer imports
no metric). Without it no PSNR is shown.

The box exposes its parts as attributes: ``box.image``, ``box.index_slider``, ``box.t_slider``,
``box.play``, ``box.status`` and ``box.render(i, t) -> (H, W, 3) uint8`` for static figures.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .frames import compose_row, encode_png, error_map, error_to_color, to_image

__all__ = ["frame_scrubber", "show_scrubber", "render_scrubber_frame", "blend_predict", "plot_scrubber_positions",
           "plot_time_row"]

PredictFn = Callable[[np.ndarray, np.ndarray, float], object]
PsnrFn = Callable[[np.ndarray, np.ndarray], float]


def blend_predict(img0: np.ndarray, img1: np.ndarray, t: float) -> np.ndarray:
    """Baseline "interpolation": (1 - t) * img0 + t * img1, uint8 (H, W, 3)."""
    a, b = to_image(img0).astype(np.float32), to_image(img1).astype(np.float32)
    return np.clip(np.round((1.0 - t) * a + t * b), 0, 255).astype(np.uint8)


def _gt_index(index: int, t: float, span: int, n: int) -> int | None:
    pos = t * span
    k = int(round(pos))
    if abs(pos - k) > 1e-6 or not 0 <= index + k < n:
        return None
    return index + k


def render_scrubber_frame(
    frames: Sequence,
    index: int,
    t: float = 0.5,
    predict_fn: PredictFn | None = None,
    span: int = 2,
    height: int | None = None,
    err_vmax: float = 32.0,
    cache: dict | None = None,
    psnr_fn: PsnrFn | None = None,
) -> tuple[np.ndarray, float | None]:
    """The scrubber mosaic of position ``index`` at time ``t``: (H', W', 3) uint8, and
    ``psnr_fn(prediction, ground truth)`` (None when there is no ground-truth frame at t or no
    ``psnr_fn``). ``cache``: optional dict of predictions keyed by (index, t), filled and reused."""
    n = len(frames)
    if not 0 <= index <= n - 1 - span:
        raise ValueError(f"frame_scrubber: index {index} out of range 0..{n - 1 - span} "
                         f"({n} frames, span {span})")
    key = (index, round(float(t), 6))
    if cache is not None and key in cache:
        pred = cache[key]
    else:
        fn = predict_fn or blend_predict
        pred = to_image(fn(to_image(frames[index]), to_image(frames[index + span]), float(t)))
        if cache is not None:
            cache[key] = pred
    gi = _gt_index(index, t, span, n)
    gt = to_image(frames[gi]) if gi is not None else None
    err = error_to_color(error_map(pred, gt), vmax=err_vmax) if gt is not None else None
    pred_name = "prediction" if predict_fn is not None else "blend"
    labels = [f"frame {index}", f"{pred_name} t={t:.2f}",
              f"GT frame {gi}" if gi is not None else "GT n/a", "|error|", f"frame {index + span}"]
    img = compose_row([frames[index], pred, gt, err, frames[index + span]], labels, height=height)
    return img, (float(psnr_fn(pred, gt)) if gt is not None and psnr_fn is not None else None)


def frame_scrubber(
    frames: Sequence,
    predict_fn: PredictFn | None = None,
    span: int = 2,
    t: float = 0.5,
    t_step: float = 0.05,
    height: int | None = None,
    err_vmax: float = 32.0,
    interval_ms: int = 400,
    psnr_fn: PsnrFn | None = None,
):
    """Build the scrubber widget (see module docstring); returns an ``ipywidgets.VBox``.

    frames: sequence of N >= span + 1 images ((H, W, 3) uint8 or (3, H, W) tensors in [0, 1]).
    predict_fn(img0, img1, t) -> image, called with uint8 (H, W, 3) RGB inputs.
    psnr_fn(pred, gt) -> dB on uint8 (H, W, 3) RGB images, shown in the status line (None: no PSNR).
    """
    import ipywidgets as widgets

    if span < 1:
        raise ValueError(f"frame_scrubber: span must be >= 1, got {span}")
    if len(frames) < span + 1:
        raise ValueError(f"frame_scrubber: need at least span + 1 = {span + 1} frames, got {len(frames)}")
    if not 0.0 <= t <= 1.0:
        raise ValueError(f"frame_scrubber: t must be in [0, 1], got {t}")
    last = len(frames) - 1 - span
    cache: dict = {}

    index_slider = widgets.IntSlider(value=0, min=0, max=last, step=1, description="index",
                                     continuous_update=True)
    play = widgets.Play(value=0, min=0, max=last, step=1, interval=interval_ms, description="play")
    widgets.jslink((play, "value"), (index_slider, "value"))
    t_slider = widgets.FloatSlider(value=t, min=0.0, max=1.0, step=t_step, description="t",
                                   readout_format=".2f", continuous_update=False)
    image = widgets.Image(format="png")
    status = widgets.HTML()

    def render(i: int, tt: float) -> np.ndarray:
        img, _ = render_scrubber_frame(frames, i, tt, predict_fn, span, height, err_vmax, cache)
        return img

    def update(_change=None) -> None:
        i, tt = int(index_slider.value), float(t_slider.value)
        img, psnr = render_scrubber_frame(frames, i, tt, predict_fn, span, height, err_vmax, cache, psnr_fn)
        image.value = encode_png(img)
        gi = _gt_index(i, tt, span, len(frames))
        if gi is None:
            ps = "PSNR: no ground truth at this t" if psnr_fn is not None else "no ground truth at this t"
        else:
            ps = f"PSNR: {psnr:.2f} dB" if psnr is not None else f"ground truth: frame {gi}"
        status.value = f"<code>index {i}/{last}  t={tt:.2f}  {ps}</code>"

    index_slider.observe(update, names="value")
    t_slider.observe(update, names="value")
    update()
    box = widgets.VBox([widgets.HBox([play, index_slider, t_slider]), status, image])
    box.image, box.index_slider, box.t_slider, box.play, box.status = image, index_slider, t_slider, play, status
    box.render = render
    return box


def plot_scrubber_positions(frames: Sequence, positions: Sequence[int], predict_fn: PredictFn | None = None,
                            span: int = 2, t: float = 0.5, height: int = 128, width_frac: float = 1.0,
                            psnr_fn: PsnrFn | None = None):
    """The scrubber mosaic (:func:`render_scrubber_frame`) of several positions, one per row, each titled
    with its PSNR (``psnr_fn(pred, gt)``, where given and a ground truth exists): the static figure of a
    headless run. Returns the Figure."""
    import matplotlib.pyplot as plt

    from .style import figsize, image_axes

    fig, axes = plt.subplots(len(positions), 1, figsize=figsize(width_frac, 0.2 * len(positions)), squeeze=False)
    for ax, i in zip(axes[:, 0], positions):
        img, psnr = render_scrubber_frame(frames, i, t, predict_fn, span=span, height=height, psnr_fn=psnr_fn)
        ax.imshow(img)
        ax.set_title(f"position {i}: PSNR {psnr:.2f} dB" if psnr is not None else f"position {i}", fontsize=7)
        image_axes(ax, frame=False)
    return fig


def show_scrubber(frames: Sequence, predict_fn: PredictFn | None = None, span: int = 2, t: float = 0.5,
                  height: int | None = None, play: bool = False, psnr_fn: PsnrFn | None = None, **kwargs):
    """Display :func:`frame_scrubber` in the running notebook (``play``: start the animation; ``psnr_fn``:
    the status line's score); returns the box, or None with a printed note when ipywidgets is not
    installed (the static figures need no widget)."""
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        print("ipywidgets is not installed: no scrubber widget, only the static figures (pip install ipywidgets)")
        return None
    from IPython.display import display

    box = frame_scrubber(frames, predict_fn=predict_fn, span=span, t=t, height=height, psnr_fn=psnr_fn, **kwargs)
    display(box)
    if play:
        box.play.playing = True
    return box


def plot_time_row(img0, img1, ts: Sequence[float], predict_fn: PredictFn | None = None,
                  labels: Sequence[str] = ("frame 0", "frame 1"), width_frac: float = 1.0):
    """One row: ``img0`` | the prediction at each t of ``ts`` | ``img1``, titled (``predict_fn(img0, img1, t)``
    on uint8 (H, W, 3) inputs; None: :func:`blend_predict`). Returns the Figure."""
    import matplotlib.pyplot as plt

    from .style import figsize, image_axes

    fn = predict_fn or blend_predict
    a, b = to_image(img0), to_image(img1)
    images = [a] + [to_image(fn(a, b, float(t))) for t in ts] + [b]
    titles = [labels[0]] + [f"t = {t:g}" for t in ts] + [labels[1]]
    fig, axes = plt.subplots(1, len(images), figsize=figsize(width_frac, 0.16), squeeze=False)
    for ax, im, title in zip(axes[0], images, titles):
        ax.imshow(im)
        ax.set_title(title, fontsize=7)
        image_axes(ax, frame=False)
    return fig
