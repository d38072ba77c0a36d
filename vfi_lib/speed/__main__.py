"""``python -m vfi_lib.speed``: the whole-stack speed benchmark (:mod:`vfi_lib.speed.stack`)."""

import sys

from vfi_lib.speed.stack import main

if __name__ == "__main__":
    sys.exit(main())
