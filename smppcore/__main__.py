"""``python -m smppcore``: the same command line as the ``smppcore`` script."""

import sys

from smppcore.cli import main

sys.exit(main())
