"""Where a forward pass spends its time, per submodule: the profile that names modules, not ops.

``module_breakdown(model, fn, device, runs, depth)`` hooks every submodule of ``model`` whose qualified
name has at most ``depth`` dots (``backbone``, ``flow.corr``, ``flow.blocks.0``, ``refine`` ...), calls
``fn`` ``runs`` times and returns, per module, the mean *inclusive* time per call of ``fn`` in ms (and
under :data:`CALL` the whole call's, over the same calls, so shares are consistent):
device time between CUDA events recorded in the module's pre/post forward hooks (stream order, so
asynchronous launches are measured where the GPU runs them), or wall time on the CPU. A module called
several times per forward (a shared block) is summed. Children are included in their parents, so only
siblings add up. Eager only: compiled graphs do not call the hooks of the modules they fused.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn as nn

from vfi_lib.speed.timer import sync

__all__ = ["module_breakdown", "format_breakdown", "CALL"]

CALL = "(whole call)"  # the key of the mean time of one ``fn`` call, timed over the same calls


def module_breakdown(model: nn.Module, fn: Callable[[], Any], device: torch.device | str, runs: int = 5,
                     depth: int = 2) -> dict[str, float]:
    """Mean inclusive ms per call of ``fn`` for each submodule of ``model`` at most ``depth`` levels deep
    (depth 0: the top-level children), in first-call order; modules that never ran are left out."""
    if runs < 1 or depth < 0:
        raise ValueError(f"module_breakdown: runs must be >= 1 and depth >= 0, got runs={runs}, depth={depth}")
    device = torch.device(device)
    cuda = device.type == "cuda"
    marks: dict[str, list[tuple[Any, Any]]] = {}
    open_marks: dict[str, list[Any]] = {}  # first-call order: a parent before its children
    handles = []

    def now() -> Any:
        if cuda:
            e = torch.cuda.Event(enable_timing=True)
            e.record()
            return e
        return time.perf_counter()

    def pre(name: str) -> Callable[..., None]:
        def hook(_m: nn.Module, _args: Any) -> None:
            open_marks.setdefault(name, []).append(now())
        return hook

    def post(name: str) -> Callable[..., None]:
        def hook(_m: nn.Module, _args: Any, _out: Any) -> None:
            marks.setdefault(name, []).append((open_marks[name].pop(), now()))
        return hook

    for name, mod in model.named_modules():
        if not name or name.count(".") > depth:
            continue
        handles.append(mod.register_forward_pre_hook(pre(name)))
        handles.append(mod.register_forward_hook(post(name)))
    try:
        sync(device)
        t0 = now()
        for _ in range(runs):
            fn()
        t1 = now()
        sync(device)
    finally:
        for h in handles:
            h.remove()
    out = {CALL: (t0.elapsed_time(t1) if cuda else (t1 - t0) * 1e3) / runs}
    for name in open_marks:
        if name not in marks:
            continue
        pairs = marks[name]
        ms = sum(a.elapsed_time(b) if cuda else (b - a) * 1e3 for a, b in pairs)
        out[name] = ms / runs
    return out


def format_breakdown(breakdown: dict[str, float]) -> str:
    """A text table of :func:`module_breakdown`: module (indented by depth), ms per call, share of the call."""
    total = breakdown.get(CALL)
    lines = [f"{'module':48s} {'ms/call':>9s}" + (f" {'share':>7s}" if total else "")]
    for name, ms in breakdown.items():
        label = name if name == CALL else "  " * name.count(".") + name
        lines.append(f"{label:48s} {ms:9.2f}" + (f" {100 * ms / total:6.1f}%" if total else ""))
    return "\n".join(lines)
