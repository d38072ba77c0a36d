"""MaTVLM initialisation: a Mamba2 branch initialised from a *trained* attention layer.

MaTVLM (Li et al., ICCV 2025), following "The Mamba in the Llama" (Wang et al., NeurIPS 2024,
Sec. 3), uses the duality of SSD and linear attention (Dao & Gu 2024, Sec. 4). With the decay
switched off (A -> 0, so exp(dt A) = 1) and dt = 1, the SSD recurrence h_t = exp(dt_t A) h_{t-1} +
dt_t B_t x_t^T, y_t = C_t^T h_t becomes causal linear attention

    y_t = sum_{s <= t} (C_t . B_s) x_s      ==      y_t = sum_{s <= t} (q_t . k_s) v_s,

so the Mamba2 projections are set from the attention's: W_C <- W_Q, W_B <- W_K, W_x <- W_V,
W_out <- W_O. In a Mamba2 (mamba_ssm layout) W_x, W_B, W_C are row blocks of ``in_proj.weight``
(order [z, x, B, C, dt]; sizes d_inner, d_inner, g*N, g*N, nheads) and W_out is ``out_proj.weight``.

Shape differences (ours; :func:`init_mamba2_from_attention` returns what it did):

* **Q/K -> C/B.** Attention has ``num_heads`` heads of ``hd = dim / num_heads`` with one score
  q_j . k_j each; our Mamba2 has ``ngroups`` B/C groups (1 in SS2D) of ``d_state = N`` rows, each
  group's score shared by all heads of that group. Group g receives the Q (to C) and K (to B) rows of
  ``k = min(num_heads, N // hd)`` whole consecutive attention heads (group g starts at head g*k,
  modulo num_heads), so its score C_t . B_s = sum of those heads' q_j . k_j. If not even one head fits
  (N < hd), the first N rows of one head are used (a truncated score). The remaining N - k*hd rows
  of **B are zeroed** (the extra state dimensions add nothing to the score at init, yet C's rows
  there stay random so that they receive gradient); C's remaining rows keep the default init.
* **V -> x, O -> out.** x has d_inner = expand * d_model rows in nheads heads of headdim; V has dim
  rows. Channel c of V goes to channel c of x for c < min(d_inner, dim); since every Mamba2 head of
  a group shares the group's score, the different head partitions (hd vs headdim) do not matter:
  y[c] = sum_s (C_t . B_s) v_s[c] for every copied channel. ``out_proj.weight[:, :c] <- W_O[:, :c]``;
  the out_proj **columns of the extra x channels (c >= dim) are zeroed**, so the extra heads start
  silent (their x rows keep the default init and they receive gradient through out_proj).
* **Biases.** Our Mamba2 has no in_proj/out_proj bias (mamba_ssm's default ``bias=False``), so the
  attention biases b_Q, b_K, b_V, b_O are dropped; with ``bias=True`` they are copied like the rows.
* **Not transferable, kept at Mamba2's default init**: z (the output gate: silu of a linear map,
  where the attention gates with sigmoid(X W_g); copying W_g would not reproduce it), the RMSNorm,
  and -- unless ``decay_off`` -- dt / dt_bias / A_log (the decay), D and the causal conv. With
  ``decay_off`` (ours; the trainer's default) those are set where the duality holds: conv = the
  current token, dt = 1, A ~ 0, D = 0. The attention's softmax, 1/sqrt(hd) scale and relative
  position bias have no SSD counterpart.

:func:`init_from_attention_model` applies this to every LGS block of a model, reading the
attention weights of the same block (``<block>.attn.qkv.weight``, ``.proj.weight``, and the head
count from ``.relative_position_bias_table``) from a trained model, its state_dict or a checkpoint
dict; :func:`apply_matvlm_init` is the call the trainer makes after ``--init_from`` when
``model.matvlm_init`` is set. :func:`mamba2_projections` exposes the pieces (x, B, C before the
conv) for checking the duality.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch
from torch import nn

__all__ = [
    "init_mamba2_from_attention", "init_mamba2_from_window_attention", "init_from_attention_model",
    "apply_matvlm_init", "mamba2_projections", "attention_state",
]

_WHERE = "vfi_lib/modules/init_matvlm.py"


def _check_mamba(mamba: nn.Module) -> None:
    for attr in ("in_proj", "out_proj", "d_inner", "ngroups", "d_state", "d_model"):
        if not hasattr(mamba, attr):
            raise TypeError(f"{_WHERE}: mamba has no attribute {attr!r}; expected a Mamba2 layer")


@torch.no_grad()
def init_mamba2_from_attention(
    mamba: nn.Module,
    w_q: torch.Tensor,
    w_k: torch.Tensor,
    w_v: torch.Tensor,
    w_o: torch.Tensor,
    num_heads: int,
    b_q: torch.Tensor | None = None,
    b_k: torch.Tensor | None = None,
    b_v: torch.Tensor | None = None,
    b_o: torch.Tensor | None = None,
    decay_off: bool = False,
) -> dict[str, Any]:
    """MaTVLM init of ``mamba`` from one attention layer (see the module docstring for the rules).

    ``decay_off`` (ours, not in MaTVLM) also puts the SSD where the duality holds: the causal conv passes
    the current token (last tap 1, others and bias 0), dt = softplus(dt_bias) = 1 for every token (the dt
    rows of in_proj zeroed), A = -DECAY_OFF_A (exp(dt A) ~ 1) and D = 0; only SiLU, the z gate and the
    RMSNorm then stand between the layer and linear attention on the copied projections.

    w_q, w_k, w_v: (dim, d_model) nn.Linear weights (out, in), heads head-major in the rows
    (rows j*hd .. (j+1)*hd - 1 are head j); w_o: (d_model, dim). Returns a report: ``heads_per_group``
    (k), ``rows_BC`` (rows of each B/C group set from Q/K), ``x_channels`` (c), ``out_zeroed_cols``,
    ``B_zeroed_rows`` and ``biases`` (whether biases were copied).
    """
    _check_mamba(mamba)
    for name, w in (("w_q", w_q), ("w_k", w_k), ("w_v", w_v), ("w_o", w_o)):
        if w.dim() != 2:
            raise ValueError(f"{_WHERE}: {name} must be a 2-D weight, got shape {tuple(w.shape)}")
    dim, d_model = w_q.shape
    if w_k.shape != w_q.shape or w_v.shape != w_q.shape or tuple(w_o.shape) != (d_model, dim):
        raise ValueError(
            f"{_WHERE}: attention weights must be W_Q, W_K, W_V (dim, d_model) and W_O (d_model, dim); got "
            f"{tuple(w_q.shape)}, {tuple(w_k.shape)}, {tuple(w_v.shape)}, {tuple(w_o.shape)}"
        )
    if d_model != mamba.d_model:
        raise ValueError(f"{_WHERE}: attention works on d_model={d_model} channels, the Mamba2 on {mamba.d_model}")
    if num_heads < 1 or dim % num_heads:
        raise ValueError(f"{_WHERE}: num_heads={num_heads} must divide the attention width {dim}")
    hd = dim // num_heads
    d_inner, g, n = mamba.d_inner, mamba.ngroups, mamba.d_state
    k = min(num_heads, n // hd)
    rows = k * hd if k >= 1 else n  # whole heads, or a truncated head when N < hd
    w_in, w_out = mamba.in_proj.weight, mamba.out_proj.weight  # (2 d_inner + 2 g N + nheads, d_model), (d_model, d_inner)
    b_in = mamba.in_proj.bias
    x0, b0, c0 = d_inner, 2 * d_inner, 2 * d_inner + g * n

    def head_rows(first_head: int) -> torch.Tensor:  # source row indices of `rows` rows from head first_head on
        heads = [(first_head + j) % num_heads for j in range(max(k, 1))]
        idx = torch.cat([torch.arange(h * hd, (h + 1) * hd) for h in heads])
        return idx[:rows]

    for gi in range(g):
        idx = head_rows(gi * max(k, 1))
        bs, cs = b0 + gi * n, c0 + gi * n
        w_in[bs : bs + n].zero_()  # B: copied rows + zeros (extra state dims silent at init)
        w_in[bs : bs + rows] = w_k[idx].to(w_in.dtype)
        w_in[cs : cs + rows] = w_q[idx].to(w_in.dtype)
        if b_in is not None:
            b_in[bs : bs + n].zero_()
            if b_k is not None:
                b_in[bs : bs + rows] = b_k[idx].to(b_in.dtype)
            if b_q is not None:
                b_in[cs : cs + rows] = b_q[idx].to(b_in.dtype)
    c = min(d_inner, dim)
    w_in[x0 : x0 + c] = w_v[:c].to(w_in.dtype)
    w_out[:, :c] = w_o[:, :c].to(w_out.dtype)
    w_out[:, c:].zero_()
    if b_in is not None and b_v is not None:
        b_in[x0 : x0 + c] = b_v[:c].to(b_in.dtype)
    if mamba.out_proj.bias is not None and b_o is not None:
        mamba.out_proj.bias.copy_(b_o.to(mamba.out_proj.bias.dtype))
    if decay_off:
        _set_decay_off(mamba)
    return {
        "heads_per_group": k, "rows_BC": rows, "x_channels": c, "out_zeroed_cols": d_inner - c,
        "B_zeroed_rows": n - rows, "biases": b_in is not None, "decay_off": decay_off,
    }


DECAY_OFF_A = 1e-4
"""|A| of :func:`init_mamba2_from_attention` with ``decay_off``: the decay exp(-1e-4) per token keeps
99.2% of a token's contribution after 80 tokens and 44% after 8192 (a 64 x 64 map of two frames)."""


