"""The training loop: ``train(cfg) -> summary`` for one process or one rank of ``torchrun``.

One optimizer step = ``grad_accum`` micro-batches of ``batch_size`` per process; the loss of each
micro-batch is divided by ``grad_accum`` (all losses are batch means, so the accumulated gradient is
the gradient of the joined batch), DDP all-reduces only on the last micro-batch (``no_sync``).
AdamW (fused; no weight decay on 1-D parameters: biases, norms, Mamba's ``A_log``/``D``/``dt_bias``),
linear warmup + cosine LR (:mod:`.schedule`), gradient clipping, AMP (bf16 where supported, fp16
with GradScaler otherwise, off on CPU), optional EMA of the weights. A step whose gradient norm is not
finite is skipped on the device (no host sync per step) and reported at the next log line
(``skipped_steps`` in ``metrics.jsonl``).

Exact resume. The data order of an epoch is a pure function of (seed, epoch) (DistributedSampler,
also for one process) and every sample's augmentation of (seed, epoch, index) (:class:`SeededItems`);
checkpoints store the position inside the epoch and every RNG state, so killing a run and
re-running the same command continues exactly where it stopped: on CPU with fixed seeds the final
weights equal those of an uninterrupted run bit for bit.

Outputs: ``<ckpt_dir>/<exp>/{latest,previous,best,epoch_NNN}.pt``; ``<log_dir>/<exp>/``: TensorBoard
events, ``config.json``, ``metrics.jsonl`` (one JSON object per log interval / validation; kinds
``train`` and ``val``) and ``summary.json``. ``--dry_run`` writes under ``<exp>_dryrun`` instead.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from vfi_lib.checkpoint import IncompatibleCheckpointError, load_checkpoint, save_checkpoint
from vfi_lib.config import Config, ConfigError
from vfi_lib.model.precision import autocast
from vfi_lib.paths import ckpt_root, log_root
from vfi_lib.train import distributed as D
from vfi_lib.train.checkpoint import capture_rng, epoch_checkpoints, find_resume_checkpoint, restore_rng
from vfi_lib.train.ema import ModelEMA
from vfi_lib.train.losses import CompositeLoss
from vfi_lib.train.runlog import RunLogWriter
from vfi_lib.train.schedule import WarmupCosine, warmup_cosine_lr

DRY_RUN_STEPS = 2  # optimizer steps of a --dry_run
DRY_RUN_VAL = 2  # validation samples of a --dry_run
PAUSE_ENV = "VFI_FAULT_PAUSE_AT_STEP"  # fault injection (tests): rank 0 stops here and waits to be killed


# ----------------------------------------------------------------------------- data plumbing
class SeededItems(Dataset):
    """Wraps a dataset so that item ``i`` of epoch ``e`` is drawn under RNG seeds that are a pure
    function of (seed, e, i), whatever the worker, rank or resume point; the caller's RNG states
    are left untouched.

    An index may also be an ``(epoch, i)`` pair (:class:`EpochSampler`): the item of that epoch, with
    the dataset's ``set_epoch(epoch)`` and ``set_crop(crop_at(epoch))`` applied first in the process
    that draws it, so that one loader with persistent workers serves every epoch.
    """

    def __init__(self, dataset: Dataset, seed: int, epoch: int, crop_at: Callable[[int], Any] | None = None) -> None:
        self.dataset, self.seed, self.epoch, self.crop_at = dataset, seed, epoch, crop_at

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int | tuple[int, int]) -> Any:
        epoch = self.epoch
        if isinstance(index, tuple):
            epoch, index = index
            if epoch != getattr(self.dataset, "epoch", None):
                self.dataset.set_epoch(epoch)  # type: ignore[attr-defined]
            if self.crop_at is not None:
                self.dataset.set_crop(self.crop_at(epoch))  # type: ignore[attr-defined]
        s = int(np.random.SeedSequence([self.seed, epoch, int(index)]).generate_state(1)[0])
        py, npy, th = random.getstate(), np.random.get_state(), torch.get_rng_state()
        try:
            random.seed(s)
            np.random.seed(s)
            torch.default_generator.manual_seed(s)  # CPU generator only; CUDA RNG untouched
            return self.dataset[index]
        finally:
            random.setstate(py)
            np.random.set_state(npy)
            torch.set_rng_state(th)


class EpochSampler(Sampler[tuple[int, int]]):
    """Yields ``(epoch, index)`` for the indices of the sampler given to :meth:`start` (in the main
    process), so that one DataLoader with persistent workers can serve every epoch: the workers learn
    the epoch from each index (:class:`SeededItems`) instead of from a fresh copy of the dataset."""

    def __init__(self) -> None:
        self.epoch, self.base = 0, None

    def start(self, epoch: int, base: Sampler[int]) -> None:
        self.epoch, self.base = epoch, base

    def __iter__(self) -> Iterator[tuple[int, int]]:
        if self.base is None:
            raise RuntimeError("EpochSampler: start(epoch, sampler) before iterating")
        for idx in self.base:
            yield self.epoch, idx

    def __len__(self) -> int:
        return 0 if self.base is None else len(self.base)  # type: ignore[arg-type]


class SkipSampler(Sampler[int]):
    """Yields the indices of ``base`` after the first ``skip`` (mid-epoch resume)."""

    def __init__(self, base: Sampler[int], skip: int) -> None:
        self.base, self.skip = base, skip

    def __iter__(self) -> Iterator[int]:
        for i, idx in enumerate(self.base):
            if i >= self.skip:
                yield idx

    def __len__(self) -> int:
        return max(0, len(self.base) - self.skip)  # type: ignore[arg-type]


def resolve_workers(n: int) -> int:
    """DataLoader workers per process: ``n`` if >= 0, else (auto) min(4, CPU cores - 1), so a 2-core
    machine gets 1 worker instead of 4 processes fighting over 2 cores."""
    if n >= 0:
        return n
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(0, min(4, cores - 1))


AUTO_WARMUP_MAX = 2000  # the auto warm-up of long runs (RIFE/EMA-VFI use ~2000 steps)
TIME_BUDGET_WARMUP = 100  # the auto warm-up of a run bounded by max_minutes alone (its length is not known up front)
PACE_AFTER = 20  # optimizer steps of a (resumed) run before its pace is measured (the first ones compile)


def effective_warmup(warmup_steps: int, total_steps: int) -> int:
    """The warm-up actually used: ``warmup_steps`` when given (>= 0); auto (-1) is
    min(2000, 10 % of the run), so a short run (``--max_steps 200``, ``--tiny`` smoke runs) reaches its
    peak learning rate instead of ending inside the warm-up."""
    if warmup_steps >= 0:
        return warmup_steps
    return min(AUTO_WARMUP_MAX, max(1, total_steps // 10))


_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _ignore_stop_signals(_worker_id: int) -> None:
    """DataLoader workers ignore SIGINT and SIGTERM: Ctrl-C, ``timeout`` and batch schedulers signal the
    whole process group, and a worker killed by it made the main process fail while it was finishing its
    step and checkpointing. Workers still end with the main process (the DataLoader shuts them down, and
    they exit on their own when their parent dies)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)  # blocked by StopSafeDataLoader.__iter__


