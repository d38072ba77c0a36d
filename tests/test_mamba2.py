"""Mamba2 layer: shapes, gradients, mamba_ssm-compatible parameters and init, parity with a naive layer."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vfi_lib.ssm import backends
from vfi_lib.ssm.backends import BackendError
from vfi_lib.ssm.mamba2 import Mamba2, causal_conv1d
from vfi_lib.ssm.ssd import ssd_naive


def test_forward_shape_and_backward():
    torch.manual_seed(0)
    m = Mamba2(32, d_state=16, headdim=16, chunk_size=8, backend="torch")
    u = torch.randn(2, 19, 32, requires_grad=True)
    y = m(u)
    assert y.shape == (2, 19, 32) and y.dtype == torch.float32
    y.square().mean().backward()
    assert u.grad is not None and torch.isfinite(u.grad).all()
    for name, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f"no gradient reaches {name}"


def _shapes(m):
    return [(k, tuple(v.shape)) for k, v in m.state_dict().items()]


def test_state_dict_matches_mamba_ssm_layout():
    """Names/shapes from mamba_ssm 2.3.1 modules/mamba2.py: d_inner = expand*d_model,
    nheads = d_inner/headdim, in_proj out = 2*d_inner + 2*ngroups*d_state + nheads (order z, x, B, C, dt),
    conv channels d_inner + 2*ngroups*d_state."""
    m = Mamba2(64, d_state=64, expand=2, headdim=32, ngroups=1)
    assert _shapes(m) == [
        ("dt_bias", (4,)),
        ("A_log", (4,)),
        ("D", (4,)),
        ("in_proj.weight", (2 * 128 + 2 * 64 + 4, 64)),
        ("conv1d.weight", (128 + 2 * 64, 1, 4)),
        ("conv1d.bias", (128 + 2 * 64,)),
        ("norm.weight", (128,)),
        ("out_proj.weight", (64, 128)),
    ]
    m = Mamba2(48, d_state=16, d_conv=3, expand=2, headdim=24, ngroups=2, D_has_hdim=True, bias=True,
               conv_bias=False, rmsnorm=False)
    assert _shapes(m) == [
        ("dt_bias", (4,)),
        ("A_log", (4,)),
        ("D", (96,)),
        ("in_proj.weight", (2 * 96 + 2 * 2 * 16 + 4, 48)),
        ("in_proj.bias", (2 * 96 + 2 * 2 * 16 + 4,)),
        ("conv1d.weight", (96 + 2 * 2 * 16, 1, 3)),
        ("out_proj.weight", (48, 96)),
        ("out_proj.bias", (48,)),
    ]


def test_initialisation_scheme():
    torch.manual_seed(0)
    m = Mamba2(256, d_state=16, headdim=8, dt_min=0.002, dt_max=0.05, dt_init_floor=0.003, A_init_range=(2, 8))
    dt = F.softplus(m.dt_bias.detach())  # dt_bias is the inverse softplus of dt
    assert dt.min() >= 0.003 - 1e-6 and dt.max() <= 0.05 + 1e-6
    assert (dt > 0.02).any() and (dt < 0.006).any()  # spread log-uniformly, not constant
    A = torch.exp(m.A_log.detach())
    assert A.min() >= 2 and A.max() <= 8 and A.std() > 0.5
    assert torch.equal(m.D.detach(), torch.ones(64)) and torch.equal(m.norm.weight.detach(), torch.ones(512))
    assert all(getattr(p, "_no_weight_decay", False) for p in (m.dt_bias, m.A_log, m.D))


def naive_mamba2(m: Mamba2, u: torch.Tensor) -> torch.Tensor:
    """The whole layer written out step by step: explicit causal conv taps, ssd_naive, explicit gated RMSNorm."""
    b, l, _ = u.shape
    di, g, n, h, p = m.d_inner, m.ngroups, m.d_state, m.nheads, m.headdim
    proj = u @ m.in_proj.weight.T + (m.in_proj.bias if m.in_proj.bias is not None else 0)
    z, xbc, dt = proj[..., :di], proj[..., di:2 * di + 2 * g * n], proj[..., 2 * di + 2 * g * n:]
    w = m.conv1d.weight[:, 0]  # (channels, k), tap k-1 multiplies the current step
    k = w.shape[1]
    conv = torch.zeros_like(xbc)
    for t in range(l):
        for j in range(k):
            s = t - (k - 1) + j
            if s >= 0:
                conv[:, t] += w[:, j] * xbc[:, s]
    if m.conv1d.bias is not None:
        conv = conv + m.conv1d.bias
    xbc = F.silu(conv)
    x, B, C = xbc[..., :di], xbc[..., di:di + g * n], xbc[..., di + g * n:]
    dt = F.softplus(dt + m.dt_bias)
    A = -torch.exp(m.A_log)
    D = m.D.view(h, p) if m.D_has_hdim else m.D
    y = ssd_naive(x.reshape(b, l, h, p), dt, A, B.reshape(b, l, g, n), C.reshape(b, l, g, n), D=D)
    y = y.reshape(b, l, di)
    if m.rmsnorm:
        gs = di // g
        if not m.norm_before_gate:
            y = y * F.silu(z)
        yg = y.reshape(b, l, g, gs)
        y = (yg / torch.sqrt(yg.pow(2).mean(-1, keepdim=True) + m.norm.eps)).reshape(b, l, di) * m.norm.weight
        if m.norm_before_gate:
            y = y * F.silu(z)
    else:
        y = y * F.silu(z)
    return y @ m.out_proj.weight.T + (m.out_proj.bias if m.out_proj.bias is not None else 0)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(d_model=16, d_state=8, headdim=8, chunk_size=4),
        dict(d_model=24, d_state=8, d_conv=3, headdim=12, ngroups=2, D_has_hdim=True, norm_before_gate=True,
             bias=True, chunk_size=8),
        dict(d_model=16, d_state=4, headdim=8, ngroups=4, rmsnorm=False, chunk_size=5),
    ],
)
def test_matches_naive_layer_float64(kwargs):
    torch.manual_seed(0)
    m = Mamba2(**kwargs, backend="torch").double()
    with torch.no_grad():  # non-trivial D, norm weight and biases so every term is checked
        m.D.uniform_(-1, 1)
        if m.rmsnorm:
            m.norm.weight.uniform_(0.5, 1.5)
        if m.conv1d.bias is not None:
            m.conv1d.bias.uniform_(-0.5, 0.5)
    u = torch.randn(2, 11, kwargs["d_model"], dtype=torch.float64)
    torch.testing.assert_close(m(u), naive_mamba2(m, u), rtol=0, atol=1e-10)


@pytest.mark.parametrize("k", [1, 4])
def test_causal_conv1d_shift_equals_conv(k):
    """The shifted-sum form (used under torch.compile) equals nn.Conv1d's causal output, values and grads."""
    torch.manual_seed(0)
    conv = torch.nn.Conv1d(6, 6, k, groups=6, padding=k - 1).double()
    x = torch.randn(2, 9, 6, dtype=torch.float64, requires_grad=True)
    ref = conv(x.transpose(1, 2))[..., :9].transpose(1, 2)
    out = {impl: causal_conv1d(x, conv.weight, conv.bias, impl=impl) for impl in ("conv", "shift")}
    for impl, y in out.items():
        torch.testing.assert_close(y, ref, rtol=0, atol=1e-12, msg=impl)
    g = torch.randn_like(ref)
    grads = [torch.autograd.grad(y, (x, conv.weight, conv.bias), g) for y in (ref, out["shift"])]
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    assert causal_conv1d(x[:, :1], conv.weight, None, impl="shift").shape == (2, 1, 6)  # L < K
    with pytest.raises(ValueError, match="impl must be"):
        causal_conv1d(x, conv.weight, conv.bias, impl="fft")


