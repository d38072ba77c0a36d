"""Learning-rate schedule: linear warmup, then cosine decay to a floor (Loshchilov & Hutter 2017).

``lr(s) = peak * (s + 1) / warmup``                                  for s < warmup
``lr(s) = floor + (peak - floor) * (1 + cos(pi * p)) / 2``, ``p = (s - warmup) / (total - warmup)``
after it (``p`` clipped to 1). ``s`` counts optimizer steps from 0. The schedule is a pure function
of the step, so resuming only needs the step (kept in ``state_dict``).
"""

from __future__ import annotations

import math

import torch


def warmup_cosine_lr(step: int, peak: float, floor: float, warmup: int, total: int) -> float:
    """Learning rate at optimizer step ``step`` (0-based); see the module docstring."""
    if warmup > 0 and step < warmup:
        return peak * (step + 1) / warmup
    span = max(1, total - warmup)
    p = min(1.0, max(0.0, (step - warmup) / span))
    return floor + (peak - floor) * 0.5 * (1.0 + math.cos(math.pi * p))


class WarmupCosine:
    """Sets ``lr`` of every param group of ``optimizer`` before each step (x the group's ``lr_scale``,
    default 1): ``sched.step()`` after it."""

    def __init__(self, optimizer: torch.optim.Optimizer, peak: float, floor: float, warmup: int, total: int) -> None:
        self.optimizer = optimizer
        self.peak, self.floor, self.warmup, self.total = peak, floor, warmup, total
        self.last_step = 0
        self._apply()

    def lr(self) -> float:
        return warmup_cosine_lr(self.last_step, self.peak, self.floor, self.warmup, self.total)

    def _apply(self) -> None:
        for g in self.optimizer.param_groups:
            g["lr"] = self.lr() * g.get("lr_scale", 1.0)

    def step(self) -> None:
        self.last_step += 1
        self._apply()

    def state_dict(self) -> dict[str, float | int]:
        return {"last_step": self.last_step, "peak": self.peak, "floor": self.floor, "warmup": self.warmup, "total": self.total}

    def load_state_dict(self, state: dict[str, float | int]) -> None:
        """Restore the position; peak/floor/warmup/total stay as configured now (they may change on resume)."""
        self.last_step = int(state["last_step"])
        self._apply()
