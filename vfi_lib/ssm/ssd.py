"""SSD: the structured state-space scan at the core of Mamba2 (Dao & Gu, 2024, "Transformers are SSMs").

Per head h (scalar decay A_h < 0), per channel p and state index n, the selective SSM is

    h_t = exp(dt_t * A) * h_{t-1} + dt_t * x_t B_t^T        (state (p, n); paper eq. 2 with scalar A)
    y_t = h_t C_t + D * x_t

``ssd_naive`` runs that recurrence one step at a time: the slow, obviously correct reference.
``ssd_chunked`` is the block decomposition of the SSD paper (section 6, "ssd_minimal"): the
sequence is cut into chunks of length T; inside a chunk the output is the quadratic "attention"
form Y = (L o C B^T) (dt x), with L the causal segment-sum decay mask (eq. 4/5); between chunks
only the (p, n) states are passed on, with the decays of whole chunks combined in one small
segment-sum matrix (no python loop over chunks, so torch.compile sees one graph).

Shapes follow mamba_ssm: x (b, l, h, p), dt (b, l, h) (already softplus'ed, positive), A (h,),
B and C (b, l, g, n) with g groups dividing h (head i uses group i // (h // g)), D (h,) or (h, p),
states (b, h, p, n). Half-precision inputs are computed in float32 (the exponentials, decays and the
state passing between chunks need it); the intra-chunk product (L o C B^T) x takes half operands with a
float32 result, as in mamba_ssm's kernels (``half_matmuls``: C B^T, the chunk states and C h too), and the
output is cast back to x.dtype; float64 stays float64. Both functions run with
autocast disabled, so under ``torch.autocast`` float32 inputs really are computed in float32.

Memory of ``ssd_chunked``: the (T, T) matrices of all chunks at once would be (b, l/T, h, T, T) floats,
17 GB each for a 4K frame pair (l ~ 1e6 tokens, 16 heads, T = 256); the chunks are therefore processed
in slices whose intermediates stay below :data:`SSD_SLICE_BYTES`, the state passed between slices.
"""

from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["ssd_naive", "ssd_chunked", "compute_dtype", "check_ssd_inputs", "autocast_off", "SSD_SLICE_BYTES"]

SSD_SLICE_BYTES = 512 * 2**20
"""Default budget of :func:`ssd_chunked` for one intermediate of a slice (bytes): 512 MiB keeps a
training batch of 4 at 256x256 in one slice (stage 1: 32 chunks x 16 heads x 256^2 x 4 B) and bounds
4K inference (4080 chunks) to about 3 such tensors alive at a time instead of 17 GB each."""


