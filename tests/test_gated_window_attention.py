"""Gated window attention vs a naive explicit-softmax reference; masks, padding, keep_attn."""

import itertools

import pytest
import torch

from vfi_lib.modules.gated_window_attention import GatedWindowAttention


def token_layout(h: int, w: int, ws: int, shift: int):
    """For each window (row-major over the padded, rolled canvas): the original (row, col) of its
    tokens, the wrap flags (region) and validity, written with loops from first principles."""
    hp, wp = -(-h // ws) * ws, -(-w // ws) * ws
    windows = []
    for wi, wj in itertools.product(range(hp // ws), range(wp // ws)):
        toks = []
        for a, c in itertools.product(range(ws), range(ws)):
            p, q = wi * ws + a, wj * ws + c  # position on the rolled canvas
            oi, oj = (p + shift) % hp, (q + shift) % wp  # where it came from
            region = (p + shift >= hp, q + shift >= wp)  # wrapped around the border?
            toks.append((oi, oj, region, oi < h and oj < w))
        windows.append(toks)
    return windows


def naive_attention(mod: GatedWindowAttention, x: torch.Tensor, gate_input: torch.Tensor | None = None):
    """Loop-over-windows reference: explicit softmax, bias from coordinate differences, masks from
    wrap flags, gate sigmoid(X W_g) per head channel, then projection. Returns (out, probs)."""
    b, t, h, w, c = x.shape
    ws, s, nh, hd = mod.window_size, mod.shift, mod.num_heads, mod.head_dim
    qkv = mod.qkv(x)
    q, k, v = qkv.split(c, dim=-1)
    table = mod.relative_position_bias_table
    out = torch.zeros(b, t, h, w, c, dtype=x.dtype)
    probs_all = []
    for bi in range(b):
        for toks in token_layout(h, w, ws, s):
            full = [(f, a, bb, oi, oj, reg, val) for f in range(t) for (a, bb) in [(i // ws, i % ws) for i in range(ws * ws)]
                    for (oi, oj, reg, val) in [toks[a * ws + bb]]]

            def gather(z, item):
                f, _, _, oi, oj, _, val = item
                return z[bi, f, oi, oj] if val else torch.zeros(c, dtype=x.dtype)

            Q = torch.stack([gather(q, it) for it in full]).view(-1, nh, hd).transpose(0, 1)  # (nh, N, hd)
            K = torch.stack([gather(k, it) for it in full]).view(-1, nh, hd).transpose(0, 1)
            V = torch.stack([gather(v, it) for it in full]).view(-1, nh, hd).transpose(0, 1)
            n = len(full)
            logits = Q @ K.transpose(1, 2) / hd**0.5
            for i, j in itertools.product(range(n), range(n)):
                fi, ai, bi_, _, _, ri, vi = full[i]
                fj, aj, bj, _, _, rj, vj = full[j]
                row = ((fi - fj + mod.num_frames - 1) * (2 * ws - 1) + (ai - aj + ws - 1)) * (2 * ws - 1) + (bi_ - bj + ws - 1)
                logits[:, i, j] += table[row]
                if ri != rj or (not vj and vi):
                    logits[:, i, j] = float("-inf")
            p = logits.softmax(-1)
            probs_all.append(p)
            o = (p @ V).transpose(0, 1).reshape(n, c)  # heads merged, head-major channels
            for i, (f, _, _, oi, oj, _, val) in enumerate(full):
                if val:
                    out[bi, f, oi, oj] = o[i]
    if mod.gate is not None:
        out = out * torch.sigmoid(mod.gate(x if gate_input is None else gate_input))
    return mod.proj(out), torch.stack(probs_all)


@pytest.mark.parametrize(
    "t,h,w,shift,gate",
    [(2, 8, 8, 2, True), (1, 6, 7, 2, True), (2, 5, 6, 0, False)],  # shifted / shifted+padded / padded
)
def test_matches_naive_reference(t, h, w, shift, gate):
    torch.manual_seed(0)
    mod = GatedWindowAttention(8, 2, 4, shift=shift, num_frames=2, gate=gate).double()
    with torch.no_grad():
        mod.relative_position_bias_table.normal_(std=0.5)  # make the bias matter
        if gate:
            mod.gate.weight.normal_(std=0.5)
    x = torch.randn(2, t, h, w, 8, dtype=torch.float64)
    gin = torch.randn_like(x)
    ref, _ = naive_attention(mod, x, gin)
    torch.testing.assert_close(mod(x, gate_input=gin), ref)


def test_gate_forced_to_one_equals_ungated(monkeypatch):
    torch.manual_seed(0)
    mod = GatedWindowAttention(8, 2, 4, shift=2).double()
    x = torch.randn(1, 2, 8, 8, 8, dtype=torch.float64)
    gated = mod(x)
    monkeypatch.setattr(torch, "sigmoid", lambda z: torch.ones_like(z))
    ones = mod(x)
    gate, mod.gate = mod.gate, None
    torch.testing.assert_close(ones, mod(x))
    mod.gate = gate
    assert not torch.allclose(gated, ones)  # the gate (~0.5 at init) does change the output


def test_gate_init_and_shape():
    mod = GatedWindowAttention(64, 2, 8)
    assert mod.gate.weight.shape == (64, 64)  # dim -> num_heads * head_dim
    assert torch.all(mod.gate.bias == 0)
    assert abs(mod.gate.weight.std().item() - 0.02) < 0.003
    assert GatedWindowAttention(64, 2, 8, gate=False).gate is None


def test_keep_attn_maps_masks_and_sdpa_parity():
    torch.manual_seed(0)
    h, w, ws, s = 6, 8, 4, 2  # padded rows + shift
    mod = GatedWindowAttention(8, 2, ws, shift=s, keep_attn=True).double()
    x = torch.randn(1, 2, h, w, 8, dtype=torch.float64)
    y_explicit = mod(x)
    attn = mod.last_attn
    n_win = (8 // ws) * (w // ws)
    assert attn.shape == (n_win, 2, 2 * ws * ws, 2 * ws * ws) and not attn.requires_grad
    assert mod.last_gate.shape == (1, 2, h, w, 8) and not mod.last_gate.requires_grad
    torch.testing.assert_close(attn.sum(-1), torch.ones_like(attn.sum(-1)))
    # no attention across regions, valid queries never attend padding; every allowed pair does
    for wi, toks in enumerate(token_layout(h, w, ws, s)):
        full = toks * 2  # both frames, same spatial layout
        for i, j in itertools.product(range(len(full)), range(len(full))):
            (_, _, ri, vi), (_, _, rj, vj) = full[i], full[j]
            blocked = ri != rj or (vi and not vj)
            assert torch.all(attn[wi, :, i, j] == 0) if blocked else torch.all(attn[wi, :, i, j] > 0), (wi, i, j)
    mod.keep_attn = False
    torch.testing.assert_close(mod(x), y_explicit)


def test_mask_cached_per_resolution_and_backward():
    mod = GatedWindowAttention(8, 2, 4, shift=2)
    x = torch.randn(1, 2, 8, 8, 8, requires_grad=True)
    mod(x).sum().backward()
    m = mod._mask(2, 8, 8, x.device)
    assert mod._mask(2, 8, 8, x.device) is m
    assert mod._mask(2, 12, 8, x.device).shape[0] == 6  # new (H, W) -> its own mask
    assert torch.isfinite(x.grad).all()
    assert GatedWindowAttention(8, 2, 4)._mask(2, 8, 8, x.device) is None  # unshifted, unpadded: bias only


def test_bad_input_raises():
    mod = GatedWindowAttention(8, 2, 4)
    with pytest.raises(ValueError, match="gated_window_attention.py"):
        mod(torch.zeros(1, 8, 8, 8))
    with pytest.raises(ValueError, match="num_frames"):
        mod(torch.zeros(1, 3, 4, 4, 8))
    with pytest.raises(ValueError, match="divisible"):
        GatedWindowAttention(10, 3, 4)
