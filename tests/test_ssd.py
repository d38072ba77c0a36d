"""SSD core: chunked scan vs the per-step recurrence, gradients, state chaining, backends."""

from __future__ import annotations

import logging
import sys
import textwrap

import pytest
import torch
import torch.nn.functional as F

from vfi_lib.ssm import backends
from vfi_lib.ssm.backends import BackendError, resolve_backend, ssd
from vfi_lib.ssm.ssd import ssd_chunked, ssd_naive


def _inputs(b, l, h, p, g, n, dtype=torch.float64, seed=0, d_hdim=False, with_state=True):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(b, l, h, p, generator=gen, dtype=dtype)
    dt = (torch.rand(b, l, h, generator=gen, dtype=dtype) * 0.3 + 0.01)
    A = -torch.rand(h, generator=gen, dtype=dtype) * 4 - 0.1
    B = torch.randn(b, l, g, n, generator=gen, dtype=dtype)
    C = torch.randn(b, l, g, n, generator=gen, dtype=dtype)
    D = torch.randn((h, p) if d_hdim else (h,), generator=gen, dtype=dtype)
    s0 = torch.randn(b, h, p, n, generator=gen, dtype=dtype) if with_state else None
    return x, dt, A, B, C, D, s0


@pytest.mark.parametrize(
    "l,chunk,h,g,n,d_hdim",
    [
        (64, 16, 4, 1, 64, False),  # l a multiple of the chunk, one B/C group shared by all heads
        (45, 16, 4, 2, 128, True),  # l not a multiple, 2 groups, D per (head, channel)
        (7, 16, 2, 2, 64, False),  # l shorter than one chunk, one group per head
        (33, 8, 6, 3, 64, True),  # many chunks, 2 heads per group
    ],
)
def test_chunked_matches_naive_float64(l, chunk, h, g, n, d_hdim):
    x, dt, A, B, C, D, s0 = _inputs(2, l, h, 3, g, n, d_hdim=d_hdim)
    y_ref, s_ref = ssd_naive(x, dt, A, B, C, D=D, initial_state=s0, return_final_state=True)
    y, s = ssd_chunked(x, dt, A, B, C, chunk, D=D, initial_state=s0, return_final_state=True)
    assert y.shape == (2, l, h, 3) and s.shape == (2, h, 3, n)
    assert y.dtype == torch.float64
    torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-10)
    torch.testing.assert_close(s, s_ref, rtol=0, atol=1e-10)


def test_naive_is_the_recurrence_by_hand():
    """One head, one channel, state size 1: y_t = C_t h_t with h_t = e^{dt A} h_{t-1} + dt x B (+ D x)."""
    x, dt, A, B, C = (torch.tensor(v, dtype=torch.float64) for v in ([1.0, 2.0, -1.0], [0.5, 0.1, 1.0], [-2.0],
                                                                      [3.0, 1.0, 2.0], [1.0, -1.0, 0.5]))
    hs, y_hand = 0.0, []
    for t in range(3):
        hs = torch.exp(dt[t] * A[0]) * hs + dt[t] * x[t] * B[t]
        y_hand.append(C[t] * hs + 0.5 * x[t])
    y = ssd_naive(x.view(1, 3, 1, 1), dt.view(1, 3, 1), A, B.view(1, 3, 1, 1), C.view(1, 3, 1, 1),
                  D=torch.tensor([0.5], dtype=torch.float64))
    torch.testing.assert_close(y.flatten(), torch.stack(y_hand))


def test_gradcheck_tiny():
    x, dt, A, B, C, D, s0 = _inputs(1, 7, 2, 2, 1, 3)
    args = [t.clone().requires_grad_() for t in (x, dt, A, B, C, D, s0)]

    def f(x, dt, A, B, C, D, s0):
        y, s = ssd_chunked(x, dt, A, B, C, 3, D=D, initial_state=s0, return_final_state=True)
        return y, s

    assert torch.autograd.gradcheck(f, args, eps=1e-6, atol=1e-7)