def _set_decay_off(mamba: nn.Module) -> None:
    """conv = current token, dt = 1, A = -DECAY_OFF_A, D = 0 (see init_mamba2_from_attention)."""
    nh = mamba.nheads
    w = mamba.conv1d.weight  # (conv_dim, 1, d_conv)
    w.zero_()
    w[:, 0, -1] = 1.0
    if mamba.conv1d.bias is not None:
        mamba.conv1d.bias.zero_()
    mamba.in_proj.weight[-nh:].zero_()  # dt rows: dt = softplus(0 + dt_bias)
    if mamba.in_proj.bias is not None:
        mamba.in_proj.bias[-nh:].zero_()
    mamba.dt_bias.fill_(math.log(math.expm1(1.0)))  # softplus^{-1}(1)
    mamba.A_log.fill_(math.log(DECAY_OFF_A))
    mamba.D.zero_()


def init_mamba2_from_window_attention(mamba: nn.Module, attn: nn.Module, decay_off: bool = False) -> dict[str, Any]:
    """MaTVLM init from a :class:`GatedWindowAttention` (fused ``qkv`` Linear(C, 3C) = [Q; K; V], ``proj``)."""
    w_q, w_k, w_v = attn.qkv.weight.chunk(3, dim=0)
    bq = bk = bv = None
    if attn.qkv.bias is not None:
        bq, bk, bv = attn.qkv.bias.chunk(3)
    return init_mamba2_from_attention(mamba, w_q, w_k, w_v, attn.proj.weight, attn.num_heads,
                                      bq, bk, bv, attn.proj.bias, decay_off=decay_off)


