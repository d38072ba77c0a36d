"""The one timer and the one memory unit of the speed tools.

``time_fn(fn, device, warmup, runs)`` calls ``fn`` ``warmup`` times, then times ``runs`` calls, each
bracketed by ``torch.cuda.synchronize`` on CUDA (wall clock, ``time.perf_counter``), and returns
:class:`Timing` (median, p90, mean, min in ms; the median is the number to report). Memory is
reported in GiB (2**30 bytes): :func:`peak_memory_gib` is ``torch.cuda.max_memory_allocated``
since the last :func:`reset_peak_memory` on CUDA, and the process's peak resident set size
(``ru_maxrss``, which includes the Python process itself) on CPU.
"""

from __future__ import annotations

import resource
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np
import torch

__all__ = ["Timing", "time_fn", "sync", "reset_peak_memory", "peak_memory_gib", "device_name", "GIB"]

GIB = 2.0**30


@dataclass(frozen=True)
class Timing:
    """Wall-clock statistics of ``runs`` calls, in milliseconds."""

    median_ms: float
    p90_ms: float
    mean_ms: float
    min_ms: float
    runs: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def sync(device: torch.device | str) -> None:
    """Wait for queued GPU work (no-op on CPU)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_fn(fn: Callable[[], Any], device: torch.device | str, warmup: int = 3, runs: int = 10) -> Timing:
    """Median/p90/mean/min wall time of ``fn`` in ms over ``runs`` calls after ``warmup`` calls."""
    if runs < 1 or warmup < 0:
        raise ValueError(f"time_fn: runs must be >= 1 and warmup >= 0, got runs={runs}, warmup={warmup}")
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append((time.perf_counter() - t0) * 1e3)
    a = np.asarray(times)
    return Timing(float(np.median(a)), float(np.percentile(a, 90)), float(a.mean()), float(a.min()), runs)


def reset_peak_memory(device: torch.device | str) -> None:
    """Start a new peak-memory window on CUDA (frees the caching allocator's unused blocks first)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_gib(device: torch.device | str) -> float:
    """Peak GPU memory allocated since :func:`reset_peak_memory` (CUDA) or the process's peak RSS (CPU), GiB."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / GIB
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return rss * (1.0 if sys.platform == "darwin" else 1024.0) / GIB


def device_name(device: torch.device | str) -> str:
    import platform

    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine() or "cpu"