def test_gradients_match_naive():
    x, dt, A, B, C, D, s0 = _inputs(2, 21, 4, 3, 2, 8, d_hdim=True)
    gen = torch.Generator().manual_seed(1)
    gy = torch.randn(2, 21, 4, 3, generator=gen, dtype=torch.float64)
    gs = torch.randn(2, 4, 3, 8, generator=gen, dtype=torch.float64)
    grads = []
    for fn in (lambda *a: ssd_naive(*a[:5], D=a[5], initial_state=a[6], return_final_state=True),
               lambda *a: ssd_chunked(*a[:5], 8, D=a[5], initial_state=a[6], return_final_state=True)):
        args = [t.clone().requires_grad_() for t in (x, dt, A, B, C, D, s0)]
        y, s = fn(*args)
        torch.autograd.backward([y, s], [gy, gs])
        grads.append([a.grad for a in args])
    for name, g_ref, g in zip(("x", "dt", "A", "B", "C", "D", "initial_state"), *grads, strict=True):
        torch.testing.assert_close(g, g_ref, rtol=1e-9, atol=1e-9, msg=lambda m, name=name: f"grad {name}: {m}")


@pytest.mark.parametrize("split", [16, 13])
def test_state_chaining_equals_whole(split):
    """Running [0, split) then [split, l) with the state passed on equals one run over [0, l)."""
    x, dt, A, B, C, D, s0 = _inputs(2, 40, 4, 3, 2, 16)
    y_all, s_all = ssd_chunked(x, dt, A, B, C, 16, D=D, initial_state=s0, return_final_state=True)
    y1, s1 = ssd_chunked(x[:, :split], dt[:, :split], A, B[:, :split], C[:, :split], 16, D=D,
                         initial_state=s0, return_final_state=True)
    y2, s2 = ssd_chunked(x[:, split:], dt[:, split:], A, B[:, split:], C[:, split:], 16, D=D,
                         initial_state=s1, return_final_state=True)
    torch.testing.assert_close(torch.cat([y1, y2], dim=1), y_all, rtol=0, atol=1e-10)
    torch.testing.assert_close(s2, s_all, rtol=0, atol=1e-10)


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-6), (torch.bfloat16, 6e-3), (torch.float16, 1e-3)])
def test_low_precision_close_to_float64(dtype, tol):
    """Half inputs: float32 internals, output in the input dtype, error ~ the output rounding."""
    x, dt, A, B, C, D, s0 = _inputs(2, 50, 4, 8, 1, 16, with_state=False)
    low = [t.to(dtype) for t in (x, dt, B, C)]
    y_ref = ssd_naive(low[0].double(), low[1].double(), A, low[2].double(), low[3].double(), D=D)
    y = ssd_chunked(low[0], low[1], A.float(), low[2], low[3], 16, D=D.float())
    assert y.dtype == dtype
    rel = (y.double() - y_ref).norm() / y_ref.norm()
    assert rel < tol, f"relative error {rel:.2e} in {dtype}"


@pytest.mark.parametrize("half_matmuls", [False, True])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_chunk_matmuls_take_half_operands_only_for_half_inputs(dtype, half_matmuls):
    """As mamba_ssm's kernels: with half x/B/C the intra-chunk product (L o C B^T) x runs on half operands,
    with ``half_matmuls`` also C B^T, the chunk states and C h; the state passing between chunks stays
    float32. float32 inputs: all float32 either way. Both settings stay close to float64."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Record(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.seen = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func in (torch.ops.aten.bmm.default, torch.ops.aten.mm.default):
                self.seen.append((args[0].dtype, args[0].shape))
            return func(*args, **(kwargs or {}))

    x, dt, A, B, C, D, _ = _inputs(1, 48, 4, 8, 1, 16, with_state=False)
    low = [x.to(dtype), dt.float(), A.float(), B.to(dtype), C.to(dtype)]
    with Record() as rec:
        y = ssd_chunked(*low, 16, D=D.float(), half_matmuls=half_matmuls)
    dtypes = [d for d, _ in rec.seen]
    assert len(dtypes) >= 5
    if dtype == torch.float32:
        assert set(dtypes) == {torch.float32}
    else:
        n_half = 4 if half_matmuls else 1
        assert dtypes.count(torch.bfloat16) == n_half and dtypes.count(torch.float32) == len(dtypes) - n_half, rec.seen
    y_ref = ssd_naive(*(t.double() for t in low), D=D)
    assert (y.double() - y_ref).norm() / y_ref.norm() < (6e-3 if dtype == torch.bfloat16 else 1e-6)


def test_half_matmuls_reach_the_scan_from_the_config():
    """``model.ssd_half_matmuls`` reaches every SS2D's Mamba2 and, through it, the torch SSD call."""
    from unittest import mock

    from vfi_lib.config import preset
    from vfi_lib.model import build_model
    from vfi_lib.ssm import ssd as ssd_mod

    for flag in (False, True):
        model = build_model(preset("phase1", tiny=True).override(ssd_half_matmuls=flag))
        seen = []
        real = ssd_mod.ssd_chunked

        def spy(*a, **kw):
            seen.append(kw["half_matmuls"])
            return real(*a, **kw)

        with mock.patch("vfi_lib.ssm.backends.ssd_chunked", spy), torch.no_grad():
            model.eval()(torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64))
        assert seen and set(seen) == {flag}


