"""MaTVLM init: attention Q/K/V/O copied into Mamba2 C/B/x/out slices; everything else untouched."""

import pytest
import torch

from vfi_lib.modules.gated_window_attention import GatedWindowAttention
from vfi_lib.modules.init_matvlm import init_mamba2_from_attention, init_mamba2_from_window_attention
from vfi_lib.ssm.mamba2 import Mamba2


@pytest.mark.parametrize("d_state", [8, 32])  # C/B rows fewer / more than the 16 rows of Q/K
def test_copied_slices_equal_rest_untouched(d_state):
    torch.manual_seed(0)
    dim = 16
    mamba = Mamba2(dim, d_state=d_state, headdim=8, expand=2, backend="torch")  # d_inner 32 > dim
    attn = GatedWindowAttention(dim, 2, 4)
    before = {k: v.clone() for k, v in mamba.state_dict().items()}
    written = init_mamba2_from_window_attention(mamba, attn)

    w_in, w_out = mamba.in_proj.weight, mamba.out_proj.weight
    w_q, w_k, w_v = attn.qkv.weight.chunk(3, dim=0)
    d_inner, gn, r = 32, d_state, min(d_state, dim)
    # rule: top-left overlap of each (target, source) pair; layout [z, x, B, C, dt]
    torch.testing.assert_close(w_in[d_inner : d_inner + dim], w_v)  # x <- V (16 of 32 rows)
    torch.testing.assert_close(w_in[2 * d_inner : 2 * d_inner + r], w_k[:r])  # B <- K
    torch.testing.assert_close(w_in[2 * d_inner + gn : 2 * d_inner + gn + r], w_q[:r])  # C <- Q
    torch.testing.assert_close(w_out[:, :dim], attn.proj.weight)  # out <- O (16 of 32 cols)

    changed = torch.zeros_like(w_in, dtype=torch.bool)
    for key in ("x", "B", "C"):
        rows, cols = written[key]
        changed[rows, cols] = True
    assert written["x"] == (slice(d_inner, d_inner + dim), slice(0, dim))
    assert torch.equal(w_in[~changed], before["in_proj.weight"][~changed])  # z, dt, rest of x/B/C
    rows, cols = written["out"]
    out_changed = torch.zeros_like(w_out, dtype=torch.bool)
    out_changed[rows, cols] = True
    assert torch.equal(w_out[~out_changed], before["out_proj.weight"][~out_changed])
    for k in before:
        if k not in ("in_proj.weight", "out_proj.weight"):
            assert torch.equal(mamba.state_dict()[k], before[k]), k


def test_bad_arguments():
    mamba = Mamba2(16, d_state=8, headdim=8, backend="torch")
    w = torch.zeros(16, 16)
    with pytest.raises(ValueError, match="w_q must be a 2-D"):
        init_mamba2_from_attention(mamba, torch.zeros(16), w, w, w)
    with pytest.raises(TypeError, match="Mamba2 layer"):
        init_mamba2_from_attention(torch.nn.Linear(4, 4), w, w, w, w)