def attention_state(source: nn.Module | Mapping[str, Any]) -> Mapping[str, torch.Tensor]:
    """A state_dict from a model, a state_dict, or a checkpoint dict (``{"model": state_dict, ...}``)."""
    if isinstance(source, nn.Module):
        return source.state_dict()
    if isinstance(source, Mapping):
        if "model" in source and isinstance(source["model"], Mapping):
            return source["model"]
        return source
    raise TypeError(f"{_WHERE}: source must be a model, a state_dict or a checkpoint dict, got {type(source).__name__}")


@torch.no_grad()
def init_from_attention_model(target: nn.Module, source: nn.Module | Mapping[str, Any],
                              decay_off: bool = False) -> dict[str, dict[str, Any]]:
    """Initialise the Mamba2 branch of every LGS block of ``target`` from the trained attention of
    the same block in ``source`` (a gated-attention or hybrid model, its state_dict or checkpoint).

    Block ``<name>`` (an LGSBlock with an SS2D branch) reads ``<name>.attn.qkv.weight`` (3C, C),
    ``<name>.attn.qkv.bias``, ``<name>.attn.proj.weight``/``.bias`` and the head count (columns of
    ``<name>.attn.relative_position_bias_table``). Returns ``{name: report}`` (see
    :func:`init_mamba2_from_attention`); blocks whose source has no attention are reported as
    ``{"skipped": reason}``. Raises ValueError if no block could be initialised.
    """
    from vfi_lib.modules.lgs_block import LGSBlock

    sd = attention_state(source)
    report: dict[str, dict[str, Any]] = {}
    targets = [(name, m) for name, m in target.named_modules() if isinstance(m, LGSBlock) and m.ss2d is not None]
    if not targets:
        raise ValueError(f"{_WHERE}: the target has no LGS block with a Mamba2 branch (backbone_mode "
                         "'hybrid' or 'mamba2_only' is needed)")
    for name, blk in targets:
        p = f"{name}.attn."
        need = [p + "qkv.weight", p + "proj.weight", p + "relative_position_bias_table"]
        missing = [key for key in need if key not in sd]
        if missing:
            report[name] = {"skipped": f"source has no {missing[0]}"}
            continue
        qkv = sd[p + "qkv.weight"]
        w_q, w_k, w_v = qkv.chunk(3, dim=0)
        bias = sd.get(p + "qkv.bias")
        bq, bk, bv = bias.chunk(3) if bias is not None else (None, None, None)
        try:
            report[name] = init_mamba2_from_attention(
                blk.ss2d.mamba, w_q, w_k, w_v, sd[p + "proj.weight"], int(sd[p + "relative_position_bias_table"].shape[1]),
                bq, bk, bv, sd.get(p + "proj.bias"), decay_off=decay_off,
            )
        except ValueError as e:
            raise ValueError(f"{_WHERE}: block {name}: {e}") from None
    if not any("skipped" not in r for r in report.values()):
        first = next(iter(report))
        raise ValueError(
            f"{_WHERE}: no attention weights found for any LGS block in the source (e.g. {first}.attn.qkv.weight); "
            "MaTVLM init needs a trained model with the gated attention branch (backbone_mode 'hybrid' or "
            "'gated_attn_only') of the same stage widths"
        )
    return report