def test_long_sequence_large_total_decay_float32():
    """Strong decay first (log-decay ~ -8.6e3), then almost none: the chunk-to-chunk decays must come
    from segment sums, not differences of huge cumulative sums (those lose ~2e-5 here in float32)."""
    x, dt, A, B, C, _, _ = _inputs(1, 640, 2, 4, 1, 8, with_state=False)
    dt[:, :320] *= 30
    dt[:, 320:] *= 0.01
    y_ref = ssd_naive(x, dt, A, B, C)
    y = ssd_chunked(x.float(), dt.float(), A.float(), B.float(), C.float(), 32)
    rel = (y.double() - y_ref).norm() / y_ref.norm()
    assert rel < 2e-6


@pytest.mark.parametrize("block_min,chunk,l", [(None, 16, 70), (4, 4, 90)])  # one-level / two-level state passing
def test_compile_path_equals_eager(monkeypatch, block_min, chunk, l):
    """Under torch.compile the prefix sums are masked row sums (Inductor's split-scan cumsum fails on CUDA);
    run that branch eagerly: same outputs, gradients and large-decay accuracy as torch.cumsum."""
    from vfi_lib.ssm import ssd as ssd_mod

    if block_min is not None:
        monkeypatch.setattr(ssd_mod, "PASS_BLOCK_MIN", block_min)
    x, dt, A, B, C, D, s0 = _inputs(1, l, 4, 2, 2, 8)
    eager = ssd_chunked(x, dt, A, B, C, chunk, D=D, initial_state=s0, return_final_state=True)
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    traced = ssd_chunked(x, dt, A, B, C, chunk, D=D, initial_state=s0, return_final_state=True)
    for a, b in zip(eager, traced):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    xs = [t.detach().clone().requires_grad_() for t in (x, dt, B)]
    torch.autograd.grad(ssd_chunked(xs[0], xs[1], A, xs[2], C, chunk).sum(), xs)  # differentiable
    test_long_sequence_large_total_decay_float32()


@pytest.mark.parametrize("n_chunks", [9, 30, 37])  # N = chunks + 1 states: 10 (a perfect square), 31, 38 (padded blocks)
def test_two_level_state_passing_matches_naive(monkeypatch, n_chunks):
    """Many small chunks: the scan over chunk states runs in two levels (blocks of ~sqrt(N)); same output,
    final state and gradients as the recurrence, with an initial state and a strong decay in the middle."""
    from vfi_lib.ssm import ssd as ssd_mod

    chunk = 4
    x, dt, A, B, C, D, s0 = _inputs(2, chunk * n_chunks - 1, 4, 3, 2, 8)
    dt[:, 40:60] *= 20
    monkeypatch.setattr(ssd_mod, "PASS_BLOCK_MIN", 4)
    calls = []
    real = ssd_mod._chunk_segsum
    monkeypatch.setattr(ssd_mod, "_chunk_segsum", lambda a: calls.append(a.shape) or real(a))
    args = [t.clone().requires_grad_() for t in (x, dt, B, C, s0)]
    y, s = ssd_chunked(args[0], args[1], A, args[2], args[3], chunk, D=D, initial_state=args[4],
                       return_final_state=True)
    assert len(calls) == 2 and calls[0][-1] ** 2 >= n_chunks + 1  # blocks of K, then the G block ends
    ref_args = [t.clone().requires_grad_() for t in (x, dt, B, C, s0)]
    y_ref, s_ref = ssd_naive(ref_args[0], ref_args[1], A, ref_args[2], ref_args[3], D=D, initial_state=ref_args[4],
                             return_final_state=True)
    torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-10)
    torch.testing.assert_close(s, s_ref, rtol=0, atol=1e-10)
    gen = torch.Generator().manual_seed(3)
    gy, gs = torch.randn(y.shape, generator=gen, dtype=y.dtype), torch.randn(s.shape, generator=gen, dtype=s.dtype)
    torch.autograd.backward([y, s], [gy, gs])
    torch.autograd.backward([y_ref, s_ref], [gy, gs])
    for a, r in zip(args, ref_args):
        torch.testing.assert_close(a.grad, r.grad, rtol=1e-9, atol=1e-9)


