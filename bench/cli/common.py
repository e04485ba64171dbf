"""What the command line's modules share: exit codes, the registry the flags ask for, notes on stderr."""

from __future__ import annotations

import argparse
import sys

EXIT_OK, EXIT_CELLS_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def registry(args: argparse.Namespace):
    """The registry with the plugins named by `-p` (built-in and installed plugins always)."""
    from seqbench.contract import registry as plugins

    return plugins.load(args.plugins)


def notes(notes: list[str]) -> None:
    for note in notes:
        print(f"seqbench: note: {note}", file=sys.stderr)
