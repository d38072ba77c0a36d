"""The run log of a training run: its writer (the trainer) and its reader (notebooks, scripts), one format.

A run folder ``<log_dir>/<exp>/`` holds ``config.json`` (the run's :class:`~vfi_lib.config.Config`),
``metrics.jsonl`` (one JSON object per line), ``summary.json`` (written at the end) and TensorBoard
events. Every metrics record has exactly this shape, with one spelling for each key::

    {"kind": "train" | "val", "step": int, "epoch": int, "time": float (s since the start), <metrics>}

train records (every ``log_interval`` steps): ``loss``, ``loss_<term>``, ``lr``, ``grad_norm``,
``samples_per_s`` (+ ``peak_mem_gb`` on CUDA); val records: ``psnr``, ``ssim``, ``n``, ``seconds``.

Reading: :meth:`Run.series` ``("loss")`` gives a train curve and ``("val_psnr")`` the ``psnr`` of
val records, against ``step``. Reading tolerates a half-written last line (the trainer may be
appending while a notebook plots); any other malformed line raises ``ValueError`` naming the file
and line.

    runs = load_runs("log")                       # every folder with a metrics.jsonl
    rows = [summarize(r) for r in runs]           # one row per run: params, steps, best val PSNR ...
    xs, ys = runs[0].series("val_psnr")
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "METRICS_FILE",
    "CONFIG_FILE",
    "SUMMARY_FILE",
    "KINDS",
    "RunLogWriter",
    "Run",
    "read_jsonl",
    "find_runs",
    "load_run",
    "load_runs",
    "summarize",
    "param_count",
]

METRICS_FILE = "metrics.jsonl"
CONFIG_FILE = "config.json"
SUMMARY_FILE = "summary.json"
KINDS = ("train", "val")


# ----------------------------------------------------------------------------- writer
class RunLogWriter:
    """Appends records to ``<run_dir>/metrics.jsonl`` and writes ``config.json`` / ``summary.json``."""

    def __init__(self, run_dir: str | Path, t0: float) -> None:
        self.run_dir = Path(run_dir)
        self.t0 = t0
        self.run_dir.mkdir(parents=True, exist_ok=True)

    @property
    def metrics_path(self) -> Path:
        return self.run_dir / METRICS_FILE

    def write_config(self, cfg: Any) -> None:
        cfg.to_json(self.run_dir / CONFIG_FILE)

    def write_summary(self, summary: Mapping[str, Any]) -> Path:
        path = self.run_dir / SUMMARY_FILE
        path.write_text(json.dumps(dict(summary), indent=2) + "\n")
        return path

    def append(self, kind: str, step: int, epoch: int, now: float, **metrics: Any) -> dict[str, Any]:
        """Append one record (``time`` = ``now - t0``); returns it."""
        if kind not in KINDS:
            raise ValueError(f"run log: kind must be one of {KINDS}, got {kind!r}")
        rec = {"kind": kind, "step": int(step), "epoch": int(epoch), "time": round(now - self.t0, 3), **metrics}
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps(rec) + "\n")
        return rec

    def trim(self, keep_up_to_step: int) -> None:
        """On resume drop records logged after the checkpoint's step (the killed run's tail); with
        ``keep_up_to_step <= 0`` (a fresh start) drop them all. Lines cut by a kill are dropped."""
        p = self.metrics_path
        if not p.exists():
            return
        kept = []
        for line in p.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if keep_up_to_step > 0 and isinstance(rec, dict) and rec.get("step", 0) <= keep_up_to_step:
                kept.append(line)
        p.write_text("".join(k + "\n" for k in kept))


# ----------------------------------------------------------------------------- reader
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


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@dataclass
class Run:
    """One training run: its folder, config dict (or None) and metric records."""

    name: str
    path: Path
    records: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, Any] | None = None

    @staticmethod
    def _split(key: str) -> tuple[str, str]:
        """``"val_psnr"`` -> ("val", "psnr"); ``"loss"`` -> ("train", "loss")."""
        for kind in KINDS:
            if key.startswith(kind + "_"):
                return kind, key[len(kind) + 1:]
        return "train", key

    def series(self, key: str) -> tuple[list[float], list[float]]:
        """(steps, values) of every record of the key's kind with a finite numeric value."""
        kind, name = self._split(key)
        xs, ys = [], []
        for rec in self.records:
            v, x = rec.get(name), rec.get("step")
            if rec.get("kind") == kind and _is_number(v) and _is_number(x):
                xs.append(float(x))
                ys.append(float(v))
        return xs, ys

    def keys(self) -> list[str]:
        """Numeric metric keys present (val values listed as ``val_<key>``)."""
        seen: dict[str, None] = {}
        for rec in self.records:
            prefix = "val_" if rec.get("kind") == "val" else ""
            for k, v in rec.items():
                if _is_number(v) and k not in ("step", "epoch", "time"):
                    seen[prefix + k] = None
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


def param_count(run: Run) -> int | None:
    """Parameters of the model described by the run's saved config (built on CPU), or None."""
    if not run.config:
        return None
    from vfi_lib.config import Config, upgrade_saved_config
    from vfi_lib.model import build_model, count_parameters

    return count_parameters(build_model(Config.from_dict(upgrade_saved_config(run.config))))


def summarize(run: Run) -> dict[str, Any]:
    """One table row: name, backbone_mode, use_mhc, params (from the saved config), steps, final
    loss, best val PSNR/SSIM."""
    steps, _ = run.series("loss")
    params = param_count(run)
    return {
        "run": run.name,
        "backbone_mode": run.config_value("model.backbone_mode", "?"),
        "use_mhc": run.config_value("model.use_mhc", "?"),
        "params_M": round(params / 1e6, 4) if params is not None else None,
        "steps": int(max(steps)) if steps else 0,
        "final_loss": run.last("loss"),
        "best_val_psnr": run.best("val_psnr"),
        "best_val_ssim": run.best("val_ssim"),
    }
