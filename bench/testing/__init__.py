"""The plugin contract suite that ships with seqbench: `seqbench check-plugin NAME...` runs it, and a plugin
package's own pytest runs it by subclassing `ArchitectureContract` or `TaskContract` (`seqbench.testing.suite`).

It imports only `seqbench.host` (to build and decode a plugin's model as the host does), `seqbench.contract` and
`seqbench.records`, never `seqbench.run` or `seqbench.publish`, and needs no pytest unless pytest runs it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ArchitectureContract", "TaskContract"]


def __getattr__(name: str) -> Any:  # the suites load torch: only when asked for
    if name in __all__:
        from seqbench.testing import suite

        return getattr(suite, name)
    raise AttributeError(f"module 'seqbench.testing' has no attribute {name!r}")
