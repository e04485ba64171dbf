"""Gradient reach: how much of an answer's loss reaches the embedding of the source token it depends on.

The mechanism behind "a vanilla RNN forgets": the gradient that reaches a token shrinks geometrically with the
number of recurrent steps between it and the loss (Bengio, Simard & Frasconi 1994; Pascanu, Mikolov & Bengio 2013,
"On the difficulty of training recurrent neural networks"); gating slows the decay, attention gives every position
a path of constant length. Measured here on any model, with no code per architecture:

    g = d loss(answer) / d e(clue)      e = the output of the model's source embedding, at the clue's position

for the answer and clue a task names (`Task.clue_positions`), by plain autograd.

How the host finds e: a forward hook on every `nn.Embedding` of the model; the first call whose input holds the
source (the same ids at every real source position, in the same columns, as a seq2seq encoder reads it or as the
stream `source SEP target` of a decoder-only model starts) has its output replaced by a leaf tensor that requires
grad. What a plugin must do for that: embed the source tokens with an `nn.Embedding` (a shared table is fine; a
scale or positions added afterwards are fine), position j of the source at position j of the output. A plugin that
looks tokens up otherwise (`F.embedding` on its own parameter, one-hot products) gets no gradient reach: the
measure says so and the cell's other results are unchanged. The host's mixer wrapper uses an `nn.Embedding`, so
every mixer plugin is measured as it is.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqbench.contract.specs import PAD, Batch, teacher_input


class NoSourceEmbedding(RuntimeError):
    """No `nn.Embedding` of the model embedded the source: the measure cannot see the clue's embedding."""


class SourceTap:
    """Forward hooks on every `nn.Embedding` of `model`: the first call on the source gets a leaf output `out`
    (B, L, D) that requires grad, so `autograd.grad(loss, tap.out)` is the gradient at every source position."""

    def __init__(self, model: nn.Module, src: Tensor, src_len: Tensor) -> None:
        self.src, self.real = src, torch.arange(src.shape[1], device=src.device) < src_len[:, None]  # (B, S)
        self.out: Tensor | None = None
        self.handles = [m.register_forward_hook(self._hook) for m in model.modules() if isinstance(m, nn.Embedding)]

    def _hook(self, module: nn.Module, args: tuple[Any, ...], out: Tensor) -> Tensor | None:
        ids = args[0] if args else None
        b, s = self.src.shape
        if (self.out is not None or not isinstance(ids, Tensor) or ids.dim() != 2 or ids.shape[0] != b
                or ids.shape[1] < s or out.dim() != 3):
            return None
        if not torch.equal(ids[:, :s][self.real], self.src[self.real]):
            return None
        self.out = out.detach().requires_grad_(True)  # (B, L, D): a leaf; the weights' gradients are not needed
        return self.out

    def close(self) -> None:
        for h in self.handles:
            h.remove()


def last_clue(clues: Tensor) -> tuple[Tensor, Tensor]:
    """Each row's last answer position with a clue, and that clue. clues (B, T) -> answer (B,), clue (B,);
    a row without a clue gives clue -1."""
    t = torch.arange(clues.shape[1], device=clues.device)  # (T,)
    answer = torch.where(clues >= 0, t, -1).amax(1).clamp(min=0)  # (B,)
    return answer, clues.gather(1, answer[:, None])[:, 0]


def clue_gradient_norms(model: nn.Module, batch: Batch, clues: Tensor) -> Tensor:
    """||d loss(answer) / d e(clue)|| per example, for each row's last answer with a clue (`last_clue`).

    The loss is the answer token's cross-entropy under teacher forcing, as in training; the batch's losses are
    summed, so each row's gradient is its own (rows never mix). Runs the model as it is (mode, dtype, device):
    the caller chooses eval mode and float64. -> (B,) in the model's dtype, NaN where a row has no clue.
    Raises NoSourceEmbedding when no `nn.Embedding` embedded the source.
    """
    src, tgt = batch.src, batch.tgt
    src_len = (src != PAD).sum(1)  # (B,)
    answer, clue = last_clue(clues)
    rows = torch.arange(len(batch), device=src.device)
    tap = SourceTap(model, src, src_len)
    try:
        with torch.enable_grad():
            logits = model(src, src_len, teacher_input(tgt))  # (B, T, V)
            if tap.out is None:
                raise NoSourceEmbedding(
                    "no nn.Embedding of the model embedded the source tokens, so the gradient at the clue's "
                    "embedding cannot be taken (see seqbench.host.gradients)")
            picked = logits[rows, answer]  # (B, V): the answer's logits
            loss = F.cross_entropy(picked, tgt[rows, answer], reduction="sum")
            (grad,) = torch.autograd.grad(loss, tap.out)  # (B, L, D)
    finally:
        tap.close()
    norms = grad[rows, clue.clamp(min=0)].norm(dim=-1)  # (B,)
    return norms.masked_fill(clue < 0, float("nan"))