def test_bad_shapes_name_the_argument():
    x, dt, A, B, C, D, s0 = _inputs(1, 8, 4, 2, 1, 4)
    with pytest.raises(ValueError, match="dt must be"):
        ssd_chunked(x, dt[:, :4], A, B, C, 4)
    with pytest.raises(ValueError, match="groups .3. must divide"):
        ssd_chunked(x, dt, A, torch.randn(1, 8, 3, 4), torch.randn(1, 8, 3, 4), 4)
    with pytest.raises(ValueError, match="initial_state must be"):
        ssd_naive(x, dt, A, B, C, initial_state=s0[..., :2])
    with pytest.raises(ValueError, match="D must be"):
        ssd_chunked(x, dt, A, B, C, 4, D=torch.ones(3))
    with pytest.raises(ValueError, match="chunk_size"):
        ssd_chunked(x, dt, A, B, C, 0)


def test_no_graph_breaks_in_chunked():
    x, dt, A, B, C, D, s0 = _inputs(1, 20, 4, 2, 2, 4, dtype=torch.float32)
    torch._dynamo.reset()
    explain = torch._dynamo.explain(ssd_chunked)(x, dt, A, B, C, 8, D=D, initial_state=s0, return_final_state=True)
    assert explain.graph_break_count == 0, explain.break_reasons
    assert explain.graph_count == 1


def test_dispatcher_dt_processing_and_gate():
    """ssd(dt_bias, dt_softplus, dt_limit, z) == ssd_chunked on softplus(dt + bias).clamp(...) then * silu(z)."""
    x, dt, A, B, C, D, s0 = _inputs(2, 12, 4, 3, 2, 4)
    raw = torch.randn_like(dt)
    bias = torch.randn(4, dtype=torch.float64)
    z = torch.randn_like(x)
    y = ssd(x, raw, A, B, C, 4, D=D, z=z, dt_bias=bias, dt_softplus=True, dt_limit=(0.05, 1.0),
            initial_state=s0, backend="torch")
    dt_ref = F.softplus(raw + bias).clamp(0.05, 1.0)
    y_ref = ssd_naive(x, dt_ref, A, B, C, D=D, initial_state=s0) * F.silu(z)
    torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-10)


def test_backend_selection_errors_and_auto(caplog, monkeypatch):
    with pytest.raises(BackendError, match=r"needs CUDA tensors.*MAMBA_SKIP_CUDA_BUILD=TRUE.*pip install"):
        resolve_backend("triton", torch.device("cpu"))
    with pytest.raises(ValueError, match=r"unknown backend 'cuda'; choose one of auto, torch, triton"):
        resolve_backend("cuda", "cpu")
    x, dt, A, B, C, _, _ = _inputs(1, 4, 2, 2, 1, 2)
    with pytest.raises(BackendError, match="pip install"):
        ssd(x, dt, A, B, C, 4, backend="triton")
    monkeypatch.setattr(backends, "_LOGGED", set())
    with caplog.at_level(logging.INFO, logger="vfi_lib"):
        assert resolve_backend("auto", "cpu") == "torch"
        assert resolve_backend("auto", torch.device("cpu")) == "torch"
    msgs = [r.getMessage() for r in caplog.records if "SSM backend 'auto'" in r.getMessage()]
    assert msgs == ["SSM backend 'auto' -> torch (device cpu)"]


