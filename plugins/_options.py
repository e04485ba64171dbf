"""Checks shared by the architecture plugins' options dataclasses (underscore: not a plugin itself)."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Literal


def check_fields(options: Any) -> None:
    """Raise ValueError unless every `Literal` field holds an allowed value and every `bool` field a bool.

    `seqbench.run.config.build` already checks values that come from a config file; this also covers options built
    directly in Python, e.g. `SeqAttnOptions(attention="dot")`.
    """
    hints = typing.get_type_hints(type(options))
    for f in dataclasses.fields(options):
        value, hint = getattr(options, f.name), hints[f.name]
        if typing.get_origin(hint) is Literal and value not in typing.get_args(hint):
            allowed = ", ".join(map(str, typing.get_args(hint)))
            raise ValueError(f"{f.name} must be one of {allowed}, got {value!r}")
        if hint is bool and not isinstance(value, bool):
            raise ValueError(f"{f.name} must be true or false, got {value!r}")
