"""SS2D: 4-direction cross-scan / cross-merge of 2-D maps for a 1-D SSM (VMamba), with the
interleaved cross-frame variant of VFIMamba.

VMamba (Liu et al., 2024) flattens an H x W token map in four orders -- row-major, column-major and
both reversed -- runs the SSM on each sequence and sums the four outputs back onto the grid
(CrossScan / CrossMerge). VFIMamba (Zhang et al., 2024, ``SS2D.merge_x``) scans two frames jointly:
the tokens of both frames alternate, f0(p1), f1(p1), f0(p2), f1(p2), ... (length 2HW), so that the
SSM state carries information between the frames at every position; the four orders apply to the
pixel positions p, the frame index is always the innermost (fastest) axis.

Layout: maps are channels-last, ``(B, T, H, W, C)`` with T frames (T = 1: plain SS2D, T = 2:
VFIMamba interleave); scanned sequences are ``(B, 4, L, C)`` with L = H*W*T, directions ordered
(row, column, row reversed, column reversed). The frame axis is kept explicit in the column-major
un-transpose (``(W, H, T) -> (H, W, T)``); VFIMamba's reference instead views the interleaved
sequence as (W, H) and so sends the two column directions to the wrong pixels.

``cross_unscan(cross_scan(x), H, W)`` returns four exact copies of ``x`` (one per direction);
``cross_merge`` is their sum. The :class:`SS2D` module runs one Mamba2 (shared weights) on the four
directions: either stacked in the batch (``packed=False``, the plain reference) or, by default, in
the packed form of VMamba's SS2Dm0: in_proj once per token, the 4 scanned sequences packed into one
SSD call as 4x the heads with one B/C group per direction, the gated RMSNorm per direction, the sum
over directions before a single out_proj. Both forms compute the same function (tested); the
packed one does the token-wise projections once instead of 4 times.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vfi_lib.config import ModelConfig
from vfi_lib.ssm.backends import ssd
from vfi_lib.ssm.mamba2 import Mamba2, causal_conv1d  # mamba_ssm is only imported lazily by the triton backend

NUM_DIRECTIONS = 4


def _check_map(x: torch.Tensor, name: str) -> None:
    if x.dim() != 5:
        raise ValueError(
            f"vfi_lib/modules/scan.py: {name} must be (B, T, H, W, C) channels-last, got shape {tuple(x.shape)}"
        )


def cross_scan(x: torch.Tensor) -> torch.Tensor:
    """Flatten ``x`` (B, T, H, W, C) in 4 orders -> (B, 4, H*W*T, C).

    Position p runs row-major (h, w), column-major (w, h), and both reversed; within a position the
    T frames are consecutive (the VFIMamba interleave f0(p), f1(p)). One stack of the two orders and
    their reversals (no intermediate (B, 2, L, C) copies).
    """
    _check_map(x, "x")
    b, t, h, w, c = x.shape
    row = x.permute(0, 2, 3, 1, 4).reshape(b, h * w * t, c)  # (B, L, C), order (h, w, t)
    col = x.permute(0, 3, 2, 1, 4).reshape(b, h * w * t, c)  # (B, L, C), order (w, h, t)
    return torch.stack([row, col, row.flip(1), col.flip(1)], dim=1)  # (B, 4, L, C)


def _scanned_dims(y: torch.Tensor, h: int, w: int) -> tuple[int, int, int]:
    """(B, T, C) of a scanned tensor (B, 4, H*W*T, C); ValueError naming the shape otherwise."""
    if y.dim() != 4 or y.shape[1] != NUM_DIRECTIONS or y.shape[2] % (h * w):
        raise ValueError(
            f"vfi_lib/modules/scan.py: y must be (B, 4, H*W*T, C) with H={h}, W={w}, got {tuple(y.shape)}"
        )
    return y.shape[0], y.shape[2] // (h * w), y.shape[3]


def cross_unscan(y: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`cross_scan` per direction: (B, 4, H*W*T, C) -> (B, 4, T, H, W, C).

    The two forward directions are read as views (``y`` may be strided, e.g. the packed SSD output);
    only the reversed ones are copied (flip) before the single stack.
    """
    b, t, c = _scanned_dims(y, h, w)

    def grid(seq: torch.Tensor, col: bool) -> torch.Tensor:  # (B, L, C) in scan order -> (B, H, W, T, C)
        return seq.reshape(b, w, h, t, c).transpose(1, 2) if col else seq.reshape(b, h, w, t, c)

    out = torch.stack([grid(y[:, 0], False), grid(y[:, 1], True),
                       grid(y[:, 2].flip(1), False), grid(y[:, 3].flip(1), True)], dim=1)  # (B, 4, H, W, T, C)
    return out.permute(0, 1, 4, 2, 3, 5)  # (B, 4, T, H, W, C)


