"""Transformer building blocks shared by `transformer` and `gpt` (underscore: not a plugin itself).

Vaswani et al. 2017, "Attention Is All You Need": multi-head attention (§3.2.2) through
`F.scaled_dot_product_attention`, in the host's residual block with its position-wise feed-forward (§3.3,
`seqbench.host.block`, the same block that wraps third-party mixers), embeddings scaled by sqrt(d_model) and shared
with the output layer (§3.4), sinusoidal positions (§3.5). Residual sublayers are pre-norm (Xiong et al. 2020, "On
Layer Normalization in the Transformer Architecture") or post-norm (the original).
"""

from __future__ import annotations

import contextlib
import math
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqbench.host.block import HostBlock


def sinusoids(pos: Tensor, d: int) -> Tensor:
    """Positions (...) long -> (..., d): PE(p, 2i) = sin(p / 10000^(2i/d)), PE(p, 2i+1) = cos(same)."""
    freq = torch.exp(torch.arange(0, d, 2, device=pos.device) * (-math.log(10000.0) / d))  # (d/2,)
    angle = pos[..., None].float() * freq  # (..., d/2)
    return torch.stack([angle.sin(), angle.cos()], dim=-1).flatten(-2)  # (..., d), interleaved


class Embedding(nn.Module):
    """Token embedding x sqrt(d) plus positions, with dropout; its table is also the output layer (tied)."""

    def __init__(self, vocab_size: int, d: int, positions: str, max_len: int, dropout: float) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocab_size, d)
        self.learned = nn.Embedding(max_len, d) if positions == "learned" else None
        self.d, self.max_len = d, max_len
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, pos: Tensor, longest: int) -> Tensor:
        """x (B, T) tokens at positions pos (B, T) or (T,); `longest` = 1 + the largest position -> (B, T, D)."""
        if self.learned is None:
            p = sinusoids(pos, self.d).to(self.tokens.weight.dtype)
        elif longest > self.max_len:
            raise ValueError(
                f"sequence of length {longest} is longer than max_len={self.max_len}, the size of the learned "
                f"position table; build the model with a larger max_len or use positions='sinusoidal'"
            )
        else:
            p = self.learned(pos)
        return self.drop(self.tokens(x) * math.sqrt(self.d) + p)

    def logits(self, h: Tensor) -> Tensor:
        """h (B, T, D) -> logits (B, T, V) through the shared embedding table."""
        return F.linear(h, self.tokens.weight)


