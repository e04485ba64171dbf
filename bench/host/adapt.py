"""Adapters that give every architecture one interface, the `Seq2SeqModel` of `seqbench.contract.specs`.

- `DecoderOnly` runs a `CausalLM` over one stream `source SEP target`, with the loss on target positions only.
- `MixerLM` stacks a plugin's causal sequence mixers (B, T, D) -> (B, T, D), each in the host's residual block
  (`seqbench.host.block`), into a full `CausalLM`; `IncrementalMixerLM` when every mixer keeps
  `IncrementalMixer`, so that the host generates from it one token at a time.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from seqbench.contract.checks import check_lm_logits
from seqbench.host.block import MixerBlock
from seqbench.contract.specs import PAD, SEP, IncrementalMixer, Reorderable, conforms


class DecoderOnly(nn.Module):
    """A decoder-only language model, run as a source-to-target model.

    Example i becomes the right-padded stream `src_i[:s_i] SEP y_1 .. y_{T-1}`; the logits at the SEP and
    at every target token predict the next target token. Padding only ever follows real tokens, so a causal
    model's real positions never see it. Generation (`seqbench.host.generate`) prefills `prompt(src)`.
    """

    def __init__(self, lm: nn.Module) -> None:
        super().__init__()
        self.lm = lm

    def forward(self, src: Tensor, src_len: Tensor, tgt_in: Tensor) -> Tensor:
        stream, idx = self.stream(src, src_len, tgt_in)
        logits = check_lm_logits(self.lm(stream), stream)  # (B, S+T, V)
        return logits.gather(1, idx[..., None].expand(*idx.shape, logits.shape[-1]))  # (B, T, V)

    def stream(self, src: Tensor, src_len: Tensor, tgt_in: Tensor) -> tuple[Tensor, Tensor]:
        """The stream (B, S+T) the language model reads, and the stream position (B, T) of each target step."""
        b, s = src.shape  # (B, S)
        t = tgt_in.shape[1]  # tgt_in (B, T): BOS y1 .. y_{T-1}
        stream = src.new_full((b, s + t), PAD)  # (B, S+T)
        stream[:, :s] = src
        tail = tgt_in.clone()
        tail[:, 0] = SEP
        idx = src_len[:, None] + torch.arange(t, device=src.device)  # (B, T): stream position of target step t
        return stream.scatter_(1, idx, tail), idx

    def prompt(self, src: Tensor, src_len: Tensor) -> tuple[Tensor, Tensor]:
        """The stream `src SEP`, right-padded: (B, S+1), and its lengths (B,)."""
        b, s = src.shape
        stream = src.new_full((b, s + 1), PAD)
        stream[:, :s] = src
        stream.scatter_(1, src_len[:, None], SEP)
        return stream, src_len + 1


class MixerLM(nn.Module):
    """Embeddings, `n_layers` host blocks around the plugin's mixers, a final norm and an output head. No positions
    are added: a mixer that needs them adds its own."""

    def __init__(self, mixers: list[nn.Module], d_model: int, vocab_size: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model, padding_idx=PAD)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(MixerBlock(m, d_model, dropout) for m in mixers)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size)

    def forward(self, x: Tensor) -> Tensor:  # (B, L) -> (B, L, V)
        h = self.drop(self.embed(x))  # (B, L, D)
        for block in self.blocks:
            h = block(h)
        return self.head(self.norm(h))


class IncrementalMixerLM(MixerLM):
    """A `MixerLM` whose mixers all keep `IncrementalMixer`: it keeps `IncrementalLM`, a state per layer."""

    def prefill(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, list[Any]]:
        """x (B, L), lengths (B,) -> logits (B, V) at position lengths-1, and each layer's state."""
        h = self.drop(self.embed(x))  # (B, L, D)
        states = []
        for block in self.blocks:
            h, state = block.prefill(h, lengths)
            states.append(state)
        last = h[torch.arange(h.shape[0], device=h.device), lengths - 1]  # (B, D)
        return self.head(self.norm(last)), states

    def step(self, token: Tensor, states: list[Any]) -> tuple[Tensor, list[Any]]:
        """token (B,) -> logits (B, V), new states."""
        h = self.drop(self.embed(token))  # (B, D)
        new = []
        for block, state in zip(self.blocks, states):
            h, state = block.step(h, state)
            new.append(state)
        return self.head(self.norm(h)), new


class ReorderableMixerLM(IncrementalMixerLM):
    """An `IncrementalMixerLM` whose mixers all keep `Reorderable` too: beam search can decode it."""

    def reorder(self, states: list[Any], index: Tensor) -> list[Any]:
        """Rows `index` (B',) of every layer's state."""
        return [block.mixer.reorder(state, index) for block, state in zip(self.blocks, states)]


def mixer_lm(mixers: list[nn.Module], d_model: int, vocab_size: int, dropout: float) -> MixerLM:
    """The host's language model around these mixers: incremental when every one of them keeps the protocol, and
    reorderable (for beam search) when every one also keeps `Reorderable`."""
    cls = MixerLM
    if all(conforms(m, IncrementalMixer) for m in mixers):
        cls = ReorderableMixerLM if all(conforms(m, Reorderable) for m in mixers) else IncrementalMixerLM
    return cls(mixers, d_model, vocab_size, dropout)
