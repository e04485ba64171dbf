"""The plugin contract: hookspecs, specs, registry, checks, adapters, splits, errors."""
