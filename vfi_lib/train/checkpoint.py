"""Checkpoints: atomic writes, ``weights_only`` loads, corrupt-file fallback, config compatibility.

Layout: ``<ckpt_dir>/<exp>/latest.pt`` (+ ``previous.pt``, the latest before it), ``best.pt`` (best
validation PSNR) and ``epoch_NNN.pt`` (state after epoch NNN, 0-based). A checkpoint is a dict of
tensors and plain containers only, so ``torch.load(weights_only=True)`` reads it:

``format, version, config (Config.to_dict()), model, ema (or None), optimizer, scaler (or None),
scheduler, rng (list, one entry per rank: python/numpy/torch/cuda states as tensors),
train_state {epoch, step, step_in_epoch, samples_in_epoch, best_psnr, world_size, ...}``.

Writes go to a temporary file in the same directory, are fsync'ed, moved over the target with
``os.replace`` and the directory is fsync'ed, so a crash leaves either the old or the new file.
"""

from __future__ import annotations

import os
import random
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

FORMAT = "vfi_lib.ckpt/1"
REQUIRED_KEYS = ("format", "config", "model")
# Model fields that do not change the weights: they may differ between a checkpoint and a run.
RUNTIME_MODEL_FIELDS = frozenset({"ssm_backend", "chunk_size", "matvlm_init"})


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, truncated/corrupt, or not a vfi_lib checkpoint."""


class IncompatibleCheckpointError(CheckpointError):
    """A checkpoint was written for a different model configuration (phase, widths, ...)."""


# ----------------------------------------------------------------------------- save / load
def _fsync_dir(d: Path) -> None:
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
        _fsync_dir(path.parent)
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
        size = path.stat().st_size
        raise CheckpointError(
            f"checkpoint {str(path)!r} is corrupt or truncated ({size} bytes; {type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else ''})"
        ) from None
    if not isinstance(state, dict) or any(k not in state for k in REQUIRED_KEYS):
        keys = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"checkpoint {str(path)!r} is not a vfi_lib checkpoint (keys: {keys})")
    if cfg is not None:
        check_compatible(state["config"], cfg, path)
    return state


def model_config_diff(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """``"field: checkpoint=A, current=B"`` for each model field that changes the weights."""
    diffs = []
    for key in sorted(set(saved) | set(current)):
        if key in RUNTIME_MODEL_FIELDS:
            continue
        a, b = saved.get(key, "<missing>"), current.get(key, "<missing>")
        if a != b:
            diffs.append(f"{key}: checkpoint={a!r}, current={b!r}")
    return diffs


def check_compatible(saved_cfg: dict[str, Any], cfg: Any, path: str | Path = "") -> None:
    """Raise :class:`IncompatibleCheckpointError` if the checkpoint's model config differs from ``cfg``."""
    current = cfg.to_dict()["model"]
    diffs = model_config_diff(saved_cfg.get("model", {}), current)
    if diffs:
        raise IncompatibleCheckpointError(
            f"checkpoint {str(path)!r} was trained with a different model configuration:\n  "
            + "\n  ".join(diffs)
            + "\nUse the matching --phase/--tiny/model flags, another --exp_name, or --no_resume to start fresh."
        )


# ----------------------------------------------------------------------------- resume discovery
def epoch_checkpoints(exp_dir: str | Path) -> list[Path]:
    """``epoch_NNN.pt`` files of ``exp_dir``, newest epoch first."""
    files = [p for p in Path(exp_dir).glob("epoch_*.pt") if p.stem[6:].isdigit()]
    return sorted(files, key=lambda p: int(p.stem[6:]), reverse=True)


def resume_candidates(exp_dir: str | Path) -> list[Path]:
    """Files to try when resuming, in order: latest.pt, previous.pt, newest epoch_NNN.pt ..."""
    d = Path(exp_dir)
    return [p for p in (d / "latest.pt", d / "previous.pt") if p.exists()] + epoch_checkpoints(d)


