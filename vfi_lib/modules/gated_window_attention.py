"""Gated (shifted) window attention over both frames (Swin + Gated Attention "G1").

Window attention (Swin, Liu et al., 2021): tokens attend within non-overlapping w x w windows, with a
learned relative position bias; every other block shifts the windows by w/2 (cyclic roll) and an
additive mask stops tokens of different pre-roll regions from attending to each other.

Gating (Qiu et al., NeurIPS 2025, "Gated Attention for LLMs", position G1, eq. 5):
    Y' = Y * sigmoid(X W_g + b_g)
where Y is the SDPA output of each head (before the heads are merged and projected) and X the
normed block input of the same token; W_g maps dim -> num_heads * head_dim, so the gate is
elementwise over head_dim and head-specific. W_g ~ N(0, 0.02), b_g = 0 (gate ~ 0.5 at init).

Cross-frame choice: the two frames are attended **jointly**. A window is the (T, w, w) box of the
same pixel window in all T frames (Video-Swin style), so every query attends to the keys of its own
frame and of the other frame (EMA-VFI's inter-frame attention lets queries see the other frame; we
keep both, since a VFI block needs intra-frame texture and inter-frame correspondence). Compared
with per-frame windows this doubles the attention FLOPs (N = T*w*w keys instead of w*w) and adds
no parameters except a temporal axis of the relative position bias table ((2T-1)(2w-1)^2 entries).
T = 1 is plain Swin window attention.

Shapes: ``forward(x, gate_input=None)`` with x (B, T, H, W, C) channels-last -> (B, T, H, W, C).
Any H, W: the map is padded to a multiple of w (before the roll) and padded keys are masked. The
combined shift/pad mask is an additive float mask, cached per (T, H, W, shift, device).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

MASK_VALUE = -1e4  # additive mask; exp(-1e4) == 0 in fp32 and representable in fp16/bf16


def relative_position_index(num_frames: int, window: int) -> torch.Tensor:
    """Index into the bias table for every pair of the T*w*w tokens of a window (t-major order).

    Returns (N, N) long with N = T*w*w; the table has (2T-1)(2w-1)^2 rows.
    """
    coords = torch.stack(
        torch.meshgrid(torch.arange(num_frames), torch.arange(window), torch.arange(window), indexing="ij")
    ).flatten(1)  # (3, N)
    rel = coords[:, :, None] - coords[:, None, :]  # (3, N, N), in [-(size-1), size-1]
    rel[0] += num_frames - 1
    rel[1:] += window - 1
    return (rel[0] * (2 * window - 1) + rel[1]) * (2 * window - 1) + rel[2]


def region_and_valid_maps(h: int, w: int, window: int, shift: int,
                          device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Region ids (float) and validity (bool) of the padded, rolled canvas, both (Hp, Wp).

    Region ids follow Swin: after rolling by -shift, the last w rows/cols hold tokens from two source
    regions (the wrapped border and the rest); tokens of different regions must not attend. Valid is
    False on the zero padding (rolled like the features).
    """
    hp, wp = -(-h // window) * window, -(-w // window) * window
    # float ids (small integers, exact): compiled into the graph, int64 selects hit an Inductor C++ bug
    region = torch.zeros(hp, wp, dtype=torch.float32, device=device)
    if shift:
        cuts = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
        rid = 0
        for hs in cuts:
            for ws in cuts:
                region[hs, ws] = rid
                rid += 1
    valid = torch.zeros(hp, wp, dtype=torch.bool, device=device)
    valid[:h, :w] = True
    if shift:
        valid = valid.roll((-shift, -shift), dims=(0, 1))
    return region, valid


def window_mask(h: int, w: int, window: int, shift: int, num_frames: int,
                device: torch.device | None = None) -> torch.Tensor | None:
    """Additive mask (nW, N, N) for the windows of an (h, w) map, or None if nothing is masked.

    Query i may attend key j iff they are in the same region and (j is valid or i is padding);
    padded queries thus still have keys (no all-masked rows) and their outputs are discarded.
    """
    if not shift and h % window == 0 and w % window == 0:  # no region cut, no padding (decided on ints:
        return None  # no data-dependent branch, so no torch.compile graph break)
    region, valid = region_and_valid_maps(h, w, window, shift, device)
    reg = rearrange(region, "(nh wh) (nw ww) -> (nh nw) (wh ww)", wh=window, ww=window).repeat(1, num_frames)
    val = rearrange(valid, "(nh wh) (nw ww) -> (nh nw) (wh ww)", wh=window, ww=window).repeat(1, num_frames)
    allowed = (reg[:, :, None] == reg[:, None, :]) & (val[:, None, :] | ~val[:, :, None])  # (nW, N, N)
    return torch.zeros(allowed.shape, device=device).masked_fill_(~allowed, MASK_VALUE)


class GatedWindowAttention(nn.Module):
    """Joint (T, w, w) window attention with head-specific sigmoid output gate (G1).

    Args:
        dim: channels C. num_heads: heads (C % num_heads == 0). window_size: w.
        shift: cyclic shift (0 or w // 2 for Swin's shifted blocks).
        num_frames: largest T the relative bias table covers (2 for VFI).
        gate: False builds the ungated ablation (no W_g).
        keep_attn: store ``last_attn`` (B*nW, heads, N, N) and ``last_gate`` (B, T, H, W, C) of the
            last forward (detached); attention is then computed explicitly instead of with SDPA.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window_size: int,
        shift: int = 0,
        num_frames: int = 2,
        gate: bool = True,
        keep_attn: bool = False,
        qkv_bias: bool = True,
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"vfi_lib/modules/gated_window_attention.py: dim {dim} not divisible by num_heads {num_heads}")
        if not 0 <= shift < window_size:
            raise ValueError(f"vfi_lib/modules/gated_window_attention.py: shift {shift} must be in [0, {window_size})")
        self.dim, self.num_heads, self.window_size, self.shift = dim, num_heads, window_size, shift
        self.num_frames = num_frames
        self.head_dim = dim // num_heads
        self.keep_attn = keep_attn
        self.last_attn: torch.Tensor | None = None
        self.last_gate: torch.Tensor | None = None
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.gate = nn.Linear(dim, num_heads * self.head_dim) if gate else None
        if self.gate is not None:
            nn.init.normal_(self.gate.weight, std=0.02)
            nn.init.zeros_(self.gate.bias)
        table = (2 * num_frames - 1) * (2 * window_size - 1) ** 2
        self.relative_position_bias_table = nn.Parameter(torch.zeros(table, num_heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.register_buffer("relative_position_index", relative_position_index(num_frames, window_size), persistent=False)
        self._mask_cache: dict[tuple, torch.Tensor | None] = {}

    def _bias(self, t: int) -> torch.Tensor:
        """Relative position bias (heads, N, N) for T = t frames (t-major tokens: a sub-block)."""
        n = t * self.window_size**2
        idx = self.relative_position_index[:n, :n]
        return self.relative_position_bias_table[idx.reshape(-1)].view(n, n, -1).permute(2, 0, 1)

    def _mask(self, t: int, h: int, w: int, device: torch.device) -> torch.Tensor | None:
        if torch.compiler.is_compiling():  # traced into the graph on the device (no CPU kernels, no cache)
            return window_mask(h, w, self.window_size, self.shift, t, device)
        key = (t, h, w, self.shift, device)
        if key not in self._mask_cache:
            self._mask_cache[key] = window_mask(h, w, self.window_size, self.shift, t, device)
        return self._mask_cache[key]

    def forward(self, x: torch.Tensor, gate_input: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, H, W, C) -> (B, T, H, W, C); gate_input (same shape) defaults to x."""
        if x.dim() != 5 or x.shape[-1] != self.dim:
            raise ValueError(
                f"vfi_lib/modules/gated_window_attention.py: x must be (B, T, H, W, {self.dim}), got {tuple(x.shape)}"
            )
        b, t, h, w, c = x.shape
        if t > self.num_frames:
            raise ValueError(f"vfi_lib/modules/gated_window_attention.py: T={t} frames > num_frames={self.num_frames}")
        ws, s = self.window_size, self.shift
        pad_h, pad_w = (-h) % ws, (-w) % ws
        qkv = self.qkv(x)  # (B, T, H, W, 3C); padded tokens get qkv = 0 (bias masked away as keys)
        if pad_h or pad_w:
            qkv = F.pad(qkv, (0, 0, 0, pad_w, 0, pad_h))
        if s:
            qkv = qkv.roll((-s, -s), dims=(2, 3))
        hp = h + pad_h
        q, k, v = rearrange(
            qkv, "b t (nh wh) (nw ww) (three m d) -> three (b nh nw) m (t wh ww) d", wh=ws, ww=ws, three=3, m=self.num_heads
        )  # each (B*nW, heads, N, hd)
        bias = self._bias(t).to(q.dtype)  # (heads, N, N)
        mask = self._mask(t, h, w, x.device)  # (nW, N, N) or None
        if mask is not None:
            n_win = mask.shape[0]
            bias = (bias[None] + mask[:, None].to(q.dtype)).unsqueeze(0).expand(b, -1, -1, -1, -1)
            bias = bias.reshape(b * n_win, *bias.shape[2:])  # (B*nW, heads, N, N)
        if self.keep_attn:
            attn = (q * self.head_dim**-0.5) @ k.transpose(-2, -1) + bias
            attn = attn.softmax(dim=-1)  # (B*nW, heads, N, N)
            self.last_attn = attn.detach()
            y = attn @ v
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)  # (B*nW, heads, N, hd)
        y = rearrange(
            y, "(b nh nw) m (t wh ww) d -> b t (nh wh) (nw ww) (m d)", b=b, nh=hp // ws, wh=ws, ww=ws
        )  # (B, T, Hp, Wp, C), heads merged in head-major channel order
        if s:
            y = y.roll((s, s), dims=(2, 3))
        y = y[:, :, :h, :w]
        if self.gate is not None:
            g = torch.sigmoid(self.gate(x if gate_input is None else gate_input))  # (B, T, H, W, heads*hd)
            if self.keep_attn:
                self.last_gate = g.detach()
            y = y * g
        return self.proj(y)
