"""Where things go: one rule for ``ckpt/``, ``log/``, ``outputs/`` and ``papermill_runs/``.

Every folder the library writes to is a child of the *project root*:

- ``$VFI_HOME`` if set;
- else the checkout that holds this package (the folder with ``pyproject.toml`` and ``vfi_lib/``,
  i.e. an editable install, the normal case);
- else the current working directory (a plain ``pip install``).

Relative folder settings (``train.ckpt_dir="ckpt"``, ``--out_dir outputs/benchmarks``) resolve
against that root, so the CLI started from anywhere and a notebook (whose working directory is
``notebooks/``) read and write the same files. Per-folder overrides: ``$VFI_CKPT_DIR``,
``$VFI_LOG_DIR``, ``$VFI_OUTPUTS`` (relative values resolve against the root too).

Runs never overwrite each other's results:

- :func:`run_id` names this process's run (``$VFI_RUN_ID``, set by the notebook runner, else a
  timestamp plus the process id); result files carry it (:func:`result_path`);
- smoke runs (``$VFI_SMOKE=1``, set by ``python -m vfi_lib.notebooks run --smoke``, i.e. ``make
  run``) write under ``outputs/smoke/`` and never touch the outputs of full runs.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

__all__ = [
    "REPO_ROOT",
    "project_root",
    "project_path",
    "ckpt_root",
    "log_root",
    "outputs_root",
    "outputs_dir",
    "notebooks_dir",
    "papermill_runs_dir",
    "is_smoke",
    "run_id",
    "safe_stem",
    "result_path",
]

REPO_ROOT = Path(__file__).resolve().parent.parent  # the checkout, for an editable install
_RUN_ID: str | None = None
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")


def _is_checkout(p: Path) -> bool:
    return (p / "pyproject.toml").is_file() and (p / "vfi_lib").is_dir()


def project_root() -> Path:
    """``$VFI_HOME``, else the checkout holding this package, else the working directory."""
    env = os.environ.get("VFI_HOME", "").strip()
    if env:
        return Path(env).expanduser().resolve()
    return REPO_ROOT if _is_checkout(REPO_ROOT) else Path.cwd()


def project_path(path: str | Path) -> Path:
    """``path`` itself when absolute (``~`` expanded), else relative to :func:`project_root`."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else project_root() / p


def _folder(value: str | Path | None, default: str, env: str) -> Path:
    """A configured folder: ``value`` unless it is empty or the default name, then ``$env`` or ``default``."""
    value = "" if value is None else str(value)
    if value in ("", default):
        override = os.environ.get(env, "").strip()
        return project_path(override or default)
    return project_path(value)


def ckpt_root(value: str | Path | None = None) -> Path:
    """Checkpoint folder (``ckpt/<exp>/latest.pt`` ...): ``value``, else ``$VFI_CKPT_DIR``, else ``ckpt``."""
    return _folder(value, "ckpt", "VFI_CKPT_DIR")


def log_root(value: str | Path | None = None) -> Path:
    """Run-log folder (``log/<exp>/metrics.jsonl``, TensorBoard): ``value``, else ``$VFI_LOG_DIR``, else ``log``."""
    return _folder(value, "log", "VFI_LOG_DIR")


def is_smoke() -> bool:
    """True inside a smoke run (``$VFI_SMOKE`` set to 1/true by the notebook runner)."""
    return os.environ.get("VFI_SMOKE", "").strip().lower() in ("1", "true", "yes")


def outputs_root(smoke: bool | None = None) -> Path:
    """``outputs/`` (``$VFI_OUTPUTS`` overrides); ``outputs/smoke/`` for smoke runs."""
    root = _folder(None, "outputs", "VFI_OUTPUTS")
    smoke = is_smoke() if smoke is None else smoke
    return root / "smoke" if smoke else root


def outputs_dir(kind: str, smoke: bool | None = None, create: bool = True) -> Path:
    """``outputs[/smoke]/<kind>`` (``figures``, ``tables``, ``benchmarks``), created unless ``create=False``."""
    if not kind or "/" in kind or kind.startswith("."):
        raise ValueError(f"outputs_dir: kind must be a folder name such as 'figures', got {kind!r}")
    d = outputs_root(smoke) / kind
    if create:
        d.mkdir(parents=True, exist_ok=True)
    return d


def notebooks_dir() -> Path:
    return project_root() / "notebooks"


def papermill_runs_dir() -> Path:
    """Executed notebook copies: ``papermill_runs/<run-id>/``."""
    return project_root() / "papermill_runs"


def run_id() -> str:
    """This process's run id: ``$VFI_RUN_ID`` (the notebook runner's), else ``YYYYmmdd-HHMMSS-<pid>``
    fixed at the first call, so every result file of one process carries the same id."""
    global _RUN_ID
    env = os.environ.get("VFI_RUN_ID", "").strip()
    if env:
        return safe_stem(env)
    if _RUN_ID is None:
        _RUN_ID = time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}"
    return _RUN_ID


def safe_stem(text: str) -> str:
    """``text`` with every run of characters other than letters, digits, ``_ . -`` replaced by ``-``."""
    out = _UNSAFE.sub("-", str(text)).strip("-.")
    if not out:
        raise ValueError(f"safe_stem: {text!r} has no usable characters for a file name")
    return out


def result_path(kind: str, stem: str, ext: str, out_dir: str | Path | None = None) -> Path:
    """``<out_dir or outputs[/smoke]/<kind>>/<stem>__<run id>.<ext>``: unique per run, settings in ``stem``.

    ``out_dir`` (e.g. a CLI's ``--out_dir``) resolves against the project root when relative.
    """
    d = project_path(out_dir) if out_dir is not None else outputs_dir(kind)
    d.mkdir(parents=True, exist_ok=True)
    return d / f"{safe_stem(stem)}__{run_id()}.{ext.lstrip('.')}"