def test_triton_import_failure_gives_install_hint(monkeypatch):
    """CUDA device asked for but mamba_ssm missing: BackendError with the pip line (no CUDA needed)."""
    monkeypatch.setattr(backends, "_TRITON_FN", None)
    monkeypatch.setattr(backends, "_TRITON_ERROR", None)
    monkeypatch.setitem(sys.modules, "mamba_ssm", None)  # import of mamba_ssm fails
    with pytest.raises(BackendError, match=r"cannot import mamba_ssm.*pip install --no-build-isolation"):
        resolve_backend("triton", "cuda")


@pytest.fixture
def fake_mamba_ssm(tmp_path, monkeypatch):
    """A stand-in source install: __init__ needs selective_scan_cuda and a missing LM-head dependency."""
    pkg = tmp_path / "mamba_ssm"
    (pkg / "ops" / "triton").mkdir(parents=True)
    (pkg / "__init__.py").write_text(textwrap.dedent("""
        import selective_scan_cuda
        import vfi_test_missing_transformers
    """))
    (pkg / "ops" / "__init__.py").write_text("")
    (pkg / "ops" / "triton" / "__init__.py").write_text("")
    (pkg / "ops" / "triton" / "ssd_combined.py").write_text(textwrap.dedent("""
        import selective_scan_cuda  # the real module imports nothing of it, but the stub must be there
        # the signature of mamba_ssm 2.3.1's mamba_chunk_scan_combined; returns what it was given
        def mamba_chunk_scan_combined(x, dt, A, B, C, chunk_size, D=None, z=None, dt_bias=None,
                                      initial_states=None, seq_idx=None, cu_seqlens=None, dt_softplus=False,
                                      dt_limit=(0.0, float("inf")), return_final_states=False,
                                      return_varlen_states=False):
            return dict(locals())
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(backends, "_TRITON_FN", None)
    monkeypatch.setattr(backends, "_TRITON_ERROR", None)
    ours = lambda k: k.startswith("mamba_ssm") or k == "selective_scan_cuda"  # noqa: E731
    saved = {k: sys.modules.pop(k) for k in list(sys.modules) if ours(k)}
    yield pkg
    for k in [k for k in sys.modules if ours(k)]:
        del sys.modules[k]
    sys.modules.update(saved)


def test_import_helper_stub_and_bare_package(fake_mamba_ssm):
    fn = backends.load_triton_ssd()
    assert fn.__module__ == "mamba_ssm.ops.triton.ssd_combined"
    assert sys.modules["selective_scan_cuda"].__doc__.startswith("vfi_lib stub")
    assert getattr(sys.modules["mamba_ssm"], "__vfi_bare__", False)  # __init__ was bypassed
    assert resolve_backend("triton", "cuda:0") == "triton"  # CUDA device type + importable kernels
    assert resolve_backend("triton", "cuda") == "triton"


def test_import_helper_keeps_real_selective_scan_cuda(fake_mamba_ssm, monkeypatch):
    real = type(sys)("selective_scan_cuda")
    monkeypatch.setitem(sys.modules, "selective_scan_cuda", real)
    backends.import_mamba_ssm()
    assert sys.modules["selective_scan_cuda"] is real


def test_triton_call_maps_arguments_to_mamba_ssm(fake_mamba_ssm):
    """The dispatcher hands every argument to mamba_chunk_scan_combined under its mamba_ssm name."""
    x, dt, A, B, C, D, s0 = _inputs(1, 4, 2, 2, 1, 2)
    z, bias = torch.randn_like(x), torch.randn(2)
    got = backends._triton_ssd(x, dt, A, B, C, 64, D, z, bias, True, (0.1, 2.0), s0, True)
    assert got["chunk_size"] == 64 and got["dt_softplus"] is True and got["dt_limit"] == (0.1, 2.0)
    assert got["return_final_states"] is True and got["seq_idx"] is None
    for name, want in (("x", x), ("dt", dt), ("A", A), ("B", B), ("C", C), ("D", D), ("z", z),
                       ("dt_bias", bias), ("initial_states", s0)):
        assert got[name] is want, name
