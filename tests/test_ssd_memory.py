"""Memory and precision of the chunked SSD (issue 17): slicing under a byte budget changes nothing but
the peak; autocast does not silently drop the scan to bf16; the lean gated RMSNorm is exact."""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from vfi_lib.ssm import ssd as ssd_mod
from vfi_lib.ssm.mamba2 import RMSNormGated
from vfi_lib.ssm.ssd import ssd_chunked, ssd_naive

from test_ssd import _inputs as ssd_inputs  # tests/ is on sys.path (no __init__.py)


def _inputs(b=2, l=150, h=4, p=8, g=2, n=16, dtype=torch.float64, seed=0):
    return ssd_inputs(b, l, h, p, g, n, dtype=dtype, seed=seed)  # x, dt, A, B, C, D, s0 as in test_ssd


@pytest.mark.parametrize("l", [150, 128, 1])  # not a chunk multiple, a multiple, a single token
def test_sliced_equals_one_slice_forward_and_gradients(l):
    ins = [t.requires_grad_() for t in _inputs(l=l)]
    x, dt, A, B, C, D, s0 = ins
    outs = {}
    for name, budget in (("one", None), ("many", 1)):  # budget 1 byte: one chunk per slice
        y, last = ssd_chunked(x, dt, A, B, C, 16, D=D, initial_state=s0, return_final_state=True, slice_bytes=budget)
        grads = torch.autograd.grad((y.square().sum() + last.sum()), ins)
        outs[name] = (y, last, grads)
    y1, s1, g1 = outs["one"]
    y2, s2, g2 = outs["many"]
    torch.testing.assert_close(y2, y1, rtol=0, atol=1e-12)
    torch.testing.assert_close(s2, s1, rtol=0, atol=1e-12)
    for a, b_ in zip(g1, g2):
        torch.testing.assert_close(b_, a, rtol=0, atol=1e-10)
    yn, sn = ssd_naive(x, dt, A, B, C, D=D, initial_state=s0, return_final_state=True)
    torch.testing.assert_close(y2, yn, rtol=0, atol=1e-9)
    torch.testing.assert_close(s2, sn, rtol=0, atol=1e-9)


def test_slices_match_in_float32():
    x, dt, A, B, C, D, s0 = _inputs(dtype=torch.float32)
    one = ssd_chunked(x, dt, A, B, C, 16, D=D)
    many = ssd_chunked(x, dt, A, B, C, 16, D=D, slice_bytes=1)
    torch.testing.assert_close(many, one, rtol=1e-5, atol=1e-5)


def test_autocast_does_not_drop_the_scan_to_bf16():
    """Under bf16 autocast, float32 inputs are still scanned in float32 (the einsums would otherwise
    run in bf16: errors ~1e-2 instead of ~1e-6)."""
    x, dt, A, B, C, D, _ = _inputs(dtype=torch.float32, l=96, n=32)
    ref = ssd_chunked(x, dt, A, B, C, 32, D=D)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = ssd_chunked(x, dt, A, B, C, 32, D=D)
    assert got.dtype == torch.float32
    err = (got - ref).abs().max().item()
    assert err < 1e-5, err
    # the probe can fail: the same computation with bf16 operands is far off
    bf = ssd_chunked(x.bfloat16(), dt, A, B.bfloat16(), C.bfloat16(), 32, D=D).float()
    assert (bf - ref).abs().max().item() > 100 * max(err, 1e-7)


class _LargestTensor(TorchDispatchMode):
    """Largest storage (bytes) of any tensor an aten op returns inside the mode."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.untyped_storage().nbytes())
        return out


def test_peak_intermediate_stays_under_the_budget():
    """A sequence whose (b, chunks, h, T, T) product is 16 MiB runs with no tensor above a 1 MiB
    budget (plus the inputs/outputs themselves), and still equals the recurrence."""
    b, l, h, p, n, T = 1, 4096, 8, 4, 8, 128
    x, dt, A, B, C, D, _ = _inputs(b=b, l=l, h=h, p=p, g=1, n=n, dtype=torch.float32)
    full = b * (l // T) * h * T * T * 4  # the unsliced T x T product, bytes
    budget = 2**20
    assert full >= 16 * budget
    io = x.untyped_storage().nbytes()  # y has x's size: the output and the concat of the slices
    with _LargestTensor() as probe_big, torch.no_grad():
        ssd_chunked(x, dt, A, B, C, T, D=D, slice_bytes=10 * full)
    with _LargestTensor() as probe, torch.no_grad():
        y = ssd_chunked(x, dt, A, B, C, T, D=D, slice_bytes=budget)
    assert probe_big.largest >= full  # one slice: the whole product is materialised
    assert probe.largest <= max(budget, io), (probe.largest, budget, io)
    torch.testing.assert_close(y, ssd_naive(x, dt, A, B, C, D=D), rtol=1e-4, atol=1e-4)
    assert ssd_mod.SSD_SLICE_BYTES > budget  # the default budget is a module constant


@pytest.mark.parametrize("norm_before_gate", [False, True])
def test_rmsnorm_gated_inplace_path_is_exact(norm_before_gate):
    torch.manual_seed(0)
    norm = RMSNormGated(32, group_size=8, norm_before_gate=norm_before_gate)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
    x, z = torch.randn(3, 5, 32, dtype=torch.bfloat16), torch.randn(3, 5, 32, dtype=torch.bfloat16)
    with torch.enable_grad():
        ref = norm(x, z)  # the autograd (copying) path
    with torch.no_grad():
        lean = norm(x, z)  # the in-place path
    assert torch.equal(lean, ref.detach()) and lean.dtype == x.dtype
    # mamba_ssm's semantics, written out: group RMS statistics, gate before or after the norm
    xf, zf = x.float(), torch.nn.functional.silu(z.float())
    u = xf if norm_before_gate else xf * zf
    ug = u.unflatten(-1, (4, 8))
    out = (ug * torch.rsqrt(ug.square().mean(-1, keepdim=True) + norm.eps)).flatten(-2) * norm.weight
    out = out * zf if norm_before_gate else out
    torch.testing.assert_close(lean.float(), out, rtol=1e-2, atol=1e-2)
    torch.testing.assert_close(norm(x.float(), z.float()), out, rtol=1e-5, atol=1e-5)
