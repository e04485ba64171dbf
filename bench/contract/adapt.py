"""Adapters that give every architecture one interface, the `Seq2SeqModel` of `seqbench.contract.specs`.

- `DecoderOnly` runs a `CausalLM` over one stream `source SEP target`, with the loss on target positions only.
- `MixerLM` stacks a plugin's causal sequence mixer (B, T, D) -> (B, T, D) into a full `CausalLM`.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor, nn

from seqbench.contract.specs import PAD, SEP


class DecoderOnly(nn.Module):
    """A decoder-only language model, run as a source-to-target model.

    Example i becomes the right-padded stream `src_i[:s_i] SEP y_1 .. y_{T-1}`; the logits at the SEP and
    at every target token predict the next target token. Padding only ever follows real tokens, so a causal
    model's real positions never see it.
    """

    def __init__(self, lm: nn.Module) -> None:
        super().__init__()
        self.lm = lm
        self.incremental = callable(getattr(lm, "prefill", None)) and callable(getattr(lm, "step", None))

    def forward(self, src: Tensor, src_len: Tensor, tgt_in: Tensor) -> Tensor:
        b, s = src.shape  # (B, S)
        t = tgt_in.shape[1]  # tgt_in (B, T): BOS y1 .. y_{T-1}
        stream = src.new_full((b, s + t), PAD)  # (B, S+T)
        stream[:, :s] = src
        tail = tgt_in.clone()
        tail[:, 0] = SEP
        idx = src_len[:, None] + torch.arange(t, device=src.device)  # (B, T): stream position of target step t
        stream.scatter_(1, idx, tail)
        logits = self.lm(stream)  # (B, S+T, V)
        return logits.gather(1, idx[..., None].expand(b, t, logits.shape[-1]))  # (B, T, V)

    def prompt(self, src: Tensor, src_len: Tensor) -> tuple[Tensor, Tensor]:
        """The stream `src SEP`, right-padded: (B, S+1), and its lengths (B,)."""
        b, s = src.shape
        stream = src.new_full((b, s + 1), PAD)
        stream[:, :s] = src
        stream.scatter_(1, src_len[:, None], SEP)
        return stream, src_len + 1

    def begin(self, src: Tensor, src_len: Tensor) -> tuple[Tensor, Any]:
        stream, lengths = self.prompt(src, src_len)
        return self.lm.prefill(stream, lengths)  # logits (B, V) after SEP, state

    def step(self, token: Tensor, state: Any) -> tuple[Tensor, Any]:
        return self.lm.step(token, state)


class MixerBlock(nn.Module):
    """Pre-norm residual block: x + mixer(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, mixer: nn.Module, d_model: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.mixer = mixer
        self.norm2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model), nn.Dropout(dropout)
        )

    def forward(self, x: Tensor) -> Tensor:  # (B, T, D)
        x = x + self.mixer(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class MixerLM(nn.Module):
    """Embeddings, `n_layers` mixer blocks, a final norm and an output head. No positions are added: a mixer that
    needs them adds its own."""

    def __init__(self, make_mixer: Callable[[], nn.Module], d_model: int, n_layers: int, vocab_size: int,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model, padding_idx=PAD)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(MixerBlock(make_mixer(), d_model, dropout) for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size)

    def forward(self, x: Tensor) -> Tensor:  # (B, L) -> (B, L, V)
        h = self.drop(self.embed(x))  # (B, L, D)
        for block in self.blocks:
            h = block(h)
        return self.head(self.norm(h))
