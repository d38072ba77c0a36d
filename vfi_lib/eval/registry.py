"""Checkpoint names -> files, as the thesis plan's ``--model phase1_hybrid_v2_best``.

Under ``ckpt_dir`` (default ``ckpt/``, or ``$VFI_CKPT_DIR``), experiment ``<exp>`` keeps
``ckpt/<exp>/best.pt``, ``latest.pt`` and ``epoch_NNN.pt``. Names resolve as:

- an existing file path -> itself;
- ``<exp>_best`` -> ``ckpt/<exp>/best.pt``; ``<exp>_latest`` -> ``ckpt/<exp>/latest.pt``;
- ``<exp>_epoch_NNN`` -> ``ckpt/<exp>/epoch_NNN.pt``;
- ``<exp>`` -> ``ckpt/<exp>/best.pt`` if present, else ``latest.pt``.

(The same rules as ``vfi_lib.train.checkpoint.resolve_checkpoint``; this one lists what exists
when a name is not found.)

Anything else raises ``FileNotFoundError`` listing the available names.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch.nn as nn

_KINDS = ("best", "latest")


def default_ckpt_dir() -> Path:
    return Path(os.environ.get("VFI_CKPT_DIR", "ckpt"))


def available(ckpt_dir: str | Path | None = None) -> list[str]:
    """Sorted names ``<exp>_best`` / ``<exp>_latest`` found under ``ckpt_dir``."""
    root = Path(ckpt_dir) if ckpt_dir is not None else default_ckpt_dir()
    if not root.is_dir():
        return []
    return sorted(f"{d.name}_{k}" for d in root.iterdir() if d.is_dir() for k in _KINDS if (d / f"{k}.pt").is_file())


def resolve_checkpoint(name: str | Path, ckpt_dir: str | Path | None = None) -> Path:
    """Resolve a checkpoint name or path to an existing file (see module doc)."""
    root = Path(ckpt_dir) if ckpt_dir is not None else default_ckpt_dir()
    p = Path(name)
    if p.is_file():
        return p
    s = str(name)
    candidates: list[Path] = []
    for kind in _KINDS:
        if s.endswith(f"_{kind}"):
            candidates.append(root / s[: -len(kind) - 1] / f"{kind}.pt")
    exp, _, num = s.rpartition("_epoch_")
    if exp and num.isdigit():
        candidates.append(root / exp / f"epoch_{int(num):03d}.pt")
    candidates += [root / s / "best.pt", root / s / "latest.pt"]
    for c in candidates:
        if c.is_file():
            return c
    names = available(root)
    listing = ", ".join(names) if names else f"none (no <exp>/best.pt or latest.pt under {root}/)"
    raise FileNotFoundError(f"checkpoint {s!r} not found (tried a file path and {root}/<exp>/best.pt|latest.pt); "
                            f"available: {listing}")


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
