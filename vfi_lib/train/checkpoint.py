"""Training-side checkpoint logic: resume discovery (newest readable checkpoint of a run, corrupt-file
fallback) and the RNG states stored in every training checkpoint.

The format, atomic save/load, names -> files and ``load_model`` live in :mod:`vfi_lib.checkpoint`
(one home for every command); the public names are re-exported here for the documented
``from vfi_lib.train.checkpoint import save_checkpoint, load_checkpoint``.
"""

from __future__ import annotations

import random
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vfi_lib.checkpoint import (  # noqa: F401  (public re-exports)
    CheckpointError,
    CheckpointNotFoundError,
    IncompatibleCheckpointError,
    load_checkpoint,
    load_model,
    save_checkpoint,
)

__all__ = [
    "CheckpointError", "CheckpointNotFoundError", "IncompatibleCheckpointError", "load_checkpoint", "load_model",
    "save_checkpoint", "epoch_checkpoints", "resume_candidates", "find_resume_checkpoint", "capture_rng", "restore_rng",
]


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
