"""What an architecture costs to train, beside a built-in at the same parameter budget and distance: `seqbench
check-plugin` prints it and warns past `WARN_RATIO` (a plugin ten times slower than an LSTM makes every matrix it
is in about ten times longer: worth knowing before it runs).

Time: the median wall time of a training step (forward, backward, Adam) on one CPU thread, after warm-up steps.
Memory: what a step holds: the parameters with their gradients and Adam's two moments, and the activations that
autograd saves for backward (counted once per storage with `torch.autograd.graph.saved_tensors_hooks`). Unlike a
process's peak resident memory this is the same on every machine, and it is what grows with the distance.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from seqbench.host.sizing import build_model, size_to_budget
from seqbench.contract.specs import ArchSpec, ModelShape
from seqbench.testing.arch_checks import VOCAB, random_batch

REFERENCE = "lstm"  # the built-in every architecture is compared with
BUDGET = 50_000  # parameters, both sized to within 10%
DISTANCE = 64  # source length, and as many target tokens: a stream of about 2 * DISTANCE
BATCH = 8
WARN_RATIO = 3.0  # warn when a step takes this many times the reference's time or memory


@dataclass(frozen=True)
class Cost:
    """One architecture's training step at `BUDGET` parameters and `DISTANCE`."""

    params: int
    step_s: float  # median seconds per training step
    memory_bytes: int  # parameters x 4 (weights, gradients, Adam's moments) + activations saved for backward


def measure(spec: ArchSpec, options: Any, budget: int = BUDGET, distance: int = DISTANCE, steps: int = 3,
            warmup: int = 1) -> Cost:
    """Size `spec` to `budget`, then time `steps` training steps on a copy-like batch at `distance`."""
    shape = ModelShape(d_model=64, n_layers=2, n_heads=4, dropout=0.0, max_len=2 * distance + 2)
    sized, n_params = size_to_budget(spec, shape, options, VOCAB, budget)
    torch.manual_seed(0)
    model = build_model(spec, sized, options, VOCAB).train()
    src, src_len, tgt_in = random_batch(VOCAB, [distance] * BATCH, distance + 1)
    target = torch.roll(tgt_in, -1, 1)  # (B, T): any tokens do, the cost does not depend on them
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    own = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in own:
            saved[storage.data_ptr()] = storage.nbytes()
        return t

    seconds = []
    for i in range(warmup + steps):
        saved.clear()
        t0 = time.perf_counter()
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            logits = model(src, src_len, tgt_in)  # (B, T, V)
            loss = F.cross_entropy(logits.flatten(0, 1), target.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= warmup:
            seconds.append(time.perf_counter() - t0)
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    return Cost(n_params, statistics.median(seconds), 4 * weights + sum(saved.values()))


def compare(name: str, mine: Cost, ref: Cost) -> list[str]:
    """Lines for check-plugin: the cost beside the reference's, then a warning per ratio past `WARN_RATIO`."""
    time_x, mem_x = mine.step_s / ref.step_s, mine.memory_bytes / ref.memory_bytes
    lines = [f"cost     a training step at {mine.params} parameters, distance {DISTANCE}, batch {BATCH}: "
             f"{mine.step_s * 1e3:.1f} ms and {_mb(mine.memory_bytes)} ({time_x:.1f}x and {mem_x:.1f}x "
             f"{REFERENCE}'s {ref.step_s * 1e3:.1f} ms and {_mb(ref.memory_bytes)} at {ref.params} parameters)"]
    for what, x in (("time", time_x), ("memory", mem_x)):
        if x > WARN_RATIO:
            lines.append(f"warning  '{name}' takes {x:.1f}x the {what} of {REFERENCE} per training step at the "
                         f"same budget and distance: a matrix with it needs about that much more")
    return lines


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB"