def find_resume_checkpoint(
    exp_dir: str | Path, map_location: str | torch.device = "cpu", cfg: Any = None, log: Any = print
) -> tuple[Path, dict[str, Any]] | None:
    """Load the newest good checkpoint of ``exp_dir``; corrupt ones are reported and skipped.

    Returns (path, state) or None when the directory holds no checkpoint. Raises
    :class:`CheckpointError` when checkpoints exist but none can be read, and
    :class:`IncompatibleCheckpointError` for a checkpoint of another model.
    """
    candidates = resume_candidates(exp_dir)
    if not candidates:
        return None
    errors: list[str] = []
    good: list[tuple[Path, dict[str, Any]]] = []
    for p in candidates:
        try:
            state = load_checkpoint(p, map_location, cfg)
        except IncompatibleCheckpointError:
            raise
        except CheckpointError as e:
            log(f"WARNING: {e}; falling back to an older checkpoint")
            errors.append(str(e))
            continue
        good.append((p, state))
        # latest.pt is the newest by construction; otherwise compare previous.pt with the newest
        # readable epoch file (an epoch file may be newer than previous.pt)
        if p.name == "latest.pt" or p.name.startswith("epoch_"):
            break
    best = max(good, key=lambda ps: _step(ps[1])) if good else None
    if best is None:
        raise CheckpointError(
            f"no readable checkpoint in {str(exp_dir)!r}: " + "; ".join(errors)
            + ". Remove the files or pass --no_resume to start fresh."
        )
    return best


def _step(state: dict[str, Any]) -> int:
    return int(state.get("train_state", {}).get("step", -1))


# ----------------------------------------------------------------------------- RNG states
def capture_rng() -> dict[str, Any]:
    """Python, numpy, torch (CPU) and CUDA RNG states as tensors / plain values."""
    version, mt, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_cached = np.random.get_state()
    return {
        "python": {"version": int(version), "state": torch.tensor(mt, dtype=torch.int64), "gauss": gauss},
        "numpy": {
            "name": str(np_name),
            "keys": torch.from_numpy(np_keys.astype(np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "cached": float(np_cached),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng(rng: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng`."""
    py = rng["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    n = rng["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    torch.set_rng_state(rng["torch"].cpu())
    if rng.get("cuda") and torch.cuda.is_available():
        cuda_states = [s.cpu() for s in rng["cuda"]]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)
        else:
            warnings.warn(f"checkpoint has {len(cuda_states)} CUDA RNG states, {torch.cuda.device_count()} devices now; CUDA RNG not restored")


# ----------------------------------------------------------------------------- model loading
class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """No checkpoint file for a name; the message lists the names that exist."""


CKPT_KINDS = ("best", "latest")


def available_checkpoints(ckpt_dir: str | Path = "ckpt") -> list[str]:
    """Sorted names ``<exp>_best`` / ``<exp>_latest`` found under ``ckpt_dir``."""
    root = Path(ckpt_dir)
    if not root.is_dir():
        return []
    return sorted(f"{d.name}_{k}" for d in root.iterdir() if d.is_dir() for k in CKPT_KINDS if (d / f"{k}.pt").is_file())


def resolve_checkpoint(path_or_name: str | Path, ckpt_dir: str | Path = "ckpt") -> Path:
    """A file path, or a run name as the thesis plan's ``--model phase1_hybrid_v2_best``:
    ``<exp>_best``, ``<exp>_latest``, ``<exp>_epoch_NNN``, or ``<exp>`` (best.pt, else latest.pt)
    under ``ckpt_dir``. Raises :class:`CheckpointNotFoundError` listing the available names."""
    p = Path(path_or_name)
    if p.is_file():
        return p
    name, root = str(path_or_name), Path(ckpt_dir)
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


def load_model(
    path_or_name: str | Path, device: str | torch.device = "cpu", ema: bool = True, ckpt_dir: str | Path = "ckpt", **model_overrides: Any
) -> torch.nn.Module:
    """Rebuild the model from a checkpoint's config and load its weights (EMA if present and ``ema``).

    ``model_overrides`` change runtime model fields, e.g. ``ssm_backend="torch"``. The model is
    returned in eval mode on ``device``.
    """
    from vfi_lib.config import Config
    from vfi_lib.model import build_model

    path = resolve_checkpoint(path_or_name, ckpt_dir)
    state = load_checkpoint(path)
    cfg = Config.from_dict(state["config"])
    if model_overrides:
        cfg = cfg.override(**{f"model.{k}": v for k, v in model_overrides.items()})
    model = build_model(cfg)
    use_ema = ema and state.get("ema") is not None
    weights = state["ema"]["module"] if use_ema else state["model"]
    try:
        model.load_state_dict(weights)
    except RuntimeError as e:
        raise IncompatibleCheckpointError(
            f"checkpoint {str(path)!r} does not match the model built from its own config "
            f"(library version now {_version()}, checkpoint {state.get('version', '?')}): {e}"
        ) from None
    return model.to(device).eval()


def _version() -> str:
    from vfi_lib import __version__

    return __version__
