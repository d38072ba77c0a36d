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

Initialisation (exactly the plain residual at init): phi = 0, so every matrix is its static part;
b_pre = logit(1/n) (H_pre = 1/n, weights summing to 1), b_post = 0 (H_post = 2 sigmoid(0) = 1),
b_res = ``res_diag`` * I (H_res near identity, rows summing to 1). The stage expands x into n identical
copies X = 1 x; then x_in = H_pre X = (sum_i H_pre,i) x = x, H_res X = (H_res 1) x = X (row sums 1), and
    X <- H_res X + H_post^T F(x_in) = 1 (x + F(x)),
so the copies stay identical through the whole stage and its mean-collapsed output equals the plain
residual stack x <- x + F(x) exactly (up to float rounding). (As in Hyper-Connections, whose dynamic
weights W_beta, W_m start at 0: at the first step the scales alpha and the norm weight get a zero
gradient, phi a non-zero one; they learn from the second step on.)

Sinkhorn: log-space Sinkhorn-Knopp converges linearly with the second singular value of the limit,
which is close to 1 for peaked (near-permutation) matrices -- the regime of H_res, whose static part is
``res_diag`` * I: 20 iterations leave column sums off by ~3e-2 for logits 4 I + N(0, 1). ``sinkhorn_log``
therefore ends with a few Newton steps on the two scaling vectors (quadratic convergence, a batched
2n x 2n solve each) and a final row normalisation: rows sum to 1 to rounding, columns to <= 1e-3 for
such logits (tested). Fixed iteration counts: no data-dependent loop exit, one graph under compile.

Shapes: the stream is (B, n, *S, C) (S any positional axes, channels last); x_in is (B, *S, C).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from vfi_lib.ssm.ssd import autocast_off


def sinkhorn_log(logits: torch.Tensor, iters: int = 20, newton_steps: int = 4) -> torch.Tensor:
    """Project logits (..., n, n) onto doubly stochastic matrices P = diag(e^f) exp(logits) diag(e^g).

    1. ``iters`` log-space Sinkhorn-Knopp iterations (column then row normalisation, logsumexp);
    2. ``newton_steps`` Newton steps on the potentials (f, g) of the scaling: with P = exp(L + f 1^T + 1 g^T),
       solve [[diag(P 1), P], [P^T, diag(P^T 1)]] (df, dg) = (1 - P 1, 1 - P^T 1) (the Jacobian of the row and
       column sums; its null vector (1, -1) -- shifting f up and g down -- is removed by adding v v^T),
       each step clamped to +-4 in log space;
    3. a final row normalisation.
    Computed in float32 (float64 kept) with autocast off; returns P (..., n, n) in the input dtype, rows
    summing to 1 exactly up to rounding, columns up to the convergence (<= 1e-3 for peaked logits such
    as 4 I + N(0, 1) or N(0, 3^2) at the defaults). ``newton_steps=0`` is plain Sinkhorn-Knopp.
    """
    if logits.dim() < 2 or logits.shape[-1] != logits.shape[-2]:
        raise ValueError(f"vfi_lib/modules/mhc.py: sinkhorn_log needs (..., n, n) logits, got {tuple(logits.shape)}")
    if iters < 1:
        raise ValueError(f"vfi_lib/modules/mhc.py: sinkhorn_log iters must be >= 1, got {iters}")
    if newton_steps < 0:
        raise ValueError(f"vfi_lib/modules/mhc.py: sinkhorn_log newton_steps must be >= 0, got {newton_steps}")
    n = logits.shape[-1]
    with autocast_off(logits.device.type):
        log_p = logits.double() if logits.dtype == torch.float64 else logits.float()
        for _ in range(iters):
            log_p = log_p - torch.logsumexp(log_p, dim=-2, keepdim=True)  # columns sum to 1
            log_p = log_p - torch.logsumexp(log_p, dim=-1, keepdim=True)  # rows sum to 1
        if newton_steps:
            ones = torch.ones(n, dtype=log_p.dtype, device=log_p.device)
            v = torch.cat([ones, -ones]) / math.sqrt(2 * n)  # null vector of the Jacobian
            gauge = v[:, None] * v[None, :] + 1e-6 * torch.eye(2 * n, dtype=log_p.dtype, device=log_p.device)
            for _ in range(newton_steps):
                p = log_p.exp()
                rows, cols = p.sum(dim=-1), p.sum(dim=-2)  # (..., n) each
                jac = torch.cat([torch.cat([torch.diag_embed(rows), p], dim=-1),
                                 torch.cat([p.transpose(-1, -2), torch.diag_embed(cols)], dim=-1)], dim=-2)
                rhs = torch.cat([1 - rows, 1 - cols], dim=-1).unsqueeze(-1)  # (..., 2n, 1)
                step = torch.linalg.solve_ex(jac + gauge, rhs)[0].squeeze(-1).clamp(-4.0, 4.0)  # no host sync
                log_p = log_p + step[..., :n, None] + step[..., None, n:]
            log_p = log_p - torch.logsumexp(log_p, dim=-1, keepdim=True)  # rows sum to 1 (last step)
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

    def __init__(self, dim: int, n: int = 4, sinkhorn_iters: int = 20, alpha_init: float = 0.01, res_diag: float = 4.0,
                 newton_steps: int = 4) -> None:
        super().__init__()
        if n < 1:
            raise ValueError(f"vfi_lib/modules/mhc.py: n must be >= 1, got {n}")
        self.dim, self.n, self.sinkhorn_iters, self.newton_steps = dim, n, sinkhorn_iters, newton_steps
        self.norm = nn.RMSNorm(n * dim)
        self.phi = nn.Linear(n * dim, 2 * n + n * n, bias=False)  # phi_pre | phi_post | phi_res
        nn.init.zeros_(self.phi.weight)  # input-dependent parts 0 at init: exactly x + F(x) (module docstring)
        self.alpha_pre = nn.Parameter(torch.tensor(alpha_init))
        self.alpha_post = nn.Parameter(torch.tensor(alpha_init))
        self.alpha_res = nn.Parameter(torch.tensor(alpha_init))
        pre = math.log(1.0 / (n - 1)) if n > 1 else 40.0  # logit(1/n); n = 1: sigmoid(40) == 1 in float32/64
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
        h_res = sinkhorn_log(self.alpha_res * d_res.view(b, n, n) + self.b_res, self.sinkhorn_iters, self.newton_steps)
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
