"""Transformers: `transformer` (encoder-decoder) and `gpt` (decoder-only), built from the same blocks.

`transformer`: Vaswani et al. 2017, "Attention Is All You Need": an encoder of n_layers self-attention blocks, a
decoder of n_layers causal self-attention + cross-attention blocks; source padding is masked as keys everywhere.
One embedding table serves source, target and the output layer (§3.4).
`gpt`: a causal Transformer language model (Radford et al. 2018, "Improving Language Understanding by Generative
Pre-Training"; pre-norm as in GPT-2) over the stream `source SEP target`, with the same blocks and embeddings.

Defaults: sinusoidal positions (Vaswani §3.5) and pre-layer-norm (Xiong et al. 2020); options give learned
positions and post-norm. Generation keeps a key-value cache per layer, so each new token attends to stored keys
and values instead of re-running the prefix. `gpt.prefill` on right-padded prompts of different lengths keeps all
prompt slots, masks the slots at or past each row's length, appends new tokens at the same slot for every row, and
gives each row its own position id (length + t).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

import seqbench
from seqbench.contract.specs import ArchSpec, BuildContext, options

from ._blocks import Block, Embedding, KVCache, final_norm, init_weights, keeping


@options
class TransformerOptions:
    """Options of `transformer` and `gpt`."""

    positions: Literal["sinusoidal", "learned"] = "sinusoidal"  # fixed sinusoids, or a learned table of max_len rows
    norm: Literal["pre", "post"] = "pre"  # pre-LN (Xiong 2020), or post-LN as in Vaswani 2017



@dataclass
class EncDecState:
    """Decoding state of `transformer`, updated in place by `step`."""

    caches: list[KVCache]  # decoder self-attention, one per layer
    memory: list[tuple[Tensor, Tensor]]  # cross-attention keys, values (B, H, S, hd), one pair per layer
    memory_mask: Tensor  # (B, 1, 1, S) bool: real source positions
    t: int  # position of the next target token


@dataclass
class LMState:
    """Decoding state of `gpt`, updated in place by `step`."""

    caches: list[KVCache]  # one per layer; slots 0..L-1 hold the (padded) prompt
    lengths: Tensor  # (B,) prompt lengths: slots at or past them, below L, are padding
    prompt_len: int  # L, padded prompt width
    longest: int  # max(lengths), for the learned-position bound
    t: int = 0  # tokens generated so far


class Transformer(nn.Module):
    """Encoder-decoder Transformer (Vaswani 2017)."""

    def __init__(self, vocab_size: int, d: int, n_layers: int, n_heads: int, dropout: float,
                 opts: TransformerOptions, max_len: int) -> None:
        super().__init__()
        self.embed = Embedding(vocab_size, d, opts.positions, max_len, dropout)  # shared: source, target, output
        self.encoder = nn.ModuleList(Block(d, n_heads, dropout, opts.norm) for _ in range(n_layers))
        self.decoder = nn.ModuleList(Block(d, n_heads, dropout, opts.norm, cross=True) for _ in range(n_layers))
        self.enc_norm, self.dec_norm = final_norm(d, opts.norm), final_norm(d, opts.norm)
        init_weights(self)

    def encode_source(self, src: Tensor, src_len: Tensor) -> tuple[Tensor, Tensor]:
        """src (B, S), src_len (B,) -> memory (B, S, D) and the key mask (B, 1, 1, S) of real positions."""
        pos = torch.arange(src.shape[1], device=src.device)  # (S,)
        mask = (pos < src_len.clamp(min=1)[:, None])[:, None, None]  # (B, 1, 1, S)
        h = self.embed(src, pos, src.shape[1])  # (B, S, D)
        for block in self.encoder:
            h = block(h, mask=mask)
        return self.enc_norm(h), mask

    def forward(self, src: Tensor, src_len: Tensor, tgt_in: Tensor) -> Tensor:
        """src (B, S), src_len (B,), tgt_in (B, T) -> logits (B, T, V)."""
        memory, mask = self.encode_source(src, src_len)
        t = tgt_in.shape[1]
        h = self.embed(tgt_in, torch.arange(t, device=src.device), t)  # (B, T, D)
        for block in self.decoder:
            h = block(h, causal=True, memory=block.cross.project(memory), memory_mask=mask)
        return self.embed.logits(self.dec_norm(h))  # (B, T, V)

    def attention(self, src: Tensor, src_len: Tensor, tgt_in: Tensor) -> Tensor:
        """The decoder's cross-attention behind `forward`: (B, layers, heads, T, S)."""
        with keeping([block.cross for block in self.decoder]) as kept:
            self.forward(src, src_len, tgt_in)
        return torch.stack([layer[0] for layer in kept], dim=1)

    def encode(self, src: Tensor, src_len: Tensor) -> EncDecState:
        """Encode once and project the memory once per layer: the decoding state before the first target token."""
        memory, mask = self.encode_source(src, src_len)
        return EncDecState([KVCache() for _ in self.decoder], [b.cross.project(memory) for b in self.decoder],
                           mask, 0)

    def step(self, token: Tensor, state: EncDecState) -> tuple[Tensor, EncDecState]:
        """token (B,) -> logits (B, V) for the next token; the new keys and values join the cache."""
        h = self.embed(token[:, None], token.new_full((1,), state.t), state.t + 1)  # (B, 1, D)
        for block, cache, memory in zip(self.decoder, state.caches, state.memory):
            h = block(h, cache=cache, memory=memory, memory_mask=state.memory_mask)  # attends to slots 0..t
        state.t += 1
        return self.embed.logits(self.dec_norm(h))[:, 0], state

    def reorder(self, state: EncDecState, index: Tensor) -> EncDecState:
        """Rows `index` (B',) of the state: caches, projected memory and its mask, for beam search."""
        memory = [(k.index_select(0, index), v.index_select(0, index)) for k, v in state.memory]
        return EncDecState([c.reorder(index) for c in state.caches], memory,
                           state.memory_mask.index_select(0, index), state.t)


