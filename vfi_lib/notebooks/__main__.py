"""``python -m vfi_lib.notebooks run|list``: see :mod:`vfi_lib.notebooks.runner`."""

import sys

from vfi_lib.notebooks.runner import main

if __name__ == "__main__":
    sys.exit(main())
