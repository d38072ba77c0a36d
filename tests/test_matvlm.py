"""MaTVLM init (vfi_lib/modules/init_matvlm.py): the copy rules, the SSD / linear-attention duality
after the init, whole models and checkpoints, and a short layer-level training run."""

import math

import pytest
import torch

from vfi_lib.config import preset
from vfi_lib.model import build_model
from vfi_lib.modules.gated_window_attention import GatedWindowAttention
from vfi_lib.modules.init_matvlm import (
    apply_matvlm_init, init_from_attention_model, init_mamba2_from_attention, init_mamba2_from_window_attention,
    mamba2_projections,
)
from vfi_lib.modules.lgs_block import LGSBlock
from vfi_lib.ssm.mamba2 import Mamba2, RMSNormGated
from vfi_lib.ssm.ssd import ssd_naive


def _trained_attention(dim=16, heads=2, seed=0, dtype=torch.float32):
    """A GatedWindowAttention whose every weight and bias is redrawn (non-zero biases: 'trained')."""
    torch.manual_seed(seed)
    attn = GatedWindowAttention(dim, heads, 4).to(dtype)
    with torch.no_grad():
        for p in attn.parameters():
            p.normal_(0.0, 0.3)
    return attn


def _rows(*ranges):
    return [i for r in ranges for i in r]


# ----------------------------------------------------------------------------- copy rules
# attention: dim 16, 2 heads of 8 (Q rows 0-7 = head 0, 8-15 = head 1); Mamba2: d_model 16, d_inner 32,
# 4 heads of 8. Expected: the Q/K rows each B/C group receives, heads per group, B rows zeroed.
CASES = [
    (4, 1, [_rows(range(0, 4))], 0, 0),  # N < hd: a truncated head 0
    (12, 1, [_rows(range(0, 8))], 1, 4),  # one whole head, 4 extra B rows zeroed
    (16, 1, [_rows(range(0, 16))], 2, 0),  # N = hd * heads: both heads, exact
    (32, 1, [_rows(range(0, 16))], 2, 16),  # N > hd * heads: both heads + 16 zero rows
    (8, 2, [_rows(range(0, 8)), _rows(range(8, 16))], 1, 0),  # one head per group
    (16, 2, [_rows(range(0, 16)), _rows(range(0, 16))], 2, 0),  # group 1 starts at head 2 % 2 = 0
    (8, 4, [_rows(range(0, 8)), _rows(range(8, 16)), _rows(range(0, 8)), _rows(range(8, 16))], 1, 0),
]


@pytest.mark.parametrize("d_state,ngroups,src_rows,k,zeroed", CASES)
def test_copy_rules(d_state, ngroups, src_rows, k, zeroed):
    attn = _trained_attention()
    torch.manual_seed(1)
    m = Mamba2(16, d_state=d_state, headdim=8, expand=2, ngroups=ngroups, backend="torch")
    before = {n: v.clone() for n, v in m.state_dict().items()}
    report = init_mamba2_from_window_attention(m, attn)

    d_inner, n, g = 32, d_state, ngroups
    w_in, w_before, w_out = m.in_proj.weight, before["in_proj.weight"], m.out_proj.weight
    w_q, w_k, w_v = attn.qkv.weight[0:16], attn.qkv.weight[16:32], attn.qkv.weight[32:48]
    rows = len(src_rows[0])
    assert report == {"heads_per_group": k, "rows_BC": rows, "x_channels": 16, "out_zeroed_cols": 16,
                      "B_zeroed_rows": zeroed, "biases": False, "decay_off": False}
    assert m.in_proj.bias is None and m.out_proj.bias is None  # attention biases dropped
    for gi in range(g):
        b0, c0 = 2 * d_inner + gi * n, 2 * d_inner + g * n + gi * n
        assert torch.equal(w_in[b0 : b0 + rows], w_k[src_rows[gi]])  # B <- K of whole heads
        assert torch.equal(w_in[b0 + rows : b0 + n], torch.zeros(n - rows, 16))  # extra B rows zeroed
        assert torch.equal(w_in[c0 : c0 + rows], w_q[src_rows[gi]])  # C <- Q
        assert torch.equal(w_in[c0 + rows : c0 + n], w_before[c0 + rows : c0 + n])  # extra C rows untouched
    assert torch.equal(w_in[d_inner : d_inner + 16], w_v)  # x <- V, channel c to channel c
    assert torch.equal(w_in[d_inner + 16 : 2 * d_inner], w_before[d_inner + 16 : 2 * d_inner])  # extra x rows
    assert torch.equal(w_in[:d_inner], w_before[:d_inner])  # z untouched
    assert torch.equal(w_in[-4:], w_before[-4:])  # dt rows (nheads = 4) untouched
    assert torch.equal(w_out[:, :16], attn.proj.weight)  # out <- O
    assert torch.equal(w_out[:, 16:], torch.zeros(16, 16))  # extra x channels silent
    for name in before:  # dt_bias, A_log, D, conv1d, norm
        if name not in ("in_proj.weight", "out_proj.weight"):
            assert torch.equal(m.state_dict()[name], before[name]), name


