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
Any H, W: the map is padded to a multiple of w (before the roll) and padded keys are masked.

Masks only where needed: after padding and the roll, only the trailing window rows/columns can hold
padding or straddle the roll seam (at most two of each, :func:`masked_tail`). The window grid is
therefore split into the interior (SDPA with the relative bias only, a (heads, N, N) tensor broadcast
over all windows and the batch), the right strip and the bottom strip; only the strips get an additive
shift/pad mask, (n_strip, N, N) with n_strip ~ nh + nw windows instead of nh * nw, cached per
(T, H, W, device) in a small LRU. The parts are Python-static (shapes only), so torch.compile sees one
graph. At 4K (stage 1: 68 x 120 windows of N = 128 tokens) this is ~12 MB of masks instead of 0.5 GB
cached plus 1 GB expanded over windows x heads per block.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

MASK_VALUE = -1e4  # additive mask; exp(-1e4) == 0 in fp32 and representable in fp16/bf16
MASK_CACHE_SIZE = 8  # strip masks kept per module (one entry per (T, H, W, device))


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


def masked_tail(size: int, window: int, shift: int) -> int:
    """How many trailing windows along one axis need a mask: those holding padding or the roll seam.

    The axis is padded from ``size`` to the window multiple P and rolled by -shift: position p then
    holds source position (p + shift) mod P, so the padding [size, P) lands on [size - shift, P - shift)
    and, with a shift, the last window straddles the seam (regions [P - w, P - s) and [P - s, P)).
    Every window before the first such one is plain (one region, all valid).
    """
    n = -(-size // window)
    first = n  # index of the first window that needs a mask
    if shift:
        first = n - 1
    if n * window > size:
        first = min(first, max(0, (size - shift) // window))
    return n - first


def _masks_from_maps(region: torch.Tensor, valid: torch.Tensor, window: int, num_frames: int) -> torch.Tensor:
    """Additive masks (nW, N, N) of the windows of region/valid maps (rows, cols multiples of the window).

    Query i may attend key j iff they are in the same region and (j is valid or i is padding).
    """
    reg = rearrange(region, "(nh wh) (nw ww) -> (nh nw) (wh ww)", wh=window, ww=window).repeat(1, num_frames)
    val = rearrange(valid, "(nh wh) (nw ww) -> (nh nw) (wh ww)", wh=window, ww=window).repeat(1, num_frames)
    allowed = (reg[:, :, None] == reg[:, None, :]) & (val[:, None, :] | ~val[:, :, None])  # (nW, N, N)
    return torch.zeros(allowed.shape, device=region.device).masked_fill_(~allowed, MASK_VALUE)


def window_mask(h: int, w: int, window: int, shift: int, num_frames: int,
                device: torch.device | None = None) -> torch.Tensor | None:
    """Dense additive mask (nW, N, N) for all windows of an (h, w) map, or None if nothing is masked.

    Query i may attend key j iff they are in the same region and (j is valid or i is padding);
    padded queries thus still have keys (no all-masked rows) and their outputs are discarded.
    (For plots and references; the module itself builds masks for the border strips only.)
    """
    if not shift and h % window == 0 and w % window == 0:  # no region cut, no padding (decided on ints:
        return None  # no data-dependent branch, so no torch.compile graph break)
    region, valid = region_and_valid_maps(h, w, window, shift, device)
    return _masks_from_maps(region, valid, window, num_frames)


def window_parts(h: int, w: int, window: int, shift: int) -> list[tuple[tuple[int, int], tuple[int, int], bool]]:
    """Split of the (nh, nw) window grid of an (h, w) map into [(rows, cols, masked)], in window units:
    the interior (unmasked), the right strip and the bottom strip (masked); empty parts are left out.
    The order is row band by row band (interior, right | bottom), as the grid is reassembled."""
    nh, nw = -(-h // window), -(-w // window)
    rh, rw = masked_tail(h, window, shift), masked_tail(w, window, shift)
    parts = []
    if nh > rh and nw > rw:
        parts.append(((0, nh - rh), (0, nw - rw), False))
    if nh > rh and rw:
        parts.append(((0, nh - rh), (nw - rw, nw), True))
    if rh:
        parts.append(((nh - rh, nh), (0, nw), True))
    return parts


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
        self._mask_cache: OrderedDict[tuple, list[torch.Tensor | None]] = OrderedDict()

    def _bias(self, t: int) -> torch.Tensor:
        """Relative position bias (heads, N, N) for T = t frames (t-major tokens: a sub-block)."""
        n = t * self.window_size**2
        idx = self.relative_position_index[:n, :n]
        return self.relative_position_bias_table[idx.reshape(-1)].view(n, n, -1).permute(2, 0, 1)

    def _part_masks(self, t: int, h: int, w: int, device: torch.device) -> list[torch.Tensor | None]:
        """Per part of :func:`window_parts`: None (interior) or the additive strip mask (n_part, N, N)."""
        ws = self.window_size
        parts = window_parts(h, w, ws, self.shift)
        if not any(masked for _, _, masked in parts):
            return [None] * len(parts)
        region, valid = region_and_valid_maps(h, w, ws, self.shift, device)  # (Hp, Wp), small
        return [
            _masks_from_maps(region[r0 * ws:r1 * ws, c0 * ws:c1 * ws], valid[r0 * ws:r1 * ws, c0 * ws:c1 * ws], ws, t)
            if masked else None
            for (r0, r1), (c0, c1), masked in parts
        ]

    def _masks(self, t: int, h: int, w: int, device: torch.device) -> list[torch.Tensor | None]:
        if torch.compiler.is_compiling():  # traced into the graph on the device (no CPU kernels, no cache)
            return self._part_masks(t, h, w, device)
        key = (t, h, w, device)
        if key in self._mask_cache:
            self._mask_cache.move_to_end(key)
        else:
            self._mask_cache[key] = self._part_masks(t, h, w, device)
            while len(self._mask_cache) > MASK_CACHE_SIZE:
                self._mask_cache.popitem(last=False)
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
        parts = window_parts(h, w, ws, s)
        masks = self._masks(t, h, w, x.device)
        bias = self._bias(t).to(qkv.dtype)  # (heads, N, N), broadcast over windows and batch
        outs, maps = [], []
        for ((r0, r1), (c0, c1), _), mask in zip(parts, masks):
            q, k, v = rearrange(
                qkv[:, :, r0 * ws:r1 * ws, c0 * ws:c1 * ws],
                "b t (nh wh) (nw ww) (three m d) -> three (b nh nw) m (t wh ww) d", wh=ws, ww=ws, three=3,
                m=self.num_heads,
            )  # each (B*n_part, heads, N, hd)
            if mask is None:
                attn_bias = bias
            else:  # (n_part, heads, N, N), repeated over the batch (b-major window order)
                attn_bias = bias[None] + mask[:, None].to(bias.dtype)
                attn_bias = attn_bias.unsqueeze(0).expand(b, *attn_bias.shape).flatten(0, 1)
            if self.keep_attn:
                attn = ((q * self.head_dim**-0.5) @ k.transpose(-2, -1) + attn_bias).softmax(dim=-1)
                maps.append(attn.detach().unflatten(0, (b, r1 - r0, c1 - c0)))
                y = attn @ v
            else:
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_bias)  # (B*n_part, heads, N, hd)
            outs.append(y.unflatten(0, (b, r1 - r0, c1 - c0)))  # (B, rows, cols, heads, N, hd)
        if self.keep_attn:
            self.last_attn = _assemble_grid(parts, maps).flatten(0, 2)  # (B*nW, heads, N, N)
        y = rearrange(
            _assemble_grid(parts, outs), "b nh nw m (t wh ww) d -> b t (nh wh) (nw ww) (m d)", wh=ws, ww=ws
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


def _assemble_grid(parts: list, pieces: list[torch.Tensor]) -> torch.Tensor:
    """Reassemble per-part window tensors (B, rows, cols, ...) into the full grid (B, nh, nw, ...)."""
    if len(pieces) == 1:
        return pieces[0]
    bands: dict[tuple[int, int], list[torch.Tensor]] = {}
    for (rows, _, _), piece in zip(parts, pieces):
        bands.setdefault(rows, []).append(piece)
    rows = [torch.cat(band, dim=2) if len(band) > 1 else band[0] for band in bands.values()]
    return torch.cat(rows, dim=1) if len(rows) > 1 else rows[0]
