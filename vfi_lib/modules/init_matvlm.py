"""MaTVLM initialisation: Mamba2 projections from an attention layer's weights.

MaTVLM (Li et al., ICCV 2025), following "The Mamba in the Llama" (Wang et al., 2024), uses the
duality of SSD and linear attention -- y_t = sum_s C_t^T (prod decay) B_s x_s versus
y_t = sum_s q_t^T k_s v_s -- to initialise a Mamba2 layer from the attention layer it replaces:
    W_C <- W_Q,   W_B <- W_K,   W_x <- W_V,   W_out <- W_O.
In a Mamba2 (mamba_ssm layout) W_x, W_B, W_C are row blocks of ``in_proj.weight`` (order
[z, x, B, C, dt]; sizes d_inner, d_inner, g*N, g*N, nheads) and W_out is ``out_proj.weight``.

Shape rule (ours): our attention and Mamba2 shapes differ (e.g. Q has num_heads*head_dim = dim rows,
C has ngroups*d_state rows; x has d_inner = expand*dim rows, V has dim). Each target block receives
the overlapping top-left block of its source, ``target[:r, :c] = source[:r, :c]`` with
r = min of the row counts and c = min of the column counts; all other rows/columns (z, dt, the
rest of x/B/C/out) keep Mamba2's default init. Biases are not copied (Mamba2 has none by default).
"""

from __future__ import annotations

import torch
from torch import nn


def _copy_overlap(target: torch.Tensor, source: torch.Tensor) -> tuple[int, int]:
    r, c = min(target.shape[0], source.shape[0]), min(target.shape[1], source.shape[1])
    target[:r, :c] = source[:r, :c].to(target.dtype)
    return r, c


@torch.no_grad()
def init_mamba2_from_attention(
    mamba: nn.Module, w_q: torch.Tensor, w_k: torch.Tensor, w_v: torch.Tensor, w_o: torch.Tensor
) -> dict[str, tuple[slice, slice]]:
    """Copy W_Q -> C, W_K -> B, W_V -> x rows of ``mamba.in_proj.weight`` and W_O -> ``out_proj.weight``.

    w_q, w_k, w_v: (d_attn, d_model_attn) as nn.Linear weights (out, in); w_o: (d_model_attn, d_attn).
    Returns, per target ('x', 'B', 'C', 'out'), the (row, col) slices of the written block in
    ``in_proj.weight`` / ``out_proj.weight`` coordinates.
    """
    for name, w in (("w_q", w_q), ("w_k", w_k), ("w_v", w_v), ("w_o", w_o)):
        if w.dim() != 2:
            raise ValueError(f"vfi_lib/modules/init_matvlm.py: {name} must be a 2-D weight, got shape {tuple(w.shape)}")
    for attr in ("in_proj", "out_proj", "d_inner", "ngroups", "d_state"):
        if not hasattr(mamba, attr):
            raise TypeError(f"vfi_lib/modules/init_matvlm.py: mamba has no attribute {attr!r}; expected a Mamba2 layer")
    d_inner, gn = mamba.d_inner, mamba.ngroups * mamba.d_state
    w_in = mamba.in_proj.weight  # (2*d_inner + 2*g*N + nheads, d_model)
    starts = {"x": d_inner, "B": 2 * d_inner, "C": 2 * d_inner + gn}
    sizes = {"x": d_inner, "B": gn, "C": gn}
    sources = {"x": w_v, "B": w_k, "C": w_q}
    written: dict[str, tuple[slice, slice]] = {}
    for key, src in sources.items():
        s = starts[key]
        r, c = _copy_overlap(w_in[s : s + sizes[key]], src)
        written[key] = (slice(s, s + r), slice(0, c))
    r, c = _copy_overlap(mamba.out_proj.weight, w_o)
    written["out"] = (slice(0, r), slice(0, c))
    return written


def init_mamba2_from_window_attention(mamba: nn.Module, attn: nn.Module) -> dict[str, tuple[slice, slice]]:
    """MaTVLM init from a :class:`GatedWindowAttention` (fused ``qkv`` Linear(C, 3C), ``proj``)."""
    w_q, w_k, w_v = attn.qkv.weight.chunk(3, dim=0)
    return init_mamba2_from_attention(mamba, w_q, w_k, w_v, attn.proj.weight)
