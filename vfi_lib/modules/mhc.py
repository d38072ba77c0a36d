"""mHC: manifold-constrained hyper-connections (Xie et al., DeepSeek 2025), on Hyper-Connections
(Zhu et al., ByteDance 2024).

The residual stream is widened to n copies X = (x_1 .. x_n) that persist through a stage. A
sub-layer F reads a mix of the copies and writes its output back into all of them (mHC eqs. 3-8):
    x_in = H_pre X,                       H_pre  = sigmoid(H~_pre)          (1 x n)
    X   <- H_res X + H_post^T F(x_in),   H_post = 2 sigmoid(H~_post)       (1 x n)
                                          H_res  = SinkhornKnopp(H~_res)    (n x n)
    H~_* = alpha_* * (RMSNorm(vec X') phi_*) + b_*
i.e. each matrix is a static bias b plus an input-dependent part, a linear map phi of the RMS-normed
stream scaled by a learnable alpha (init 0.01). For images X' is the stream pooled over all
non-channel positions, so the matrices are per sample. H_res is projected onto the Birkhoff polytope
(doubly stochastic) with log-space Sinkhorn-Knopp, which keeps the residual mixing norm-preserving.

Initialisation (plain residual at init): b_pre = logit(1/n) (H_pre = 1/n, weights sum to 1),
b_post = 0 (H_post = 1), b_res = ``res_diag`` * I (H_res near identity). The stage expands x into n
identical copies and collapses with the mean; with identical copies H_res X = X for any doubly
stochastic H_res, so with alpha -> 0 one mHC sub-layer is exactly x <- x + F(x).

Shapes: the stream is (B, n, *S, C) (S any positional axes, channels last); x_in is (B, *S, C).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn


def sinkhorn_log(logits: torch.Tensor, iters: int = 20) -> torch.Tensor:
    """Project logits (..., n, n) onto doubly stochastic matrices by log-space Sinkhorn-Knopp.

    Alternates row and column normalisation of log P = logits (logsumexp), ``iters`` times each,
    in float32; returns P = exp(log P) (..., n, n) in the input dtype. Columns sum to 1 exactly
    (last step), rows to 1 up to the convergence of the iteration.
    """
    if logits.dim() < 2 or logits.shape[-1] != logits.shape[-2]:
        raise ValueError(f"vfi_lib/modules/mhc.py: sinkhorn_log needs (..., n, n) logits, got {tuple(logits.shape)}")
    if iters < 1:
        raise ValueError(f"vfi_lib/modules/mhc.py: sinkhorn_log iters must be >= 1, got {iters}")
    log_p = logits.float()
    for _ in range(iters):
        log_p = log_p - torch.logsumexp(log_p, dim=-1, keepdim=True)  # rows sum to 1
        log_p = log_p - torch.logsumexp(log_p, dim=-2, keepdim=True)  # columns sum to 1
    return log_p.exp().to(logits.dtype)


def expand_stream(x: torch.Tensor, n: int) -> torch.Tensor:
    """Stage entry: x (B, *S, C) -> stream (B, n, *S, C) of n identical copies."""
    return x.unsqueeze(1).expand(x.shape[0], n, *x.shape[1:]).contiguous()


def collapse_stream(stream: torch.Tensor) -> torch.Tensor:
    """Stage exit: stream (B, n, *S, C) -> (B, *S, C), the mean of the copies (identity at init)."""
    return stream.mean(dim=1)


class MHCConnection(nn.Module):
    """One manifold-constrained hyper-connection around a sub-layer F (mHC eqs. 3-8).

    forward(stream, fn): stream (B, n, *S, C), fn maps (B, *S, C) -> (B, *S, C); returns the new
    stream. ``last_matrices`` holds the detached (H_pre, H_post, H_res) of the last call.
    """

    def __init__(self, dim: int, n: int = 4, sinkhorn_iters: int = 20, alpha_init: float = 0.01, res_diag: float = 4.0) -> None:
        super().__init__()
        if n < 1:
            raise ValueError(f"vfi_lib/modules/mhc.py: n must be >= 1, got {n}")
        self.dim, self.n, self.sinkhorn_iters = dim, n, sinkhorn_iters
        self.norm = nn.RMSNorm(n * dim)
        self.phi = nn.Linear(n * dim, 2 * n + n * n, bias=False)  # phi_pre | phi_post | phi_res
        self.alpha_pre = nn.Parameter(torch.tensor(alpha_init))
        self.alpha_post = nn.Parameter(torch.tensor(alpha_init))
        self.alpha_res = nn.Parameter(torch.tensor(alpha_init))
        pre = math.log(1.0 / (n - 1)) if n > 1 else 10.0  # logit(1/n); n = 1: sigmoid ~ 1
        self.b_pre = nn.Parameter(torch.full((n,), pre))
        self.b_post = nn.Parameter(torch.zeros(n))
        self.b_res = nn.Parameter(res_diag * torch.eye(n))
        self.last_matrices: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def matrices(self, stream: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """H_pre (B, n), H_post (B, n), H_res (B, n, n) for a stream (B, n, *S, C)."""
        b, n = stream.shape[:2]
        pooled = stream.float().mean(dim=tuple(range(2, stream.dim() - 1)))  # (B, n, C)
        feat = self.phi(self.norm(pooled.reshape(b, n * self.dim)))  # (B, 2n + n^2)
        d_pre, d_post, d_res = feat.split([n, n, n * n], dim=-1)
        h_pre = torch.sigmoid(self.alpha_pre * d_pre + self.b_pre)
        h_post = 2 * torch.sigmoid(self.alpha_post * d_post + self.b_post)
        h_res = sinkhorn_log(self.alpha_res * d_res.view(b, n, n) + self.b_res, self.sinkhorn_iters)
        return h_pre, h_post, h_res

    def forward(self, stream: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        if stream.dim() < 3 or stream.shape[1] != self.n or stream.shape[-1] != self.dim:
            raise ValueError(
                f"vfi_lib/modules/mhc.py: stream must be (B, {self.n}, ..., {self.dim}), got {tuple(stream.shape)}"
            )
        h_pre, h_post, h_res = self.matrices(stream)
        self.last_matrices = (h_pre.detach(), h_post.detach(), h_res.detach())
        b, n = stream.shape[:2]
        flat = stream.reshape(b, n, -1)  # (B, n, S*C)
        dt = stream.dtype
        x_in = torch.einsum("bn,bnk->bk", h_pre.to(dt), flat).view(stream.shape[:1] + stream.shape[2:])
        y = fn(x_in).reshape(b, 1, -1)  # (B, 1, S*C)
        out = torch.einsum("bmn,bnk->bmk", h_res.to(dt), flat) + h_post.to(dt)[:, :, None] * y
        return out.view(stream.shape)