def cross_merge(y: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Sum the 4 scanned directions back onto the grid: (B, 4, H*W*T, C) -> (B, T, H, W, C)."""
    b, t, c = _scanned_dims(y, h, w)
    fwd = y[:, :2] + y[:, 2:].flip(2)  # (B, 2, L, C): reversed directions re-ordered and added
    row = fwd[:, 0].reshape(b, h, w, t, c)
    col = fwd[:, 1].reshape(b, w, h, t, c).transpose(1, 2)  # explicit frame axis (VFIMamba pitfall)
    return (row + col).permute(0, 3, 1, 2, 4)  # (B, T, H, W, C)


def interleave_frames(f0: torch.Tensor, f1: torch.Tensor) -> torch.Tensor:
    """Two channels-last frames (B, H, W, C) -> (B, 2, H, W, C), the input of the interleaved scan."""
    if f0.shape != f1.shape or f0.dim() != 4:
        raise ValueError(
            f"vfi_lib/modules/scan.py: f0 and f1 must both be (B, H, W, C), got {tuple(f0.shape)} and {tuple(f1.shape)}"
        )
    return torch.stack([f0, f1], dim=1)


class SS2D(nn.Module):
    """Mamba2 over the 4 SS2D scan orders, merged by summation.

    forward(x): (B, T, H, W, C) -> (B, T, H, W, C). With ``cross_frame=True`` the T frames are
    scanned interleaved (one sequence of length T*H*W per direction, VFIMamba); otherwise each frame
    is scanned on its own (T folded into the batch). One Mamba2 with shared weights processes the 4
    directions; ``packed`` selects the SS2Dm0 form (default) or the batch-stacked reference.
    """

    def __init__(self, dim: int, cfg: ModelConfig, cross_frame: bool | None = None, packed: bool = True) -> None:
        super().__init__()
        self.dim = dim
        self.cross_frame = cfg.cross_frame_scan if cross_frame is None else cross_frame
        self.packed = packed
        self.mamba = Mamba2(
            d_model=dim,
            d_state=cfg.d_state,
            d_conv=cfg.d_conv,
            expand=cfg.expand,
            headdim=cfg.headdim,
            ngroups=1,
            chunk_size=cfg.chunk_size,
            backend=cfg.ssm_backend,
            half_matmuls=cfg.ssd_half_matmuls,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_map(x, "SS2D input")
        b, t, h, w, c = x.shape
        if c != self.dim:
            raise ValueError(f"vfi_lib/modules/scan.py: SS2D expects {self.dim} channels, got {c}")
        if not self.cross_frame:
            x = x.reshape(b * t, 1, h, w, c)  # each frame its own sequence
        if self.packed:
            return self._forward_packed(x).reshape(b, t, h, w, c)
        seq = cross_scan(x)  # (B', 4, L, C)
        bb, k, length, _ = seq.shape
        y = self.mamba(seq.reshape(bb * k, length, c)).reshape(bb, k, length, c)
        out = cross_merge(y, h, w)  # (B', T', H, W, C)
        return out.reshape(b, t, h, w, c)

    def _forward_packed(self, x: torch.Tensor) -> torch.Tensor:
        """SS2Dm0 form with the Mamba2 parameters (mamba_ssm names). (B, T, H, W, C) -> same.

        The big per-direction tensors (4 x the tokens) are released as soon as the next step has
        consumed them (``del``), so that at 4K only about two of them are alive at a time.
        """
        m = self.mamba
        if not m.rmsnorm:
            raise ValueError("vfi_lib/modules/scan.py: packed SS2D needs Mamba2(rmsnorm=True); use packed=False")
        b, t, h, w, _ = x.shape
        k, nh, p, g, n = NUM_DIRECTIONS, m.nheads, m.headdim, m.ngroups, m.d_state
        conv_dim = m.d_inner + 2 * g * n
        wz, wrest = m.in_proj.weight.split([m.d_inner, conv_dim + nh])  # in_proj = [z | xBC dt], once per token
        bz, brest = (None, None) if m.in_proj.bias is None else m.in_proj.bias.split([m.d_inner, conv_dim + nh])
        z = F.linear(x, wz, bz)  # (B, T, H, W, d_inner), its own tensor (not a view pinning xBC)
        seq = cross_scan(F.linear(x, wrest, brest))  # (B, 4, L, conv_dim + nh)
        length = seq.shape[2]

        def pack(u: torch.Tensor, heads: int) -> torch.Tensor:  # (B*4, L, heads*e) -> (B, L, 4*heads, e)
            return u.reshape(b, k, length, heads, -1).permute(0, 2, 1, 3, 4).reshape(b, length, k * heads, -1)

        xbc, dt = seq.reshape(b * k, length, -1).split([conv_dim, nh], dim=-1)
        dt = pack(dt, nh).squeeze(-1)  # (B, L, 4*nh)
        del seq
        xbc = causal_conv1d(xbc, m.conv1d.weight, m.conv1d.bias)  # causal conv per direction (frees seq)
        xbc = F.silu(xbc, inplace=not torch.is_grad_enabled())  # in place when nothing is saved for backward
        xs, bc = xbc.split([m.d_inner, 2 * g * n], dim=-1)
        xs = pack(xs, nh)  # (B, L, 4*nh, p), a copy
        bc = bc.reshape(b, k, length, 2, g, n).permute(0, 2, 1, 3, 4, 5).contiguous()  # (B, L, 4, [B|C], g, n)
        del xbc  # (the copies above release the conv output before the SSD)
        bs = bc[:, :, :, 0].reshape(b, length, k * g, n)  # (B, L, 4*g, n), views for g = 1 (no generator:
        cs = bc[:, :, :, 1].reshape(b, length, k * g, n)  # a closure over bc would make `del bc` a graph break)
        d = m.D.view(nh, p) if m.D_has_hdim else m.D
        y = ssd(
            xs, dt, (-torch.exp(m.A_log.float())).repeat(k), bs, cs, m.chunk_size,
            D=d.repeat(k, *([1] * (d.dim() - 1))), dt_bias=m.dt_bias.repeat(k), dt_softplus=True,
            dt_limit=m.dt_limit, backend=m.backend, half_matmuls=m.half_matmuls,
        )  # (B, L, 4*nh, p); head block j is direction j, its own B/C group
        del xs, bc, bs, cs, dt
        u = cross_unscan(y.reshape(b, length, k, m.d_inner).transpose(1, 2), h, w)  # (B, 4, T, H, W, d_inner)
        del y
        u = m.norm(u, z.unsqueeze(1))  # gated RMSNorm per direction
        return m.out_proj(u.sum(dim=1))  # sum of directions, then one out_proj
