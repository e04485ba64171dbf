"""Bundled run profiles (TOML)."""
