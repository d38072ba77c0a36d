"""Training from notebooks 10/11/12/40: the run's config (smoke vs full) and the launcher.

``training_config(phase, smoke=..., exp_name=...)`` builds the :class:`~vfi_lib.config.Config` a
training notebook runs with; ``run_training(cfg, nproc)`` trains it in this process or under
``torchrun`` and, with ``live=True``, redraws the curves from the run log while it trains.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable, Sequence

from vfi_lib.paths import ckpt_root, log_root, new_run_folder, project_path, smoke_runs_dir
from vfi_lib.train.runlog import METRICS_FILE, Run, load_run

__all__ = ["SMOKE_TRAIN", "training_config", "tensorboard_hint", "run_training"]

SMOKE_TRAIN: dict[str, Any] = {  # smoke runs: tiny model, embedded sample, CPU, seconds
    "train.crop_size": 64,
    "train.batch_size": 2,
    "train.num_workers": 0,
    "train.log_interval": 1,
    "train.val_limit": 2,
    "train.warmup_steps": 2,
    "train.ckpt_interval": 0,
    "train.amp": "off",
}


def training_config(phase: int, *, smoke: bool, exp_name: str, data_path: str = "", dataset: str = "vimeo90k",
                    epochs: int = 300, batch_size: int = 4, backbone_mode: str = "hybrid", use_mhc: bool = False,
                    max_steps: int = 0, seed: int = 0, x4k_path: str = "", runs_root: str | Path | None = None,
                    **overrides: Any):
    """The :class:`~vfi_lib.config.Config` a training notebook runs with.

    Full mode: ``preset(f"phase{phase}")`` with the given values, ``ckpt/`` and ``log/`` under
    ``runs_root`` (default: the repository root, as for the CLI run from there). Smoke mode: the tiny model on the embedded sample triplets (phase 3: the
    synthetic dataset, since the X4K mix needs the X4K1000FPS and Vimeo90K folders; a note is
    printed), 64x64 crops, ``max_steps`` (default 2), and ``ckpt``/``log`` under ``runs_root``
    (default: a new folder ``<exp_name>`` (``<exp_name>-2``, ... when taken) under
    :func:`vfi_lib.paths.smoke_runs_dir`, i.e. ``outputs/smoke/runs/<run id>/``, so concurrent or
    repeated smoke runs never share a run; pass the same ``runs_root`` again to resume).
    """
    from vfi_lib.config import preset

    if phase not in (1, 2, 3):
        raise ValueError(f"training_config: phase must be 1, 2 or 3, got {phase!r}")
    values: dict[str, Any] = {"train.exp_name": exp_name, "train.epochs": epochs, "train.batch_size": batch_size,
                              "train.max_steps": max_steps, "train.seed": seed, "model.backbone_mode": backbone_mode,
                              "model.use_mhc": use_mhc}
    if not smoke:
        if runs_root is not None:
            root = project_path(runs_root)
            ckpt, log = root / "ckpt", root / "log"
        else:
            ckpt, log = ckpt_root(), log_root()
        values.update({"train.data_path": data_path, "train.dataset": dataset,
                       "train.ckpt_dir": str(ckpt), "train.log_dir": str(log)})
        if x4k_path:
            values["train.x4k_path"] = x4k_path
        return preset(f"phase{phase}", **values, **overrides)
    root = Path(runs_root) if runs_root is not None else new_run_folder(smoke_runs_dir(), exp_name)
    smoke_dataset = "sample"
    if phase == 3 or dataset == "x4k_mix":
        print("note: smoke mode trains phase 3 on the synthetic dataset; the x4k_mix dataset needs "
              "X4K1000FPS (x4k_path) and Vimeo90K (data_path) folders")
        smoke_dataset = "synthetic"
    values.update(SMOKE_TRAIN)
    values.update({"train.dataset": smoke_dataset, "train.data_path": "", "train.max_steps": max_steps or 2,
                   "train.batch_size": min(batch_size, SMOKE_TRAIN["train.batch_size"]),
                   "train.ckpt_dir": str(root / "ckpt"), "train.log_dir": str(root / "log")})
    return preset(f"phase{phase}", tiny=True, **values, **overrides)


def tensorboard_hint(cfg) -> str:
    """The command that shows the run's TensorBoard logs, and where they are."""
    log = log_root(cfg.train.log_dir)
    return (f"tensorboard --logdir {log}   # then open http://localhost:6006 "
            f"(this run: {log / cfg.train.exp_name})")


def run_training(cfg, nproc: int = 1, live: bool = False, every_s: float = 20.0, keys: Sequence[str] = ("loss",),
                 train_fn: Callable | None = None, launch_fn: Callable | None = None) -> dict[str, Any]:
    """Train ``cfg`` the way the CLI does: in this process (``nproc == 1``, :func:`vfi_lib.train.train`)
    or as a ``torchrun`` subprocess (``nproc > 1``, :func:`vfi_lib.train.launch`). Returns the summary.

    ``live=True`` (notebooks, full runs) trains in a background thread and redraws the curves of
    ``keys`` from ``metrics.jsonl`` every ``every_s`` seconds in the cell's output.
    """
    if nproc < 1:
        raise ValueError(f"run_training: nproc must be >= 1, got {nproc}")
    if train_fn is None or launch_fn is None:
        from vfi_lib.train import launch, train

        train_fn, launch_fn = train_fn or train, launch_fn or launch
    job = (lambda: train_fn(cfg)) if nproc == 1 else (lambda: launch_fn(cfg, nproc))
    if not live:
        return job()
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["summary"] = job()
        except BaseException as e:  # re-raised in the caller's thread
            result["error"] = e

    thread = threading.Thread(target=target, name=f"train-{cfg.train.exp_name}", daemon=True)
    thread.start()
    run_dir = log_root(cfg.train.log_dir) / cfg.train.exp_name
    handle = None
    while thread.is_alive():
        thread.join(timeout=every_s)
        if (run_dir / METRICS_FILE).is_file():
            handle = _redraw(load_run(run_dir), keys, handle)
    if (run_dir / METRICS_FILE).is_file():
        _redraw(load_run(run_dir), keys, handle)
    if "error" in result:
        raise result["error"]
    return result["summary"]


def _redraw(run: Run, keys: Sequence[str], handle):
    """Draw the run's curves into a display handle (created on first use); returns the handle."""
    import matplotlib.pyplot as plt
    from IPython.display import display

    from vfi_lib.viz.curves import plot_curves

    fig, axes = plt.subplots(1, len(keys), figsize=(4.0 * len(keys), 2.8), squeeze=False)
    for ax, key in zip(axes[0], keys):
        plot_curves([run], key, ax=ax)
        ax.set_title(f"{run.name}: {key}")
    plt.close(fig)
    if handle is None:
        handle = display(fig, display_id=True)
    else:
        handle.update(fig)
    return handle
