"""A tiny registry of named model variants (timm-style), built from the config presets.

``create_model("phase1_mamba2_only", tiny=True)`` = ``build_model(preset("phase1", tiny=True,
**ABLATIONS["mamba2_only"]))``. Register more with ``register_model(name, preset, **overrides)``.
"""

from __future__ import annotations

from typing import Any

import torch.nn as nn

from vfi_lib.config import ABLATIONS, Config, preset
from vfi_lib.model.thesis_model import ThesisModel

__all__ = ["build_model", "count_parameters", "register_model", "list_models", "create_model", "model_config"]

_REGISTRY: dict[str, tuple[str, dict[str, Any]]] = {}


def build_model(cfg: Config) -> ThesisModel:
    """The network described by ``cfg`` (phase 1 or phase 2/3 from ``cfg.model.phase``)."""
    return ThesisModel(cfg)


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters of ``module`` (``trainable_only``: those with ``requires_grad``); the one
    parameter count of the library (tables, logs, result files)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def register_model(name: str, preset_name: str, **overrides: Any) -> None:
    """Register ``name`` as ``preset(preset_name, **overrides)``; names are unique."""
    if name in _REGISTRY:
        raise ValueError(f"register_model: {name!r} is already registered")
    preset(preset_name, **overrides)  # validate now, not at first use
    _REGISTRY[name] = (preset_name, dict(overrides))


def list_models() -> list[str]:
    """Registered model names, sorted."""
    return sorted(_REGISTRY)


def model_config(name: str, tiny: bool = False, **overrides: Any) -> Config:
    """The :class:`Config` of a registered model (``tiny=True``: the smoke/test size)."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; registered: {', '.join(list_models())}")
    preset_name, base = _REGISTRY[name]
    return preset(preset_name, tiny=tiny, **{**base, **overrides})


def create_model(name: str, tiny: bool = False, **overrides: Any) -> ThesisModel:
    """Build a registered model; ``overrides`` are config keys as in :func:`vfi_lib.config.preset`."""
    return build_model(model_config(name, tiny=tiny, **overrides))


for _mode, _ablation in ABLATIONS.items():  # phase1_hybrid, phase1_mamba2_only, ..., phase1_hybrid_mhc
    register_model(f"phase1_{_mode}", "phase1", **_ablation, **{"train.exp_name": f"phase1_{_mode}"})
register_model("phase2_hybrid", "phase2")
register_model("phase3_hybrid", "phase3")
