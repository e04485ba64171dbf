"""`python -m bench` runs the seqbench command line."""

import sys

from bench.cli import main

sys.exit(main())
