"""A record's nested fields as dotted keys: what the long-format export and the experiment loggers read."""

from __future__ import annotations

import json
from typing import Any


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"a": {"b": 1}, "c": [1, 2]}` -> `{"a.b": 1, "c": "[1, 2]"}`."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten(v, key + "."))
        elif isinstance(v, (dict, list, tuple)):
            out[key] = json.dumps(v, sort_keys=True)
        else:
            out[key] = v
    return out
