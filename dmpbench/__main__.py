"""``python -m dmpbench`` (and ``torchrun ... -m dmpbench run ...``): the ``dmpbench`` command."""

import sys

from dmpbench.cli import main

if __name__ == "__main__":
    sys.exit(main())
