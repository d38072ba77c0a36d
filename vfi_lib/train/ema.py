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
        """One EMA step from ``model``'s current weights: the floating-point tensors in one ``_foreach_lerp_``
        per dtype (a few kernels instead of one per tensor), the integer ones copied."""
        self.updates += 1
        d = min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))
        src = model.state_dict()
        groups: dict[torch.dtype, tuple[list[torch.Tensor], list[torch.Tensor]]] = {}
        for name, e in self.module.state_dict().items():
            w = src[name].detach()
            if e.dtype.is_floating_point:
                dst, new = groups.setdefault(e.dtype, ([], []))
                dst.append(e)
                new.append(w.to(e.dtype))
            else:
                e.copy_(w)
        for dst, new in groups.values():
            torch._foreach_lerp_(dst, new, 1.0 - d)  # e = d * e + (1 - d) * w

    def state_dict(self) -> dict:
        return {"module": self.module.state_dict(), "updates": self.updates, "decay": self.decay}

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["module"])
        self.updates = int(state["updates"])
