"""Collect training runs (``log/<exp>/metrics.jsonl`` + ``config.json``) into plain tables.

The trainer appends one JSON object per line to ``log/<exp>/metrics.jsonl`` (train records every
``log_interval`` steps, validation records every ``eval_interval`` epochs) and writes the run's
:class:`~vfi_lib.config.Config` to ``log/<exp>/config.json``. This module reads them without
pandas: tables are lists of dicts, rendered as markdown by :func:`markdown`.

    runs = load_runs("log")                       # every folder with a metrics.jsonl
    rows = [summarize(r) for r in runs]           # one row per run: params, steps, best val PSNR ...
    print(markdown(rows))
    xs, ys = runs[0].series("loss")               # a curve (steps, values)

A record is a flat dict. Validation values are recognised either by a ``val_``/``val/`` prefix
(``val_psnr``) or by a ``split``/``mode``/``kind`` field equal to ``"val"``; :meth:`Run.series`
accepts both spellings (``run.series("val_psnr")``). Reading is tolerant of a half-written last
line (the trainer may be appending while a notebook plots); any other malformed line raises
``ValueError`` naming the file and line.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

__all__ = [
    "METRICS_FILE",
    "CONFIG_FILE",
    "Run",
    "read_jsonl",
    "find_runs",
    "load_run",
    "load_runs",
    "summarize",
    "markdown",
    "plot_curves",
    "param_count",
    "training_config",
    "run_training",
    "tensorboard_hint",
    "REPO_ROOT",
    "project_path",
    "ckpt_root",
]

REPO_ROOT = Path(__file__).resolve().parent.parent  # notebooks run with cwd notebooks/; paths resolve here
METRICS_FILE = "metrics.jsonl"
CONFIG_FILE = "config.json"
_SPLIT_KEYS = ("split", "mode", "kind", "phase_name")
_X_KEYS = ("step", "global_step", "iter", "epoch")


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Records of a JSON-lines file, in order. Blank lines are skipped; a malformed *last* line
    (being written right now) is dropped; a malformed earlier line raises ``ValueError``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"metrics file {path} does not exist (has the run logged anything yet?)")
    lines = path.read_text().splitlines()
    last = max((i for i, ln in enumerate(lines) if ln.strip()), default=-1)
    out: list[dict[str, Any]] = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            if i == last:
                break  # partially written tail line
            raise ValueError(f"{path}:{i + 1}: not valid JSON ({e.msg}): {line[:80]!r}") from None
        if not isinstance(rec, dict):
            raise ValueError(f"{path}:{i + 1}: expected a JSON object per line, got {type(rec).__name__}")
        out.append(rec)
    return out


def _split_of(rec: Mapping[str, Any]) -> str | None:
    for k in _SPLIT_KEYS:
        v = rec.get(k)
        if isinstance(v, str):
            return v
    return None


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@dataclass
class Run:
    """One training run: its folder, config dict (or None) and metric records."""

    name: str
    path: Path
    records: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, Any] | None = None

    def _value(self, rec: Mapping[str, Any], key: str) -> Any:
        """``key`` of ``rec``, also matching ``val_psnr`` to ``{"split": "val", "psnr": ...}``."""
        if key in rec:
            return rec[key]
        for sep in ("_", "/"):
            if key.startswith(f"val{sep}") and _split_of(rec) == "val":
                return rec.get(key[4:])
            if key.startswith(f"train{sep}") and _split_of(rec) == "train":
                return rec.get(key[6:])
        return None

    def series(self, key: str, x: str | None = None) -> tuple[list[float], list[float]]:
        """(xs, ys) of every record with a finite numeric ``key``; ``x`` defaults to the first of
        step / global_step / iter / epoch present (else the record index)."""
        xs, ys = [], []
        for i, rec in enumerate(self.records):
            v = self._value(rec, key)
            if not _is_number(v):
                continue
            if x is not None:
                xv = rec.get(x)
            else:
                xv = next((rec[k] for k in _X_KEYS if _is_number(rec.get(k))), i)
            if not _is_number(xv):
                continue
            xs.append(float(xv))
            ys.append(float(v))
        return xs, ys

    def keys(self) -> list[str]:
        """Numeric metric keys present in the records (val-split values listed as ``val_<key>``)."""
        seen: dict[str, None] = {}
        for rec in self.records:
            split = _split_of(rec)
            for k, v in rec.items():
                if _is_number(v) and k not in _X_KEYS:
                    seen[f"val_{k}" if split == "val" and not k.startswith("val") else k] = None
        return list(seen)

    def last(self, key: str) -> float | None:
        _, ys = self.series(key)
        return ys[-1] if ys else None

    def best(self, key: str, mode: str = "max") -> float | None:
        if mode not in ("max", "min"):
            raise ValueError(f"Run.best: mode must be 'max' or 'min', got {mode!r}")
        _, ys = self.series(key)
        if not ys:
            return None
        return max(ys) if mode == "max" else min(ys)

    def config_value(self, dotted: str, default: Any = None) -> Any:
        """A value of the saved config, e.g. ``run.config_value("model.backbone_mode")``."""
        node: Any = self.config
        for part in dotted.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return default
            node = node[part]
        return node


def project_path(path: str | Path) -> Path:
    """``path`` itself if absolute, else relative to the repository root (not to the notebook's
    working directory), so ``ckpt/``, ``log/`` and ``outputs/`` are the same for the CLI and notebooks."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else REPO_ROOT / p


