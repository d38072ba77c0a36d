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
``mode="regional"`` compiles only the repeated heavy blocks in place (every LGS block, IFNet block, the
refinement U-Net and the conv encoders: :func:`region_types`) and leaves the glue (padding, warps, cost
volumes) eager: blocks of one shape share their compiled code, so the first call compiles far less
(PyTorch's "regional compilation"); checkpoints and module names are unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

from vfi_lib.config import COMPILE_MODES
from vfi_lib.ssm.mamba2 import set_ssm_backend



def compile_model(model: nn.Module, mode: str = "default", ssm_backend: str = "torch") -> nn.Module:
    """``torch.compile(model)`` with static shapes; ``mode``: "off" (return ``model``), "default", "cudagraphs",
    "regional" (:func:`compile_regions`: the blocks compiled in place, ``model`` itself returned).

    Sets the SSM backend of ``model`` itself to ``ssm_backend`` (default "torch": one graph) unless ``mode``
    is "off". The returned module shares parameters with ``model``; the first call of each input size
    compiles (tens of seconds to minutes).
    """
    if mode not in COMPILE_MODES:
        raise ValueError(f"compile mode must be one of {', '.join(COMPILE_MODES)}, got {mode!r}")
    if mode == "off":
        return model
    set_ssm_backend(model, ssm_backend)
    if mode == "regional":
        return compile_regions(model)
    return torch.compile(model, dynamic=False, mode="reduce-overhead" if mode == "cudagraphs" else None)


def region_types() -> tuple[type[nn.Module], ...]:
    """The module classes that ``mode="regional"`` compiles: the repeated, compute-heavy blocks."""
    from vfi_lib.model.backbone import ConvEncoder, SynthesisHead
    from vfi_lib.model.flow import IFBlock
    from vfi_lib.model.refine import RefineUNet
    from vfi_lib.modules.lgs_block import LGSBlock

    return (LGSBlock, IFBlock, RefineUNet, ConvEncoder, SynthesisHead)


def compile_regions(model: nn.Module) -> nn.Module:
    """Compile every outermost :func:`region_types` module of ``model`` in place (``nn.Module.compile``,
    static shapes); returns ``model`` itself (same parameters, same state_dict keys).

    Side effect: every region compiles the one code object ``nn.Module._call_impl``, so dynamo's cache
    limits (process-wide settings) are raised to at least 64 entries per code object and 512 in all; they
    are never lowered, and a caller's higher values are kept."""
    types = region_types()
    # every region compiles nn.Module._call_impl (one code object): room for one cache entry per block shape
    torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 64)
    torch._dynamo.config.accumulated_cache_size_limit = max(torch._dynamo.config.accumulated_cache_size_limit, 512)
    done: list[str] = []
    for name, m in model.named_modules():
        if isinstance(m, types) and not any(name.startswith(d + ".") for d in done):
            m.compile(dynamic=False)
            done.append(name)
    if not done:
        raise ValueError(f"compile mode 'regional': {type(model).__name__} has no "
                         f"{'/'.join(t.__name__ for t in types)} module to compile; use 'default'")
    return model


__all__ = ["COMPILE_MODES", "compile_model", "compile_regions", "region_types"]
