"""Greedy generation, owned by the host: incremental when the model keeps an incremental protocol of
`seqbench.contract.specs`, else a slower full re-run of `forward` per token.

The host owns the start of decoding: for an `IncrementalSeq2Seq` it calls `encode`, then `step(BOS)`; for a
decoder-only model (`DecoderOnly` around an `IncrementalLM`) it prefills the prompts `source SEP`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import Tensor, nn

from seqbench.host.adapt import DecoderOnly
from seqbench.contract.specs import BOS, EOS, PAD, IncrementalLM, IncrementalSeq2Seq, Reorderable, conforms


@dataclass(frozen=True)
class Incremental:
    """How the host decodes a model one token at a time."""

    start: Callable[[Tensor, Tensor], tuple[Tensor, Any]]  # (src, src_len) -> logits (B, V) of the first token, state
    step: Callable[[Tensor, Any], tuple[Tensor, Any]]  # (token (B,), state) -> logits (B, V) of the next, state
    reorder: Callable[[Any, Tensor], Any] | None = None  # (state, index (B',)) -> state of rows `index`; beam search


def incremental(model: nn.Module) -> Incremental | None:
    """The incremental decoding of a (host-adapted) model, or None when generation must re-run `forward`."""
    if isinstance(model, DecoderOnly):
        lm = model.lm
        if not conforms(lm, IncrementalLM):
            return None
        return Incremental(lambda src, src_len: lm.prefill(*model.prompt(src, src_len)), lm.step, _reorder(lm))
    if not conforms(model, IncrementalSeq2Seq):
        return None

    def start(src: Tensor, src_len: Tensor) -> tuple[Tensor, Any]:
        state = model.encode(src, src_len)
        return model.step(src.new_full((src.shape[0],), BOS), state)  # (B, V): the first target token

    return Incremental(start, model.step, _reorder(model))


def _reorder(model: nn.Module) -> Callable[[Any, Tensor], Any] | None:
    return model.reorder if conforms(model, Reorderable) else None


def is_incremental(model: nn.Module) -> bool:
    """Whether `greedy` runs this model one token at a time (its record says so)."""
    return incremental(model) is not None


@torch.no_grad()
def greedy(model: nn.Module, src: Tensor, src_len: Tensor, max_len: int, cache: bool = True) -> Tensor:
    """Greedy decoding. src (B, S), src_len (B,) -> tokens (B, max_len), PAD after each row's EOS.

    Stops early once every row has produced EOS. `cache=False` re-runs `forward` even for an incremental model
    (the contract suite compares the two).
    """
    b = src.shape[0]
    out = src.new_full((b, max_len), PAD)  # (B, max_len)
    done = torch.zeros(b, dtype=torch.bool, device=src.device)
    inc = incremental(model) if cache else None
    if inc is not None:
        logits, state = inc.start(src, src_len)  # (B, V)
        for t in range(max_len):
            token = logits.argmax(-1)  # (B,)
            out[:, t] = token.masked_fill(done, PAD)
            done |= token == EOS
            if bool(done.all()) or t == max_len - 1:
                break
            logits, state = inc.step(token, state)
        return out
    tgt_in = src.new_full((b, 1), BOS)  # (B, 1)
    for t in range(max_len):
        logits = model(src, src_len, tgt_in)[:, -1]  # (B, V): re-runs the whole prefix
        token = logits.argmax(-1)
        out[:, t] = token.masked_fill(done, PAD)
        done |= token == EOS
        if bool(done.all()):
            break
        tgt_in = torch.cat([tgt_in, token[:, None]], dim=1)
    return out
