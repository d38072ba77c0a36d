"""Checkpoints: the file format, atomic writes, ``weights_only`` loads, names -> files, ``load_model``.

The one home of the checkpoint concept for every command (training, evaluation, inference, speed
tests). Resume discovery and RNG states, which only training needs, live in
:mod:`vfi_lib.train.checkpoint`.

Layout: ``<ckpt_dir>/<exp>/latest.pt`` (+ ``previous.pt``, the latest before it), ``best.pt`` (best
validation PSNR) and ``epoch_NNN.pt`` (state after epoch NNN, 0-based); ``ckpt_dir`` defaults to
:func:`vfi_lib.paths.ckpt_root` (``<project>/ckpt`` or ``$VFI_CKPT_DIR``). A checkpoint is a dict of
tensors and plain containers only, so ``torch.load(weights_only=True)`` reads it:

``format, version, config (Config.to_dict()), model, ema (or None), optimizer, scaler (or None),
scheduler, rng (list, one entry per rank: python/numpy/torch/cuda states as tensors),
train_state {epoch, step, step_in_epoch, samples_in_epoch, best_psnr, world_size, ...}``.

Writes go to a temporary file in the same directory, are fsync'ed, moved over the target with
``os.replace`` and the directory is fsync'ed, so a crash leaves either the old or the new file.

Names (the thesis plan's ``--model phase1_hybrid_v2_best``) resolve as: an existing file path ->
itself; ``<exp>_best`` / ``<exp>_latest`` -> ``<ckpt_dir>/<exp>/{best,latest}.pt``;
``<exp>_epoch_NNN`` -> ``epoch_NNN.pt``; ``<exp>`` -> ``best.pt`` if present, else ``latest.pt``.
A name that matches nothing raises :class:`CheckpointNotFoundError` listing the available names.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

import torch

from vfi_lib.paths import ckpt_root

FORMAT = "vfi_lib.ckpt/1"
REQUIRED_KEYS = ("format", "config", "model")
# Model fields that do not change the weights: they may differ between a checkpoint and a run.
RUNTIME_MODEL_FIELDS = frozenset({"ssm_backend", "chunk_size", "matvlm_init"})


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, truncated/corrupt, or not a vfi_lib checkpoint."""


class IncompatibleCheckpointError(CheckpointError):
    """A checkpoint was written for a different model configuration (phase, widths, ...)."""


# ----------------------------------------------------------------------------- save / load
def fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:  # e.g. Windows: directories cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_checkpoint(path: str | Path, *, keep_previous: bool = False, **state: Any) -> Path:
    """Atomically write ``state`` (tensors and plain containers) to ``path``.

    keep_previous: first move an existing ``path`` to ``previous.pt`` in the same directory (the
    fallback when the new file is later found corrupt). Returns the path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state.setdefault("format", FORMAT)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        if keep_previous and path.exists():
            os.replace(path, path.parent / "previous.pt")
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu", cfg: Any = None) -> dict[str, Any]:
    """Read a checkpoint with ``torch.load(weights_only=True)``.

    Raises :class:`CheckpointError` naming the file when it is missing, truncated or corrupt, and
    :class:`IncompatibleCheckpointError` listing the differing model fields when ``cfg`` (a
    :class:`~vfi_lib.config.Config`) describes another model.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        raise CheckpointError(unreadable_reason(path, e)) from None
    if not isinstance(state, dict) or any(k not in state for k in REQUIRED_KEYS):
        keys = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"checkpoint {str(path)!r} is not a vfi_lib checkpoint (keys: {keys})")
    if cfg is not None:
        check_compatible(state["config"], cfg, path)
    return state


_UNSAFE_GLOBAL = re.compile(r"Unsupported global: GLOBAL (\S+)")


def unreadable_reason(path: str | Path, exc: BaseException) -> str:
    """The one-line reason ``torch.load(path, weights_only=True)`` failed with ``exc``.

    A fixed sentence, never torch's advice (its "re-run with ``weights_only=False``" is wrong for a
    truncated file and unsafe for a foreign one): a pickle naming a Python object that weights-only
    loading refuses gets its own line naming that object; anything else (truncated, empty, not a
    torch file) is "corrupt or truncated" with the file size.
    """
    path = Path(path)
    try:
        size = f"{path.stat().st_size} bytes"
    except OSError:
        size = "size unknown"
    m = _UNSAFE_GLOBAL.search(str(exc))
    if m:
        return (f"checkpoint {str(path)!r} holds a Python object ({m.group(1)}) that a weights-only load refuses "
                f"({size}; corrupt, or not written by vfi_lib)")
    return f"checkpoint {str(path)!r} is corrupt or truncated ({size}; not a readable torch checkpoint)"