def apply_matvlm_init(model: nn.Module, source_state_dict: nn.Module | Mapping[str, Any],
                      decay_off: bool = True) -> str:
    """Trainer hook (``model.matvlm_init`` with ``train.init_from``): call after the matching weights
    of the init_from checkpoint were loaded; overwrites the Mamba2 x/B/C/out projections of every LGS
    block with those derived from the checkpoint's attention, and (``decay_off``, default) puts conv,
    dt, A and D where the duality holds. Measured at layer level (tests/test_matvlm.py, 50 Adam steps
    regressing a trained linear attention, stock Mamba2 with its gate and RMSNorm): the mapping alone
    ends level with a random init (0.34 vs 0.37, seed 0), with decay_off 10-20% lower (0.31, 0.29, 0.25,
    0.28 vs 0.37, 0.35, 0.31, 0.31 for seeds 0-3). Returns a one-line log message."""
    report = init_from_attention_model(model, source_state_dict, decay_off=decay_off)
    done = [n for n, r in report.items() if "skipped" not in r]
    skipped = [f"{n} ({r['skipped']})" for n, r in report.items() if "skipped" in r]
    r0 = report[done[0]]
    msg = (f"[train] MaTVLM init: Mamba2 of {len(done)}/{len(report)} LGS blocks from the checkpoint's attention "
           f"(W_C<-W_Q, W_B<-W_K over {r0['heads_per_group']} head(s) = {r0['rows_BC']} state rows, W_x<-W_V "
           f"{r0['x_channels']} channels, W_out<-W_O" + ("; conv = current token, dt = 1, A ~ 0, D = 0" if decay_off else "")
           + ")")
    return msg + (f"; skipped: {', '.join(skipped)}" if skipped else "")


def mamba2_projections(mamba: nn.Module, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The linear pieces of a Mamba2 on u (B, L, d_model), before the causal conv and SiLU:
    x (B, L, nheads, headdim), B and C (B, L, ngroups, d_state)."""
    _check_mamba(mamba)
    g, n = mamba.ngroups, mamba.d_state
    _, x, b, c, _ = torch.split(mamba.in_proj(u), [mamba.d_inner, mamba.d_inner, g * n, g * n, mamba.nheads], dim=-1)
    return x.unflatten(-1, (mamba.nheads, mamba.headdim)), b.unflatten(-1, (g, n)), c.unflatten(-1, (g, n))
