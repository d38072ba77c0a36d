"""vfi_lib.speed: speed and memory measurements (never timed tests).

- ``python -m vfi_lib.speed`` (``make bench``, :mod:`.stack`): SSD backends, one LGS stage per
  ablation, full-model training steps and 1080p/4K inference, eager vs compiled.
- ``python -m vfi_lib.speed.timetest`` (:mod:`.timetest`): the peers' TimeTest at a fixed input size
  for any model the shared flags name (checkpoint, baseline, peer, untrained preset).
- ``python -m vfi_lib.speed.ssd`` (:mod:`.ssd`): the SSD grid (naive, chunked eager/compiled, Triton).

All share one timer and one memory unit (GiB): :mod:`.timer`. Each prints a table and writes JSON
under ``outputs/benchmarks/`` with the run id in the name (:func:`vfi_lib.paths.result_path`).
"""

from vfi_lib.speed.timer import Timing, peak_memory_gib, reset_peak_memory, time_fn

__all__ = ["Timing", "peak_memory_gib", "reset_peak_memory", "time_fn"]
