"""Mamba2 layer (Dao & Gu, 2024, section 7), parameter-compatible with ``mamba_ssm.modules.mamba2.Mamba2``.

    u (B, L, d_model) -> in_proj -> [z | x B C | dt]
    xBC  = silu(depthwise causal conv1d(xBC))                  (kernel d_conv, left padding d_conv-1)
    dt   = softplus(dt + dt_bias),  A = -exp(A_log)
    y    = SSD(x, dt, A, B, C) + D x                            (per head, vfi_lib.ssm.backends.ssd)
    y    = RMSNormGated(y, z)    (norm_before_gate=False: rmsnorm(y * silu(z)), groups of d_inner/ngroups)
    out  = out_proj(y)

Parameter names, shapes, packing order and initialisation equal mamba_ssm 2.x (``in_proj``,
``conv1d``, ``dt_bias``, ``A_log``, ``D``, ``norm.weight``, ``out_proj``), so a state_dict loads both
ways. The conv and the gated RMSNorm are plain torch; the SSD core runs on the chosen backend
("auto" | "torch" | "triton", see :mod:`vfi_lib.ssm.backends`). Not supported (not needed here):
tensor/sequence parallelism, ``d_ssm`` < d_inner, variable-length packing and step-wise decoding.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .backends import BACKENDS, ssd
from .ssd import compute_dtype

__all__ = ["Mamba2", "RMSNormGated", "causal_conv1d", "set_conv1d_impl", "set_chunk_size", "set_ssm_backend"]


CONV1D_IMPLS = ("auto", "conv", "shift")
_conv1d_default = "auto"


def set_conv1d_impl(impl: str) -> str:
    """Process-wide default ``impl`` of :func:`causal_conv1d` (``timetest --conv1d``); returns the previous one."""
    global _conv1d_default
    if impl not in CONV1D_IMPLS:
        raise ValueError(f"causal_conv1d: impl must be one of {', '.join(CONV1D_IMPLS)}; got {impl!r}")
    previous, _conv1d_default = _conv1d_default, impl
    return previous


def causal_conv1d(x: Tensor, weight: Tensor, bias: Tensor | None = None, impl: str | None = None) -> Tensor:
    """Depthwise causal conv over the sequence, channels-last: x (B, L, C), weight (C, 1, K), bias (C,).

    y[:, t] = bias + sum_k weight[:, 0, k] * x[:, t - (K-1) + k] (zeros before t = 0), i.e. the first L
    outputs of ``nn.Conv1d(C, C, K, groups=C, padding=K-1)`` on x^T. ``impl``: "conv" (cuDNN/oneDNN,
    through a (B, C, L) transpose), "shift" (K shifted multiply-adds in the (B, L, C) layout: no
    transposes, and one fused kernel under torch.compile), "auto" ("shift" while compiling, else "conv");
    None: the process default (:func:`set_conv1d_impl`, "auto" unless changed).
    """
    impl = _conv1d_default if impl is None else impl
    if impl == "auto":
        impl = "shift" if torch.compiler.is_compiling() else "conv"
    L, K = x.shape[1], weight.shape[-1]
    if impl == "conv":
        return F.conv1d(x.transpose(1, 2), weight, bias, padding=K - 1, groups=weight.shape[0])[..., :L].transpose(1, 2)
    if impl != "shift":
        raise ValueError(f"causal_conv1d: impl must be one of {', '.join(CONV1D_IMPLS)}; got {impl!r}")
    xp = F.pad(x, (0, 0, K - 1, 0))  # (B, L + K - 1, C)
    w = weight[:, 0].to(x.dtype)  # (C, K); autocast runs the conv in the activations' dtype too
    y = xp[:, K - 1:] * w[:, K - 1]
    for k in range(K - 1):
        y = y + xp[:, k:k + L] * w[:, k]
    return y if bias is None else y + bias.to(x.dtype)


class RMSNormGated(nn.Module):
    """Gated group RMSNorm, mamba_ssm's ``layernorm_gated.RMSNorm`` semantics (computed in float32, float64 kept).

    norm_before_gate=False: out = rmsnorm(x * silu(z)) * weight; True: out = rmsnorm(x) * weight * silu(z),
    rmsnorm(u) = u / sqrt(mean(u^2) + eps) with the mean over groups of ``group_size`` channels.
    x (..., hidden_size), z broadcastable to x; returns x.dtype.

    Memory: the statistics come from ``vector_norm`` (no squared copy), and when autograd records
    nothing (``torch.no_grad`` / ``inference_mode``) the scalings are applied in place, so that one
    float32 copy of x is alive instead of three (the SS2D norm runs on 4 directions of every token).
    Both paths give identical results.
    """

    def __init__(self, hidden_size: int, eps: float = 1e-5, group_size: int | None = None,
                 norm_before_gate: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        group_size = hidden_size if group_size is None else group_size
        if hidden_size % group_size != 0:
            raise ValueError(f"RMSNormGated: group_size {group_size} must divide hidden_size {hidden_size}")
        self.eps = eps
        self.group_size = group_size
        self.norm_before_gate = norm_before_gate
        self.weight = nn.Parameter(torch.ones(hidden_size, device=device, dtype=dtype))
        self.register_parameter("bias", None)

    def forward(self, x: Tensor, z: Tensor | None = None) -> Tensor:
        dtype, cd = x.dtype, compute_dtype(x.dtype)  # float32 for half inputs, float64 stays
        inplace = not torch.is_grad_enabled()  # nothing is saved for backward: overwrite the fresh copy

        def mul(a: Tensor, b: Tensor) -> Tensor:
            return a.mul_(b) if inplace else a * b

        u = x.to(cd, copy=inplace)  # a fresh tensor when it is going to be overwritten
        if z is not None and not self.norm_before_gate:
            u = mul(u, F.silu(z.to(cd)))
        ug = u.unflatten(-1, (-1, self.group_size))  # (..., groups, group_size)
        ms = torch.linalg.vector_norm(ug, dim=-1, keepdim=True).square() / self.group_size  # mean of squares
        u = mul(ug, torch.rsqrt(ms + self.eps)).flatten(-2)
        u = mul(u, self.weight.to(cd))
        if z is not None and self.norm_before_gate:
            u = mul(u, F.silu(z.to(cd)))
        return u.to(dtype)


class Mamba2(nn.Module):
    """Mamba2 mixer over sequences (B, L, d_model) -> (B, L, d_model).

    Arguments as ``mamba_ssm.modules.mamba2.Mamba2`` (d_model, d_state, d_conv, conv_init, expand,
    headdim, ngroups, A_init_range, D_has_hdim, rmsnorm, norm_before_gate, dt_min, dt_max,
    dt_init_floor, dt_limit, bias, conv_bias, chunk_size, layer_idx, device, dtype) plus
    ``backend``: "auto" | "torch" | "triton" for the SSD core and ``half_matmuls`` for the torch one
    (:func:`vfi_lib.ssm.ssd.ssd_chunked`).
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 128,
        d_conv: int = 4,
        conv_init: float | None = None,
        expand: int = 2,
        headdim: int = 64,
        ngroups: int = 1,
        A_init_range: tuple[float, float] = (1, 16),
        D_has_hdim: bool = False,
        rmsnorm: bool = True,
        norm_before_gate: bool = False,
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init_floor: float = 1e-4,
        dt_limit: tuple[float, float] = (0.0, float("inf")),
        bias: bool = False,
        conv_bias: bool = True,
        chunk_size: int = 256,
        layer_idx: int | None = None,
        backend: str = "auto",
        half_matmuls: bool = False,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        if backend not in BACKENDS:
            raise ValueError(f"Mamba2: backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        self.d_model = d_model
        self.d_state = d_state
        self.d_conv = d_conv
        self.conv_init = conv_init
        self.expand = expand
        self.d_inner = expand * d_model
        self.headdim = headdim
        self.ngroups = ngroups
        if self.d_inner % headdim != 0:
            raise ValueError(f"Mamba2: headdim {headdim} must divide d_inner = expand * d_model = {self.d_inner}")
        self.nheads = self.d_inner // headdim
        if self.nheads % ngroups != 0:
            raise ValueError(f"Mamba2: ngroups {ngroups} must divide nheads = {self.nheads}")
        if not (A_init_range[0] > 0 and A_init_range[1] >= A_init_range[0]):
            raise ValueError(f"Mamba2: A_init_range must satisfy 0 < low <= high, got {A_init_range}")
        self.D_has_hdim = D_has_hdim
        self.rmsnorm = rmsnorm
        self.norm_before_gate = norm_before_gate
        self.dt_limit = tuple(dt_limit)
        self.chunk_size = chunk_size
        self.layer_idx = layer_idx
        self.backend = backend
        self.half_matmuls = bool(half_matmuls)  # torch SSD: all chunk matmuls on half operands (ssd_chunked)

        # Order: [z, x, B, C, dt]
        d_in_proj = 2 * self.d_inner + 2 * ngroups * d_state + self.nheads
        self.in_proj = nn.Linear(d_model, d_in_proj, bias=bias, **factory)
        conv_dim = self.d_inner + 2 * ngroups * d_state  # conv over x, B, C
        self.conv1d = nn.Conv1d(conv_dim, conv_dim, kernel_size=d_conv, groups=conv_dim,
                                padding=d_conv - 1, bias=conv_bias, **factory)
        if conv_init is not None:
            nn.init.uniform_(self.conv1d.weight, -conv_init, conv_init)

        # dt_bias = softplus^{-1}(dt), dt log-uniform in [dt_min, dt_max], floored at dt_init_floor
        dt = torch.exp(torch.rand(self.nheads, **factory) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        dt = dt.clamp(min=dt_init_floor)
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))
        self.dt_bias._no_weight_decay = True
        A = torch.empty(self.nheads, dtype=torch.float32, device=device).uniform_(*A_init_range)
        self.A_log = nn.Parameter(torch.log(A).to(dtype=dtype))
        self.A_log._no_weight_decay = True
        self.D = nn.Parameter(torch.ones(self.d_inner if D_has_hdim else self.nheads, device=device))
        self.D._no_weight_decay = True
        if rmsnorm:
            self.norm = RMSNormGated(self.d_inner, eps=1e-5, norm_before_gate=norm_before_gate,
                                     group_size=self.d_inner // ngroups, **factory)
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=bias, **factory)

    def extra_repr(self) -> str:
        return (f"d_model={self.d_model}, d_state={self.d_state}, nheads={self.nheads}, headdim={self.headdim}, "
                f"ngroups={self.ngroups}, chunk_size={self.chunk_size}, backend={self.backend!r}")

    def forward(self, u: Tensor, initial_state: Tensor | None = None,
                return_final_state: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """u (B, L, d_model) -> (B, L, d_model); optional SSM state (B, nheads, headdim, d_state) in/out."""
        if u.dim() != 3 or u.shape[-1] != self.d_model:
            raise ValueError(f"Mamba2: input must be (batch, length, {self.d_model}), got {tuple(u.shape)}")
        b, l, _ = u.shape
        g, n, h, p = self.ngroups, self.d_state, self.nheads, self.headdim
        zxbcdt = self.in_proj(u)  # (B, L, d_in_proj)
        z, xBC, dt = torch.split(zxbcdt, [self.d_inner, self.d_inner + 2 * g * n, h], dim=-1)
        xBC = F.silu(causal_conv1d(xBC, self.conv1d.weight, self.conv1d.bias))  # (B, L, conv_dim)
        x, B, C = torch.split(xBC, [self.d_inner, g * n, g * n], dim=-1)
        A = -torch.exp(self.A_log.to(compute_dtype(self.A_log.dtype)))  # (nheads,), never half (A -> -inf)
        out = ssd(
            x.unflatten(-1, (h, p)), dt, A, B.unflatten(-1, (g, n)), C.unflatten(-1, (g, n)),
            self.chunk_size,
            D=self.D.view(h, p) if self.D_has_hdim else self.D,
            z=None if self.rmsnorm else z.unflatten(-1, (h, p)),
            dt_bias=self.dt_bias, dt_softplus=True, dt_limit=self.dt_limit,
            initial_state=initial_state, return_final_state=return_final_state,
            backend=self.backend, half_matmuls=self.half_matmuls,
        )
        y, final = out if return_final_state else (out, None)
        y = y.flatten(-2)  # (B, L, d_inner)
        if self.rmsnorm:
            y = self.norm(y, z)
        y = self.out_proj(y)
        return (y, final) if return_final_state else y


def set_ssm_backend(model: nn.Module, backend: str) -> int:
    """Switch every :class:`Mamba2` in ``model`` (the packed SS2D reads its Mamba2's backend) to
    ``backend`` ("auto" | "torch" | "triton"); returns how many were switched.

    E.g. before ``torch.compile(model)``: with "torch" the whole model traces as one graph, while the
    triton kernels are opaque to the compiler (a graph break around each call).
    """
    if backend not in BACKENDS:
        raise ValueError(f"ssm backend: unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    mods = [m for m in model.modules() if isinstance(m, Mamba2)]
    for m in mods:
        m.backend = backend
    return len(mods)


def set_chunk_size(model: nn.Module, chunk_size: int) -> int:
    """Set the SSD chunk length of every :class:`Mamba2` in ``model``; returns how many were set.

    The chunked scan is exact for any chunk length (``ssd_chunked`` equals the recurrence), so this
    changes speed and memory only, also for a trained model: a knob for inference and benchmarks
    (``--chunk_size`` of timetest); the architecture's own value is ``model.chunk_size`` in the config.
    """
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise ValueError(f"ssd chunk size must be a positive int, got {chunk_size!r}")
    mods = [m for m in model.modules() if isinstance(m, Mamba2)]
    for m in mods:
        m.chunk_size = chunk_size
    return len(mods)
