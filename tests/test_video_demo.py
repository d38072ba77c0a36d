"""Video demo: 2x frame count (N * multi, documented), size and fps kept, scene cut = duplicate."""

import warnings

import cv2
import numpy as np
import pytest

from vfi_lib.model.baselines import FrameAverage
from vfi_lib.infer.video import _even, cut_score, main, upsample_frames

W, H, N = 64, 48, 8


def _scene(k: int, kind: int) -> np.ndarray:
    """Smooth pattern; scene 0 drifts 1 px per frame, scene 1 is a different, darker pattern."""
    yy, xx = np.mgrid[:H, :W].astype(np.float32)
    if kind == 0:
        img = 128 + 90 * np.sin((xx + k) / 6)[..., None] * np.array([1.0, 0.8, 0.6])
    else:
        img = 40 + 30 * np.cos(yy / 5)[..., None] * np.array([0.5, 1.0, 0.7])
    return np.broadcast_to(img, (H, W, 3)).clip(0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("vid") / "in.mp4"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (W, H))
    for k in range(N):  # frames 0..3 scene 0, 4..7 scene 1: a cut between 3 and 4
        w.write(_scene(k, 0 if k < N // 2 else 1)[..., ::-1])
    w.release()
    return path


def test_demo_doubles_frames_keeps_size_and_duplicates_at_the_cut(video, tmp_path):
    out, pngs = tmp_path / "out.mp4", tmp_path / "png"
    rc = main(["--video", str(video), "--multi", "2", "--baseline", "average", "--output", str(out),
               "--png_out", str(pngs), "--no_progress"])
    assert rc == 0
    cap = cv2.VideoCapture(str(out))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(20.0)
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    assert len(frames) == 2 * N and frames[0].shape == (H, W, 3)  # N * multi frames
    files = sorted(pngs.glob("*.png"))
    assert len(files) == 2 * N
    o = [cv2.imread(str(f)).astype(np.int16) for f in files]
    # output 2i = input i; 2i+1 = blend of inputs i, i+1; the pair (3, 4) is a cut
    assert np.array_equal(o[7], o[6])  # duplicate of frame 3, not a blend
    assert np.abs(o[7] - o[8]).mean() > 20
    blend = (o[0] + o[2]) / 2
    assert np.abs(o[1] - blend).max() <= 1 and np.abs(o[1] - o[0]).mean() > 1
    assert np.array_equal(o[-1], o[-2])  # the last frame is repeated to keep the duration


def test_upsample_frames_4x_odd_size_stream_and_cut_threshold():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 200, (47, 63, 3), dtype=np.uint8)
    frames = [a, a + 20, np.full_like(a, 255)]  # pair (1, 2) is a cut
    stats = {}
    out = list(upsample_frames(FrameAverage(), iter(frames), 4, stats=stats))
    assert len(out) == 12 and all(f.shape == (47, 63, 3) for f in out)
    assert stats["cuts"] == [1] and stats["frames_in"] == 3
    assert np.abs(out[2].astype(int) - (a.astype(int) + 10)).max() <= 1  # t = 1/2 of the first pair
    assert all(np.array_equal(out[k], frames[1]) for k in (4, 5, 6, 7))
    assert _even(out[0]).shape == (48, 64, 3)
    assert cut_score(a, a) == 0.0 and cut_score(a, frames[2]) > 0.15
    no_cut = list(upsample_frames(FrameAverage(), iter(frames), 2, cut_threshold=1.0))
    assert not np.array_equal(no_cut[3], frames[1])  # detection off: blended
    with pytest.raises(ValueError, match="power of two"):
        list(upsample_frames(FrameAverage(), iter(frames), 3, recursive=True))


def test_demo_clear_errors(video, tmp_path, capsys):
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    assert main(["--video", str(bad), "--baseline", "average", "--output", str(tmp_path / "o.mp4")]) == 2
    assert "bad.mp4" in capsys.readouterr().err
    assert main(["--video", str(video), "--baseline", "average", "--output", str(tmp_path / "no" / "dir" / "o.mp4")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["--video", str(tmp_path / "missing.mp4"), "--baseline", "average", "--output", str(tmp_path / "o.mp4")]) == 2


def test_truncated_video_warns_with_both_frame_counts(tmp_path, capsys):
    """An AVI cut in half still decodes its first frames: they are processed, with a warning."""
    rng = np.random.default_rng(0)
    full = tmp_path / "full.avi"
    w = cv2.VideoWriter(str(full), cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 48))
    for _ in range(30):
        w.write(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    w.release()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.warns(UserWarning, match=r"cut\.avi: the container declares 30 frames but only \d+ could be decoded"):
        assert main(["--video", str(cut), "--baseline", "average", "--png_out", str(tmp_path / "o"),
                     "--no_progress", "--cut_threshold", "1"]) == 0
    n = len(list((tmp_path / "o").glob("*.png")))
    assert 0 < n < 60 and n % 2 == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        assert main(["--video", str(full), "--baseline", "average", "--png_out", str(tmp_path / "f"),
                     "--no_progress", "--cut_threshold", "1"]) == 0  # a whole file: no warning


def test_demo_codec_choice(video, tmp_path, capsys):
    """--codec auto writes a browser-playable codec where OpenCV has one (else mp4v, with a warning);
    a codec this OpenCV lacks is a one-line error listing the available ones."""
    from vfi_lib.data.video import BROWSER_CODECS, choose_codec, codec_available

    auto = choose_codec("auto") if codec_available("avc1") or codec_available("vp09") else None
    out = tmp_path / "o.mp4"
    assert main(["--video", str(video), "--baseline", "average", "--output", str(out), "--no_progress"]) == 0
    line = capsys.readouterr().out
    if auto is not None:
        assert auto in BROWSER_CODECS[:2] and f"({auto})" in line
    assert cv2.VideoCapture(str(out)).read()[0]  # the file decodes again
    missing = [c for c, f in (("h264", "avc1"), ("vp9", "vp09")) if not codec_available(f)]
    if missing:
        assert main(["--video", str(video), "--baseline", "average", "--output", str(out), "--codec", missing[0],
                     "--no_progress"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "is not available in this OpenCV build; available:" in err[0]


def test_codec_probe_prints_nothing(monkeypatch, capfd):
    """Probing the encoders prints nothing, though FFmpeg/OpenCV log a missing one from C on fd 2;
    stderr and OpenCV's log level are back afterwards."""
    import os

    from vfi_lib.data import video as video_mod

    monkeypatch.setattr(video_mod, "_CODEC_OK", {})  # probe again in this test
    level = cv2.utils.logging.getLogLevel()
    found = [video_mod.codec_available(f) for f in ("avc1", "vp09", "mp4v", "zzzz")]
    assert found[2] and not found[3]  # mp4v is in every OpenCV build; "zzzz" in none
    assert capfd.readouterr() == ("", "")
    os.write(2, b"still here\n")
    assert capfd.readouterr().err == "still here\n" and cv2.utils.logging.getLogLevel() == level


def test_demo_falls_back_to_mp4v_with_a_warning(video, tmp_path, monkeypatch, capsys):
    """Without H.264 and VP9 encoders, --codec auto writes mp4v, says so in a warning, and the .mp4 is written."""
    from vfi_lib.data import video as video_mod

    monkeypatch.setattr(video_mod, "codec_available", lambda fourcc: fourcc not in ("avc1", "vp09"))
    out = tmp_path / "fallback.mp4"
    with pytest.warns(UserWarning, match=r"no H\.264 or VP9 encoder in this OpenCV build: writing mp4v, which "
                                         r"browsers and notebooks do not play \(convert with ffmpeg"):
        assert main(["--video", str(video), "--baseline", "average", "--output", str(out), "--no_progress"]) == 0
    assert "(mp4v)" in capsys.readouterr().out
    cap = cv2.VideoCapture(str(out))
    assert out.stat().st_size > 0 and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 2 * N and cap.read()[0]
