"""mHC: log-space Sinkhorn projection, hyper-connection update, identity at init."""

import pytest
import torch

from vfi_lib.config import preset
from vfi_lib.modules.lgs_block import LGSStage
from vfi_lib.modules.mhc import MHCConnection, collapse_stream, expand_stream, sinkhorn_log


def test_sinkhorn_doubly_stochastic():
    torch.manual_seed(0)
    p = sinkhorn_log(0.5 * torch.randn(5, 4, 4), iters=20)
    assert p.shape == (5, 4, 4) and torch.all(p >= 0)
    torch.testing.assert_close(p.sum(-1), torch.ones(5, 4), atol=1e-5, rtol=0)
    torch.testing.assert_close(p.sum(-2), torch.ones(5, 4), atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", ["std3", "diag4"])
def test_sinkhorn_peaked_logits_rows_and_columns(kind):
    """Peaked logits (random std 3, or H_res's regime res_diag * I + noise): plain Sinkhorn-Knopp at 20
    iterations leaves columns off by > 1e-2 (linear rate near a permutation); with the Newton steps of
    the default both sums are within 1e-3, rows exactly (last step)."""
    torch.manual_seed(0)
    logits = 3 * torch.randn(200, 4, 4) if kind == "std3" else 4 * torch.eye(4) + torch.randn(200, 4, 4)
    p = sinkhorn_log(logits)
    assert p.dtype == torch.float32 and torch.all(p > 0)
    assert (p.sum(-1) - 1).abs().max() < 1e-5
    assert (p.sum(-2) - 1).abs().max() < 1e-3
    plain = sinkhorn_log(logits, newton_steps=0)
    assert (plain.sum(-1) - 1).abs().max() < 1e-5 and (plain.sum(-2) - 1).abs().max() > 1e-2
    # the same projection: a diagonal scaling diag(u) exp(logits) diag(v), i.e. log P - logits = f_i + g_j
    d = p.double().log() - logits.double()
    torch.testing.assert_close(d - d[:, :, :1] - d[:, :1, :] + d[:, :1, :1], torch.zeros_like(d), atol=1e-4, rtol=0)
    # ... and plain Sinkhorn run long enough (float64) approaches it
    far = sinkhorn_log(logits.double(), iters=2000, newton_steps=0)
    torch.testing.assert_close(p.double(), far, atol=2e-3, rtol=0)


def test_sinkhorn_gradcheck_and_one_graph():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda z: sinkhorn_log(z, iters=3, newton_steps=2), (logits,))
    torch._dynamo.reset()
    report = torch._dynamo.explain(sinkhorn_log)(torch.randn(2, 4, 4))
    assert report.graph_break_count == 0 and report.graph_count == 1, report.break_reasons


def test_sinkhorn_n2_closed_form():
    # Scaling preserves the cross ratio: p^2 / (1-p)^2 = exp(l00 + l11 - l01 - l10).
    torch.manual_seed(1)
    logits = torch.randn(6, 2, 2)
    p = sinkhorn_log(logits, iters=20)
    torch.testing.assert_close(p[:, 0, 0], p[:, 1, 1], atol=1e-5, rtol=0)  # equal diagonal
    d = torch.sigmoid((logits[:, 0, 0] + logits[:, 1, 1] - logits[:, 0, 1] - logits[:, 1, 0]) / 2)
    closed = torch.stack([torch.stack([d, 1 - d], -1), torch.stack([1 - d, d], -1)], -2)  # [[p, 1-p], [1-p, p]]
    torch.testing.assert_close(p, closed, atol=1e-5, rtol=0)


def test_sinkhorn_large_logits_and_gradients():
    logits = (torch.randint(0, 2, (3, 4, 4)).float() * 100 - 50).requires_grad_()  # entries +-50
    p = sinkhorn_log(logits)
    assert torch.isfinite(p).all()
    (p * torch.randn_like(p)).sum().backward()
    assert torch.isfinite(logits.grad).all()
    with pytest.raises(ValueError, match="mhc.py"):
        sinkhorn_log(torch.zeros(3, 4))


