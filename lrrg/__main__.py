"""`python -m lrrg` runs the command line."""

import sys

from lrrg.cli import main

sys.exit(main())
