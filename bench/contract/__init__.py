"""The plugin contract: what a plugin author implements and is checked against. Hookspecs, specs, the registry
that loads plugins (and the identity of their source), checks, splits, errors. Imports only `seqbench.records`."""