class KVCache:
    """One attention layer's past keys and values (B, H, n, hd), in buffers that double when full, so appending a
    token costs O(1) amortised and nothing is recomputed."""

    def __init__(self) -> None:
        self.k: Tensor | None = None
        self.v: Tensor | None = None
        self.n = 0

    def extend(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Append k, v (B, H, t, hd); return all keys and values so far (B, H, n, hd)."""
        t = k.shape[2]
        if self.k is None or self.n + t > self.k.shape[2]:
            cap = max(2 * (self.n + t), 16)
            new_k, new_v = k.new_empty(*k.shape[:2], cap, k.shape[3]), v.new_empty(*v.shape[:2], cap, v.shape[3])
            if self.k is not None:
                new_k[:, :, : self.n], new_v[:, :, : self.n] = self.k[:, :, : self.n], self.v[:, :, : self.n]
            self.k, self.v = new_k, new_v
        self.k[:, :, self.n : self.n + t], self.v[:, :, self.n : self.n + t] = k, v
        self.n += t
        return self.k[:, :, : self.n], self.v[:, :, : self.n]

    def reorder(self, index: Tensor) -> "KVCache":
        """A cache of rows `index` (B',) of this one (for beam search); this one is left as it was."""
        new = KVCache()
        if self.k is not None:
            new.k, new.v, new.n = self.k.index_select(0, index), self.v.index_select(0, index), self.n
        return new


class Attention(nn.Module):
    """Multi-head scaled dot-product attention; keys and values from x itself or given (cross-attention)."""

    def __init__(self, d: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.h, self.p = n_heads, dropout
        self.q = nn.Linear(d, d)
        self.kv = nn.Linear(d, 2 * d)
        self.out = nn.Linear(d, d)
        self.kept: list[Tensor] | None = None  # while a list (`keeping`): each call's weights (B, H, T, S) go in it

    def project(self, src: Tensor) -> tuple[Tensor, Tensor]:
        """src (B, S, D) -> keys, values (B, H, S, hd)."""
        k, v = self.kv(src).chunk(2, dim=-1)
        return self._heads(k), self._heads(v)

    def forward(self, x: Tensor, kv: tuple[Tensor, Tensor] | None = None, mask: Tensor | None = None,
                causal: bool = False, cache: KVCache | None = None) -> Tensor:
        """x (B, T, D) -> (B, T, D). mask: bool, True where a key may be attended, broadcast to (B, H, T, S).

        Without `kv`, keys and values come from x (self-attention), appended first to `cache` if given.
        """
        q = self._heads(self.q(x))  # (B, H, T, hd)
        k, v = self.project(x) if kv is None else kv  # (B, H, S, hd)
        if cache is not None:
            k, v = cache.extend(k, v)
        if self.kept is not None:
            y = self._explicit(q, k, v, mask, causal)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal,
                                               dropout_p=self.p if self.training else 0.0)  # (B, H, T, hd)
        return self.out(y.transpose(1, 2).flatten(2))  # (B, T, D)

    def _explicit(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, causal: bool) -> Tensor:
        """What `scaled_dot_product_attention` computes, with the weights kept: softmax(q k^T / sqrt(hd)) with the
        same masks (causal: key s visible from query t when s <= t), then their average of v. -> (B, H, T, hd)"""
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, H, T, S)
        if causal:
            scores = scores.masked_fill(~torch.ones(scores.shape[-2:], dtype=torch.bool, device=q.device).tril(),
                                        float("-inf"))
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        self.kept.append(weights)
        return F.dropout(weights, self.p, self.training) @ v

    def _heads(self, x: Tensor) -> Tensor:
        return x.unflatten(-1, (self.h, -1)).transpose(1, 2)  # (B, T, D) -> (B, H, T, hd)


class Block(HostBlock):
    """Self-attention, optional cross-attention, feed-forward: the host's residual block (`seqbench.host.block`)
    around attention sublayers, pre- or post-norm."""

    def __init__(self, d: int, n_heads: int, dropout: float, norm: str, cross: bool = False) -> None:
        attention = {"attn": Attention(d, n_heads, dropout)}
        if cross:
            attention["cross"] = Attention(d, n_heads, dropout)
        super().__init__(d, dropout, norm, **attention)
        if not cross:
            self.cross = None

    def forward(self, x: Tensor, mask: Tensor | None = None, causal: bool = False, cache: KVCache | None = None,
                memory: tuple[Tensor, Tensor] | None = None, memory_mask: Tensor | None = None) -> Tensor:
        """x (B, T, D) -> (B, T, D). memory: the cross-attention's projected keys and values (B, H, S, hd)."""
        x = self.sublayer(x, 0, lambda h: self.attn(h, mask=mask, causal=causal, cache=cache))
        if self.cross is not None:
            x = self.sublayer(x, 1, lambda h: self.cross(h, kv=memory, mask=memory_mask))
        return self.feed_forward(x)


@contextlib.contextmanager
def keeping(layers: list[Attention]) -> Iterator[list[list[Tensor]]]:
    """Within the block, `layers` compute attention explicitly and keep each call's weights (B, H, T, S), one list
    per layer; the fused kernel again after it."""
    for a in layers:
        a.kept = []
    try:
        yield [a.kept for a in layers]
    finally:
        for a in layers:
            a.kept = None


def final_norm(d: int, norm: str) -> nn.Module:
    """The LayerNorm that ends a pre-norm stack; post-norm stacks already end normalised."""
    return nn.LayerNorm(d) if norm == "pre" else nn.Identity()


@torch.no_grad()
def init_weights(module: nn.Module) -> None:
    """Xavier-uniform matrices, zero biases (as in the annotated Transformer); token embeddings N(0, 1/d), so
    x sqrt(d) they have unit scale like the sinusoids (as in fairseq); learned positions N(0, 0.02)."""
    if next(module.parameters()).is_meta:  # sizing builds on the meta device: nothing to initialise
        return
    for m in module.modules():
        if isinstance(m, Embedding):
            nn.init.normal_(m.tokens.weight, std=m.d**-0.5)
            if m.learned is not None:
                nn.init.normal_(m.learned.weight, std=0.02)
        elif isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