def test_init_matrices():
    conn = MHCConnection(8, n=4)
    h_pre, h_post, h_res = conn.matrices(torch.randn(2, 4, 3, 3, 8))
    torch.testing.assert_close(h_pre.sum(-1), torch.ones(2), atol=0.02, rtol=0)  # ~1/n weights
    torch.testing.assert_close(h_post, torch.ones(2, 4), atol=0.02, rtol=0)  # update lands once
    assert torch.all(h_res.diagonal(dim1=-2, dim2=-1) > 0.9)  # near identity


def _f(x: torch.Tensor) -> torch.Tensor:
    return torch.tanh(x @ torch.linspace(-1, 1, 64).view(8, 8))


def test_connection_at_init_is_plain_residual():
    """phi = 0 at init: H_pre = 1/n, H_post = 1, H_res rows sum to 1, so on the n identical copies one
    mHC sub-layer is exactly x <- x + F(x), and the copies stay identical."""
    torch.manual_seed(0)
    conn = MHCConnection(8, n=4)
    assert torch.all(conn.phi.weight == 0)
    x = torch.randn(2, 2, 3, 3, 8)
    stream = conn(expand_stream(x, 4), _f)
    torch.testing.assert_close(stream, expand_stream(x + _f(x), 4), atol=1e-6, rtol=0)
    torch.testing.assert_close(collapse_stream(conn(stream, _f)), (x + _f(x)) + _f(x + _f(x)), atol=1e-6, rtol=0)


def test_connection_update_formula():
    torch.manual_seed(0)
    conn = MHCConnection(4, n=3)
    with torch.no_grad():
        conn.phi.weight.normal_()  # (zero at init) make the input-dependent parts count
        conn.b_res.normal_()
        conn.b_pre.normal_()
        conn.alpha_res.fill_(0.5)
    stream = torch.randn(2, 3, 5, 4)
    h_pre, h_post, h_res = conn.matrices(stream)
    x_in = (h_pre[:, :, None, None] * stream).sum(1)
    ref = torch.einsum("bmn,bnsc->bmsc", h_res, stream) + h_post[:, :, None, None] * _f2(x_in)[:, None]
    torch.testing.assert_close(conn(stream, _f2), ref)
    stream.requires_grad_()
    conn(stream, _f2).square().sum().backward()
    assert torch.isfinite(stream.grad).all() and torch.isfinite(conn.phi.weight.grad).all()
    with pytest.raises(ValueError, match="mhc.py"):
        conn(torch.zeros(2, 4, 5, 4), _f2)


def _f2(x: torch.Tensor) -> torch.Tensor:
    return torch.sin(x) * 2


def test_stage_with_mhc_at_init_matches_plain_stage():
    torch.manual_seed(0)
    cfg = preset("phase1", tiny=True, ssm_backend="torch", use_mhc=True).model
    plain_cfg = preset("phase1", tiny=True, ssm_backend="torch", use_mhc=False).model
    st_mhc, st_plain = LGSStage(24, 2, 2, cfg), LGSStage(24, 2, 2, plain_cfg)
    missing, unexpected = st_mhc.load_state_dict(st_plain.state_dict(), strict=False)
    assert not unexpected and all(".mhc_" in k for k in missing)  # same F, only the mHC params differ
    f0, f1 = torch.randn(1, 24, 8, 8), torch.randn(1, 24, 8, 8)
    ref = st_plain(f0, f1)
    out = st_mhc(f0, f1)
    for o, r in zip(out, ref):  # exactly the plain residual blocks (F changes x by ~3)
        torch.testing.assert_close(o, r, atol=1e-5, rtol=1e-5)
    assert max((o - r).abs().max() for o, r in zip(out, ref)) < 1e-5