def model_config_diff(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """``"field: checkpoint=A, current=B"`` for each model field that changes the weights (the runtime
    fields and, when both use the same flow architecture, the fields it does not read are skipped)."""
    from vfi_lib.config import FLOW_ARCH_UNUSED_FIELDS

    arch = saved.get("flow_arch")
    unused = FLOW_ARCH_UNUSED_FIELDS.get(arch, frozenset()) if arch == current.get("flow_arch") else frozenset()
    diffs = []
    for key in sorted(set(saved) | set(current)):
        if key in RUNTIME_MODEL_FIELDS or key in unused:
            continue
        a, b = saved.get(key, "<missing>"), current.get(key, "<missing>")
        if a != b:
            diffs.append(f"{key}: checkpoint={a!r}, current={b!r}")
    return diffs


def check_compatible(saved_cfg: dict[str, Any], cfg: Any, path: str | Path = "") -> None:
    """Raise :class:`IncompatibleCheckpointError` if the checkpoint's model config differs from ``cfg``."""
    from vfi_lib.config import upgrade_saved_config

    current = cfg.to_dict()["model"]
    diffs = model_config_diff(upgrade_saved_config(saved_cfg).get("model", {}), current)
    if diffs:
        raise IncompatibleCheckpointError(
            f"checkpoint {str(path)!r} was trained with a different model configuration:\n  "
            + "\n  ".join(diffs)
            + "\nUse the matching --phase/--tiny/model flags, another --exp_name, or --no_resume to start fresh."
        )


# ----------------------------------------------------------------------------- names -> files
class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """No checkpoint file for a name; the message lists the names that exist."""


CKPT_KINDS = ("best", "latest")


def available_checkpoints(ckpt_dir: str | Path | None = None) -> list[str]:
    """Sorted names ``<exp>_best`` / ``<exp>_latest`` found under ``ckpt_dir`` (default: the project's)."""
    root = ckpt_root(ckpt_dir)
    if not root.is_dir():
        return []
    return sorted(f"{d.name}_{k}" for d in root.iterdir() if d.is_dir() for k in CKPT_KINDS if (d / f"{k}.pt").is_file())


def resolve_checkpoint(path_or_name: str | Path, ckpt_dir: str | Path | None = None) -> Path:
    """An existing file, or a run name resolved under ``ckpt_dir`` (module doc); raises
    :class:`CheckpointNotFoundError` listing the available names."""
    p = Path(path_or_name).expanduser()
    if p.is_file():
        return p
    name, root = str(path_or_name), ckpt_root(ckpt_dir)
    candidates = [root / name[: -len(k) - 1] / f"{k}.pt" for k in CKPT_KINDS if name.endswith(f"_{k}")]
    exp, _, num = name.rpartition("_epoch_")
    if exp and num.isdigit():
        candidates.append(root / exp / f"epoch_{int(num):03d}.pt")
    candidates += [root / name / "best.pt", root / name / "latest.pt"]
    for c in candidates:
        if c.is_file():
            return c
    names = available_checkpoints(root)
    listing = ", ".join(names) if names else f"none (no <exp>/best.pt or latest.pt under {root}/)"
    raise CheckpointNotFoundError(
        f"checkpoint {name!r} not found (tried the path and {', '.join(map(str, candidates))}); available: {listing}"
    )


def display_name(path_or_name: str | Path, ckpt_dir: str | Path | None = None) -> str:
    """A short model name for result files: ``ckpt/<exp>/best.pt`` -> ``<exp>_best``, else the file stem."""
    path = resolve_checkpoint(path_or_name, ckpt_dir)
    if path.stem in CKPT_KINDS or path.stem.startswith("epoch_"):
        return f"{path.parent.name}_{path.stem}"
    return path.stem


# ----------------------------------------------------------------------------- model loading
def load_model(
    path_or_name: str | Path,
    device: str | torch.device = "cpu",
    ema: bool = True,
    ckpt_dir: str | Path | None = None,
    **model_overrides: Any,
) -> torch.nn.Module:
    """Rebuild the model from a checkpoint's config and load its weights (EMA if present and ``ema``).

    ``model_overrides`` change runtime model fields (:data:`RUNTIME_MODEL_FIELDS`), e.g.
    ``ssm_backend="torch"`` to run a checkpoint trained with the Triton kernels on a CPU. The model
    is returned in eval mode on ``device``; ``model.checkpoint_path`` records the file.
    """
    from vfi_lib.config import Config, upgrade_saved_config
    from vfi_lib.model import build_model

    bad = sorted(set(model_overrides) - RUNTIME_MODEL_FIELDS)
    if bad:
        raise ValueError(f"load_model: {bad} change the weights; only {sorted(RUNTIME_MODEL_FIELDS)} can be overridden")
    path = resolve_checkpoint(path_or_name, ckpt_dir)
    state = load_checkpoint(path)
    cfg = Config.from_dict(upgrade_saved_config(state["config"]))
    overrides = {f"model.{k}": v for k, v in model_overrides.items() if v is not None}
    if overrides:
        cfg = cfg.override(**overrides)
    model = build_model(cfg)
    use_ema = ema and state.get("ema") is not None
    weights = state["ema"]["module"] if use_ema else state["model"]
    try:
        model.load_state_dict(weights)
    except RuntimeError as e:
        raise IncompatibleCheckpointError(
            f"checkpoint {str(path)!r} does not match the model built from its own config "
            f"(library version now {_version()}, checkpoint {state.get('version', '?')}): {str(e).splitlines()[0]}"
        ) from None
    model.checkpoint_path = str(path)
    return model.to(device).eval()


def _version() -> str:
    from vfi_lib import __version__

    return __version__
