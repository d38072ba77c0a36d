"""torch.compile for inference and training (one home for the compile arguments): the whole model as
one Inductor graph.

``compile_model(model, mode)`` switches every SSD user to our torch scan (mamba_ssm's Triton kernels
are opaque to the compiler: each call would be a graph break) and compiles with static shapes. Measured
on one H100 (bf16, outputs/reference/README.md): Phase 1 at 1080p 63.0 -> 29.3 ms per frame pair,
Phase-1 training step (b8, 256x256) 68.8 -> 35.5 ms, after a compilation of 40-180 s; on CPU
(2 threads, fp32) Phase 1 at 256x256 957 -> 345 ms after 59 s. Every new input
size compiles again, so compile for long runs at one resolution (a video, a benchmark), not for a few
frames. ``mode="cudagraphs"`` also records CUDA graphs (torch.compile mode "reduce-overhead"): one graph
replay per call; at 1080p it gained only 2% over "default" because the GPU is already busy.
"""

from __future__ import annotations

import torch
from torch import nn

from vfi_lib.config import COMPILE_MODES
from vfi_lib.ssm.mamba2 import set_ssm_backend



def compile_model(model: nn.Module, mode: str = "default", ssm_backend: str = "torch") -> nn.Module:
    """``torch.compile(model)`` with static shapes; ``mode``: "off" (return ``model``), "default", "cudagraphs".

    Sets the SSM backend of ``model`` itself to ``ssm_backend`` (default "torch": one graph) unless ``mode``
    is "off". The returned module shares parameters with ``model``; the first call of each input size
    compiles (tens of seconds to minutes).
    """
    if mode not in COMPILE_MODES:
        raise ValueError(f"compile mode must be one of {', '.join(COMPILE_MODES)}, got {mode!r}")
    if mode == "off":
        return model
    set_ssm_backend(model, ssm_backend)
    return torch.compile(model, dynamic=False, mode="reduce-overhead" if mode == "cudagraphs" else None)


__all__ = ["COMPILE_MODES", "compile_model"]
