"""The numbered notebooks' experiment logic, so that every notebook cell only calls and shows.

Each section serves the notebook in its heading; functions return rows (lists of dicts, for
:func:`vfi_lib.viz.show_table` / :func:`vfi_lib.viz.save_table`), arrays or small dataclasses that
the notebook plots with :mod:`vfi_lib.viz`. Anything here that two notebooks need is used by both
(``model_or_untrained``, ``attention_blocks``, ``window_patches``, the training-run helpers).
This layer may import every other one (CONTRIBUTING "Layers").
"""

from __future__ import annotations

import copy
import importlib
import platform
import shlex
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = [
    # shared
    "model_or_untrained", "attention_blocks", "window_patches", "block_sink_stats", "psnr_u8",
    # 00 environment
    "package_versions", "model_size_rows",
    # 01 SSD
    "random_ssd_inputs", "ssd_parity_table", "ssd_parity_summary", "ssd_impulse_matrices", "ssd_speed_table",
    # 02 SS2D
    "scan_order", "ss2d_cross_frame_probe",
    # 03 gated attention
    "SinkExperiment", "sink_experiment", "ungated_copy", "train_steps", "shift_mask_maps",
    # 04 mHC
    "sinkhorn_convergence", "sinkhorn_n2_check", "hres_examples", "doubly_stochastic_checks", "composite_gain",
    "mhc_stage_matrices",
    # 05 LGS block
    "lgs_block_parts", "eca_channel_weights", "eca_kernel_rows", "ablation_cost_rows",
    # 06 flow
    "warp_with_flows", "oracle_blend",
    # 07 data
    "motion_magnitudes", "motion_stats_rows",
    # 10/11/12 training
    "prepare_training_run", "training_curves_figure", "sample_prediction_figure",
    # 20 benchmarks
    "benchmark_plan", "benchmark_models", "run_benchmark_plan", "benchmark_rows", "sota_rows",
    # 31 scrubber
    "scrubber_predictor",
    # 40 ablations
    "ablation_run_names", "smoke_ablation_runs", "ablation_rows",
]


# ---------------------------------------------------------------------------------------------- shared
def model_or_untrained(ckpt: str = "", name: str = "phase2_hybrid", tiny: bool = True,
                       device: str | torch.device = "cpu") -> tuple[nn.Module, bool]:
    """(model in eval mode, trained): the checkpoint ``ckpt`` (name or path) when given, else a freshly
    built registered model ``name`` (``tiny``: the smoke size), which is untrained."""
    if ckpt:
        from vfi_lib.checkpoint import load_model

        return load_model(ckpt, device=device).eval(), True
    from vfi_lib.model import create_model

    return create_model(name, tiny=tiny).to(device).eval(), False


def attention_blocks(model: nn.Module, img0: torch.Tensor, img1: torch.Tensor, t: float = 0.5,
                     stage: int | None = 0) -> list[dict[str, Any]]:
    """One forward in eval mode with kept attention; the blocks' maps of LGS ``stage`` (None: the blocks
    of every stage, in order), each ``{"attn": (B*nW, heads, N, N), "gate": (B, 2, h, w, C) | None,
    "shift": int}``. The model's ``keep_attention`` is switched off again afterwards."""
    model.eval().keep_attention(True)
    try:
        with torch.no_grad():
            _, aux = model(img0, img1, t, return_aux=True)
    finally:
        model.keep_attention(False)
    maps = aux.get("attn") or []
    if not maps:
        raise ValueError("attention_blocks: the model keeps no attention maps (backbone_mode mamba2_only?)")
    return [b for s in maps for b in s] if stage is None else maps[stage]


def window_patches(img0: torch.Tensor, img1: torch.Tensor, cell: int, n_w: int) -> dict[str, Any]:
    """The ``cell`` x ``cell`` pixel window with the most change between the frames (1, 3, H, W):
    ``window`` (index in row-major (nh, nw) order with ``n_w`` windows per row), ``row``, ``col``,
    ``motion`` (mean |img1 - img0|) and ``patches`` (the two (cell, cell, 3) float crops)."""
    from vfi_lib.viz.maps import most_moving_window

    r, c, motion = most_moving_window(img0, img1, cell)
    sl = (..., slice(r * cell, (r + 1) * cell), slice(c * cell, (c + 1) * cell))
    patches = [x[0][sl].permute(1, 2, 0).cpu().numpy() for x in (img0, img1)]
    return {"window": r * n_w + c, "row": r, "col": c, "motion": motion, "patches": patches}


def block_sink_stats(model: nn.Module, img0: torch.Tensor, img1: torch.Tensor) -> dict[str, float]:
    """:func:`vfi_lib.viz.sink_stats` of every attention block of every LGS stage (each already averaged
    over windows and heads), averaged over the blocks: the sink numbers of notebook 03."""
    from vfi_lib.viz.attention import sink_stats

    per_block = [sink_stats(b["attn"]) for b in attention_blocks(model, img0, img1, stage=None)]
    return {k: float(np.mean([s[k] for s in per_block])) for k in per_block[0]}


def psnr_u8(pred, gt) -> float:
    """PSNR in dB of two images on the uint8 grid (any form :func:`vfi_lib.viz.to_image` takes), computed
    by :func:`vfi_lib.eval.metrics.psnr` on the [0, 1] floats (peak 1; identical images give +inf): the
    score that the notebooks hand to the viz figures and the frame scrubber (``psnr_fn``)."""
    from vfi_lib.eval.metrics import psnr
    from vfi_lib.viz.frames import to_image

    p, g = (torch.from_numpy(to_image(x)).permute(2, 0, 1)[None].double() / 255.0 for x in (pred, gt))
    return float(psnr(p, g)[0])


