"""seqbench: accuracy against dependency distance, and throughput, for sequence models."""

from importlib.metadata import PackageNotFoundError, version

import pluggy

try:
    __version__ = version("seqbench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"

from seqbench.contract import CONTRACT_VERSION  # noqa: E402 - what plugins may rely on, "MAJOR.MINOR"

hookimpl = pluggy.HookimplMarker("seqbench")

__all__ = ["__version__", "CONTRACT_VERSION", "hookimpl"]
