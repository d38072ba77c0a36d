"""Inference/training precision: the one autocast helper of the library.

Precisions are named ``fp32`` (no autocast), ``bf16`` and ``fp16`` everywhere (CLI flags, configs,
result files). ``autocast(device, "bf16")`` is ``torch.autocast`` on that device type; ``fp16`` on
a CPU is refused with a clear message (CPU autocast supports bf16 only).
"""

from __future__ import annotations

import contextlib

import torch

__all__ = ["DTYPES", "torch_dtype", "autocast"]

DTYPES = ("fp32", "bf16", "fp16")
_TORCH = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def torch_dtype(name: str | None) -> torch.dtype | None:
    """``"bf16"`` -> torch.bfloat16, ``"fp16"`` -> torch.float16, ``"fp32"``/None -> None (no autocast)."""
    if name is None:
        return None
    if name not in _TORCH:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {name!r}")
    return _TORCH[name]


def autocast(device: torch.device | str, dtype: str | torch.dtype | None) -> contextlib.AbstractContextManager:
    """``torch.autocast`` for ``dtype`` on ``device``'s type, or a null context for fp32/None."""
    dt = dtype if isinstance(dtype, torch.dtype) or dtype is None else torch_dtype(dtype)
    if dt is None or dt == torch.float32:
        return contextlib.nullcontext()
    dev = torch.device(device)
    if dev.type == "cpu" and dt == torch.float16:
        raise ValueError("dtype fp16 autocast needs a GPU; use bf16 or fp32 on the CPU")
    return torch.autocast(device_type=dev.type, dtype=dt)
