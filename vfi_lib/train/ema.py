"""Exponential moving average of model weights (Polyak averaging; as in timm's ``ModelEmaV2``).

After each optimizer step: ``ema = decay * ema + (1 - decay) * w`` for floating-point parameters
and buffers; integer buffers are copied. The effective decay is warmed up as
``min(decay, (1 + n) / (10 + n))`` (n = updates so far) so early averages are not dominated by the
random initialisation.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class ModelEMA:
    """Holds a frozen copy ``self.module`` of ``model`` and updates it with :meth:`update`."""

    def __init__(self, model: nn.Module, decay: float = 0.999) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {decay}")
        self.module = copy.deepcopy(model).eval()
        self.module.requires_grad_(False)
        self.decay = decay
        self.updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))
        src = model.state_dict()
        for name, e in self.module.state_dict().items():
            w = src[name].detach()
            if e.dtype.is_floating_point:
                e.lerp_(w.to(e.dtype), 1.0 - d)  # e = d * e + (1 - d) * w
            else:
                e.copy_(w)

    def state_dict(self) -> dict:
        return {"module": self.module.state_dict(), "updates": self.updates, "decay": self.decay}

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["module"])
        self.updates = int(state["updates"])
