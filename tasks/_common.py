"""Checks shared by the built-in tasks. Private: the registry skips modules whose name starts with `_`."""

from __future__ import annotations

import torch
from torch import Tensor

from seqbench.contract.specs import SPLITS
from seqbench.contract.splits import split_of

ENUMERATE_UP_TO = 10_000  # key spaces this small are checked exhaustively; larger ones fill every split w.h.p.


def check_split(split: str) -> None:
    """Refuse a split name other than train, val, test."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")


def check_key_space(keys: Tensor, what: str, fix: str) -> None:
    """Refuse a key space that leaves a split empty (drawing from it would never end). keys (N, L): every key."""
    owned = torch.bincount(split_of(keys), minlength=len(SPLITS)).tolist()  # (3,) keys per split
    empty = [s for s, c in zip(SPLITS, owned) if c == 0]
    if empty:
        raise ValueError(
            f"{what} give only {len(keys)} distinct examples, too few to fill train, val and test (splits own "
            f"disjoint examples; here {' and '.join(empty)} would be empty): {fix}"
        )
