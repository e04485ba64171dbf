"""Errors that reach the user as one line and exit code 2, with no traceback (unless --debug)."""

from __future__ import annotations

import difflib
from typing import Iterable


class UserError(Exception):
    """Bad input: a message that says what is wrong and what is allowed."""

    exit_code = 2


class ConfigError(UserError):
    """A configuration value, key or file that cannot be used."""


def plural(n: int, word: str) -> str:
    """`1 record`, `2 records`: the one plural of every message."""
    return f"{n} {word}{'s' * (n != 1)}"


def unknown(kind: str, name: str, choices: Iterable[str]) -> UserError:
    """`Unknown architecture 'lstmm'. Did you mean 'lstm'? Available: gru, lstm, rnn`."""
    choices = sorted(choices)
    close = difflib.get_close_matches(name, choices, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    return UserError(f"Unknown {kind} '{name}'.{hint} Available: {', '.join(choices) or '(none)'}")


class PluginFault(Exception):
    """Plugin code raised (or broke the contract) while the matrix was planned: building a task, or building an
    architecture to size it. That plugin's cells are recorded as failed; the rest of the matrix plans and runs."""

    def __init__(self, plugin: str, error: BaseException, when: str) -> None:
        text = str(error).splitlines()[0] if str(error) else ""
        if isinstance(error, SystemExit):
            text = f"it called sys.exit({error.code!r})"
        super().__init__(f"{when}: {text or type(error).__name__}")
        self.plugin = plugin  # e.g. "architecture plugin 'lstm' (seqbench.plugins.recurrent)"
        self.error_type = type(error).__name__

    def __reduce__(self):  # picklable, so a planned cell can carry it to the process that records it
        return _fault, (self.plugin, str(self), self.error_type)


def _fault(plugin: str, message: str, error_type: str) -> PluginFault:
    fault = PluginFault.__new__(PluginFault)
    Exception.__init__(fault, message)
    fault.plugin, fault.error_type = plugin, error_type
    return fault
