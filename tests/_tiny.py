"""A tiny copy-task configuration for tests that train real cells in seconds."""

from __future__ import annotations

import json
from pathlib import Path


def tiny_config(path: Path, archs: list[str], distance: str, grad_examples: int = 256) -> Path:
    """Write a TOML configuration to `path`: `archs` on copy (k=3 of 4 symbols) at one distance setting, d_model 16,
    30 steps, 32 test examples per bin; returns `path`."""
    path.write_text(f"""
matrix = {{ archs = {json.dumps(archs)}, tasks = ["copy"], seeds = [0], distances = ["{distance}"] }}
model = {{ d_model = 16, n_layers = 1, n_heads = 2 }}
train = {{ max_steps = 30, batch_size = 16, lr = 0.01, val_every = 15, throughput_warmup = 2 }}
eval = {{ n_val = 32, n_test = 32, batch_size = 32, grad_examples = {grad_examples} }}
task = {{ copy = {{ k = 3, alphabet = 4 }} }}
""")
    return path


def determined(metrics: dict) -> str:
    """A record's metrics as canonical JSON without what a run measures rather than determines (the wall-clock
    seconds of each validation): what must be equal between runs of the same cell, however they were run."""
    val = metrics.get("val") or {}
    history = [{k: v for k, v in point.items() if k != "time_s"} for point in val.get("history", [])]
    return json.dumps({**metrics, "val": {**val, "history": history}} if val else metrics, sort_keys=True)
