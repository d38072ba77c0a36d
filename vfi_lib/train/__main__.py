"""``python -m vfi_lib.train [flags]`` and ``torchrun --nproc_per_node=N -m vfi_lib.train [flags]``."""

from __future__ import annotations

import sys
from typing import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from vfi_lib.config import ConfigError
    from vfi_lib.train.checkpoint import CheckpointError
    from vfi_lib.train.cli import config_from_args
    from vfi_lib.train.trainer import train
    from vfi_lib.train.vgg import VGGWeightsError

    known: tuple[type[BaseException], ...] = (ConfigError, CheckpointError, VGGWeightsError)
    try:
        from vfi_lib.data import DataError

        known += (DataError,)
    except ImportError:
        pass
    try:
        cfg = config_from_args(argv)
        train(cfg)
    except known as e:  # user errors: one clear message, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
