"""`python -m seqbench` runs the seqbench command line."""

import sys

from seqbench.cli import main

sys.exit(main())
