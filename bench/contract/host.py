"""Deprecated: the host block moved to `seqbench.host.block`; this old name stays for at least one minor release.

Names are looked up there on first use, with a DeprecationWarning, so that importing the contract never imports the
host wing above it (import-linter's layers contract ignores this one import, see pyproject.toml).
"""

from __future__ import annotations

import warnings
from typing import Any


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    from seqbench.host import block

    warnings.warn("seqbench.contract.host moved to seqbench.host.block; import it from there",
                  DeprecationWarning, stacklevel=2)
    return getattr(block, name)
