"""Checkpoint names -> files, as the thesis plan's ``--model phase1_hybrid_v2_best``.

Under ``ckpt_dir`` (default ``ckpt/``, or ``$VFI_CKPT_DIR``), experiment ``<exp>`` keeps
``ckpt/<exp>/best.pt``, ``latest.pt`` and ``epoch_NNN.pt``. Names resolve as:

- an existing file path -> itself;
- ``<exp>_best`` -> ``ckpt/<exp>/best.pt``; ``<exp>_latest`` -> ``ckpt/<exp>/latest.pt``;
- ``<exp>_epoch_NNN`` -> ``ckpt/<exp>/epoch_NNN.pt``;
- ``<exp>`` -> ``ckpt/<exp>/best.pt`` if present, else ``latest.pt``.

(The rules live in ``vfi_lib.train.checkpoint.resolve_checkpoint``; this module adds the
``$VFI_CKPT_DIR`` default and result-file names.)

A name that matches nothing raises ``CheckpointNotFoundError`` (a ``FileNotFoundError``) listing
the available names.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch.nn as nn

from vfi_lib.train.checkpoint import CKPT_KINDS as _KINDS
from vfi_lib.train.checkpoint import available_checkpoints
from vfi_lib.train.checkpoint import resolve_checkpoint as _resolve


def default_ckpt_dir() -> Path:
    return Path(os.environ.get("VFI_CKPT_DIR", "ckpt"))


def available(ckpt_dir: str | Path | None = None) -> list[str]:
    """Sorted names ``<exp>_best`` / ``<exp>_latest`` found under ``ckpt_dir``."""
    return available_checkpoints(ckpt_dir if ckpt_dir is not None else default_ckpt_dir())


def resolve_checkpoint(name: str | Path, ckpt_dir: str | Path | None = None) -> Path:
    """Resolve a checkpoint name or path to an existing file (see module doc)."""
    return _resolve(name, ckpt_dir if ckpt_dir is not None else default_ckpt_dir())


def load_named_model(name: str | Path, device: str = "cpu", ckpt_dir: str | Path | None = None) -> nn.Module:
    """Resolve ``name`` and load it with ``vfi_lib.train.checkpoint.load_model``, in eval mode."""
    from vfi_lib.train.checkpoint import load_model

    path = resolve_checkpoint(name, ckpt_dir)
    model = load_model(path, device=device)
    model.eval()
    return model


def display_name(name: str | Path, ckpt_dir: str | Path | None = None) -> str:
    """A short model name for result files: ``ckpt/<exp>/best.pt`` -> ``<exp>_best``, else the stem."""
    path = resolve_checkpoint(name, ckpt_dir)
    if path.stem in _KINDS or path.stem.startswith("epoch_"):
        return f"{path.parent.name}_{path.stem}"
    return path.stem
