"""Imported only by multiprocessing's fork server (`executors.LocalProcesses`), never by seqbench itself: torch
and Lightning are imported once there, and Ctrl-C is ignored there, so the cell processes forked from it never
print a KeyboardInterrupt of their own (a terminal's Ctrl-C reaches the whole process group; the runner stops
the cells)."""

import signal

signal.signal(signal.SIGINT, signal.SIG_IGN)

import seqbench.run.executors  # noqa: E402,F401 - the point of this module
