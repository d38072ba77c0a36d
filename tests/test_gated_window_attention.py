"""Gated window attention vs a naive explicit-softmax reference; masks, padding, keep_attn."""

import itertools

import pytest
import torch
import torch.nn.functional as F

from vfi_lib.modules.gated_window_attention import MASK_CACHE_SIZE, GatedWindowAttention, masked_tail, window_mask


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
    assert torch.isfinite(x.grad).all()
    m = mod._masks(2, 8, 8, x.device)
    assert mod._masks(2, 8, 8, x.device) is m  # cached
    # 8x8, w=4, shift 2: 2x2 windows; interior (1 window, no mask), right strip (1), bottom strip (2)
    assert [None if t is None else tuple(t.shape) for t in m] == [None, (1, 32, 32), (2, 32, 32)]
    assert [tuple(t.shape) for t in mod._masks(2, 12, 8, x.device) if t is not None] == [(2, 32, 32), (2, 32, 32)]
    assert GatedWindowAttention(8, 2, 4)._masks(2, 8, 8, x.device) == [None]  # unshifted, unpadded: bias only
    for i in range(MASK_CACHE_SIZE + 3):  # the cache is bounded (least recently used dropped first)
        mod._masks(2, 8 + 4 * i, 8, x.device)
    assert len(mod._mask_cache) == MASK_CACHE_SIZE


@pytest.mark.parametrize("size,ws,shift", [(8, 4, 2), (7, 4, 2), (5, 4, 2), (6, 4, 0), (8, 4, 0), (3, 4, 2),
                                           (13, 4, 3), (17, 8, 4), (537, 8, 4), (540, 8, 4)])
def test_masked_tail_is_exactly_the_windows_that_need_a_mask(size, ws, shift):
    """From first principles (token_layout): a window needs a mask iff it holds padding or two regions;
    along an axis those are exactly its last masked_tail(...) windows (so the masked set is an L-shaped
    border of the grid). Checked on the first window column, whose other axis is plain."""
    layout = token_layout(size, 2 * ws, ws, shift)  # windows row-major over (rows, 2 columns)
    needs = [len({reg for _, _, reg, _ in toks}) > 1 or not all(val for *_, val in toks) for toks in layout[0::2]]
    n = len(needs)
    tail = masked_tail(size, ws, shift)
    assert needs == [i >= n - tail for i in range(n)]


