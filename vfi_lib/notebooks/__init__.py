"""vfi_lib.notebooks: what the numbered notebooks need beyond the library's layers.

- :mod:`.runner`: ``python -m vfi_lib.notebooks run [--smoke|--full]`` executes them with papermill;
- :mod:`.launcher`: the training notebooks' config builder (smoke vs full) and the in-process or
  torchrun launcher with live curves.
"""

from vfi_lib.notebooks.launcher import SMOKE_TRAIN, run_training, tensorboard_hint, training_config
from vfi_lib.notebooks.runner import NotebookResult, declared_parameters, discover, format_table, main, run

__all__ = ["NotebookResult", "SMOKE_TRAIN", "declared_parameters", "discover", "format_table", "main", "run",
           "run_training", "tensorboard_hint", "training_config"]