def autocast_off(device_type: str) -> contextlib.AbstractContextManager:
    """Autocast disabled on ``device_type``; a null context where autocast does not exist (the meta device,
    on which :func:`vfi_lib.speed.flops.model_cost` counts a forward without memory or compute)."""
    if torch.amp.is_autocast_available(device_type):
        return torch.autocast(device_type=device_type, enabled=False)
    return contextlib.nullcontext()


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """Internal dtype of the scan: float32 for half/bfloat16 (and float32), float64 for float64."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def check_ssd_inputs(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    initial_state: Tensor | None = None,
    z: Tensor | None = None,
) -> tuple[int, int, int, int, int, int]:
    """Validate SSD argument shapes; returns (b, l, h, p, g, n). Raises ValueError naming the argument."""
    if x.dim() != 4:
        raise ValueError(f"ssd: x must be (batch, length, heads, headdim), got shape {tuple(x.shape)}")
    b, l, h, p = x.shape
    if tuple(dt.shape) != (b, l, h):
        raise ValueError(f"ssd: dt must be (batch, length, heads) = {(b, l, h)}, got {tuple(dt.shape)}")
    if tuple(A.shape) != (h,):
        raise ValueError(f"ssd: A must be (heads,) = ({h},), got {tuple(A.shape)}")
    if B.dim() != 4 or B.shape[:2] != (b, l):
        raise ValueError(f"ssd: B must be (batch, length, groups, d_state) with batch, length = {(b, l)}, "
                         f"got {tuple(B.shape)}")
    g, n = B.shape[2], B.shape[3]
    if tuple(C.shape) != (b, l, g, n):
        raise ValueError(f"ssd: C must have the shape of B {(b, l, g, n)}, got {tuple(C.shape)}")
    if h % g != 0:
        raise ValueError(f"ssd: the number of groups ({g}) must divide the number of heads ({h})")
    if D is not None and tuple(D.shape) not in ((h,), (h, p)):
        raise ValueError(f"ssd: D must be (heads,) = ({h},) or (heads, headdim) = {(h, p)}, got {tuple(D.shape)}")
    if initial_state is not None and tuple(initial_state.shape) != (b, h, p, n):
        raise ValueError(f"ssd: initial_state must be (batch, heads, headdim, d_state) = {(b, h, p, n)}, "
                         f"got {tuple(initial_state.shape)}")
    if z is not None and tuple(z.shape) != (b, l, h, p):
        raise ValueError(f"ssd: z must have the shape of x {(b, l, h, p)}, got {tuple(z.shape)}")
    return b, l, h, p, g, n


def _d_skip(x: Tensor, D: Tensor) -> Tensor:
    """D * x with D (h,) or (h, p) broadcast over x (b, l, h, p)."""
    return x * (D[:, None] if D.dim() == 1 else D)


def ssd_naive(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    initial_state: Tensor | None = None,
    return_final_state: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Reference SSD: the plain recurrence h_t = exp(dt_t A) h_{t-1} + dt_t x_t B_t^T, y_t = h_t C_t + D x_t.

    x (b, l, h, p), dt (b, l, h), A (h,), B/C (b, l, g, n), D (h,) | (h, p), initial_state (b, h, p, n).
    Returns y (b, l, h, p) in x.dtype, and the final state (b, h, p, n) in the compute dtype if asked.
    O(l) python steps: for tests and small inputs only.
    """
    b, l, h, p, g, n = check_ssd_inputs(x, dt, A, B, C, D, initial_state)
    cd = compute_dtype(x.dtype)
    r = h // g
    with autocast_off(x.device.type):  # the reference stays in cd
        xs, dts, As = x.to(cd), dt.to(cd), A.to(cd)
        Bh = B.to(cd).repeat_interleave(r, dim=2)  # (b, l, h, n)
        Ch = C.to(cd).repeat_interleave(r, dim=2)  # (b, l, h, n)
        state = x.new_zeros((b, h, p, n), dtype=cd) if initial_state is None else initial_state.to(cd)
        ys = []
        for t in range(l):
            decay = torch.exp(dts[:, t] * As)  # (b, h)
            inp = (dts[:, t, :, None] * xs[:, t])[..., None] * Bh[:, t, :, None, :]  # (b, h, p, n)
            state = decay[:, :, None, None] * state + inp
            ys.append(torch.einsum("bhpn,bhn->bhp", state, Ch[:, t]))
        y = torch.stack(ys, dim=1) if ys else xs.new_zeros((b, 0, h, p))
        if D is not None:
            y = y + _d_skip(xs, D.to(cd))
        y = y.to(x.dtype)
    return (y, state) if return_final_state else y


def _cumsum(a: Tensor) -> Tensor:
    """Inclusive prefix sum over the last axis, (..., T) -> (..., T).

    Eager: ``torch.cumsum``. Under torch.compile: a masked row sum (a reduction, O(T^2) work but no
    (T, T) tensor in memory), because Inductor's split-scan codegen for ``cumsum`` fails on CUDA for
    some shapes in torch 2.11 ("list indices must be integers or slices, not NoneType").
    """
    if not torch.compiler.is_compiling():
        return torch.cumsum(a, dim=-1)
    T = a.shape[-1]
    tril = torch.ones(T, T, dtype=torch.bool, device=a.device).tril()  # tril[t, s] = s <= t
    return torch.where(tril, a[..., None, :], 0.0).sum(dim=-1)