def _dense_reference(mod: GatedWindowAttention, x: torch.Tensor) -> torch.Tensor:
    """The straightforward full-mask form: every window through SDPA with bias + a dense (nW, N, N)
    shift/pad mask built from token_layout, expanded over batch x heads."""
    b, t, h, w, c = x.shape
    ws, s, nh = mod.window_size, mod.shift, mod.num_heads
    pad_h, pad_w = (-h) % ws, (-w) % ws
    qkv = F.pad(mod.qkv(x), (0, 0, 0, pad_w, 0, pad_h)).roll((-s, -s), dims=(2, 3))
    hp, wp = h + pad_h, w + pad_w
    q, k, v = qkv.reshape(b, t, hp // ws, ws, wp // ws, ws, 3, nh, -1).permute(6, 0, 2, 4, 7, 1, 3, 5, 8).reshape(
        3, b * (hp // ws) * (wp // ws), nh, t * ws * ws, -1)
    masks = []
    for toks in token_layout(h, w, ws, s):
        full = toks * t  # frame-major tokens, same spatial layout in every frame
        m = torch.zeros(len(full), len(full), dtype=x.dtype)
        for i, (_, _, ri, vi) in enumerate(full):
            for j, (_, _, rj, vj) in enumerate(full):
                if ri != rj or (vi and not vj):
                    m[i, j] = float("-inf")
        masks.append(m)
    dense = (mod._bias(t)[None] + torch.stack(masks)[:, None]).repeat(b, 1, 1, 1)  # (B*nW, heads, N, N)
    y = F.scaled_dot_product_attention(q, k, v, attn_mask=dense)
    y = y.reshape(b, hp // ws, wp // ws, nh, t, ws, ws, -1).permute(0, 4, 1, 5, 2, 6, 3, 7).reshape(b, t, hp, wp, c)
    y = y.roll((s, s), dims=(2, 3))[:, :, :h, :w]
    if mod.gate is not None:
        y = y * torch.sigmoid(mod.gate(x))
    return mod.proj(y)


@pytest.mark.parametrize("h,w,shift", [(11, 9, 2), (13, 6, 3), (8, 12, 2), (5, 7, 0)])
def test_border_strips_match_full_mask_reference(h, w, shift):
    """Shifted blocks with odd padding (both axes padded, 2 masked windows on an axis for (13, 3)):
    interior windows without a mask + masked strips == all windows with the dense mask, fwd and grads."""
    torch.manual_seed(0)
    mod = GatedWindowAttention(8, 2, 4, shift=shift).double()
    with torch.no_grad():
        mod.relative_position_bias_table.normal_(std=0.5)
    x = torch.randn(3, 2, h, w, 8, dtype=torch.float64, requires_grad=True)
    y, ref = mod(x), _dense_reference(mod, x)
    torch.testing.assert_close(y, ref, rtol=1e-12, atol=1e-12)
    gy = torch.randn_like(y)
    g = torch.autograd.grad(y, [x, mod.relative_position_bias_table], gy)
    g_ref = torch.autograd.grad(ref, [x, mod.relative_position_bias_table], gy)
    for a, r in zip(g, g_ref):
        torch.testing.assert_close(a, r, rtol=1e-10, atol=1e-10)


def test_mask_memory_does_not_scale_with_batch_heads_or_area(monkeypatch):
    """The masks built are (n_strip, N, N) with n_strip = windows of the border strips: independent of
    batch and heads, growing with the perimeter of the window grid, not its area. The old dense mask
    was (nW, N, N) cached plus (B*nW, heads, N, N) handed to SDPA in every forward."""
    ws, t = 4, 2
    n_tok = t * ws * ws

    def strip_bytes(heads: int, h: int, w: int) -> int:
        mod = GatedWindowAttention(8, heads, ws, shift=2)
        return sum(m.numel() * m.element_size() for m in mod._masks(t, h, w, torch.device("cpu")) if m is not None)

    small, big = strip_bytes(2, 30, 42), strip_bytes(4, 60, 84)  # 4x the windows (8x11 -> 15x21), 2x the heads
    assert small == (8 + 11 - 1) * n_tok * n_tok * 4  # one window row + one window column, float32
    assert big == (15 + 21 - 1) * n_tok * n_tok * 4 < 2 * small  # perimeter: < 2x for 4x the area
    dense = window_mask(60, 84, ws, 2, t)
    assert dense.numel() * dense.element_size() == 15 * 21 * n_tok * n_tok * 4 > 8 * big
    # what a forward hands to SDPA: the (heads, N, N) bias for the interior (broadcast, one copy) and
    # the strips' bias + mask repeated over the batch
    seen, real = [], F.scaled_dot_product_attention

    def spy(q, k, v, attn_mask=None, **kw):
        seen.append((q.shape[0], attn_mask.untyped_storage().nbytes()))
        return real(q, k, v, attn_mask=attn_mask, **kw)

    monkeypatch.setattr(F, "scaled_dot_product_attention", spy)
    b, heads = 3, 2
    GatedWindowAttention(8, heads, ws, shift=2)(torch.randn(b, t, 60, 84, 8))
    per_window = heads * n_tok * n_tok * 4
    assert seen == [(b * 14 * 20, per_window), (b * 14, b * 14 * per_window), (b * 21, b * 21 * per_window)]
    old = b * 15 * 21 * per_window
    assert sum(nbytes for _, nbytes in seen) < old / 8


def test_bad_input_raises():
    mod = GatedWindowAttention(8, 2, 4)
    with pytest.raises(ValueError, match="gated_window_attention.py"):
        mod(torch.zeros(1, 8, 8, 8))
    with pytest.raises(ValueError, match="num_frames"):
        mod(torch.zeros(1, 3, 4, 4, 8))
    with pytest.raises(ValueError, match="divisible"):
        GatedWindowAttention(10, 3, 4)
