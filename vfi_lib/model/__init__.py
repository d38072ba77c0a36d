"""vfi_lib.model: the Thesis-VFI network (Phase 1 direct synthesis, Phase 2/3 flow-guided).

``build_model(cfg) -> ThesisModel``; named variants via ``create_model(name, tiny=False)`` and
``list_models()``. Building blocks: ``warp`` (backward warping), ``IFNet`` (flow with timestep),
``RefineUNet``, ``LGSBackbone``, ``SynthesisHead``.
"""

from vfi_lib.model.registry import build_model, count_parameters, create_model, list_models, model_config, register_model
from vfi_lib.model.thesis_model import ThesisModel
from vfi_lib.model.warp import resize_flow, warp

__all__ = [
    "ThesisModel",
    "build_model",
    "count_parameters",
    "create_model",
    "list_models",
    "model_config",
    "register_model",
    "warp",
    "resize_flow",
]