class StopSafeDataLoader(DataLoader):
    """A DataLoader whose workers survive a SIGINT/SIGTERM sent to the process group (training and
    validation loaders alike). The signals stay blocked while ``iter()`` forks the workers, so one that
    arrives in that window is not fatal to a worker that has not yet run ``_ignore_stop_signals``; the main
    process receives it as soon as the workers are started."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("num_workers"):
            kwargs.setdefault("worker_init_fn", _ignore_stop_signals)
        super().__init__(*args, **kwargs)

    def __iter__(self):  # type: ignore[override]
        if not self.num_workers or not hasattr(signal, "pthread_sigmask"):
            return super().__iter__()
        old = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            return super().__iter__()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)


def signal_name(signum: int | None) -> str:
    try:
        return signal.Signals(signum).name if signum is not None else ""
    except ValueError:
        return f"signal {signum}"


def resolve_amp(mode: str, device: torch.device) -> torch.dtype | None:
    """``auto``: bf16 on CUDA GPUs that support it, fp16 on older GPUs, off on CPU."""
    if mode == "off":
        return None
    if mode == "bf16":
        return torch.bfloat16
    if mode == "fp16":
        return torch.float16
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def param_groups(model: nn.Module, weight_decay: float, flow_lr_scale: float = 1.0) -> list[dict[str, Any]]:
    """AdamW groups: decay on >= 2-D weights only (Loshchilov & Hutter 2019 practice).

    ``flow_lr_scale`` != 1 (a model with a ``flow`` estimator): the flow's parameters get their own
    two groups tagged ``"flow": True`` with ``lr_scale`` = flow_lr_scale (the schedule multiplies
    its learning rate by a group's ``lr_scale``); 0 freezes them (``requires_grad_(False)``, no group).
    """
    flow = getattr(model, "flow", None) if flow_lr_scale != 1.0 else None
    if flow is not None and flow_lr_scale == 0.0:
        flow.requires_grad_(False)
    flow_ids = {id(p) for p in flow.parameters()} if flow is not None else set()
    split: dict[bool, tuple[list, list]] = {False: ([], []), True: ([], [])}
    for p in model.parameters():
        if p.requires_grad:
            split[id(p) in flow_ids][0 if p.ndim >= 2 else 1].append(p)
    groups = [{"params": split[False][0], "weight_decay": weight_decay}, {"params": split[False][1], "weight_decay": 0.0}]
    if flow_ids and flow_lr_scale > 0:
        groups += [{"params": split[True][0], "weight_decay": weight_decay, "lr_scale": flow_lr_scale, "flow": True},
                   {"params": split[True][1], "weight_decay": 0.0, "lr_scale": flow_lr_scale, "flow": True}]
    return groups


def param_checksum(model: nn.Module) -> float:
    """Sum over parameters of sum(p * (1 + position)): one number that differs when any weight does."""
    total = 0.0
    for p in model.parameters():
        v = p.detach().double().flatten().cpu()
        total += float((v * torch.arange(1, v.numel() + 1, dtype=torch.float64)).sum())
    return total


# ----------------------------------------------------------------------------- trainer
class Trainer:
    """Builds everything from ``cfg``; :meth:`fit` trains and returns the summary dict."""

    def __init__(self, cfg: Config) -> None:
        from vfi_lib import __version__
        from vfi_lib.data import build_train_dataset, build_val_dataset
        from vfi_lib.model import build_model

        tc = cfg.train
        if tc.dry_run:  # a few steps of train and eval in separate dirs; never touches the real run
            cfg = cfg.override(
                **{
                    "train.max_steps": min(tc.max_steps or DRY_RUN_STEPS, DRY_RUN_STEPS),
                    "train.val_limit": min(tc.val_limit or DRY_RUN_VAL, DRY_RUN_VAL),
                    "train.exp_name": tc.exp_name + "_dryrun",
                    "train.no_resume": True,
                    "train.resume": "",
                }
            )
            tc = cfg.train
        self.cfg, self.tc, self.version = cfg, tc, __version__
        if tc.device != "auto":
            from vfi_lib.cli import resolve_device

            resolve_device(tc.device)  # a clear one-line error for --device cuda without CUDA
        self.dist = D.init_distributed(None if tc.device == "auto" else tc.device)
        self.device = self.dist.device
        self.is_main = self.dist.is_main
        self.ckpt_dir = ckpt_root(tc.ckpt_dir) / tc.exp_name
        self.log_dir = log_root(tc.log_dir) / tc.exp_name
        self._t0 = time.time()
        self.out_of_time = False  # set by _time_up() when train.max_minutes has passed
        self.stop_signal: int | None = None  # SIGINT/SIGTERM received: checkpoint at the next step and stop

        # model (identical init on every rank), then a per-rank stream for stochastic layers
        self._seed_all(tc.seed)
        self.raw_model = build_model(cfg).to(self.device)
        self._seed_all(tc.seed + 1000 * self.dist.rank)
        self.ema = ModelEMA(self.raw_model, tc.ema_decay) if tc.ema else None
        self.loss_fn = CompositeLoss(cfg).to(self.device)
        # fused AdamW (CPU and CUDA): one kernel per parameter group, and it takes ``found_inf`` on the device,
        # so a step with a non-finite gradient is skipped without a host sync (see _optimizer_step)
        self.optimizer = torch.optim.AdamW(param_groups(self.raw_model, tc.weight_decay, tc.flow_lr_scale), lr=tc.lr,
                                           betas=(0.9, 0.999), fused=True)
        self._skipped = torch.zeros((), dtype=torch.int64, device=self.device)  # non-finite steps since the last log
        self.amp_dtype = resolve_amp(tc.amp, self.device)
        use_scaler = self.amp_dtype == torch.float16
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=True) if use_scaler else None

        # data
        self.build_train_dataset = build_train_dataset
        self.train_set = build_train_dataset(cfg, epoch=0)
        self.train_set_epoch = 0
        self._loader: DataLoader | None = None  # the persistent training loader (_train_loader), kept across epochs
        self._epoch_sampler: EpochSampler | None = None
        self.val_set = build_val_dataset(cfg)
        micro_per_rank = len(self._sampler(self.train_set, 0)) // tc.batch_size
        self.steps_per_epoch = micro_per_rank // tc.grad_accum
        if self.steps_per_epoch < 1:
            raise ConfigError(
                f"train set has {len(self.train_set)} samples: fewer than one optimizer step of "
                f"batch_size {tc.batch_size} x grad_accum {tc.grad_accum} x {self.dist.world_size} processes"
            )
        total = tc.epochs * self.steps_per_epoch
        self.total_steps = min(total, tc.max_steps) if tc.max_steps else total
        # max_minutes without max_steps: the cosine is fitted to the time budget as the run goes (_time_up)
        self.fit_to_time = bool(tc.max_minutes and not tc.max_steps)
        self._pace: tuple[int, float] | None = None  # (step, time) where the pace measurement starts
        self._fitted = False  # the schedule has been fitted to the time once (logged)
        self.warmup_steps = (TIME_BUDGET_WARMUP if self.fit_to_time and tc.warmup_steps < 0
                             else effective_warmup(tc.warmup_steps, self.total_steps))
        self.scheduler = WarmupCosine(self.optimizer, tc.lr, tc.min_lr, self.warmup_steps, self.total_steps)
        self.num_workers = resolve_workers(tc.num_workers)

        # bookkeeping
        self.epoch, self.step, self.step_in_epoch, self.best_psnr = 0, 0, 0, -math.inf
        self._validated_at_step = -1  # the step of the last validation (fit() does not repeat it on the way out)
        self.last_val: dict[str, float] = {}
        self.resumed_from = ""
        self._resume()
        self._start_step = self.step
        self._wrap_ddp()
        self.writer = None
        self.runlog: RunLogWriter | None = None
        if self.is_main:
            self.runlog = RunLogWriter(self.log_dir, self._t0)
            self.runlog.write_config(cfg)
            self.runlog.trim(self.step if self.resumed_from else 0)
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.log_dir), purge_step=self.step + 1 if self.resumed_from else None)
        from vfi_lib.model import count_parameters

        n_params = count_parameters(self.raw_model)
        self.log(
            f"[train] exp {tc.exp_name}: phase {cfg.model.phase}, {n_params / 1e6:.3f}M params, device "
            f"{self.device} x {self.dist.world_size}, amp {self.amp_dtype}, {self.steps_per_epoch} steps/epoch, "
            f"{self.total_steps} steps total (warm-up {self.warmup_steps}), {self.num_workers} data workers, "
            f"start at epoch {self.epoch} step {self.step}"
        )

    # ------------------------------------------------------------------ helpers
    def log(self, msg: str) -> None:
        if self.is_main:
            from tqdm.auto import tqdm

            tqdm.write(msg, file=sys.stderr)

    @staticmethod
    def _seed_all(seed: int) -> None:
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)

    def _sampler(self, dataset: Dataset, epoch: int) -> Sampler[int]:
        """DDP-aware sampler of the data package (MixedSampler for phase 3, else DistributedSampler),
        always with explicit rank/world so one process needs no process group."""
        from vfi_lib.data import make_sampler

        s = make_sampler(dataset, num_replicas=self.dist.world_size, rank=self.dist.rank, shuffle=True, seed=self.tc.seed)
        s.set_epoch(epoch)
        return s

    def _wrap_ddp(self) -> None:
        """self.model: the raw model, wrapped in DDP when distributed, then compiled with train.compile
        (checkpoints, EMA and validation always use the eager ``raw_model``)."""
        self.model: nn.Module = self.raw_model
        if self.dist.distributed:
            from torch.nn.parallel import DistributedDataParallel as DDP

            unused = self._unused_parameters()
            if unused:
                self.log(f"[train] {len(unused)} parameters get no gradient (e.g. {unused[0]}): find_unused_parameters=True")
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = DDP(self.raw_model, device_ids=ids, find_unused_parameters=bool(unused))
        if self.tc.compile != "off":
            from vfi_lib.model.compile import compile_model

            # "auto" -> our torch SSD: it traces into the graph, mamba_ssm's Triton kernels would break it;
            # an explicit backend is kept. One graph per crop size of the curriculum (static shapes).
            backend = "torch" if self.cfg.model.ssm_backend == "auto" else self.cfg.model.ssm_backend
            torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 16)
            self.model = compile_model(self.model, self.tc.compile, ssm_backend=backend)
            self.log(f"[train] model compiled with torch.compile ({self.tc.compile}), SSM backend {backend!r} "
                     "(the first step compiles)")

    def _unused_parameters(self) -> list[str]:
        """Names of parameters without a gradient after one forward/backward on a random input."""
        crop = self.tc.crop_at(self.epoch)
        m = self.cfg.model.pad_multiple
        size = max(m, (crop // m) * m)
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            g = torch.Generator().manual_seed(0)
            x0, x1 = (torch.rand(1, 3, size, size, generator=g).to(self.device) for _ in range(2))
            out = self.raw_model(x0, x1, torch.full((1,), 0.5, device=self.device), return_aux=self.loss_fn.needs_aux)
            pred, aux = out if isinstance(out, tuple) else (out, None)
            zero = ({k: torch.zeros(1, 2, size, size, device=self.device) for k in ("flow_t0", "flow_t1")}
                    if self.loss_fn.needs_flows else None)
            self.loss_fn(pred, x0, aux, zero)[0].backward()
        names = [n for n, p in self.raw_model.named_parameters() if p.requires_grad and p.grad is None]
        self.raw_model.zero_grad(set_to_none=True)
        return names

    def _autocast(self) -> contextlib.AbstractContextManager:
        return autocast(self.device, self.amp_dtype)

    # ------------------------------------------------------------------ checkpoints
    def _resume(self) -> None:
        tc = self.tc
        found: tuple[Path, dict[str, Any]] | None = None
        if tc.resume:
            found = (Path(tc.resume), load_checkpoint(tc.resume, cfg=self.cfg))
        elif not tc.no_resume:
            found = find_resume_checkpoint(self.ckpt_dir, cfg=self.cfg, log=self.log)
        elif (self.ckpt_dir / "latest.pt").exists():
            self.log(f"[train] --no_resume: starting fresh; checkpoints in {self.ckpt_dir} will be overwritten")
        if found is None:
            if tc.init_from:
                self._init_from(tc.init_from)
            elif self.cfg.model.matvlm_init:
                raise ConfigError(
                    "vfi_lib/train/trainer.py: model.matvlm_init needs train.init_from (a checkpoint with trained "
                    "gated attention to initialise the Mamba2 branches from); pass --init_from or unset model.matvlm_init"
                )
            if tc.init_flow_from:
                self._init_flow_from(tc.init_flow_from)
            return
        path, state = found
        self.raw_model.load_state_dict(state["model"])
        if state.get("optimizer") is not None:
            saved = [len(g["params"]) for g in state["optimizer"]["param_groups"]]
            ours = [len(g["params"]) for g in self.optimizer.param_groups]
            if saved != ours:
                raise ConfigError(
                    f"resume {path}: its optimizer groups hold {saved} parameters, this run's {ours} "
                    "(train.flow_lr_scale gives the flow estimator its own groups, 0 freezes it); resume with the "
                    "checkpoint's flow_lr_scale, or start a new run with --init_from it"
                )
            self.optimizer.load_state_dict(state["optimizer"])
            for g in self.optimizer.param_groups:  # the current config's flow learning-rate scale applies
                if g.get("flow"):
                    g["lr_scale"] = tc.flow_lr_scale
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None:
            if state.get("ema") is not None:
                self.ema.load_state_dict(state["ema"])
            else:
                self.ema = ModelEMA(self.raw_model, tc.ema_decay)
        ts = state["train_state"]
        self.last_val = dict(ts.get("last_val") or {})
        self.epoch, self.step = int(ts["epoch"]), int(ts["step"])
        self.step_in_epoch, self.best_psnr = int(ts["step_in_epoch"]), float(ts["best_psnr"])
        if self.step_in_epoch >= self.steps_per_epoch:  # the epoch was complete (e.g. dataset grew)
            self.epoch, self.step_in_epoch = self.epoch + 1, 0
        self.scheduler.load_state_dict(state["scheduler"])
        rngs = state.get("rng") or []
        if int(ts.get("world_size", 1)) == self.dist.world_size and len(rngs) == self.dist.world_size:
            restore_rng(rngs[self.dist.rank])
        else:
            self.log(
                f"[train] WARNING: checkpoint written by {ts.get('world_size')} processes, now {self.dist.world_size}: "
                "RNG states not restored, the data position is converted, the run is not bit-identical"
            )
            if int(ts.get("world_size", 1)) != self.dist.world_size:
                samples = int(ts.get("samples_in_epoch", 0))
                per_step = tc.batch_size * tc.grad_accum * self.dist.world_size
                self.step_in_epoch = min(samples // per_step, self.steps_per_epoch)
        diffs = {k: (v, getattr(tc, k)) for k, v in state["config"].get("train", {}).items()
                 if hasattr(tc, k) and k not in ("resume", "no_resume") and _plain(getattr(tc, k)) != v}
        if diffs:
            self.log("[train] train settings changed since the checkpoint: " + ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in diffs.items()))
        self.resumed_from = str(path)
        self.log(f"[train] resumed from {path} (epoch {self.epoch}, step {self.step}, step in epoch {self.step_in_epoch})")

    def _init_from(self, path: str) -> None:
        """Progressive training: copy every weight of ``path`` whose name and shape match (a phase-1
        checkpoint initialises the phase-2/3 backbone); optimizer, schedule and step start fresh.
        With ``model.matvlm_init`` every LGS block's Mamba2 x/B/C/out projections are then set from
        the checkpoint's trained attention of the same block (MaTVLM, vfi_lib/modules/init_matvlm.py)."""
        state = load_checkpoint(path)  # no config check: other phases are the point
        src = state["model"]
        own = self.raw_model.state_dict()
        take = {k: v for k, v in src.items() if k in own and own[k].shape == v.shape}
        if not take:
            raise IncompatibleCheckpointError(f"--init_from {path}: no parameter matches this model by name and shape")
        self.raw_model.load_state_dict(take, strict=False)
        self.log(f"[train] initialised {len(take)}/{len(own)} tensors from {path} "
                 f"({len(src) - len(take)} of its tensors unused); optimizer and schedule start fresh")
        if self.cfg.model.matvlm_init:
            from vfi_lib.modules.init_matvlm import apply_matvlm_init

            self.log(apply_matvlm_init(self.raw_model, state))
        if self.ema is not None:  # the EMA copy was taken before the init: restart it from the new weights
            self.ema = ModelEMA(self.raw_model, self.tc.ema_decay)

    def _init_flow_from(self, path: str) -> None:
        """Fresh run: the flow estimator (``model.flow_arch`` rife4) from Practical-RIFE 4.2x's released
        ``flownet.pkl`` (:func:`vfi_lib.model.rife_flow.load_rife_flow`); after ``init_from``."""
        from vfi_lib.model.rife_flow import load_rife_flow

        try:
            self.log(load_rife_flow(self.raw_model, path))
        except ValueError as e:  # wrong flow_arch, or a file the peer loader rejects (PeerWeightsError)
            raise ConfigError(str(e)) from None
        if self.ema is not None:
            self.ema = ModelEMA(self.raw_model, self.tc.ema_decay)

    def _state(self) -> dict[str, Any]:
        rngs = D.all_gather_object(capture_rng())
        tc = self.tc
        return {
            "version": self.version,
            "config": self.cfg.to_dict(),
            "model": self.raw_model.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "scheduler": self.scheduler.state_dict(),
            "rng": rngs,
            "train_state": {
                "epoch": self.epoch,
                "step": self.step,
                "step_in_epoch": self.step_in_epoch,
                "samples_in_epoch": self.step_in_epoch * tc.batch_size * tc.grad_accum * self.dist.world_size,
                "best_psnr": self.best_psnr,
                "world_size": self.dist.world_size,
                "last_val": dict(self.last_val),
            },
        }

    def save(self, epoch_file: bool = False, best: bool = False) -> None:
        """Write latest.pt (previous.pt keeps the one before), and epoch_NNN.pt / best.pt if asked."""
        state = self._state()  # collective (RNG gather): every rank calls save
        if self.is_main:
            save_checkpoint(self.ckpt_dir / "latest.pt", keep_previous=True, **state)
            if epoch_file:
                save_checkpoint(self.ckpt_dir / f"epoch_{self.epoch - 1:03d}.pt", **state)
                self._prune_epoch_files()
            if best:
                save_checkpoint(self.ckpt_dir / "best.pt", **state)
        D.barrier()

    def _epoch_file_due(self, final: bool) -> bool:
        """Epoch-end checkpoint (latest.pt + epoch_NNN.pt) due? Every epoch, unless epochs are shorter than
        ``ckpt_interval`` steps: then every ceil(ckpt_interval / steps_per_epoch) epochs and at the end, so a
        small dataset (a 100-frame clip: ~17 steps per epoch) does not write two full checkpoints every few
        seconds; a crash still costs at most ~ckpt_interval steps, as the interval promises."""
        spe, interval = self.steps_per_epoch, self.tc.ckpt_interval
        every = -(-interval // spe) if interval > spe else 1
        return final or self.epoch % every == 0

    def _prune_epoch_files(self) -> None:
        keep = self.tc.keep_epoch_ckpts
        if keep > 0:
            for p in epoch_checkpoints(self.ckpt_dir)[keep:]:
                p.unlink(missing_ok=True)

    # ------------------------------------------------------------------ metrics
    # ------------------------------------------------------------------ loops
    def _train_loader(self, epoch: int) -> DataLoader:
        """The loader of ``epoch``, resumed at ``step_in_epoch``.

        A dataset that takes its epoch and crop (``set_epoch``/``set_crop``: every training set of
        :mod:`vfi_lib.data`) is never changed here: each index carries its epoch (:class:`EpochSampler`) and
        :class:`SeededItems` applies that epoch's stream and crop to the dataset in the process that draws the
        item. One loader then serves the whole run, its workers kept (``train.persistent_workers``); without
        workers or with the option off, a fresh loader per epoch draws the same items. Any other dataset is
        rebuilt for each new epoch (``build_train_dataset(cfg, epoch)``) and read by a fresh loader.
        """
        tc = self.tc
        per_item = self._per_item_epochs(self.train_set)
        if not per_item and epoch != self.train_set_epoch:
            self.train_set = self.build_train_dataset(self.cfg, epoch=epoch)
        self.train_set_epoch = epoch
        sampler = SkipSampler(self._sampler(self.train_set, epoch), self.step_in_epoch * tc.batch_size * tc.grad_accum)
        keep = bool(per_item and tc.persistent_workers and self.num_workers > 0)
        if keep and self._loader is not None and self._loader.dataset.dataset is self.train_set:
            self._epoch_sampler.start(epoch, sampler)
            return self._loader
        self._close_loader()
        loader = StopSafeDataLoader(
            SeededItems(self.train_set, tc.seed, epoch, crop_at=tc.crop_at if per_item else None),
            batch_size=tc.batch_size,
            sampler=EpochSampler() if per_item else sampler,
            num_workers=self.num_workers,
            pin_memory=self.device.type == "cuda",
            drop_last=True,
            # worker seeds (never the global RNG); the items themselves are seeded by SeededItems
            generator=torch.Generator().manual_seed(tc.seed * 1_000_003 + (0 if keep else epoch)),
            persistent_workers=keep,
        )
        if per_item:
            loader.sampler.start(epoch, sampler)
        if keep:
            self._loader, self._epoch_sampler = loader, loader.sampler
        return loader

    @staticmethod
    def _per_item_epochs(ds: Dataset) -> bool:
        """Does ``ds`` take its epoch and crop per item (``set_epoch`` and ``set_crop``)?"""
        return hasattr(ds, "set_epoch") and hasattr(ds, "set_crop")

    def _close_loader(self) -> None:
        """Stop the persistent training loader's workers (when fit() leaves its epoch loop, and in close())."""
        self._loader, self._epoch_sampler = None, None

    def _pause_hook(self) -> None:
        at = os.environ.get(PAUSE_ENV, "")
        if at and int(at) == self.step and self.is_main:
            (self.log_dir / f"paused_at_step_{self.step}").write_text(str(os.getpid()))
            while True:  # wait for the test to kill -9 this process
                time.sleep(1.0)

    def _optimizer_step(self) -> torch.Tensor:
        """Clip, step (skipped when the gradient norm is not finite), schedule, EMA; returns the norm (a device
        scalar). No host sync: without a GradScaler the fused AdamW reads the skip flag on the device
        (``found_inf``, the attribute GradScaler itself sets), and the skipped steps are counted on the device
        and reported at the next log line."""
        params = [p for p in self.raw_model.parameters() if p.requires_grad]
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        gnorm = torch.nn.utils.clip_grad_norm_(params, self.tc.grad_clip)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)  # skips the step itself on inf/nan
            self.scaler.update()
        elif getattr(self.optimizer, "_step_supports_amp_scaling", False):  # fused: the skip stays on the device
            bad = ~torch.isfinite(gnorm)
            self.optimizer.found_inf = bad.float()
            self.optimizer.step()
            del self.optimizer.found_inf
            self._skipped += bad
        elif torch.isfinite(gnorm):  # another optimizer (a subclass's): one host sync
            self.optimizer.step()
        else:
            self._skipped += 1
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update(self.raw_model)
        return gnorm.detach()

    def train_epoch(self, epoch: int) -> bool:
        """Run the rest of ``epoch``; returns True when max_steps stopped training."""
        from tqdm.auto import tqdm

        from vfi_lib.data import to_float

        tc, accum = self.tc, self.tc.grad_accum
        self.model.train()
        loader = self._train_loader(epoch)
        bar = tqdm(total=self.steps_per_epoch, initial=self.step_in_epoch, desc=f"epoch {epoch}",
                   disable=not self.is_main, dynamic_ncols=True, leave=False, file=sys.stderr)
        sums: dict[str, torch.Tensor] = {}
        n_log, t_log, micro = 0, time.time(), 0
        gnorm = torch.zeros(())
        samples_per_step = tc.batch_size * accum * self.dist.world_size
        for batch in loader:
            img0, img1, gt, t = to_float(batch, self.device)
            last = (micro + 1) % accum == 0
            sync = self.model.no_sync() if (self.dist.distributed and not last) else contextlib.nullcontext()
            with sync:
                with self._autocast():
                    out = self.model(img0, img1, t, return_aux=self.loss_fn.needs_aux)
                pred, aux = out if isinstance(out, tuple) else (out, None)
                flows_gt = ({k: batch[k].to(self.device, non_blocking=True) for k in ("flow_t0", "flow_t1")}
                            if self.loss_fn.needs_flows else None)
                loss, parts = self.loss_fn(pred, gt, aux, flows_gt)
                scaled = loss / accum
                (self.scaler.scale(scaled) if self.scaler is not None else scaled).backward()
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v / accum
            micro += 1
            if not last:
                continue
            gnorm = self._optimizer_step()
            self.step += 1
            self.step_in_epoch += 1
            n_log += 1
            bar.update(1)
            if self.step % tc.log_interval == 0 or self.step_in_epoch == self.steps_per_epoch:
                self._log_train(sums, n_log, gnorm, samples_per_step * n_log / max(time.time() - t_log, 1e-9), bar)
                sums, n_log, t_log = {}, 0, time.time()
            if tc.ckpt_interval and self.step % tc.ckpt_interval == 0:
                self.save()
            if tc.val_interval_steps and self.step % tc.val_interval_steps == 0 and not (
                    self.step_in_epoch >= self.steps_per_epoch and self._epoch_end_validates(epoch + 1)):
                t_log += self._validate_and_keep_best()["seconds"]  # samples/s counts training time only
            self._pause_hook()
            if self._signalled():
                self.log(f"[train] {signal_name(self.stop_signal)} received at step {self.step}: saving a checkpoint and stopping")
                break
            if self.step_in_epoch >= self.steps_per_epoch or (tc.max_steps and self.step >= tc.max_steps):
                break
            if tc.max_minutes and self.step % 10 == 0 and self._time_up():
                self.log(f"[train] max_minutes={tc.max_minutes:g} reached at step {self.step}; stopping")
                break
        bar.close()
        if n_log:
            self._log_train(sums, n_log, gnorm, samples_per_step * n_log / max(time.time() - t_log, 1e-9), bar)
        return bool(tc.max_steps and self.step >= tc.max_steps) or self.out_of_time or self.stop_signal is not None

    def _epoch_end_validates(self, epochs_done: int) -> bool:
        """Does fit() validate when ``epochs_done`` epochs are complete (``eval_interval``, the last epoch)?"""
        return epochs_done % self.tc.eval_interval == 0 or epochs_done == self.tc.epochs

    def _validate_and_keep_best(self, always_save: bool = False) -> dict[str, float]:
        """Validate now (mid-epoch: ``val_interval_steps`` or a stop inside an epoch); best.pt (with
        latest.pt) is written when PSNR improved, latest.pt alone with ``always_save``. Returns the result."""
        res = self.validate()
        self._validated_at_step = self.step
        improved = res["psnr"] > self.best_psnr
        self.best_psnr = max(self.best_psnr, res["psnr"])
        if improved or always_save:
            self.save(best=improved)
        return res

    def _signalled(self) -> bool:
        """True once any rank got SIGINT/SIGTERM (all ranks agree: one all-reduce per step when distributed)."""
        if not self.dist.distributed:
            return self.stop_signal is not None
        flag = torch.tensor([float(self.stop_signal or 0)], device=self.device)
        got = int(D.all_reduce_sum(flag).item())
        if got and self.stop_signal is None:
            self.stop_signal = got if got in (signal.SIGINT, signal.SIGTERM) else signal.SIGTERM
        return self.stop_signal is not None

    def _time_up(self) -> bool:
        """True once ``max_minutes`` have passed on any rank (all ranks agree: one all-reduce).

        With ``fit_to_time`` it also fits the schedule to the budget: from the pace since step
        ``PACE_AFTER`` of this process (compilation excluded), the run ends near step
        ``step + pace x time left``; that (averaged over ranks) becomes the cosine's total, so the
        learning rate reaches ``min_lr`` when the time runs out instead of staying near its peak.
        """
        now, budget = time.time(), self.tc.max_minutes * 60
        est = 0.0
        if self.fit_to_time:
            if self._pace is None and self.step - self._start_step >= PACE_AFTER:
                self._pace = (self.step, now)
            elif self._pace is not None and self.step > self._pace[0]:
                pace = (self.step - self._pace[0]) / max(now - self._pace[1], 1e-9)
                est = self.step + pace * max(0.0, budget - (now - self._t0))
        vec = D.all_reduce_sum(torch.tensor([float(now - self._t0 > budget), est], device=self.device)).tolist()
        if vec[1] > 0:
            first = not self._fitted
            self._fitted = True
            self.scheduler.total = max(self.step + 1, int(vec[1] / self.dist.world_size))
            if first:
                self.log(f"[train] schedule fitted to max_minutes={self.tc.max_minutes:g}: about {self.scheduler.total} "
                         f"steps at the pace since step {self._pace[0]} (refitted every 10 steps)")
        self.out_of_time = vec[0] > 0
        return self.out_of_time

    def _log_train(self, sums: dict[str, torch.Tensor], n: int, gnorm: torch.Tensor, throughput: float, bar: Any) -> None:
        keys = sorted(sums)
        vec = torch.stack([torch.as_tensor(sums[k], dtype=torch.float32, device=self.device) for k in keys]) / n
        vec = D.all_reduce_sum(vec) / self.dist.world_size  # mean over ranks
        vals = {k: float(v) for k, v in zip(keys, vec.tolist())}
        sch = self.scheduler
        lr = warmup_cosine_lr(max(sch.last_step - 1, 0), sch.peak, sch.floor, sch.warmup, sch.total)  # lr of the last step
        rec = {"loss": vals.get("total", float("nan")), **{f"loss_{k}": v for k, v in vals.items() if k != "total"},
               "lr": lr, "grad_norm": float(gnorm), "samples_per_s": throughput}
        skipped = int(self._skipped)  # this log line syncs anyway
        if skipped:
            rec["skipped_steps"] = skipped
            self.log(f"[train] WARNING: {skipped} step(s) up to step {self.step} skipped: non-finite gradient norm")
            self._skipped.zero_()
        if self.device.type == "cuda":
            rec["peak_mem_gb"] = round(torch.cuda.max_memory_allocated(self.device) / 2**30, 3)
        if self.is_main:
            bar.set_postfix(loss=f"{rec['loss']:.4f}", lr=f"{lr:.2e}", sps=f"{throughput:.1f}")
            self.runlog.append("train", self.step, self.epoch, time.time(), **rec)
            w = self.writer
            for k, v in vals.items():
                w.add_scalar(f"loss/{k}", v, self.step)
            w.add_scalar("train/lr", lr, self.step)
            w.add_scalar("train/grad_norm", float(gnorm), self.step)
            w.add_scalar("train/samples_per_s", throughput, self.step)

    @torch.no_grad()
    def validate(self, epoch: int | None = None) -> dict[str, float]:
        """PSNR / SSIM (on the uint8-rounded prediction) over the validation set, sharded over ranks."""
        from vfi_lib.data import to_float
        from vfi_lib.eval.metrics import psnr, quantize, ssim_matlab

        tc = self.tc
        model = self.ema.module if self.ema is not None else self.raw_model
        was_training = model.training
        model.eval()
        n = len(self.val_set) if not tc.val_limit else min(tc.val_limit, len(self.val_set))
        shard = list(range(self.dist.rank, n, self.dist.world_size))
        loader = StopSafeDataLoader(torch.utils.data.Subset(self.val_set, shard), batch_size=1, shuffle=False,
                            num_workers=min(self.num_workers, 2), generator=torch.Generator().manual_seed(0))
        acc = torch.zeros(3, dtype=torch.float64, device=self.device)  # psnr sum, ssim sum, count
        t0 = time.time()
        for i, batch in enumerate(loader):
            img0, img1, gt, t = to_float(batch, self.device)
            with self._autocast():
                pred = model(img0, img1, t)
            pred = quantize(pred.float().clamp(0, 1))
            acc[0] += psnr(pred, gt).sum().to(acc)
            acc[1] += ssim_matlab(pred, gt).sum().to(acc)
            acc[2] += pred.shape[0]
            if i == 0 and self.is_main:
                self._log_images(model, img0, img1, gt, t, pred)
        acc = D.all_reduce_sum(acc)
        count = max(float(acc[2]), 1.0)
        res = {"psnr": float(acc[0]) / count, "ssim": float(acc[1]) / count, "n": int(acc[2]), "seconds": time.time() - t0}
        model.train(was_training)
        self.last_val = {"psnr": res["psnr"], "ssim": res["ssim"]}
        if self.is_main:
            epoch = self.epoch if epoch is None else epoch
            self.runlog.append("val", self.step, epoch, time.time(), **res)
            self.writer.add_scalar("val/psnr", res["psnr"], self.step)
            self.writer.add_scalar("val/ssim", res["ssim"], self.step)
            self.log(f"[val] epoch {epoch} step {self.step}: PSNR {res['psnr']:.3f} dB, SSIM {res['ssim']:.4f} ({res['n']} samples)")
        return res

    def _log_images(self, model: nn.Module, img0, img1, gt, t, pred) -> None:
        """One row: img0 | img1 | prediction | GT | 4 x |error| (| flow_t0 colour for phase 2+)."""
        tiles = [img0[0], img1[0], pred[0], gt[0], ((pred[0] - gt[0]).abs() * 4).clamp(0, 1)]
        if self.cfg.model.phase >= 2:
            with self._autocast():
                out = model(img0[:1], img1[:1], t[:1], return_aux=True)
            aux = out[1] if isinstance(out, tuple) else {}
            if aux.get("flow_t0") is not None:
                from vfi_lib.viz.flow import flow_to_color

                col = torch.from_numpy(flow_to_color(aux["flow_t0"][0].detach().float().cpu())).permute(2, 0, 1).float() / 255.0
                tiles.append(col.to(pred.device))
        grid = torch.cat([x.float().cpu() for x in tiles], dim=-1)  # (3, H, k W)
        self.writer.add_image("val/img0_img1_pred_gt_err" + ("_flow" if len(tiles) > 5 else ""), grid, self.step)

    # ------------------------------------------------------------------ main
    def fit(self) -> dict[str, Any]:
        tc = self.tc
        stopped = bool(tc.max_steps and self.step >= tc.max_steps)
        start_step = self.step
        while not stopped and self.epoch < tc.epochs:
            stopped = self.train_epoch(self.epoch)
            if self.stop_signal is not None:
                self.save()  # the interrupted position: re-running the command resumes here
                self._validated_at_step = self.step  # no validation on the way out
                break
            if self.step_in_epoch < self.steps_per_epoch:
                break  # stopped inside the epoch (max_steps)
            self.epoch, self.step_in_epoch = self.epoch + 1, 0
            improved = False
            if self._epoch_end_validates(self.epoch):
                res = self.validate(epoch=self.epoch - 1)
                self._validated_at_step = self.step
                improved = res["psnr"] > self.best_psnr
                self.best_psnr = max(self.best_psnr, res["psnr"])
            due = self._epoch_file_due(final=stopped or self.epoch >= tc.epochs)
            if due or improved:
                self.save(epoch_file=due, best=improved)
        self._close_loader()
        if self.step > start_step and self._validated_at_step != self.step:
            self._validate_and_keep_best(always_save=True)  # stopped inside an epoch
        checksums = D.all_gather_object(param_checksum(self.raw_model))
        if len(set(checksums)) > 1:
            self.log(f"[train] WARNING: parameters differ across ranks: {checksums}")
        summary = {
            "exp_name": tc.exp_name,
            "epoch": self.epoch,
            "step": self.step,
            "best_psnr": self.best_psnr if math.isfinite(self.best_psnr) else None,
            "last_val": self.last_val,
            "resumed_from": self.resumed_from,
            "world_size": self.dist.world_size,
            "param_checksums": checksums,
            "ckpt_dir": str(self.ckpt_dir),
            "log_dir": str(self.log_dir),
            "wall_s": round(time.time() - self._t0, 3),
            "interrupted": signal_name(self.stop_signal) if self.stop_signal is not None else None,
        }
        if self.is_main:
            self.runlog.write_summary(summary)
            self.log(f"[train] done: step {self.step}, epoch {self.epoch}, best PSNR {summary['best_psnr']}")
        return summary

    def close(self, synchronize: bool = True) -> None:
        """Flush TensorBoard and release the DDP wrapper while the process group is still alive
        (destroying DDP's reducer after ``destroy_process_group`` can hang in gloo's destructor)."""
        self._close_loader()
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self.dist.distributed and self.model is not self.raw_model:
            if synchronize:  # not after an error: the other ranks may be inside a collective
                D.barrier()
            self.model = self.raw_model
            import gc

            gc.collect()
            if synchronize:
                D.barrier()


def _plain(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    return v


class _StopOnSignal:
    """SIGINT/SIGTERM -> ``trainer.stop_signal`` (the loop checkpoints at the next step and stops); a
    second signal while stopping restores the default behaviour (immediate exit). Main thread only
    (notebooks train in a background thread: there Ctrl-C is the kernel's interrupt)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.trainer: Trainer | None = None
        self.saved: dict[int, Any] = {}

    def __enter__(self) -> "_StopOnSignal":
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self.saved[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.trainer is None or self.trainer.stop_signal is not None:
            self.__exit__()  # second signal (or before the trainer exists): default behaviour
            signal.raise_signal(signum)
            return
        self.trainer.stop_signal = signum
        self.trainer.log(f"[train] {signal_name(signum)}: finishing the current step, then checkpoint and stop "
                         "(send it again to abort at once)")

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)
        self.saved = {}


def train(cfg: Config) -> dict[str, Any]:
    """Train with ``cfg`` in this process (or as one rank under torchrun); returns the summary dict.

    Keys: exp_name, epoch, step, best_psnr, last_val {psnr, ssim}, resumed_from, world_size,
    param_checksums (one per rank; equal when DDP kept the replicas in sync), ckpt_dir, log_dir, wall_s,
    interrupted (None, or "SIGINT"/"SIGTERM" when a signal stopped the run after a checkpoint).
    """
    trainer, ok = None, False
    try:
        with _StopOnSignal() as stop:
            trainer = Trainer(cfg)
            stop.trainer = trainer
            summary = trainer.fit()
        ok = True
        return summary
    finally:
        if trainer is not None:
            trainer.close(synchronize=ok)
            del trainer
        D.cleanup()
