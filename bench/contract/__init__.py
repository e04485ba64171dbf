"""The plugin contract: what a plugin author implements and is checked against. Hookspecs, specs, the registry
that loads plugins (and the identity of their source), checks, splits, errors. Imports only `seqbench.records`.

`CONTRACT_VERSION` is the version of what plugins may rely on (the hooks, the specs, `BuildContext`, the model
protocols, what the host checks), "MAJOR.MINOR": a minor release adds something or deprecates it (a deprecated name
keeps working, with a `ContractDeprecation` warning naming the new spelling, for at least one minor release); only
a major release removes or changes something a plugin uses. Every change is recorded in CHANGELOG.md.
"""

CONTRACT_VERSION = "1.1"


class ContractDeprecation(DeprecationWarning):
    """A plugin used a deprecated part of the contract: the message names the new spelling and the release that
    removes the old one. Kept in a cell's record (`warnings`) and shown by `seqbench check-plugin`, where Python
    would hide a plain DeprecationWarning."""


__all__ = ["CONTRACT_VERSION", "ContractDeprecation"]
