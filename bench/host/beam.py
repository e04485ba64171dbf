"""Beam search, owned by the host like greedy decoding (`seqbench.host.generate`), for any model whose incremental
protocol also keeps `Reorderable` (`seqbench.contract.specs`): the built-in encoder-decoders, decoder-only models
and mixer stacks all do.

Each example keeps `width` hypotheses as rows of one batched state (B * width rows). At every step each live
hypothesis is extended by every token; the `width` best continuations by summed log-probability survive, and the
state follows them through `reorder`. A hypothesis that has emitted EOS stays in the beam unchanged (it continues
only with PAD, at no cost), so finished and live hypotheses compete on the same score. Decoding stops when every
hypothesis of every example has finished, or at `max_len`. The answer is the hypothesis with the best
log p / lp(length), lp = ((5 + length) / 6) ** length_penalty (Wu et al. 2016, "Google's Neural Machine Translation
System", §7), length counting EOS. At width 1 this is greedy decoding, token for token (the tests check it).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seqbench.host.generate import greedy, incremental
from seqbench.contract.specs import EOS, PAD


def decode(model: nn.Module, src: Tensor, src_len: Tensor, max_len: int, width: int = 1,
           length_penalty: float = 0.6) -> Tensor:
    """Greedy decoding at width 1, else beam search. src (B, S), src_len (B,) -> tokens (B, max_len)."""
    if width == 1:
        return greedy(model, src, src_len, max_len)
    return beam_search(model, src, src_len, max_len, width, length_penalty)


def can_beam(model: nn.Module) -> bool:
    """Whether `beam_search` can decode this (host-adapted) model: incremental, with `reorder`."""
    inc = incremental(model)
    return inc is not None and inc.reorder is not None


@torch.no_grad()
def beam_search(model: nn.Module, src: Tensor, src_len: Tensor, max_len: int, width: int,
                length_penalty: float = 0.6) -> Tensor:
    """Beam search. src (B, S), src_len (B,) -> tokens (B, max_len), PAD after each row's EOS."""
    inc = incremental(model)
    if inc is None or inc.reorder is None:
        raise ValueError("beam search needs a model with incremental generation and reorder(state, index) "
                         "(seqbench.contract.specs.Reorderable); decode this one greedily (beam_width 1)")
    b, dev = src.shape[0], src.device
    logits, state = inc.start(src, src_len)  # (B, V)
    logp = logits.float().log_softmax(-1)
    v = logp.shape[-1]
    scores, tokens = logp.topk(min(width, v), dim=-1)  # (B, K): each example's K best first tokens
    k = scores.shape[1]
    state = inc.reorder(state, torch.arange(b, device=dev).repeat_interleave(k))  # B * K rows
    out = src.new_full((b, k, max_len), PAD)  # (B, K, max_len)
    out[:, :, 0] = tokens
    done = tokens == EOS  # (B, K)
    length = torch.ones(b, k, device=dev)  # tokens emitted, EOS included
    only_pad = torch.full((v,), float("-inf"), device=dev)
    only_pad[PAD] = 0.0  # a finished hypothesis goes on with PAD alone, at no cost
    rows = torch.arange(b, device=dev)[:, None] * k  # (B, 1): first row of each example's beam
    for t in range(1, max_len):
        if bool(done.all()):
            break
        logits, state = inc.step(tokens.flatten(), state)  # (B * K, V)
        logp = logits.float().log_softmax(-1).view(b, k, v)
        logp = torch.where(done[..., None], only_pad, logp)
        scores, flat = (scores[..., None] + logp).view(b, k * v).topk(k, dim=-1)  # (B, K)
        origin, tokens = flat // v, flat % v  # (B, K): which hypothesis each continues, with which token
        state = inc.reorder(state, (rows + origin).flatten())
        out = out.gather(1, origin[..., None].expand(-1, -1, max_len))  # a new tensor: written in place below
        out[:, :, t] = tokens
        finished = done.gather(1, origin)
        length = length.gather(1, origin) + (~finished).float()
        done = finished | (tokens == EOS)
    best = (scores / ((5.0 + length) / 6.0) ** length_penalty).argmax(-1)  # (B,)
    return out[torch.arange(b, device=dev), best]
