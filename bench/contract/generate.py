"""Greedy generation: incremental when the model offers `begin`/`step`, else a slower full re-run per token."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seqbench.contract.specs import BOS, EOS, PAD, has_incremental


def is_incremental(model: nn.Module) -> bool:
    """Whether `greedy` can run this model one token at a time (its record says so)."""
    flag = getattr(model, "incremental", None)
    return bool(flag) if flag is not None else has_incremental(model)


@torch.no_grad()
def greedy(model: nn.Module, src: Tensor, src_len: Tensor, max_len: int) -> Tensor:
    """Greedy decoding. src (B, S), src_len (B,) -> tokens (B, max_len), PAD after each row's EOS.

    Stops early once every row has produced EOS.
    """
    b = src.shape[0]
    out = src.new_full((b, max_len), PAD)  # (B, max_len)
    done = torch.zeros(b, dtype=torch.bool, device=src.device)
    if is_incremental(model):
        logits, state = model.begin(src, src_len)  # (B, V)
        for t in range(max_len):
            token = logits.argmax(-1)  # (B,)
            out[:, t] = token.masked_fill(done, PAD)
            done |= token == EOS
            if bool(done.all()) or t == max_len - 1:
                break
            logits, state = model.step(token, state)
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