# ---------------------------------------------------------------------------------------------- 00
def package_versions(names: Sequence[str] = ("torch", "numpy", "einops", "cv2", "skimage", "matplotlib", "papermill",
                                             "ipywidgets", "nbformat", "triton", "mamba_ssm")) -> list[dict[str, str]]:
    """Rows (package, version) for python, vfi_lib, ``names`` ("not installed" when missing) and the platform."""
    import vfi_lib

    def version(name: str) -> str:
        try:
            return str(getattr(importlib.import_module(name), "__version__", "?"))
        except ImportError:
            return "not installed"

    rows = [{"package": "python", "version": sys.version.split()[0]}, {"package": "vfi_lib", "version": vfi_lib.__version__}]
    rows += [{"package": n, "version": version(n)} for n in names]
    return rows + [{"package": "platform", "version": platform.platform()}]


def model_size_rows(names: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Per registered model: phase, backbone mode, mHC, parameters (full size, in M, and the tiny
    smoke size, in k; built on the meta device), stage dims and the backbone pad multiple."""
    from vfi_lib.model import build_model, count_parameters, list_models, model_config

    def n_params(cfg) -> int:
        with torch.device("meta"):
            return count_parameters(build_model(cfg))

    rows = []
    for name in names or list_models():
        cfg = model_config(name)
        rows.append({"model": name, "phase": cfg.model.phase, "backbone_mode": cfg.model.backbone_mode,
                     "mHC": cfg.model.use_mhc, "params [M]": n_params(cfg) / 1e6,
                     "tiny params [k]": n_params(model_config(name, tiny=True)) / 1e3,
                     "stage dims": str(cfg.model.stage_dims), "backbone pad multiple": cfg.model.pad_multiple})
    return rows


# ---------------------------------------------------------------------------------------------- 01
def random_ssd_inputs(b: int, l: int, h: int, p: int, g: int, n: int, dtype: torch.dtype = torch.float64,
                      generator: torch.Generator | None = None):
    """(x, dt, A, B, C, D) of the SSD layout (x (b, l, h, p), dt (b, l, h), A (h,), B/C (b, l, g, n), D (h,))
    with decays as in a trained Mamba2: dt log-uniform in [1e-3, 1e-1], A uniform in [-16, -1]."""
    kw = {"dtype": dtype, "generator": generator}
    x = torch.randn(b, l, h, p, **kw)
    dt = torch.exp(torch.empty(b, l, h, dtype=dtype).uniform_(np.log(1e-3), np.log(1e-1), generator=generator))
    A = -torch.empty(h, dtype=dtype).uniform_(1, 16, generator=generator)
    B, C = torch.randn(b, l, g, n, **kw), torch.randn(b, l, g, n, **kw)
    return x, dt, A, B, C, torch.randn(h, **kw)


def ssd_parity_table(lengths: Iterable[int], chunks: Iterable[int], groups: Iterable[int], heads: int, headdim: int,
                     d_state: int, dtypes: Sequence[torch.dtype] = (torch.float64, torch.float32)) -> list[dict]:
    """``ssd_chunked`` vs ``ssd_naive`` on random inputs for every (dtype, length, chunk, groups): the
    output error relative to max |y| and the largest final-state difference."""
    from vfi_lib.ssm import ssd_chunked, ssd_naive

    rows = []
    for dtype in dtypes:
        for l in lengths:
            for T in chunks:
                for g in groups:
                    x, dt, A, B, C, D = random_ssd_inputs(1, l, heads, headdim, g, d_state, dtype)
                    y0, s0 = ssd_naive(x, dt, A, B, C, D, return_final_state=True)
                    y1, s1 = ssd_chunked(x, dt, A, B, C, chunk_size=T, D=D, return_final_state=True)
                    rows.append({"dtype": str(dtype).replace("torch.", ""), "length": l, "chunk": T, "groups": g,
                                 "max |dy| / max|y|": float((y1 - y0).abs().max() / y0.abs().max().clamp_min(1e-12)),
                                 "max |d state|": float((s1 - s0.to(s1.dtype)).abs().max())})
    return rows


def ssd_parity_summary(rows: Sequence[Mapping[str, Any]]) -> list[dict]:
    """Per (dtype, length) of :func:`ssd_parity_table`: the worst relative output error and state error."""
    keys = list(dict.fromkeys((r["dtype"], r["length"]) for r in rows))
    return [{"dtype": d, "length": l,
             "worst rel. error": max(r["max |dy| / max|y|"] for r in rows if (r["dtype"], r["length"]) == (d, l)),
             "worst state error": max(r["max |d state|"] for r in rows if (r["dtype"], r["length"]) == (d, l))}
            for d, l in keys]


def ssd_impulse_matrices(l: int, chunk: int, a: float = -2.0, seed: int = 0) -> dict[str, torch.Tensor]:
    """The SSD matrix M (t, s) read off by unit impulses x = e_s (float64, one head, N = 1, B = C = 1):
    ``M_naive``, ``M_chunked`` (same inputs), the decay mask ``L`` = M / dt_s, and ``M_bc``, M with random
    B, C (N = 4): L o C B^T o dt. dt is log-uniform in [0.05, 0.3], A = ``a``."""
    from vfi_lib.ssm import ssd_chunked, ssd_naive

    gen = torch.Generator().manual_seed(seed)
    f64 = torch.float64
    eye = torch.eye(l, dtype=f64)[:, :, None, None]  # (l, l, 1, 1): batch s holds e_s
    dt = torch.exp(torch.empty(1, l, 1, dtype=f64).uniform_(np.log(0.05), np.log(0.3), generator=gen)).expand(l, l, 1)
    A = torch.tensor([a], dtype=f64)
    ones = torch.ones(l, l, 1, 1, dtype=f64)
    m_naive = ssd_naive(eye, dt, A, ones, ones)[..., 0, 0].T  # (t, s)
    m_chunk = ssd_chunked(eye, dt, A, ones, ones, chunk_size=chunk)[..., 0, 0].T
    Bn, Cn = (torch.randn(1, l, 1, 4, dtype=f64, generator=gen).expand(l, l, 1, 4) for _ in range(2))
    m_bc = ssd_chunked(eye, dt, A, Bn, Cn, chunk_size=chunk)[..., 0, 0].T
    return {"M_naive": m_naive, "M_chunked": m_chunk, "L": m_naive / dt[0, :, 0][None, :], "M_bc": m_bc}


def ssd_speed_table(lengths: Iterable[int], reps: int = 3, b: int = 1, h: int = 4, p: int = 16, n: int = 16,
                    chunk: int = 64) -> list[dict]:
    """Best-of-``reps`` wall time (ms, after one warm-up) of ``ssd_naive`` and ``ssd_chunked`` per length
    (float32, CPU), and the speed-up. The minimum is least disturbed by other processes."""
    from vfi_lib.speed.timer import time_fn
    from vfi_lib.ssm import ssd_chunked, ssd_naive

    rows = []
    with torch.inference_mode():
        for l in lengths:
            x, dt, A, B, C, D = random_ssd_inputs(b, l, h, p, 1, n, torch.float32)
            naive = time_fn(lambda: ssd_naive(x, dt, A, B, C, D), "cpu", warmup=1, runs=reps).min_ms
            chunked = time_fn(lambda: ssd_chunked(x, dt, A, B, C, chunk_size=chunk, D=D), "cpu", warmup=1, runs=reps).min_ms
            rows.append({"length": l, "naive [ms]": naive, "chunked [ms]": chunked, "speed-up": naive / chunked})
    return rows


# ---------------------------------------------------------------------------------------------- 02
def scan_order(h: int, w: int, frames: int = 1) -> np.ndarray:
    """The visiting order of every SS2D direction, for :func:`vfi_lib.viz.plot_scan_paths`: (4, L, 3) int
    array of (t, y, x) per scan step, L = frames*h*w, read off :func:`vfi_lib.modules.scan.cross_scan`
    applied to a map whose token at (t, y, x) holds its own coordinates (so it is the model's own path)."""
    from vfi_lib.modules.scan import cross_scan

    if h < 1 or w < 1 or frames < 1:
        raise ValueError(f"scan_order: h, w, frames must be >= 1, got {h}, {w}, {frames}")
    t, y, x = torch.meshgrid(torch.arange(frames), torch.arange(h), torch.arange(w), indexing="ij")
    coords = torch.stack([t, y, x], dim=-1)[None].double()  # (1, T, H, W, 3)
    return cross_scan(coords)[0].round().long().numpy()  # (4, L, 3)


def ss2d_cross_frame_probe(model_cfg, size: int = 8, seed: int = 0) -> list[dict]:
    """SS2D with and without the interleaved cross-frame scan (same init): output shape and how much
    frame 0's output changes when only frame 1's input does (must be > 0 only with the interleave)."""
    from vfi_lib.modules.scan import SS2D

    dim = model_cfg.stage_dims[0]
    x = torch.randn(1, 2, size, size, dim, generator=torch.Generator().manual_seed(seed))
    x2 = x.clone()
    x2[:, 1] += 1.0  # change frame 1 only
    rows = []
    for cross in (True, False):
        torch.manual_seed(seed)
        ss2d = SS2D(dim, model_cfg, cross_frame=cross).eval()
        with torch.no_grad():
            y, y2 = ss2d(x), ss2d(x2)
        rows.append({"cross_frame": cross, "output shape": tuple(y.shape),
                     "max |change of frame 0 output|": float((y2[:, 0] - y[:, 0]).abs().max())})
    return rows


# ---------------------------------------------------------------------------------------------- 03
def shift_mask_maps(h: int, w: int, window: int, shift: int) -> dict[str, Any]:
    """The Swin shifted-window maps of the real module for an (h, w) token map, as the keyword arguments of
    :func:`vfi_lib.viz.plot_shift_masks`: ``region`` (Hp, Wp) ids and ``valid`` (Hp, Wp) bool of the rolled
    canvas (``region_and_valid_maps``), ``mask`` (nW, N, N) additive masks of one frame or None
    (``window_mask``), ``window`` and ``shift``."""
    from vfi_lib.modules.gated_window_attention import region_and_valid_maps, window_mask

    region, valid = region_and_valid_maps(h, w, window, shift)
    mask = window_mask(h, w, window, shift, num_frames=1)
    return {"region": region, "valid": valid, "mask": mask, "window": window, "shift": shift}


def ungated_copy(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` in which every :class:`GatedWindowAttention` is rebuilt with ``gate=False``
    (the module's ungated ablation) and given the original's other weights, so both start alike."""
    from vfi_lib.modules.gated_window_attention import GatedWindowAttention

    net = copy.deepcopy(model)
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, GatedWindowAttention) and child.gate is not None:
                new = GatedWindowAttention(child.dim, child.num_heads, child.window_size, shift=child.shift,
                                           num_frames=child.num_frames, gate=False, keep_attn=child.keep_attn,
                                           qkv_bias=child.qkv.bias is not None)
                state = {k: v for k, v in child.state_dict().items() if not k.startswith("gate.")}
                new.load_state_dict(state, strict=True)
                setattr(parent, name, new.to(child.qkv.weight.device))
    return net


def train_steps(net: nn.Module, loss_fn: Callable, dataset, steps: int, batch_size: int, lr: float, seed: int) -> list[float]:
    """``steps`` AdamW steps of ``net`` on shuffled batches of ``dataset`` (order fixed by ``seed``); the losses."""
    from vfi_lib.data import to_float

    torch.manual_seed(seed)
    loader = iter(torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True))
    opt = torch.optim.AdamW(net.parameters(), lr=lr)
    net.train()
    losses = []
    for _ in range(steps):
        x0, x1, y, tt = to_float(next(loader))
        loss, _ = loss_fn(net(x0, x1, tt), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses


@dataclass
class SinkExperiment:
    """Result of :func:`sink_experiment` (notebook 03)."""

    cfg: Any
    steps: int
    losses: dict[str, list[float]]  # "gated" / "ungated": training loss per step
    models: dict[str, nn.Module]  # "gated, init", "ungated, init", "gated, trained", "ungated, trained"
    stats: dict[str, dict[str, float]]  # setting -> block_sink_stats on the held-out pair
    seconds: dict[str, float]  # training wall time per variant
    held_out: tuple[torch.Tensor, torch.Tensor] = field(repr=False, default=None)

    @property
    def settings(self) -> dict[str, dict[str, float]]:
        """``stats`` keyed for the table/plot: "gated, init", ..., "gated, <steps> steps"."""
        return {k.replace("trained", f"{self.steps} steps"): v for k, v in self.stats.items()}


def sink_experiment(seed: int = 0, steps: int = 4, crop: int = 48, batch_size: int = 2, lr: float = 2e-3,
                    triplet: int = 2, eval_crop: int | None = None, cfg=None) -> SinkExperiment:
    """Attention sinks with and without the G1 output gate, after brief training (notebook 03).

    The tiny attention-only phase-1 model (``cfg``, default ``preset("phase1", tiny=True,
    backbone_mode="gated_attn_only", ssm_backend="torch")``) is built with ``seed``; its
    :func:`ungated_copy` shares every other weight. Each variant trains ``steps`` AdamW steps (lr
    ``lr``) with the library's loss on the same random ``crop`` crops of the embedded triplets.
    Statistics: :func:`block_sink_stats` (sink_stats per block, averaged over windows and heads, then
    over all attention blocks) on a held-out triplet, ``(triplet + 3) % 6`` (its top-left
    ``eval_crop`` square when given), at initialisation and after training.
    """
    from vfi_lib.config import preset
    from vfi_lib.data import SampleTriplets, to_float
    from vfi_lib.model import build_model
    from vfi_lib.train.losses import CompositeLoss

    cfg = cfg or preset("phase1", tiny=True, backbone_mode="gated_attn_only", ssm_backend="torch")
    torch.manual_seed(seed)
    gated = build_model(cfg)
    inits = {"gated": gated, "ungated": ungated_copy(gated)}
    loss_fn = CompositeLoss(cfg)
    ds = SampleTriplets(crop_size=crop, augment=True, seed=seed, repeats=1000)
    samples = SampleTriplets()
    h0, h1, _, _ = to_float(samples[(triplet + 3) % len(samples)])
    if eval_crop:
        h0, h1 = h0[..., :eval_crop, :eval_crop], h1[..., :eval_crop, :eval_crop]
    losses, models, seconds = {}, {}, {}
    for name, init in inits.items():
        net = copy.deepcopy(init)
        t0 = time.perf_counter()
        losses[name] = train_steps(net, loss_fn, ds, steps, batch_size, lr, seed)
        seconds[name] = time.perf_counter() - t0
        models[f"{name}, init"], models[f"{name}, trained"] = init, net
    order = ("gated, init", "ungated, init", "gated, trained", "ungated, trained")
    stats = {k: block_sink_stats(models[k], h0, h1) for k in order}
    return SinkExperiment(cfg, steps, losses, {k: models[k] for k in order}, stats, seconds, (h0, h1))


# ---------------------------------------------------------------------------------------------- 04
def _row_col_errors(P: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    P = P.double()
    return ((P.sum(-1) - 1).abs().amax(-1).numpy(), (P.sum(-2) - 1).abs().amax(-1).numpy())


def sinkhorn_convergence(n: int, sigmas: Sequence[float], max_iters: int, samples: int, seed: int = 0,
                         at: int = 20) -> tuple[dict[float, np.ndarray], list[dict]]:
    """How far ``sinkhorn_log(logits, iters=k)`` is from doubly stochastic, k = 1..``max_iters``, for
    ``samples`` random Gaussian logits (n, n) of each scale sigma. Returns ({sigma: (max_iters, samples)
    array of max(|row sum - 1|, |col sum - 1|)}, rows with the median / 90th percentile / max at ``at``
    iterations and the row and column errors there)."""
    from vfi_lib.modules.mhc import sinkhorn_log

    gen = torch.Generator().manual_seed(seed)
    errors, rows = {}, []
    for sigma in sigmas:
        logits = sigma * torch.randn(samples, n, n, dtype=torch.float64, generator=gen)
        per = [_row_col_errors(sinkhorn_log(logits, iters=k)) for k in range(1, max_iters + 1)]
        errors[sigma] = np.array([np.maximum(r, c) for r, c in per])  # (iters, samples)
        r_at, c_at = per[min(at, max_iters) - 1]
        e_at = errors[sigma][min(at, max_iters) - 1]
        rows.append({"sigma": sigma, f"median error @ {at} it": float(np.median(e_at)),
                     f"90th pct error @ {at} it": float(np.percentile(e_at, 90)),
                     f"max row error @ {at} it": float(r_at.max()), f"max col error @ {at} it": float(c_at.max())})
    return errors, rows


def sinkhorn_n2_check(samples: int, iters: Sequence[int] = (20, 200), scale: float = 3.0, seed: int = 0) -> dict:
    """n = 2: ``sinkhorn_log`` vs the closed form p = sigmoid((a + d - b - c) / 2) on random logits.
    Returns ``delta`` (a + d - b - c per sample) and ``err<k>`` (max |P - closed form|) per iteration count."""
    from vfi_lib.modules.mhc import sinkhorn_log

    logits = scale * torch.randn(samples, 2, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    a, b, c, d = logits[:, 0, 0], logits[:, 0, 1], logits[:, 1, 0], logits[:, 1, 1]
    delta = a + d - b - c
    p = torch.sigmoid(delta / 2)
    closed = torch.stack([torch.stack([p, 1 - p], -1), torch.stack([1 - p, p], -1)], -2)  # (S, 2, 2)
    out = {"delta": delta.numpy()}
    for k in iters:
        out[f"err{k}"] = (sinkhorn_log(logits, iters=k).double() - closed).abs().amax((-2, -1)).numpy()
    return out


def hres_examples(n: int, steps: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Residual mixing matrices H_res: an ``MHCConnection`` at init (static bias 4I), Sinkhorn projections
    of random logits of scale 1 and 4, and logits trained ``steps`` Adam steps through ``sinkhorn_log``
    towards a cyclic permutation."""
    from vfi_lib.modules.mhc import MHCConnection, sinkhorn_log

    gen = torch.Generator().manual_seed(seed)
    conn = MHCConnection(dim=16, n=n)
    with torch.no_grad():
        _, _, h_init = conn.matrices(torch.randn(1, n, 8, 8, 16, generator=gen))
    perm = torch.eye(n).roll(1, dims=1)
    logits = torch.zeros(n, n, requires_grad=True)
    opt = torch.optim.Adam([logits], lr=0.3)
    for _ in range(steps):
        loss = (sinkhorn_log(logits) - perm).pow(2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return {"init (bias 4I)": h_init[0], "random, $\\sigma$=1": sinkhorn_log(torch.randn(n, n, generator=gen)),
            "random, $\\sigma$=4": sinkhorn_log(4 * torch.randn(n, n, generator=gen)),
            f"trained to a perm. ({steps} st.)": sinkhorn_log(logits.detach())}


def doubly_stochastic_checks(mats: Mapping[str, torch.Tensor]) -> list[dict]:
    """Smallest entry and the largest row / column sum deviation from 1 of each matrix."""
    return [{"matrix": k.replace("$\\sigma$", "sigma"), "min entry": float(H.min()),
             "max |row sum - 1|": float((H.sum(1) - 1).abs().max()), "max |col sum - 1|": float((H.sum(0) - 1).abs().max())}
            for k, H in mats.items()]


def composite_gain(n: int, depth: int, trials: int, seed: int = 0, noise: float = 0.1) -> dict[str, np.ndarray]:
    """Spectral norm of the product of k = 1..``depth`` mixing matrices, (trials, depth) per kind:
    ``mhc``: Sinkhorn projections of 4I + N(0, 1) logits; ``hc``: unconstrained I + ``noise`` N(0, 1)."""
    from vfi_lib.modules.mhc import sinkhorn_log

    gen = torch.Generator().manual_seed(seed)
    eye = torch.eye(n, dtype=torch.float64)
    out = {"mhc": np.zeros((trials, depth)), "hc": np.zeros((trials, depth))}
    for tr in range(trials):
        pd, ph = eye.clone(), eye.clone()
        for k in range(depth):
            eps = torch.randn(n, n, dtype=torch.float64, generator=gen)
            pd = sinkhorn_log(4 * eye + eps).double() @ pd
            ph = (eye + noise * eps) @ ph
            out["mhc"][tr, k] = float(torch.linalg.matrix_norm(pd, ord=2))
            out["hc"][tr, k] = float(torch.linalg.matrix_norm(ph, ord=2))
    return out


def mhc_stage_matrices(model_cfg, size: int = 8, seed: int = 0) -> tuple[tuple[int, ...], list[dict]]:
    """One forward of an ``LGSStage`` built with mHC from ``model_cfg`` on random (1, C, size, size) maps:
    (output shape, rows of H_pre, H_post and diag(H_res) of every connection, 3 decimals)."""
    from vfi_lib.modules.lgs_block import LGSStage

    torch.manual_seed(seed)
    stage = LGSStage(model_cfg.stage_dims[0], model_cfg.depths[0], model_cfg.num_heads[0], model_cfg).eval()
    f0, f1 = torch.randn(2, 1, model_cfg.stage_dims[0], size, size)
    with torch.no_grad():
        g0, _ = stage(f0, f1)
    fmt = lambda v: " ".join(f"{x:.3f}" for x in v.tolist())  # noqa: E731
    rows = []
    for i, blk in enumerate(stage.blocks):
        for name in ("mhc_mixer", "mhc_ecab"):
            hp, hpost, hr = getattr(blk, name).last_matrices
            rows.append({"connection": f"block {i} {name}", "H_pre": fmt(hp[0]), "H_post": fmt(hpost[0]),
                         "diag(H_res)": fmt(torch.diagonal(hr[0]))})
    return tuple(g0.shape), rows


# ---------------------------------------------------------------------------------------------- 05
def lgs_block_parts(model: nn.Module, img0: torch.Tensor, img1: torch.Tensor, block: int = 0) -> dict[str, torch.Tensor]:
    """Block ``block`` of the first LGS stage on the model's own encoder features of a frame pair (1, 3, H, W)
    each: ``input`` (1, 2, h, w, C) channels-last, the branch outputs before fusion (``Mamba2 branch``,
    ``attention branch``, whichever the block has) on the normed input, and the block ``output``."""
    if model.cfg.model.use_mhc:
        raise ValueError("lgs_block_parts: the blocks of an mHC model act on the n-copy stream; use use_mhc=False")
    bb = model.backbone
    blk = bb.stages[0].blocks[block]
    with torch.no_grad():
        feat = bb.proj(bb.encoder(torch.cat([img0, img1], 0))[-1])  # (2, C, H/4, W/4)
        x = feat.permute(0, 2, 3, 1)[None]  # (1, 2, h, w, C): both frames, channels last
        for prev in bb.stages[0].blocks[:block]:
            x = prev(x)
        xn = blk.norm1(x)
        parts = {"input": x}
        if blk.ss2d is not None:
            parts["Mamba2 branch"] = blk.ss2d(xn)
        if blk.attn is not None:
            parts["attention branch"] = blk.attn(xn, gate_input=xn)
        parts["output"] = blk(x)
    return parts


def eca_channel_weights(block: nn.Module, out: torch.Tensor) -> torch.Tensor:
    """The ECA channel weights sigmoid(conv1d(pool(body(LN(out))))) that the block's ECAB applies to its
    branch, for a block output ``out`` (B, T, h, w, C): (B*T, C)."""
    b, t, h, w, c = out.shape
    with torch.no_grad():
        y = block.norm2(out).reshape(b * t, h, w, c).permute(0, 3, 1, 2)
        pooled = torch.nn.functional.adaptive_avg_pool2d(block.ecab.body(y), 1).flatten(1)  # (B*T, C)
        return torch.sigmoid(block.ecab.eca.conv(pooled[:, None]).squeeze(1))


def eca_kernel_rows(widths: Iterable[int]) -> list[dict]:
    """ECA kernel size k(C) and its parameter count vs squeeze-excitation (reduction 16) per width."""
    from vfi_lib.modules.ecab import eca_kernel_size

    return [{"channels C": c, "ECA kernel k": eca_kernel_size(c), "SE params (r=16)": 2 * c * max(1, c // 16),
             "ECA params": eca_kernel_size(c)} for c in sorted(set(widths))]


def ablation_cost_rows(variants: Sequence[tuple[str, Any]], size: int) -> tuple[list[dict], list[dict]]:
    """Parameters and MACs of each (name, cfg) at ``size`` x ``size`` (:func:`vfi_lib.speed.flops.model_cost`,
    meta device): (rows of params [M], GMACs, GFLOPs; rows of GMACs per component)."""
    from vfi_lib.speed.flops import component_macs, model_cost

    rows, parts = [], []
    for name, cfg in variants:
        c = model_cost(cfg, size)
        rows.append({"model": name, "backbone_mode": cfg.model.backbone_mode, "mHC": cfg.model.use_mhc,
                     "params [M]": c.params / 1e6, f"GMACs @{size}": c.macs / 1e9, f"GFLOPs @{size}": c.flops / 1e9})
        parts.append({"model": name, **{k: v / 1e9 for k, v in component_macs(c.count).items()}})
    used = [k for k in parts[0] if k != "model" and any(p[k] > 0 for p in parts)]
    return rows, [{"model": p["model"], **{k: p[k] for k in used}} for p in parts]


# ---------------------------------------------------------------------------------------------- 06
def warp_with_flows(img0, img1, gt, flow_t0, flow_t1, valid0: np.ndarray, valid1: np.ndarray) -> tuple[dict, list[dict]]:
    """Backward-warp both inputs with the given flows: ({"warped0", "warped1", "err0", "err1"} (error maps
    in grey levels), rows of the mean error on valid and on invalid (occluded) pixels per source)."""
    from vfi_lib.model import warp
    from vfi_lib.viz.frames import error_map

    w0, w1 = warp(img0, flow_t0), warp(img1, flow_t1)
    e0, e1 = error_map(w0, gt), error_map(w1, gt)
    rows = [{"warped input": name, "mean error, valid px": float(e[v].mean()),
             "mean error, occluded/invalid px": float(e[~v].mean()) if (~v).any() else float("nan"),
             "share invalid": float((~v).mean())}
            for name, e, v in (("warp(I0, F_t0)", e0, valid0), ("warp(I1, F_t1)", e1, valid1))]
    return {"warped0": w0, "warped1": w1, "err0": e0, "err1": e1}, rows


def oracle_blend(w0: torch.Tensor, w1: torch.Tensor, valid0: np.ndarray, valid1: np.ndarray) -> torch.Tensor:
    """Blend of two warped frames with weights from the true occlusion masks: 1 on the source that alone
    sees the pixel, 0.5 / 0.5 where both (or neither) do."""
    m0 = np.where(valid0 & ~valid1, 1.0, np.where(valid1 & ~valid0, 0.0, 0.5))
    m0 = torch.from_numpy(m0).to(w0.dtype)[None, None]
    return m0 * w0 + (1 - m0) * w1


# ---------------------------------------------------------------------------------------------- 07
def motion_magnitudes(pairs: Iterable[tuple[Any, Any]]) -> np.ndarray:
    """Per-pixel |DIS flow| (pixels) from frame a to frame b of every pair, concatenated (1-D)."""
    from vfi_lib.model.baselines import dis_flow
    from vfi_lib.viz.frames import to_image

    return np.concatenate([np.linalg.norm(dis_flow(to_image(a), to_image(b)), axis=-1).ravel() for a, b in pairs])


def motion_stats_rows(mags: Mapping[str, np.ndarray]) -> list[dict]:
    """Pixels, median, 90th / 99th percentile and max of each set's motion magnitudes."""
    return [{"set": name, "pixels": m.size, "median [px]": float(np.median(m)), "90th pct [px]": float(np.percentile(m, 90)),
             "99th pct [px]": float(np.percentile(m, 99)), "max [px]": float(m.max())} for name, m in mags.items()]


# ---------------------------------------------------------------------------------------------- 10/11/12
def prepare_training_run(cfg, nproc: int = 1) -> Path:
    """Save ``cfg`` as ``log/<exp_name>/config.json``, print what will run and the equivalent shell
    command (arguments quoted for a POSIX shell); returns the run's log folder."""
    from vfi_lib.train import config_to_argv

    run_dir = Path(cfg.train.log_dir) / cfg.train.exp_name
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg.to_json(run_dir / "config.json")
    print(f"run {cfg.train.exp_name}: phase {cfg.model.phase}, {cfg.model.backbone_mode}, mHC {cfg.model.use_mhc}, "
          f"dataset {cfg.train.dataset}, batch {cfg.train.batch_size} x {nproc} process(es)")
    print("config saved to", run_dir / "config.json")
    print("same run from a shell:\n  torchrun --nproc_per_node", nproc, "-m vfi_lib.train", shlex.join(config_to_argv(cfg)))
    return run_dir


def training_curves_figure(run, phase: int, smoke: bool):
    """Training loss and validation PSNR of a run log side by side; full runs get the plan's Vimeo90K
    target of ``phase`` (:data:`vfi_lib.eval.sota.PHASE_TARGETS`) dashed. Returns the Figure."""
    import matplotlib.pyplot as plt

    from vfi_lib.eval.sota import PHASE_TARGETS
    from vfi_lib.viz import figsize, plot_curves

    fig, axes = plt.subplots(1, 2, figsize=figsize(1.0, 0.33))
    plot_curves([run], "loss", ax=axes[0])
    plot_curves([run], "val_psnr", ax=axes[1])
    target = PHASE_TARGETS[f"phase{phase}"]["vimeo90k"]
    if not smoke and target is not None:
        axes[1].axhline(target, ls="--", color="0.4", lw=0.8, label=f"target {target} dB")
        axes[1].legend()
    axes[0].set_title("training loss (Lap. L1 + census" + (" + flow smooth.)" if phase > 1 else ")"))
    axes[1].set_title("validation PSNR (dB)" + (" -- tiny smoke run" if smoke else ""))
    return fig


def sample_prediction_figure(model: nn.Module, index: int = 0):
    """:func:`vfi_lib.viz.plot_prediction` of ``model`` at t = 0.5 on embedded triplet ``index``, with the
    prediction's :func:`psnr_u8` in the error panel's title."""
    from vfi_lib.data import sample_triplets
    from vfi_lib.infer import interpolate
    from vfi_lib.viz import plot_prediction

    tri = sample_triplets()[index]
    pred = interpolate(model, tri["img0"], tri["img1"], t=0.5)
    return plot_prediction(tri["img0"], tri["img1"], pred, tri["gt"], psnr=psnr_u8(pred, tri["gt"]))


# ---------------------------------------------------------------------------------------------- 20
def benchmark_plan(smoke: bool, tmp_dir: str | Path | None = None, vimeo_path: str = "", ucf_path: str = "",
                   middlebury_path: str = "", snu_path: str = "", snu_levels: Sequence[str] = ("hard", "extreme"),
                   xtest_path: str = "") -> list[tuple[str, str, dict]]:
    """(benchmark, dataset path, options) to run: in smoke mode the embedded triplets laid out as a Vimeo90K
    test folder under ``tmp_dir``; otherwise every benchmark whose path is given."""
    if smoke:
        from vfi_lib.data import write_vimeo_layout

        return [("vimeo90k", str(write_vimeo_layout(Path(tmp_dir) / "sample_vimeo")), {})]
    plan = [("vimeo90k", vimeo_path, {}), ("ucf101", ucf_path, {}), ("middlebury", middlebury_path, {}),
            *[("snu_film", snu_path, {"level": lv}) for lv in snu_levels], ("xtest", xtest_path, {"resolution": "4k"})]
    return [(n, p, o) for n, p, o in plan if p]


def benchmark_models(smoke: bool, phase: int = 1, ckpt: str = "", baselines: Sequence[str] = ("average", "dis"),
                     peer_weights: Mapping[str, str] | None = None,
                     device: str | torch.device = "cpu") -> tuple[dict[str, nn.Module], list[str]]:
    """The models notebook 20 evaluates, by row name, and notes on what was left out.

    Ours: the checkpoint ``ckpt`` (full) or the tiny untrained phase model (smoke). Then the
    baselines, then the peers of :data:`vfi_lib.model.peers.PEERS`: in full mode those whose weights
    path is given in ``peer_weights`` ({peer name: path}; the others are skipped with a note carrying
    :func:`default_weights_hint`), in smoke mode every peer with random weights, named
    "<peer> (random weights)".
    """
    from vfi_lib.model.baselines import build_baseline
    from vfi_lib.model.peers import PEERS, build_peer, default_weights_hint
    from vfi_lib.paths import project_path

    if smoke:
        model, _ = model_or_untrained("", f"phase{phase}_hybrid", tiny=True, device=device)
        models = {f"tiny_phase{phase}_untrained": model}
    else:
        from vfi_lib.checkpoint import display_name

        models = {display_name(ckpt): model_or_untrained(ckpt, device=device)[0]}
    models.update({f"baseline_{b}": build_baseline(b) for b in baselines})
    notes = []
    for name in PEERS:
        path = (peer_weights or {}).get(name, "")
        if smoke:
            models[f"{name} (random weights)"] = build_peer(name, None, device=device)
        elif path:
            models[name] = build_peer(name, project_path(path), device=device)
        else:
            notes.append(f"{name}: skipped (no weights path given); {default_weights_hint(name)}")
    return models, notes


def run_benchmark_plan(plan: Sequence[tuple[str, str, dict]], models: Mapping[str, nn.Module], out_dir=None,
                       **opts: Any) -> list[dict]:
    """:func:`vfi_lib.eval.run_benchmark` for every (benchmark, model): the summaries (result files under
    ``out_dir``). Models without a timestep input (``supports_arbitrary_t`` False) run X-TEST's
    t = k/8 by recursive 2x."""
    from vfi_lib.eval import run_benchmark

    results = []
    for bench, path, bench_opts in plan:
        for name, m in models.items():
            kw = {**opts, **bench_opts}
            if bench == "xtest" and getattr(m, "supports_arbitrary_t", True) is False:
                kw["recursive"] = True
            results.append(run_benchmark(m, bench, path, model_name=name, out_dir=out_dir, progress=False, **kw))
    return results


def benchmark_rows(results: Sequence[Mapping[str, Any]]) -> list[dict]:
    """One table row per benchmark summary: model, benchmark key, n, PSNR/SSIM/IE and the protocol."""
    return [{"model": s["model"], "benchmark": s["key"], "n": s["n"], "PSNR": s.get("psnr"), "SSIM": s.get("ssim"),
             "IE": s.get("ie"), "rounding": s["rounding"], "TTA": s["tta"], "scale": s["scale"], "seconds": s["elapsed_s"]}
            for s in results]


def paired_reports(results: Sequence[Mapping[str, Any]], plan: Sequence[tuple[str, str, dict]], model_a: str,
                   model_b: str, bins: int = 3) -> list[tuple[str, dict]]:
    """Per benchmark of ``plan`` scored for both models: :func:`vfi_lib.eval.paired.paired_comparison` of
    ``model_a`` against ``model_b`` (PSNR per sample), split into ``bins`` equal-count bins of the motion
    between the inputs (DIS p95 |F_01|). Returns [(benchmark key, report)]; benchmarks without PSNR are skipped."""
    from vfi_lib.eval.benchmarks import open_dataset
    from vfi_lib.eval.paired import paired_comparison, sample_motion, summary_samples
    from vfi_lib.eval.protocols import get_protocol

    out = []
    for bench, path, opts in plan:
        got = {s["model"]: s for s in results if s["benchmark"] == bench and s.get("level") == opts.get("level")
               and s.get("psnr") is not None}
        if model_a not in got or model_b not in got:
            continue
        a, b = summary_samples(got[model_a]), summary_samples(got[model_b])
        ds = open_dataset(bench, path, opts.get("level"), get_protocol(bench, opts.get("resolution")),
                          gap=opts.get("gap") or 1)
        motion = sample_motion(ds, limit=got[model_a]["n"])
        out.append((got[model_a]["key"], paired_comparison(a, b, motion, bins=bins)))
    return out


def sota_rows(results: Sequence[Mapping[str, Any]], models: Iterable[str], smoke: bool) -> list[dict]:
    """Rows for :func:`vfi_lib.eval.sota.markdown_table`: per model its PSNR per benchmark key, venue
    "this thesis" / "baseline" / "peer (our harness)"; smoke rows are marked as sample results."""
    from vfi_lib.model.peers import PEERS

    rows = []
    for name in models:
        venue = ("baseline" if name.startswith("baseline_") else
                 "peer (our harness)" if name.split(" ")[0] in PEERS else "this thesis")
        row = {"model": name + (" (sample, smoke)" if smoke else ""), "venue": venue}
        row.update({s["key"]: s.get("psnr") for s in results if s["model"] == name and s.get("psnr") is not None})
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------- 31
def scrubber_predictor(predictor: str = "model", ckpt: str = "") -> Callable | None:
    """The frame scrubber's ``predict_fn``: None for ``"blend"`` (the widget's default), else
    uint8 (H, W, 3) inputs -> the model's uint8 prediction at t (the inputs themselves at t = 0 and 1),
    with the checkpoint ``ckpt`` or the tiny untrained phase-2 model. (Its ``psnr_fn`` is :func:`psnr_u8`.)"""
    if predictor == "blend":
        return None
    if predictor != "model":
        raise ValueError(f"scrubber_predictor: predictor must be 'model' or 'blend', got {predictor!r}")
    from vfi_lib.infer import interpolate

    model, trained = model_or_untrained(ckpt, "phase2_hybrid", tiny=True)
    if not trained:
        print("note: untrained tiny Phase-2 model (random matching features): rough predictions; pass a checkpoint")

    def predict_fn(img0: np.ndarray, img1: np.ndarray, t: float) -> np.ndarray:
        if t <= 0.0 or t >= 1.0:
            return img0 if t <= 0.0 else img1
        return interpolate(model, img0, img1, t=t)

    return predict_fn


# ---------------------------------------------------------------------------------------------- 40
def ablation_run_names(ablations: Sequence[str], exp_prefix: str) -> list[str]:
    """The run names ``<exp_prefix><ablation>`` of notebook 40; an ablation that is not a key of
    :data:`vfi_lib.config.ABLATIONS` raises ``ValueError`` listing the known ones."""
    from vfi_lib.config import ABLATIONS

    unknown = [a for a in ablations if a not in ABLATIONS]
    if unknown:
        raise ValueError(f"unknown ablations {unknown}; vfi_lib.config.ABLATIONS has {list(ABLATIONS)}")
    return [exp_prefix + a for a in ablations]


def smoke_ablation_runs(ablations: Sequence[str], exp_prefix: str, steps: int, seed: int, root: str | Path) -> Path:
    """Train each tiny ablation variant ``steps`` steps on the embedded sample into ``root`` (the code path
    of notebook 10), one line per run; returns the log folder to collect from."""
    from vfi_lib.config import ABLATIONS
    from vfi_lib.notebooks.launcher import run_training, training_config

    for a, name in zip(ablations, ablation_run_names(ablations, exp_prefix)):
        cfg = training_config(1, smoke=True, exp_name=name, max_steps=steps, seed=seed, runs_root=root,
                              **ABLATIONS[a])
        s = run_training(cfg)
        print(f"{name:<28} {s['step']} steps, val PSNR {s['best_psnr']:.2f} dB, {s['wall_s']:.1f} s")
    return Path(root) / "log"


def ablation_rows(ablations: Sequence[str], runs: Sequence[Any]) -> list[dict]:
    """One row per (ablation, run of :func:`vfi_lib.train.runlog.load_runs`): ``ablation`` and the run's
    :func:`~vfi_lib.train.runlog.summarize` (parameters from its saved config, steps, final loss, best
    validation PSNR/SSIM): the rows of :func:`vfi_lib.viz.plot_ablation_summary`."""
    from vfi_lib.train.runlog import summarize

    if len(ablations) != len(runs):
        raise ValueError(f"ablation_rows: {len(ablations)} ablations for {len(runs)} runs")
    return [{"ablation": a, **summarize(run)} for a, run in zip(ablations, runs)]
