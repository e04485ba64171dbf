"""What the processes that run cells share: how a process that died is reported, and ending with the parent."""

from __future__ import annotations

import signal
import sys


class WorkerDied(RuntimeError):
    """The process running a cell ended before it sent a record (a crash in native code, or killed)."""


def die_with_parent() -> None:
    """On Linux, end this process when its parent (the fork server, which ends with the runner) ends."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def ended(code: int) -> str:
    """How a process that ran a cell ended, from its exit code (negative: the signal), for the failed record."""
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        hint = " (the system may have run out of memory)" if -code == signal.SIGKILL else ""
        return f"the process running the cell was killed by {name}{hint} before it finished"
    return f"the process running the cell exited with code {code} before it finished"