def ckpt_root() -> Path:
    """The checkpoint folder: ``$VFI_CKPT_DIR`` if set, else ``<repo>/ckpt``."""
    env = os.environ.get("VFI_CKPT_DIR", "").strip()
    return project_path(env) if env else project_path("ckpt")


def find_runs(log_dir: str | Path) -> list[Path]:
    """Sorted run folders under ``log_dir`` (itself or its children) that hold a metrics.jsonl."""
    root = Path(log_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"log folder {root} does not exist")
    if (root / METRICS_FILE).is_file():
        return [root]
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / METRICS_FILE).is_file())


def load_run(run_dir: str | Path) -> Run:
    """Read ``run_dir/metrics.jsonl`` and (if present) ``run_dir/config.json``."""
    run_dir = Path(run_dir)
    records = read_jsonl(run_dir / METRICS_FILE)
    config = None
    cfg_path = run_dir / CONFIG_FILE
    if cfg_path.is_file():
        try:
            config = json.loads(cfg_path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{cfg_path}: not valid JSON ({e.msg})") from None
    return Run(name=run_dir.name, path=run_dir, records=records, config=config)


def load_runs(log_dir: str | Path, names: Iterable[str] | None = None) -> list[Run]:
    """Every run under ``log_dir``, or only ``names`` (missing names raise, listing what exists)."""
    found = {p.name: p for p in find_runs(log_dir)}
    if names is None:
        return [load_run(p) for p in found.values()]
    names = list(names)
    missing = [n for n in names if n not in found]
    if missing:
        raise FileNotFoundError(f"runs {missing} not found under {log_dir}; available: {', '.join(found) or 'none'}")
    return [load_run(found[n]) for n in names]


def summarize(run: Run, psnr_key: str = "val_psnr", loss_key: str = "loss") -> dict[str, Any]:
    """One table row: name, backbone_mode, use_mhc, params (counted from the saved config when the
    records have none), steps, final loss, best val PSNR/SSIM."""
    steps, _ = run.series(loss_key)
    params = run.last("params") or run.last("num_params")
    if params is None:
        params = param_count(run)
    best_psnr = run.best(psnr_key)
    best_ssim = run.best(psnr_key.replace("psnr", "ssim")) if "psnr" in psnr_key else None
    return {
        "run": run.name,
        "backbone_mode": run.config_value("model.backbone_mode", "?"),
        "use_mhc": run.config_value("model.use_mhc", "?"),
        "params_M": round(params / 1e6, 4) if _is_number(params) else None,
        "steps": int(max(steps)) if steps else 0,
        "final_loss": run.last(loss_key),
        "best_val_psnr": best_psnr,
        "best_val_ssim": best_ssim,
    }


def _cell(v: Any, floatfmt: str) -> str:
    if v is None:
        return "--"
    if isinstance(v, float):
        return format(v, floatfmt)
    return str(v).replace("|", "\\|")


def markdown(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, floatfmt: str = ".4g") -> str:
    """A GitHub-markdown table of row dicts (columns: ``columns`` or the union of keys in order)."""
    if not rows:
        raise ValueError("markdown: no rows to render")
    if columns is None:
        cols: dict[str, None] = {}
        for r in rows:
            cols.update(dict.fromkeys(r))
        columns = list(cols)
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(_cell(r.get(c), floatfmt) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def plot_curves(runs: Sequence[Run], key: str, ax=None, x: str | None = None, label_key: str | None = None,
                smooth: int = 1, **plot_kw: Any):
    """Plot ``key`` against steps for each run on ``ax`` (created if None); returns the Axes.

    ``smooth > 1`` applies a trailing moving average of that many points. Runs without the key
    are skipped; the legend uses the run name (or ``run.config_value(label_key)``).
    """
    import matplotlib.pyplot as plt

    if smooth < 1:
        raise ValueError(f"plot_curves: smooth must be >= 1, got {smooth}")
    if ax is None:
        _, ax = plt.subplots()
    for run in runs:
        xs, ys = run.series(key, x=x)
        if not xs:
            continue
        if smooth > 1:
            ys = [sum(ys[max(0, i - smooth + 1): i + 1]) / (i + 1 - max(0, i - smooth + 1)) for i in range(len(ys))]
        label = str(run.config_value(label_key, run.name)) if label_key else run.name
        ax.plot(xs, ys, label=label, marker="o" if len(xs) < 4 else None, **plot_kw)
    ax.set_xlabel(x or "step")
    ax.set_ylabel(key)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    return ax


def param_count(run: Run) -> int | None:
    """Parameters of the model described by the run's saved config (built on CPU), or None."""
    if not run.config:
        return None
    from vfi_lib.config import Config
    from vfi_lib.model import build_model

    model = build_model(Config.from_dict(run.config))
    return sum(p.numel() for p in model.parameters())


# ----------------------------------------------------------------------------- notebooks 10/11/12/40
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
    (default: a fresh temporary folder, so concurrent smoke runs never share a run; pass the same
    ``runs_root`` again to resume).
    """
    from vfi_lib.config import preset

    if phase not in (1, 2, 3):
        raise ValueError(f"training_config: phase must be 1, 2 or 3, got {phase!r}")
    values: dict[str, Any] = {"train.exp_name": exp_name, "train.epochs": epochs, "train.batch_size": batch_size,
                              "train.max_steps": max_steps, "train.seed": seed, "model.backbone_mode": backbone_mode,
                              "model.use_mhc": use_mhc}
    if not smoke:
        root = project_path(runs_root) if runs_root is not None else REPO_ROOT
        values.update({"train.data_path": data_path, "train.dataset": dataset,
                       "train.ckpt_dir": str(root / "ckpt"), "train.log_dir": str(root / "log")})
        if x4k_path:
            values["train.x4k_path"] = x4k_path
        return preset(f"phase{phase}", **values, **overrides)
    root = Path(runs_root) if runs_root is not None else Path(tempfile.mkdtemp(prefix=f"vfi_{exp_name}_"))
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
    log = Path(cfg.train.log_dir)
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
    run_dir = Path(cfg.train.log_dir) / cfg.train.exp_name
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
