"""Helpers shared by the chunked-scan mixers `selective-ssm`, `gla` and `mlstm` (underscore: not a plugin itself).

Each of them trains with a chunked form: the sequence is cut into chunks of `chunk` positions, everything inside a
chunk is computed for all chunks at once, and only the (small) recurrent state is carried from chunk to chunk in a
Python loop over chunks, never over time steps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def to_chunks(x: Tensor, chunk: int) -> Tensor:
    """(B, H, T, ...) -> (B, H, C, chunk, ...), zero-padded at the end to C * chunk positions.

    Zero padding is an identity step for every caller: zero log-decay, zero input (outputs there are dropped)."""
    t = x.shape[2]
    pad = -t % chunk
    if pad:
        widths = [0, 0] * (x.dim() - 3) + [0, pad]  # F.pad counts dimensions from the last one
        x = F.pad(x, widths)
    return x.unflatten(2, (-1, chunk))


def from_chunks(x: Tensor, t: int) -> Tensor:
    """(B, H, C, chunk, ...) -> (B, H, t, ...): the inverse of `to_chunks`, padding dropped."""
    return x.flatten(2, 3)[:, :, :t]


def causal_mask(n: int, device: torch.device) -> Tensor:
    """(n, n) bool: True where s <= t (row t, column s)."""
    return torch.ones(n, n, dtype=torch.bool, device=device).tril()


def valid(lengths: Tensor, t: int) -> Tensor:
    """(B,) lengths -> (B, t) bool: True at positions before each row's length (its real tokens)."""
    return torch.arange(t, device=lengths.device) < lengths[:, None]
