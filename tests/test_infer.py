"""Inference helpers: sizes and padding, arbitrary t, 2^k frames, TTA, tiling, autocast, errors."""

import numpy as np
import pytest
import torch

from vfi_lib.model.baselines import FrameAverage
from vfi_lib.infer import interpolate, interpolate_multi, predict
from vfi_lib.infer.tiling import crop_pads, pad_to_multiple, tiled_apply


class Padded(FrameAverage):
    """Averaging model that insists on inputs padded to 16 and records its calls."""

    pad_multiple = 16

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, img0, img1, t=0.5, return_aux=False, scale=1.0):
        assert img0.shape[-2] % 16 == 0 and img0.shape[-1] % 16 == 0
        self.calls.append((tuple(img0.shape), float(t), scale))
        return super().forward(img0, img1, t, return_aux, scale)


def _pair(h=37, w=53, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8), rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_interpolate_any_size_arbitrary_t_and_scale():
    a, b = _pair()
    m = Padded()
    out = interpolate(m, a, b, t=0.25, scale=0.5)
    assert out.shape == (37, 53, 3) and out.dtype == np.uint8
    exp = 0.75 * a.astype(np.float64) + 0.25 * b
    assert np.abs(out - exp).max() <= 0.5 + 1e-3  # rounding only
    assert m.calls == [((1, 3, 48, 64), 0.25, 0.5)]
    # float tensor input (3, H, W) and batched (B, 3, H, W)
    ta, tb = (torch.from_numpy(x).permute(2, 0, 1).float() / 255 for x in (a, b))
    assert np.array_equal(interpolate(m, ta, tb, t=0.25), out)
    assert interpolate(m, torch.stack([ta, tb]), torch.stack([tb, ta])).shape == (2, 37, 53, 3)


def test_pad_to_multiple_is_centred_and_cropped_back():
    x = torch.rand(1, 3, 20, 28)
    xp, pads = pad_to_multiple(x, 32)
    assert xp.shape == (1, 3, 32, 32) and pads == (2, 2, 6, 6)
    assert torch.equal(crop_pads(xp, pads), x)
    assert torch.equal(xp[..., 0, 2:-2], x[..., 0, :])  # replicate padding


def test_interpolate_multi_recursive_and_direct():
    a, b = _pair(16, 24, seed=1)
    m = Padded()
    rec = interpolate_multi(m, a, b, n_exp=2, recursive=True)
    assert len(rec) == 3 and [c[1] for c in m.calls] == [0.5] * 3
    m.calls.clear()
    direct = interpolate_multi(m, a, b, n_exp=2, recursive=False)
    assert [c[1] for c in m.calls] == [0.25, 0.5, 0.75]
    for k, (r, d) in enumerate(zip(rec, direct), start=1):
        exp = (1 - k / 4) * a.astype(np.float64) + k / 4 * b
        assert np.abs(d - exp).max() <= 0.5 + 1e-3
        assert np.abs(r.astype(int) - d).max() <= 1  # midpoints of float midpoints = the blend
    with pytest.raises(ValueError, match="n_exp must be >= 1"):
        interpolate_multi(m, a, b, n_exp=0)


def test_tta_averages_the_rotated_prediction():
    class Asym(FrameAverage):  # not rotation-equivariant: adds a left-to-right ramp
        def forward(self, img0, img1, t=0.5, return_aux=False, scale=1.0):
            ramp = torch.linspace(0, 0.2, img0.shape[-1]).view(1, 1, 1, -1)
            return super().forward(img0, img1, t) * 0.5 + ramp

    x0, x1 = torch.rand(1, 3, 8, 10), torch.rand(1, 3, 8, 10)
    base = 0.25 * (x0 + x1)
    ramp = torch.linspace(0, 0.2, 10).view(1, 1, 1, -1)
    out = predict(Asym(), x0, x1, tta=True)
    assert torch.allclose(out, base + 0.5 * (ramp + ramp.flip(-1)), atol=1e-6)  # ramp averages to 0.1
    assert not torch.allclose(predict(Asym(), x0, x1), out, atol=1e-3)


def test_tiling_equals_untiled_for_translation_equivariant_model():
    x0, x1 = torch.rand(2, 3, 70, 101), torch.rand(2, 3, 70, 101)
    m = FrameAverage()
    full = predict(m, x0, x1, t=0.3)
    tiled = predict(m, x0, x1, t=0.3, tile=32, overlap=8)
    assert torch.allclose(tiled, full, atol=1e-6)
    a, b = _pair(45, 67)
    # t = 1/3 keeps 255 * blend away from .5 ties, where a 1-ulp blend difference could flip rounding
    assert np.array_equal(interpolate(m, a, b, t=1 / 3, tile=24, overlap=6), interpolate(m, a, b, t=1 / 3))
    # the blend weights tile the plane: a constant model gives the constant back
    ones = tiled_apply(lambda u, v: torch.ones_like(u), x0, x1, tile=32, overlap=12)
    assert torch.allclose(ones, torch.ones_like(ones))
    with pytest.raises(ValueError, match="overlap must be in"):
        tiled_apply(lambda u, v: u, x0, x1, tile=16, overlap=16)


def test_autocast_bf16_on_cpu_and_fp16_error():
    x0, x1 = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)

    class Conv(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.c = torch.nn.Conv2d(6, 3, 3, padding=1)
            self.seen = None

        def forward(self, img0, img1, t=0.5, return_aux=False, scale=1.0):
            y = self.c(torch.cat([img0, img1], 1))
            self.seen = y.dtype
            return torch.sigmoid(y)

    m = Conv()
    ref = predict(m, x0, x1)
    out = predict(m, x0, x1, dtype="bf16")
    assert m.seen == torch.bfloat16 and out.dtype == torch.float32
    assert torch.allclose(out, ref, atol=2e-2)
    with pytest.raises(ValueError, match="fp16.*needs a GPU"):
        predict(m, x0, x1, dtype="fp16")
    with pytest.raises(ValueError, match="dtype must be one of"):
        predict(m, x0, x1, dtype="int8")


def test_clear_input_errors():
    a, b = _pair(16, 16)
    m = FrameAverage()
    with pytest.raises(ValueError, match="sizes differ"):
        interpolate(m, a, b[:8])
    with pytest.raises(TypeError, match="img0: numpy frames must be uint8"):
        interpolate(m, a.astype(np.float32), b)
    with pytest.raises(ValueError, match=r"img1: numpy frames must be \(H, W, 3\)"):
        interpolate(m, a, np.dstack([b, b[..., :1]]))
    with pytest.raises(TypeError, match="tensors must be float"):
        interpolate(m, torch.zeros(3, 4, 4, dtype=torch.uint8), torch.zeros(3, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match="RGB, got shape"):
        interpolate(m, torch.rand(1, 4, 8, 8), torch.rand(1, 4, 8, 8))
    with pytest.raises(ValueError, match=r"t must be in \(0, 1\)"):
        interpolate(m, a, b, t=1.5)


@pytest.mark.gpu
def test_interpolate_on_gpu_with_fp16():
    a, b = _pair(40, 56)
    m = FrameAverage().cuda()
    x0, x1 = (torch.from_numpy(x).permute(2, 0, 1)[None].float().cuda() / 255 for x in (a, b))
    out = predict(m, x0, x1, dtype="fp16")
    assert out.is_cuda and out.dtype == torch.float32
    assert torch.allclose(out, 0.5 * (x0 + x1), atol=2e-3)
