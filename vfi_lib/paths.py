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
- a result name already taken (the same settings twice in one run, e.g. under the notebook runner,
  whose run id is fixed for the whole run) gets ``-2``, ``-3``, ... before the extension
  (:func:`free_path`): an existing file is never replaced;
- smoke runs (``$VFI_SMOKE=1``, set by ``python -m vfi_lib.notebooks run --smoke``, i.e. ``make
  run``) write under ``outputs/smoke/`` and never touch the outputs of full runs; the notebooks'
  smoke trainings keep their ``ckpt/`` and ``log/`` under ``outputs/smoke/runs/<run id>/``
  (:func:`smoke_runs_dir`).

Caches (rebuildable, never results): the video-clip index (:func:`video_index_path`) lives beside
the footage, or under :func:`cache_dir` (``$XDG_CACHE_HOME/vfi_lib`` or ``~/.cache/vfi_lib``) when
the footage folder is read-only.
"""

from __future__ import annotations

import hashlib
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
    "path_tag",
    "free_path",
    "result_path",
    "smoke_runs_dir",
    "new_run_folder",
    "cache_dir",
    "VIDEO_INDEX_NAME",
    "video_index_path",
]

REPO_ROOT = Path(__file__).resolve().parent.parent  # the checkout, for an editable install
VIDEO_INDEX_NAME = ".vfi_video_index.json"  # the video-clip index kept beside the footage
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


_this_run_id = run_id  # for functions whose ``run_id`` argument hides it


def safe_stem(text: str) -> str:
    """``text`` with every run of characters other than letters, digits, ``_ . -`` replaced by ``-``."""
    out = _UNSAFE.sub("-", str(text)).strip("-.")
    if not out:
        raise ValueError(f"safe_stem: {text!r} has no usable characters for a file name")
    return out


def path_tag(path: str | Path, length: int = 6) -> str:
    """A short stable tag naming a data folder in result names: ``<last folder name>-<hash>``.

    The hash (``length`` hex digits of the SHA-1 of the resolved path) tells apart folders of the
    same name; the name (made safe, cut to 24 characters) keeps the tag readable. The same path
    always gives the same tag.
    """
    resolved = Path(path).expanduser().resolve()
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:length]
    name = _UNSAFE.sub("-", resolved.name).strip("-.")[:24].strip("-.")
    return f"{name}-{digest}" if name else digest


def free_path(path: str | Path) -> Path:
    """``path`` when nothing exists there, else the first free ``<stem>-2<suffix>``, ``-3``, ...

    The suffix is the last extension (``res.json`` -> ``res-2.json``). Only a check, not a lock:
    two processes asking at the same moment may get the same name.
    """
    path = Path(path)
    p, n = path, 1
    while p.exists() or p.is_symlink():
        n += 1
        p = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return p


def result_path(kind: str, stem: str, ext: str, out_dir: str | Path | None = None) -> Path:
    """``<out_dir or outputs[/smoke]/<kind>>/<stem>__<run id>.<ext>``: unique per run, settings in ``stem``.

    Never an existing file: when that name is taken (the same settings twice in one run, e.g. under
    the notebook runner, whose run id is fixed for the whole run) the name gets ``-2``, ``-3``, ...
    before the extension (``<stem>__<run id>-2.<ext>``; :func:`free_path`). ``out_dir`` (e.g. a
    CLI's ``--out_dir``) resolves against the project root when relative.
    """
    d = project_path(out_dir) if out_dir is not None else outputs_dir(kind)
    d.mkdir(parents=True, exist_ok=True)
    return free_path(d / f"{safe_stem(stem)}__{run_id()}.{ext.lstrip('.')}")


def smoke_runs_dir(run_id: str | None = None) -> Path:
    """``outputs/smoke/runs/<run id>/`` (created): the folders of smoke trainings started from the
    notebooks (their ``ckpt/`` and ``log/``), apart from full runs' ``ckpt/`` and ``log/``.

    ``run_id`` defaults to this process's :func:`run_id`; always under ``outputs/smoke/``, whether
    or not ``$VFI_SMOKE`` is set.
    """
    rid = safe_stem(run_id) if run_id else _this_run_id()
    d = outputs_root(smoke=True) / "runs" / rid
    d.mkdir(parents=True, exist_ok=True)
    return d


def new_run_folder(parent: str | Path, name: str) -> Path:
    """A newly created, empty folder ``<parent>/<name>`` (``<name>-2``, ``-3``, ... when taken).

    Created with an exclusive ``mkdir``, so two callers (threads or processes) never get the same one.
    """
    parent = project_path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    base, n = safe_stem(name), 1
    while True:
        d = parent / (base if n == 1 else f"{base}-{n}")
        try:
            d.mkdir()
            return d
        except FileExistsError:
            n += 1


def cache_dir(kind: str, create: bool = False) -> Path:
    """``$XDG_CACHE_HOME/vfi_lib/<kind>`` (``~/.cache/vfi_lib/<kind>`` without it): rebuildable caches."""
    if not kind or "/" in kind or kind.startswith("."):
        raise ValueError(f"cache_dir: kind must be a folder name such as 'video_index', got {kind!r}")
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    d = (Path(base).expanduser() if base else Path.home() / ".cache") / "vfi_lib" / kind
    if create:
        d.mkdir(parents=True, exist_ok=True)
    return d


def video_index_path(root: str | Path, index: str | os.PathLike | None = None) -> Path:
    """Where the scan index of the footage folder ``root`` lives (:class:`vfi_lib.data.VideoClips`).

    ``index`` a file: that file; a directory (existing, or ending in ``/``): ``<index>/<key>.json``;
    unset: ``<root>/.vfi_video_index.json`` when ``root`` is writable, else
    ``<cache_dir("video_index")>/<key>.json``, with ``key`` 16 hex digits of the SHA-1 of the
    resolved ``root`` (so two footage folders never share an index file).
    """
    root = Path(root)
    key = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:16]
    if index:
        p = Path(index)
        return p / f"{key}.json" if p.is_dir() or str(index).endswith(("/", os.sep)) else p
    if os.access(root, os.W_OK):
        return root / VIDEO_INDEX_NAME
    return cache_dir("video_index") / f"{key}.json"
