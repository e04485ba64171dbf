"""Disjoint splits by construction: an example's split is a fixed function of its content.

Tasks hash each example's identifying tokens (its "key": for copy the symbols, for cloze the facts and query)
and keep only the examples whose hash falls in the requested split, so no test example can ever be drawn for
training, whatever the seed. Everything is vectorized over the batch.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from seqbench.contract.specs import SPLITS, Split

SHARES = {"train": 0.8, "val": 0.1, "test": 0.1}  # fraction of the example space each split owns
_BUCKETS = 1000
_BOUNDS = {"train": (0, 800), "val": (800, 900), "test": (900, 1000)}

_M1 = -7046029254386353131  # 0x9E3779B97F4A7C15 as int64: odd multipliers of a splitmix64-style finalizer
_M2 = -4658895280553007687  # 0xBF58476D1CE4E5B9
_M3 = -7723592293110705685  # 0x94D049BB133111EB


def key_hash(keys: Tensor) -> Tensor:
    """A well-mixed int64 hash of each row. keys (B, L) integer -> (B,) int64. Padding (0) counts as content."""
    keys = keys.to(torch.int64)
    h = torch.zeros(keys.shape[0], dtype=torch.int64, device=keys.device)
    for j in range(keys.shape[1]):  # loop over columns (short), never over examples
        h = _mix(h ^ (keys[:, j] + j * 0x1F3))
    return h


def _mix(h: Tensor) -> Tensor:
    h = h * _M1
    h = h ^ ((h >> 31) & 0x1FFFFFFFF)
    h = h * _M2
    h = h ^ ((h >> 29) & 0x7FFFFFFFF)
    h = h * _M3
    return h ^ ((h >> 32) & 0xFFFFFFFF)


def split_of(keys: Tensor) -> Tensor:
    """The split index (0 train, 1 val, 2 test) that owns each row. keys (B, L) -> (B,) long."""
    bucket = key_hash(keys).remainder(_BUCKETS)
    return (bucket >= _BOUNDS["val"][0]).long() + (bucket >= _BOUNDS["test"][0]).long()


def in_split(keys: Tensor, split: Split) -> Tensor:
    """Mask (B,) bool of the rows that belong to `split`."""
    return split_of(keys) == SPLITS.index(split)


def draw_in_split(
    draw: Callable[[int, torch.Generator], tuple[Tensor, ...]],
    split: Split,
    n: int,
    generator: torch.Generator,
) -> tuple[Tensor, ...]:
    """Draw `n` examples of `split` by rejection: `draw(m, generator)` returns tensors whose first is the (m, L)
    key; rows outside the split are dropped and more are drawn until `n` remain. Returns the tensors, n rows each.
    """
    kept: list[tuple[Tensor, ...]] = [draw(0, generator)]  # an empty draw fixes the shapes when n == 0
    have, drawn = 0, 0
    share = SHARES[split]
    while have < n:
        if drawn > 1000 * (n / share) + 100_000:
            raise ValueError(f"drew {drawn} examples and found only {have} of the {n} asked for in the {split} "
                             f"split: the task's example space is too small for three disjoint splits")
        m = int((n - have) / share * 1.25) + 16
        drawn += m
        parts = draw(m, generator)
        rows = in_split(parts[0], split).nonzero().squeeze(1)  # index_select: far cheaper than boolean indexing
        kept.append(tuple(p.index_select(0, rows) for p in parts))
        have += rows.numel()
    return tuple(torch.cat([k[i] for k in kept])[:n] for i in range(len(kept[0])))
