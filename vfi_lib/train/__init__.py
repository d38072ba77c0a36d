"""Training: losses, the training loop (single process or torchrun DDP), checkpoints.

Notebook entry points::

    from vfi_lib.train import train, launch, load_model
    summary = train(cfg)               # in this process (nproc == 1)
    summary = launch(cfg, nproc=2)     # torchrun --nproc_per_node=2 -m vfi_lib.train ...
    model = load_model("phase1_hybrid_best")   # or a path to a .pt file
"""

from vfi_lib.train.checkpoint import (
    CheckpointError,
    IncompatibleCheckpointError,
    load_checkpoint,
    load_model,
    save_checkpoint,
)
from vfi_lib.train.cli import config_from_args, config_to_argv, launch
from vfi_lib.train.losses import CompositeLoss
from vfi_lib.train.trainer import Trainer, train

__all__ = [
    "CheckpointError",
    "CompositeLoss",
    "IncompatibleCheckpointError",
    "Trainer",
    "config_from_args",
    "config_to_argv",
    "launch",
    "load_checkpoint",
    "load_model",
    "save_checkpoint",
    "train",
]