class GPT(nn.Module):
    """Decoder-only causal Transformer language model."""

    def __init__(self, vocab_size: int, d: int, n_layers: int, n_heads: int, dropout: float,
                 opts: TransformerOptions, max_len: int) -> None:
        super().__init__()
        self.embed = Embedding(vocab_size, d, opts.positions, max_len, dropout)  # shared with the output layer
        self.blocks = nn.ModuleList(Block(d, n_heads, dropout, opts.norm) for _ in range(n_layers))
        self.norm = final_norm(d, opts.norm)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        """x (B, L) -> logits (B, L, V); position t sees x[:, :t+1] only."""
        h = self.embed(x, torch.arange(x.shape[1], device=x.device), x.shape[1])  # (B, L, D)
        for block in self.blocks:
            h = block(h, causal=True)
        return self.embed.logits(self.norm(h))

    def attention(self, x: Tensor) -> Tensor:
        """The causal self-attention behind `forward`: x (B, L) -> (B, layers, heads, L, L)."""
        with keeping([block.attn for block in self.blocks]) as kept:
            self.forward(x)
        return torch.stack([layer[0] for layer in kept], dim=1)

    def prefill(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, LMState]:
        """Right-padded prompts x (B, L), lengths (B,) -> logits (B, V) at position lengths-1, and the cache."""
        b, n = x.shape
        caches = [KVCache() for _ in self.blocks]
        h = self.embed(x, torch.arange(n, device=x.device), n)  # (B, L, D)
        for block, cache in zip(self.blocks, caches):
            h = block(h, causal=True, cache=cache)  # padding follows real tokens: causal keeps it unseen
        last = h[torch.arange(b, device=x.device), lengths - 1]  # (B, D)
        state = LMState(caches, lengths, n, int(lengths.max()))
        return self.embed.logits(self.norm(last)), state

    def step(self, token: Tensor, state: LMState) -> tuple[Tensor, LMState]:
        """token (B,) -> logits (B, V); it goes to slot L + t for every row, at position lengths + t."""
        pos = (state.lengths + state.t)[:, None]  # (B, 1): each row's own position
        h = self.embed(token[:, None], pos, state.longest + state.t + 1)  # (B, 1, D)
        slots = torch.arange(state.prompt_len + state.t + 1, device=token.device)  # keys after this append
        mask = (slots < state.lengths[:, None]) | (slots >= state.prompt_len)  # (B, L+t+1): real prompt, new tokens
        for block, cache in zip(self.blocks, state.caches):
            h = block(h, mask=mask[:, None, None], cache=cache)
        state.t += 1
        return self.embed.logits(self.norm(h))[:, 0], state

    def reorder(self, state: LMState, index: Tensor) -> LMState:
        """Rows `index` (B',) of the state: caches and prompt lengths, for beam search."""
        return LMState([c.reorder(index) for c in state.caches], state.lengths.index_select(0, index),
                       state.prompt_len, state.longest, state.t)


def build_transformer(ctx: BuildContext) -> Transformer:
    m = ctx.model
    return Transformer(ctx.vocab_size, m.d_model, m.n_layers, m.n_heads, m.dropout, ctx.options, m.max_len)


def build_gpt(ctx: BuildContext) -> GPT:
    m = ctx.model
    return GPT(ctx.vocab_size, m.d_model, m.n_layers, m.n_heads, m.dropout, ctx.options, m.max_len)


@seqbench.hookimpl
def register_architectures(register):
    # width_multiple=2: sinusoids pair sin and cos over even widths
    # lr 1e-2 for both (pre-LN takes it), chosen on validation as for the recurrent LMs (see plugins/recurrent.py)
    register(ArchSpec(name="transformer", description="encoder-decoder Transformer (Vaswani 2017), pre-LN",
                      kind="seq2seq", build=build_transformer, options=TransformerOptions, width_multiple=2,
                      uses_heads=True, train={"lr": 1e-2}))
    register(ArchSpec(name="gpt", description="decoder-only causal Transformer (GPT), pre-LN",
                      kind="causal_lm", build=build_gpt, options=TransformerOptions, width_multiple=2,
                      uses_heads=True, train={"lr": 1e-2}))
