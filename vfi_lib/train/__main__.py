"""``python -m vfi_lib.train [flags]`` and ``torchrun --nproc_per_node=N -m vfi_lib.train [flags]``.

User errors print one line (``error: ...``) and exit 2 (:func:`vfi_lib.cli.main_wrapper`). Ctrl-C or
SIGTERM stops after the current step with a checkpoint (re-running the command resumes) and exits
128 + the signal number (130, 143).
"""

from __future__ import annotations

import sys
from typing import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from vfi_lib.cli import main_wrapper
    from vfi_lib.train.cli import config_from_args
    from vfi_lib.train.trainer import train

    code = {"rc": 0}

    def run(args: list[str] | None) -> None:
        summary = train(config_from_args(args))
        if summary.get("interrupted"):
            import signal

            code["rc"] = 128 + int(signal.Signals[summary["interrupted"]])

    rc = main_wrapper(run, argv)
    return rc or code["rc"]


if __name__ == "__main__":
    sys.exit(main())