def test_set_conv1d_impl_is_the_process_default(monkeypatch):
    """``set_conv1d_impl`` (timetest --conv1d) picks the form used when callers pass no impl; bad names fail."""
    import vfi_lib.ssm.mamba2 as M

    calls = []
    real = M.F.conv1d
    monkeypatch.setattr(M.F, "conv1d", lambda *a, **k: calls.append(1) or real(*a, **k))
    x, w = torch.randn(1, 7, 3), torch.randn(3, 1, 4)
    previous = M.set_conv1d_impl("shift")
    try:
        assert previous == "auto"
        y_shift = causal_conv1d(x, w)
        assert not calls
        M.set_conv1d_impl("conv")
        torch.testing.assert_close(causal_conv1d(x, w), y_shift)
        assert len(calls) == 1
        with pytest.raises(ValueError, match="impl must be one of auto, conv, shift; got 'fft'"):
            M.set_conv1d_impl("fft")
    finally:
        M.set_conv1d_impl("auto")


def test_state_passing_through_layer_matches_ssd_state():
    """return_final_state gives the SSM state; feeding it back as initial_state changes the output."""
    torch.manual_seed(0)
    m = Mamba2(16, d_state=8, headdim=8, chunk_size=4, backend="torch")
    u = torch.randn(1, 9, 16)
    y, s = m(u, return_final_state=True)
    assert s.shape == (1, m.nheads, m.headdim, m.d_state)
    torch.testing.assert_close(y, m(u))
    assert not torch.allclose(m(u, initial_state=s), y)


def test_bfloat16_module_runs():
    torch.manual_seed(0)
    m = Mamba2(32, d_state=16, headdim=16, chunk_size=8, backend="torch")
    u = torch.randn(2, 12, 32)
    y32 = m(u)
    y16 = m.to(torch.bfloat16)(u.to(torch.bfloat16))
    assert y16.dtype == torch.bfloat16
    assert (y16.float() - y32).norm() / y32.norm() < 5e-2


@pytest.mark.parametrize("backend", ["torch", "auto"])
def test_no_graph_breaks_in_layer(backend, monkeypatch):
    """Also for "auto" on its very first call (the choice is made and logged outside the graph)."""
    monkeypatch.setattr(backends, "_LOGGED", set())
    m = Mamba2(32, d_state=16, headdim=16, chunk_size=8, backend=backend)
    torch._dynamo.reset()
    explain = torch._dynamo.explain(m)(torch.randn(2, 13, 32))
    assert explain.graph_break_count == 0, explain.break_reasons
    assert explain.graph_count == 1


def test_backend_errors():
    with pytest.raises(ValueError, match="backend must be one of auto, torch, triton"):
        Mamba2(16, d_state=4, headdim=8, backend="cuda")
    m = Mamba2(16, d_state=4, headdim=8, backend="triton")
    with pytest.raises(BackendError, match="pip install"):
        m(torch.randn(1, 4, 16))
    assert Mamba2(16, d_state=4, headdim=8, backend="auto")(torch.randn(1, 4, 16)).shape == (1, 4, 16)


def test_bad_arguments():
    with pytest.raises(ValueError, match="headdim 24 must divide"):
        Mamba2(16, headdim=24)
    with pytest.raises(ValueError, match="ngroups 3 must divide"):
        Mamba2(16, headdim=8, ngroups=3)
    with pytest.raises(ValueError, match=r"input must be \(batch, length, 16\)"):
        Mamba2(16, d_state=4, headdim=8)(torch.randn(2, 5, 8))
    assert math.isclose(Mamba2(16, headdim=8).norm.eps, 1e-5)
