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


def test_sinkhorn_peaked_logits_converge_with_more_iterations():
    # Peaked matrices converge slowly (20 iterations leave row errors ~1e-2 at logit std 3);
    # columns are exact after the last (column) step; more iterations shrink the row error.
    torch.manual_seed(0)
    logits = 3 * torch.randn(5, 4, 4)
    errs = []
    for iters in (20, 500):
        p = sinkhorn_log(logits, iters=iters)
        torch.testing.assert_close(p.sum(-2), torch.ones(5, 4), atol=1e-5, rtol=0)
        errs.append((p.sum(-1) - 1).abs().max().item())
    assert errs[1] < 1e-4 < errs[0]


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
    torch.manual_seed(0)
    conn = MHCConnection(8, n=4)
    x = torch.randn(2, 2, 3, 3, 8)
    out = collapse_stream(conn(expand_stream(x, 4), _f))
    torch.testing.assert_close(out, x + _f(x), atol=0.05, rtol=0)
    with torch.no_grad():  # the input-dependent part switched off: exactly the residual path
        for a in (conn.alpha_pre, conn.alpha_post, conn.alpha_res):
            a.zero_()
    torch.testing.assert_close(collapse_stream(conn(expand_stream(x, 4), _f)), x + _f(x), atol=1e-5, rtol=0)


def test_connection_update_formula():
    torch.manual_seed(0)
    conn = MHCConnection(4, n=3)
    with torch.no_grad():
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
    for o, r in zip(out, ref):
        torch.testing.assert_close(o, r, atol=0.02, rtol=0)  # F changes x by ~3
    with torch.no_grad():
        for name, p in st_mhc.named_parameters():
            if "alpha" in name:
                p.zero_()
    for o, r in zip(st_mhc(f0, f1), ref):
        torch.testing.assert_close(o, r, atol=1e-4, rtol=1e-4)