def _chunk_segsum(a: Tensor) -> Tensor:
    """Segment sums S[..., i, j] = a_{j+1} + ... + a_i for i >= j, -inf above the diagonal; (..., T) -> (..., T, T).

    Differences of prefix sums P, kept exact where the total decay is large: P is summed in float64
    and split into hi + lo in the input dtype (double-float), so hi_i - hi_j is exact for close
    prefixes (Sterbenz) and the lo terms restore the rounding of hi; far-apart pairs have S << 0,
    where exp(S) is 0 anyway. Used for the (few) chunk-level decays.
    """
    T = a.shape[-1]
    P = _cumsum(a.to(torch.float64))
    hi = P.to(a.dtype)
    lo = (P - hi.to(torch.float64)).to(a.dtype)
    S = (hi[..., :, None] - hi[..., None, :]) + (lo[..., :, None] - lo[..., None, :])
    causal = torch.ones(T, T, dtype=torch.bool, device=a.device).tril()
    return S.masked_fill(~causal, float("-inf"))


PASS_BLOCK_MIN = 128
""":func:`_pass_states` runs the one-level (quadratic) form up to this many chunk states, the two-level form above."""


def _pass_states(states: Tensor, a: Tensor) -> Tensor:
    """The scan over chunks: h_z = exp(a_z) h_{z-1} + S_z (h_{-1} = 0), i.e. h_z = sum_{j<=z} exp(a_{j+1} + ... + a_z) S_j.

    states S (b, N, g, r, p, n), log-decays a (b, g, r, N) (a_0 is never used); returns h (b, N, g, r, p, n).
    Up to :data:`PASS_BLOCK_MIN` states: one (N, N) segment-sum matrix (SSD paper, ``state_passing``),
    O(N^2 p n) work. Beyond that (small chunks of long sequences: 1080p at chunk 64 gives N ~ 4000 per scan)
    the same scan in two levels: blocks of K ~ sqrt(N) states are scanned with (K, K) matrices, the blocks'
    end states with a (G, G) one (G = N / K blocks), and each block's entering state is decayed into it,
    O(N^1.5 p n) work in batched matmuls, no python loop over chunks (one graph for torch.compile).
    """
    b, N, g, r, p, n = states.shape
    if N <= PASS_BLOCK_MIN:
        return torch.einsum("bgrzc,bcgrpn->bzgrpn", torch.exp(_chunk_segsum(a)), states)
    K = math.isqrt(N - 1) + 1  # ceil(sqrt(N))
    G = -(-N // K)
    pad = G * K - N  # zero states with zero log-decay at the end: nothing flows back from them
    Sb = F.pad(states, (0, 0, 0, 0, 0, 0, 0, 0, 0, pad)).reshape(b, G, K, g, r, p, n)
    ab = F.pad(a, (0, pad)).reshape(b, g, r, G, K)
    local = torch.einsum("bgrGzj,bGjgrpn->bGzgrpn", torch.exp(_chunk_segsum(ab)), Sb)  # scans within blocks
    tot = ab.sum(-1)  # (b, g, r, G): log-decay across a whole block
    ends = torch.einsum("bgrzj,bjgrpn->bzgrpn", torch.exp(_chunk_segsum(tot)), local[:, :, -1])  # h at each block end
    entering = F.pad(ends[:, :-1], (0, 0, 0, 0, 0, 0, 0, 0, 1, 0))  # (b, G, g, r, p, n): h before each block
    into = torch.exp(_cumsum(ab)).permute(0, 3, 4, 1, 2)  # (b, G, K, g, r): decay from the block start to z
    h = local + into[..., None, None] * entering[:, :, None]
    return h.reshape(b, G * K, g, r, p, n)[:, :N]


def _chunks_per_slice(b: int, h: int, p: int, n: int, T: int, c: int, itemsize: int, budget: int) -> int:
    """Chunks per slice so that no per-slice intermediate exceeds ``budget`` bytes (at least one chunk).

    The largest intermediates of one chunk are the (b, h, T, T) decay / C B^T products; the (b, h, T, p)
    token tensors and the (b, h, p, n) states are counted too. The slices are balanced (equal up to one
    chunk), so a length just above a multiple of the budget does not leave a tiny last slice.
    """
    per_chunk = b * h * max(T * T, T * p, p * n) * itemsize
    k = max(1, min(c, budget // max(per_chunk, 1)))
    n_slices = -(-c // k)
    return -(-c // n_slices)


def _ssd_run(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, state: Tensor | None, T: int, g: int,
             causal: Tensor, cd: torch.dtype, mm: torch.dtype, mm_more: torch.dtype) -> tuple[Tensor, Tensor]:
    """The chunked scan over one run of consecutive chunks, entered with the SSM ``state``.

    x (b, s, h, p), dt (b, s, h), A (h,) in cd, B/C (b, s, g, n), state (b, g, r, p, n) in cd or None
    (zeros), s <= c*T (the tail of the last chunk is zero-padded: dt = 0 there, the state is unchanged).
    Operand dtypes: ``mm`` for the intra-chunk product (L o C B^T) (dt x), ``mm_more`` for C B^T, the chunk
    states and C h (products accumulate in float32 either way).
    Returns y (b, s, h, p) in cd without the D skip, and the state after the run (b, g, r, p, n).
    """
    b, s, h, p = x.shape
    n, r = B.shape[-1], h // g
    pad = (-s) % T
    c = (s + pad) // T
    if pad:
        x = F.pad(x, (0, 0, 0, 0, 0, pad))
        dt = F.pad(dt, (0, 0, 0, pad))
        B = F.pad(B, (0, 0, 0, 0, 0, pad))
        C = F.pad(C, (0, 0, 0, 0, 0, pad))
    xc = x.reshape(b, c, T, g, r, p).permute(0, 1, 3, 4, 2, 5).to(cd)  # (b, c, g, r, T, p)
    dtc = dt.to(cd).reshape(b, c, T, g, r).permute(0, 1, 3, 4, 2)  # (b, c, g, r, T)
    Bc = B.to(mm_more).reshape(b, c, T, g, n).transpose(2, 3)  # (b, c, g, T, n), matmul operands only
    Cc = C.to(mm_more).reshape(b, c, T, g, n).transpose(2, 3)  # (b, c, g, T, n)
    dA = dtc * A.view(g, r, 1)  # (b, c, g, r, T), log-decay of each step
    cs = _cumsum(dA)  # (b, c, g, r, T), decay from the chunk start
    xdt = xc * dtc[..., None]  # (b, c, g, r, T, p), the step's input dt_s x_s

    # 1) intra-chunk (diagonal blocks, eq. 4/5): Y = (L o C B^T) (dt X), L[t, s] = exp(cs_t - cs_s) for s <= t.
    #    Built as one (T, S) matrix per chunk and head, step by step, so that without autograd at most two
    #    of them are alive at a time (each statement frees the previous one).
    CB = (Cc @ Bc.transpose(-1, -2)).to(cd)  # (b, c, g, T, S), shared by the r heads of a group
    M = torch.where(causal, cs[..., :, None] - cs[..., None, :], float("-inf"))  # (b, c, g, r, T, S)
    M = torch.exp(M)
    M = M * CB[:, :, :, None]
    del CB
    M = M.to(mm)
    y = (M @ xdt.to(mm)).to(cd)  # (b, c, g, r, T, p)
    del M

    # 2) state of each chunk at its end, from its own inputs: sum_s exp(cs_end - cs_s) dt_s x_s B_s^T
    to_end = torch.exp(cs[..., -1:] - cs)  # (b, c, g, r, T)
    states = torch.einsum("bcgrtp,bcgtn->bcgrpn", (xdt * to_end[..., None]).to(mm_more), Bc).to(cd)  # (b, c, g, r, p, n)

    # 3) state passing between chunks: h_in[z] = sum_{c<z} exp(decay of chunks c+1..z-1) states[c]
    init = states.new_zeros((b, 1, g, r, p, n)) if state is None else state.unsqueeze(1)
    states = torch.cat([init, states], dim=1)  # (b, c+1, g, r, p, n)
    chunk_decay = F.pad(cs[..., -1].permute(0, 2, 3, 1), (1, 0))  # (b, g, r, c+1)
    passed = _pass_states(states, chunk_decay)  # (b, c+1, g, r, p, n)
    states_in, final_state = passed[:, :-1], passed[:, -1]

    # 4) contribution of the incoming state to each position: exp(cs_t) C_t h_in
    y_off = torch.einsum("bcgtn,bcgrpn->bcgrtp", Cc, states_in.to(mm_more)).to(cd) * torch.exp(cs)[..., None]
    y = (y + y_off).permute(0, 1, 4, 2, 3, 5).reshape(b, c * T, h, p)[:, :s]  # (b, s, h, p)
    return y, final_state


def ssd_chunked(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    chunk_size: int,
    D: Tensor | None = None,
    initial_state: Tensor | None = None,
    return_final_state: bool = False,
    z: Tensor | None = None,
    slice_bytes: int | None = None,
    half_matmuls: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Chunked SSD (SSD paper, section 6): same result as :func:`ssd_naive`, batched matmuls only.

    x (b, l, h, p), dt (b, l, h), A (h,), B/C (b, l, g, n), D (h,) | (h, p), initial_state (b, h, p, n);
    any length l (the tail is zero-padded: dt = 0 there, so the final state is unchanged).
    Optional gate z (b, l, h, p): y <- y * silu(z) after the D skip (as mamba_ssm's combined kernel).
    Returns y (b, l, h, p) in x.dtype, and the final state (b, h, p, n) in the compute dtype if asked.

    Precision: runs with autocast disabled, in :func:`compute_dtype` (float32 for half/bfloat16 and
    float32 inputs, float64 for float64). When x itself is half, the intra-chunk product (L o C B^T) (dt x)
    takes half operands (fp32 accumulation, as mamba_ssm's chunk_scan kernel); with ``half_matmuls`` also
    C B^T, the chunk states and C h (as its bmm_chunk and chunk_state kernels), while the decays and the
    state passing always stay in the compute dtype. ``half_matmuls`` (``model.ssd_half_matmuls``) is off by
    default: on one H100 the compiled Phase 2 at 1080p took 39.7 ms without it (2026-12-07e) and 77.9 ms with
    it (2026-12-08, a later run; no same-run A/B yet), and its bfloat16 error against float64 is 3.0e-3
    instead of 2.85e-3 (the output rounding alone is 1.7e-3).

    Memory: the chunks are processed in slices of consecutive chunks (the SSM state is passed from one
    slice to the next, as in state chaining), sized so that no per-slice intermediate -- above all the
    (b, chunks, h, T, T) decay / C B^T products, T = chunk_size -- exceeds ``slice_bytes`` (default
    :data:`SSD_SLICE_BYTES`). When everything fits (training crops) this is one slice: the plain
    vectorised form. The slice sizes are Python ints from the static shapes (torch.compile: one graph).
    """
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"ssd_chunked: chunk_size must be a positive int, got {chunk_size!r}")
    b, l, h, p, g, n = check_ssd_inputs(x, dt, A, B, C, D, initial_state, z)
    cd = compute_dtype(x.dtype)
    # half inputs: the intra-chunk product (and with half_matmuls the other chunk matmuls) takes half
    # operands (fp32 accumulation), like mamba_ssm's kernels; decays, exponentials and the state passing
    # stay in the compute dtype
    mm = x.dtype if x.dtype in (torch.float16, torch.bfloat16) else cd
    mm_more = mm if half_matmuls else cd
    T = chunk_size
    c = max(1, -(-l // T))
    budget = SSD_SLICE_BYTES if slice_bytes is None else slice_bytes
    span = T * _chunks_per_slice(b, h, p, n, T, c, torch.finfo(cd).bits // 8, budget)  # tokens per slice
    with autocast_off(x.device.type):  # the einsums must not drop to half
        A_cd = A.to(cd)
        state = None if initial_state is None else initial_state.to(cd).reshape(b, g, h // g, p, n)
        causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        ys = []
        for start in range(0, max(l, 1), span):
            sl = slice(start, min(start + span, l))
            y, state = _ssd_run(x[:, sl], dt[:, sl], A_cd, B[:, sl], C[:, sl], state, T, g, causal, cd, mm, mm_more)
            if D is not None:
                y = y + _d_skip(x[:, sl].to(cd), D.to(cd))
            if z is not None:
                y = y * F.silu(z[:, sl].to(cd))
            ys.append(y.to(x.dtype))
        y = ys[0] if len(ys) == 1 else torch.cat(ys, dim=1)
    if return_final_state:
        return y, state.reshape(b, h, p, n)
    return y