def test_copy_rules_biases_and_wider_attention():
    """Mamba2(bias=True) takes b_K/b_Q/b_V/b_O like the rows; an attention wider than d_inner keeps
    its first d_inner V rows / W_O columns."""
    attn = _trained_attention()
    torch.manual_seed(1)
    m = Mamba2(16, d_state=12, headdim=8, expand=2, bias=True, backend="torch")  # d_inner 32, 1 head + 4 rows
    before = m.in_proj.bias.clone()
    report = init_mamba2_from_window_attention(m, attn)
    b_q, b_k, b_v = attn.qkv.bias[0:16], attn.qkv.bias[16:32], attn.qkv.bias[32:48]
    bias = m.in_proj.bias
    assert report["biases"] is True
    assert torch.equal(bias[64:72], b_k[:8]) and torch.equal(bias[72:76], torch.zeros(4))  # B
    assert torch.equal(bias[76:84], b_q[:8]) and torch.equal(bias[84:88], before[84:88])  # C
    assert torch.equal(bias[32:48], b_v) and torch.equal(bias[48:64], before[48:64])  # x
    assert torch.equal(bias[:32], before[:32]) and torch.equal(bias[88:], before[88:])  # z, dt
    assert torch.equal(m.out_proj.bias, attn.proj.bias)

    torch.manual_seed(2)
    w_q, w_k, w_v, w_o = torch.randn(32, 16), torch.randn(32, 16), torch.randn(32, 16), torch.randn(16, 32)
    m = Mamba2(16, d_state=16, headdim=8, expand=1, backend="torch")  # d_inner 16 < dim 32, 4 heads of 8
    report = init_mamba2_from_attention(m, w_q, w_k, w_v, w_o, num_heads=4)
    assert report == {"heads_per_group": 2, "rows_BC": 16, "x_channels": 16, "out_zeroed_cols": 0,
                      "B_zeroed_rows": 0, "biases": False, "decay_off": False}
    w_in = m.in_proj.weight
    assert torch.equal(w_in[16:32], w_v[:16]) and torch.equal(m.out_proj.weight, w_o[:, :16])
    assert torch.equal(w_in[32:48], w_k[:16]) and torch.equal(w_in[48:64], w_q[:16])


def test_bad_arguments():
    m = Mamba2(16, d_state=8, headdim=8, backend="torch")
    w = torch.zeros(16, 16)
    with pytest.raises(ValueError, match="init_matvlm.py: w_q must be a 2-D"):
        init_mamba2_from_attention(m, torch.zeros(16), w, w, w, 2)
    with pytest.raises(ValueError, match="W_O \\(d_model, dim\\)"):
        init_mamba2_from_attention(m, w, w, w, torch.zeros(16, 8), 2)
    with pytest.raises(ValueError, match="d_model=8 channels, the Mamba2 on 16"):
        v = torch.zeros(16, 8)
        init_mamba2_from_attention(m, v, v, v, torch.zeros(8, 16), 2)
    with pytest.raises(ValueError, match="num_heads=3 must divide"):
        init_mamba2_from_attention(m, w, w, w, w, 3)
    with pytest.raises(TypeError, match="Mamba2 layer"):
        init_mamba2_from_attention(torch.nn.Linear(4, 4), w, w, w, w, 2)


# ----------------------------------------------------------------------------- duality
def _causal_linear_attention(q, k, v, heads):
    """y_t = sum_{s<=t} (q_t . k_s) v_s per head; q, k, v (B, L, dim) -> (B, L, dim)."""
    qh, kh, vh = (t.unflatten(-1, (heads, -1)) for t in (q, k, v))
    mask = torch.ones(q.shape[1], q.shape[1], dtype=q.dtype).tril()
    scores = torch.einsum("bthd,bshd->bhts", qh, kh) * mask
    return torch.einsum("bhts,bshd->bthd", scores, vh).flatten(-2)


