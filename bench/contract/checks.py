"""Checks that plugins keep the contract, so a wrong type or shape is reported by plugin name, not as a crash
deep inside the core."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from seqbench.contract.specs import EOS, Batch


class ContractError(Exception):
    """A plugin returned something the contract does not allow. `kind` is "architecture" or "task"."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def check_batch(batch: Any, task: Any, split: str, n: int) -> Batch:
    """A task's `sample`/`eval_set` result: a Batch of n long tensors inside the vocabulary, targets with EOS."""
    where = f"{type(task).__name__}.sample('{split}', {n})"
    if not isinstance(batch, Batch):
        raise ContractError("task", f"{where} returned {type(batch).__name__}, not a seqbench.contract.specs.Batch")
    for name in ("src", "tgt", "distance"):
        value = getattr(batch, name)
        if not isinstance(value, Tensor) or value.dtype != torch.long:
            raise ContractError("task", f"{where}: {name} must be a long tensor, got {_describe(value)}")
    if len(batch) != n and split == "train":
        raise ContractError("task", f"{where} returned {len(batch)} examples, not {n}")
    if len(batch) == 0:
        return batch
    lo = int(min(batch.src.min(), batch.tgt.min()))
    hi = int(max(batch.src.max(), batch.tgt.max()))
    if lo < 0 or hi >= task.vocab_size:
        raise ContractError("task", f"{where}: token ids must be in [0, {task.vocab_size}), found {lo}..{hi}")
    if not bool((batch.tgt == EOS).any(1).all()):
        raise ContractError("task", f"{where}: every target row must end with EOS ({EOS})")
    if int(batch.distance.min()) < 1:
        raise ContractError("task", f"{where}: distances must be at least 1, found {int(batch.distance.min())}")
    return batch


def check_logits(logits: Any, b: int, t: int, v: int) -> Tensor:
    """An architecture's forward result: logits of shape (B, T, V)."""
    if not isinstance(logits, Tensor) or tuple(logits.shape) != (b, t, v) or not logits.is_floating_point():
        raise ContractError("architecture", f"forward returned {_describe(logits)}, expected float logits of "
                                            f"shape ({b}, {t}, {v}) = (batch, target length, vocabulary)")
    return logits


def _describe(x: Any) -> str:
    if isinstance(x, Tensor):
        return f"a {x.dtype} tensor of shape {tuple(x.shape)}"
    return type(x).__name__