def _ssd_linear(m, u):
    """The Mamba2's SSD on its projections with decay off (A = 0, dt = 1): (B, L, d_inner)."""
    x, b, c = mamba2_projections(m, u)
    bsz, length, nheads, _ = x.shape
    dt = torch.ones(bsz, length, nheads, dtype=u.dtype)
    return ssd_naive(x, dt, torch.zeros(nheads, dtype=u.dtype), b, c).flatten(-2)


@pytest.mark.parametrize("bias", [False, True])
def test_duality_per_head(bias):
    """ngroups = heads, d_state = hd, d_inner = dim, headdim * heads per group = hd: the SSD with decay
    off is exactly per-head causal linear attention of the attention's q, k, v, and out_proj is W_O."""
    attn = _trained_attention(dtype=torch.float64)
    m = Mamba2(16, d_state=8, ngroups=2, expand=1, headdim=4, bias=bias, backend="torch", dtype=torch.float64)
    init_mamba2_from_window_attention(m, attn)
    u = torch.randn(2, 24, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    w_q, w_k, w_v = attn.qkv.weight.chunk(3)
    b_q, b_k, b_v = attn.qkv.bias.chunk(3) if bias else (0.0, 0.0, 0.0)
    q, k, v = u @ w_q.T + b_q, u @ w_k.T + b_k, u @ w_v.T + b_v
    ref = _causal_linear_attention(q, k, v, heads=2)
    y = _ssd_linear(m, u)
    torch.testing.assert_close(y, ref)
    assert ref.abs().mean() > 1.0
    assert not torch.allclose(ref, _causal_linear_attention(q, k, v, heads=1))  # the heads are really separate
    out_ref = ref @ attn.proj.weight.T + (attn.proj.bias if bias else 0.0)
    torch.testing.assert_close(m.out_proj(y), out_ref)


@pytest.mark.parametrize("d_state,score_heads", [(16, 2), (24, 2), (12, 1)])
def test_duality_one_group(d_state, score_heads):
    """ngroups = 1 (SS2D): one score shared by all channels, the sum of the q_j . k_j of the heads
    that fit in d_state (both heads for N >= 16, head 0 only for N = 12); extra x channels are cut
    by the zeroed out_proj columns."""
    attn = _trained_attention(dtype=torch.float64)
    m = Mamba2(16, d_state=d_state, ngroups=1, expand=2, headdim=8, backend="torch", dtype=torch.float64)
    init_mamba2_from_window_attention(m, attn)
    u = torch.randn(2, 24, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    w_q, w_k, w_v = attn.qkv.weight.chunk(3)
    q, k, v = u @ w_q.T, u @ w_k.T, u @ w_v.T
    hs = 8 * score_heads  # the Q/K rows that enter the shared score
    mask = torch.ones(24, 24, dtype=torch.float64).tril()
    ref = (torch.einsum("btd,bsd->bts", q[..., :hs], k[..., :hs]) * mask) @ v  # (B, L, 16)
    y = _ssd_linear(m, u)  # (B, L, 32)
    torch.testing.assert_close(y[..., :16], ref)
    torch.testing.assert_close(m.out_proj(y), ref @ attn.proj.weight.T)


# ----------------------------------------------------------------------------- models and checkpoints
def _model(mode, seed, **kw):
    torch.manual_seed(seed)
    return build_model(preset("phase1", tiny=True, backbone_mode=mode, ssm_backend="torch", **kw))


def _blocks(model):
    return {n: b for n, b in model.named_modules() if isinstance(b, LGSBlock)}


@pytest.mark.parametrize("src_mode,dst_mode,form", [
    ("gated_attn_only", "hybrid", "model"), ("gated_attn_only", "mamba2_only", "checkpoint"),
    ("hybrid", "mamba2_only", "state_dict"),
])
def test_init_from_attention_model(src_mode, dst_mode, form):
    """Every block's Mamba2 gets the same-named source block's attention (tiny: dim 24, 2 heads of 12,
    d_state 16 -> head 0 and 4 zero B rows, d_inner 48 -> 24 x channels)."""
    src, dst = _model(src_mode, 1), _model(dst_mode, 2)
    sd = src.state_dict()
    source = {"model": sd, "config": {}} if form == "checkpoint" else sd if form == "state_dict" else src
    report = init_from_attention_model(dst, source)
    names = list(_blocks(dst))
    assert len(names) == 2 and list(report) == names
    assert all(r["heads_per_group"] == 1 and r["rows_BC"] == 12 for r in report.values())
    xs = []
    for name in names:
        m = _blocks(dst)[name].ss2d.mamba
        qkv, proj = sd[f"{name}.attn.qkv.weight"], sd[f"{name}.attn.proj.weight"]
        w_in, d_inner = m.in_proj.weight, m.d_inner
        b0, c0 = 2 * d_inner, 2 * d_inner + 16
        assert torch.equal(w_in[d_inner : d_inner + 24], qkv[48:72])  # x <- V
        assert torch.equal(w_in[b0 : b0 + 12], qkv[24:36]) and not w_in[b0 + 12 : b0 + 16].any()  # B <- K head 0
        assert torch.equal(w_in[c0 : c0 + 12], qkv[0:12])  # C <- Q head 0
        assert torch.equal(m.out_proj.weight[:, :24], proj) and not m.out_proj.weight[:, 24:].any()
        xs.append(w_in[d_inner : d_inner + 24].clone())
    assert not torch.equal(xs[0], xs[1])  # each block from its own source block
    msg = apply_matvlm_init(dst, source)
    assert "MaTVLM" in msg and "2/2 LGS blocks" in msg and "skipped" not in msg


def test_init_from_attention_model_errors():
    dst = _model("mamba2_only", 0)
    with pytest.raises(ValueError, match="init_matvlm.py: no attention weights found for any LGS block"):
        init_from_attention_model(dst, _model("mamba2_only", 1))
    with pytest.raises(ValueError, match="init_matvlm.py: the target has no LGS block with a Mamba2 branch"):
        init_from_attention_model(_model("gated_attn_only", 1), _model("gated_attn_only", 2))
    wide = _model("gated_attn_only", 1, stage_dims=(32,))
    with pytest.raises(ValueError, match="block backbone.stages.0.blocks.0: .*d_model=32 channels, the Mamba2 on 24"):
        init_from_attention_model(dst, wide)
    with pytest.raises(TypeError, match="a model, a state_dict or a checkpoint dict"):
        init_from_attention_model(dst, [1, 2])


# ----------------------------------------------------------------------------- short training run
D_MODEL, SEQ, BATCH, STEPS = 16, 64, 4, 50


def _teacher_and_data(seed):
    """'Trained' attention (a random GatedWindowAttention, default init) and its causal linear-attention
    outputs on random sequences: u (BATCH, SEQ, 16), y (BATCH, SEQ, 16)."""
    torch.manual_seed(seed)
    attn = GatedWindowAttention(D_MODEL, 2, 4)
    u = torch.randn(BATCH, SEQ, D_MODEL, generator=torch.Generator().manual_seed(seed + 1))
    with torch.no_grad():
        q, k, v = (u @ w.T + b for w, b in zip(attn.qkv.weight.chunk(3), attn.qkv.bias.chunk(3)))
        y = attn.proj(_causal_linear_attention(q, k, v, heads=2))
    return attn, u, y


def _train_students(seed, duality_regime, decay_off=False):
    """Relative MSE (loss / mean y^2) at the start and after STEPS Adam steps of two Mamba2 students
    with the same default init and data, one of them then MaTVLM-initialised: {name: (start, end)}.
    Per-head layout (ngroups = heads, d_state = hd) so that the projections' duality is exact."""
    attn, u, y = _teacher_and_data(seed)
    scale = y.square().mean().item()
    out = {}
    for name in ("random", "matvlm"):
        torch.manual_seed(100 + seed)
        m = Mamba2(D_MODEL, d_state=8, ngroups=2, expand=1, headdim=4, backend="torch",
                   bias=duality_regime, rmsnorm=not duality_regime)
        if duality_regime:  # the parts MaTVLM does not set, put where SSD = linear attention, in both students
            with torch.no_grad():
                m.conv1d.weight.zero_()
                m.conv1d.weight[:, 0, -1] = 1.0  # the causal conv passes the current token
                m.conv1d.bias.zero_()
                m.dt_bias.fill_(math.log(math.e - 1.0))  # dt = softplus(dt_bias) = 1
                m.A_log.fill_(math.log(1e-4))  # decay exp(dt A) ~ 1
                m.D.zero_()
                m.in_proj.weight[: m.d_inner].zero_()  # z constant: silu(z) = 1, the gate is off
                m.in_proj.bias.zero_()
                m.in_proj.bias[: m.d_inner] = 1.2784645
        if name == "matvlm":
            init_mamba2_from_window_attention(m, attn, decay_off=decay_off)
        opt = torch.optim.Adam(m.parameters(), lr=1e-2)
        losses = []
        for i in range(STEPS + 1):
            loss = (m(u) - y).square().mean()
            losses.append(loss.item() / scale)
            if i < STEPS:
                opt.zero_grad()
                loss.backward()
                opt.step()
        out[name] = (losses[0], losses[-1])
    return out


@pytest.fixture
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_matvlm_student_learns_faster_in_duality_regime(one_thread):
    """Conv = current token, dt = 1, A ~ 0, D = 0, no gate, no RMSNorm in both students (only SiLU on
    x/B/C stays): the MaTVLM student starts closer to the teacher and ends > 2x closer after 50 steps."""
    r = _train_students(0, duality_regime=True)
    (r0, r1), (m0, m1) = r["random"], r["matvlm"]
    assert r0 > 0.95 and m0 < 0.9 * r0, r  # start: 1.02 vs 0.78 (SiLU(q).SiLU(k) ~ q.k / 4: output too small)
    assert m1 < 0.5 * r1, r  # after 50 steps: 0.092 vs 0.035 (seeds 1-3: 2.3-2.8x)


@pytest.mark.xfail(strict=True, reason=(
    "known: with Mamba2's default conv / dt / A / D / z-gate / RMSNorm (not set by MaTVLM) the transferred "
    "projections give no head start on the linear-attention teacher (relative loss 1.03 vs 1.02 at step 0, "
    "0.37 vs 0.34 after 50 steps)"))
def test_matvlm_student_learns_faster_stock_mamba2(one_thread):
    r = _train_students(0, duality_regime=False)
    (r0, r1), (m0, m1) = r["random"], r["matvlm"]
    assert m0 < 0.9 * r0 and m1 < 0.5 * r1, r


def test_decay_off_puts_the_ssd_where_the_duality_holds():
    """decay_off: conv = current token, dt = 1 for every token, A = -1e-4, D = 0, so the stock layer is
    out_proj(RMSNorm(linear attention (decay ~1) on SiLU of the copied projections, gated by z))."""
    from vfi_lib.modules.init_matvlm import DECAY_OFF_A

    torch.manual_seed(0)
    m = Mamba2(16, d_state=8, ngroups=2, expand=1, headdim=4, backend="torch").double()
    rep = init_mamba2_from_window_attention(m, _trained_attention(dtype=torch.float64), decay_off=True)
    assert rep["decay_off"] is True
    w = m.conv1d.weight
    assert torch.equal(w[:, 0, -1], torch.ones_like(w[:, 0, -1])) and not w[:, 0, :-1].any() and not m.conv1d.bias.any()
    assert not m.in_proj.weight[-m.nheads:].any() and not m.D.any()
    torch.testing.assert_close(torch.nn.functional.softplus(m.dt_bias), torch.ones_like(m.dt_bias))
    torch.testing.assert_close(-torch.exp(m.A_log), torch.full_like(m.A_log, -DECAY_OFF_A))
    u = torch.randn(2, 24, 16, dtype=torch.float64)
    x, B, C = mamba2_projections(m, u)
    silu = torch.nn.functional.silu
    z = m.in_proj(u)[..., : m.d_inner]
    y = ssd_naive(silu(x), torch.ones(x.shape[:3], dtype=x.dtype), -torch.exp(m.A_log), silu(B), silu(C))
    ref = m.out_proj(m.norm(y.flatten(-2), z))
    torch.testing.assert_close(m(u), ref, rtol=1e-9, atol=1e-10)


def test_matvlm_with_decay_off_learns_faster_than_random_stock_mamba2(one_thread):
    """Stock Mamba2 (its z gate and RMSNorm kept): MaTVLM + decay_off ends 10-20% below a random init
    after 50 steps (measured, seeds 0-2: 0.31 / 0.29 / 0.25 vs 0.37 / 0.35 / 0.31), where the mapping
    alone does not (the xfail above)."""
    ratios = []
    for seed in range(3):
        r = _train_students(seed, duality_regime=False, decay_off=True)
        ratios.append(r["matvlm"][1] / r["random"][1])
    assert max(ratios) < 0.95 and sum(ratios) / 3 < 0.9, ratios
