"""Selective copying (Gu & Dao 2023, Mamba, Table 1; also in MAD): copy K symbols scattered among noise.

Layout of one example (`_` is the noise token, `:` the delimiter, `s0`..`s{alphabet-1}` the data symbols):

    source:  x1 _ _ x2 _ x3 _ _ _ ... xK _ _  :   PAD...   K symbols at random positions over a span, then `:`
    target:  x1 x2 ... xK  <eos>  PAD...                   the K symbols, in order, without the noise

The first symbol opens the source (position 0); the other K - 1 take distinct positions drawn uniformly from
1 .. distance - 1, every other position before the delimiter is noise. Unlike copy, where the symbols are is random,
so a model must select them by content, not count positions (the point of Mamba's selection mechanism).

Distance: the span, i.e. the delimiter's position minus the first symbol's position (here the delimiter's position,
= the source length - 1). The first symbol is read from `distance` tokens before the delimiter, where recall starts.
K symbols need a span of at least K, so distances start at k (build refuses less).

Alphabet: `alphabet` counts the data symbols only; the noise token and the delimiter come on top. Mamba's setting
(a vocabulary of 16 with the noise token included, K = 16, length 4096) is about alphabet=15, k=16, distance
4096; the default (alphabet 8, k 8) is a CPU-sized version. Chance (a uniform guess of each symbol) is
1/alphabet. Ids: noise 4, delimiter 5, symbol i is 6 + i.

Splits key on the K symbols only: a symbol string belongs to one split at every distance and every placement.

Worked example: `SelectiveCopyTask(SelectiveCopyOptions(alphabet=8, k=4), Distance(10, 10)).sample("train", 1,
torch.Generator().manual_seed(1))`, decoded:

    source:   s5 _ _ s3 _ s4 s0 _ _ _ :
    target:   s5 s3 s4 s0
    distance: 10 (the delimiter at position 10, the first symbol s5 at 0)
"""

from __future__ import annotations


import torch
from torch import Tensor

import seqbench
from seqbench.contract.specs import EOS, N_SPECIAL, PAD, Batch, Distance, Split, Task, TaskSpec, options
from seqbench.contract.splits import draw_in_split
from seqbench.tasks._common import ENUMERATE_UP_TO, check_key_space, check_split
from seqbench.tasks.copy import all_strings

NOISE, DELIM, SYM0 = N_SPECIAL, N_SPECIAL + 1, N_SPECIAL + 2


@options
class SelectiveCopyOptions:
    """Options of the selective-copy task (`task.selective-copy.<name>`)."""

    alphabet: int = 8  # data symbols, noise and delimiter not counted; chance accuracy is 1/alphabet
    k: int = 8  # symbols to copy per example, in order (16 in Mamba)

    def __post_init__(self) -> None:
        if self.alphabet < 2:
            raise ValueError(f"alphabet must be at least 2 symbols, got {self.alphabet}")
        if self.k < 1:
            raise ValueError(f"k must be at least 1 symbol, got {self.k}")
        if self.alphabet**self.k <= ENUMERATE_UP_TO:
            keys = SYM0 + all_strings(self.alphabet, self.k)  # (alphabet**k, K) every key, as sample() makes it
            check_key_space(keys, f"alphabet={self.alphabet}, k={self.k}", "raise alphabet or k")


class SelectiveCopyTask(Task):
    """The selective-copy task at one distance setting."""

    def __init__(self, options: SelectiveCopyOptions, distance: Distance) -> None:
        if distance.lo < options.k:
            raise ValueError(f"selective-copy distances start at k = {options.k} (K symbols need a span of K), "
                             f"got {distance.label}")
        self.options, self.distance = options, distance
        self.vocab_size = SYM0 + options.alphabet
        self.chance = 1.0 / options.alphabet
        self.max_src_len = distance.hi + 1
        self.max_tgt_len = options.k + 1

    def sample(self, split: Split, n: int, generator: torch.Generator) -> Batch:
        check_split(split)
        k, lo, hi, dev = self.options.k, self.distance.lo, self.distance.hi, generator.device

        def draw(m: int, g: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
            symbols = torch.randint(SYM0, self.vocab_size, (m, k), generator=g, device=dev)  # (m, K): the key
            span = torch.randint(lo, hi + 1, (m,), generator=g, device=dev)  # (m,)
            scores = torch.rand(m, hi - 1, generator=g, device=dev)  # (m, hi-1): positions 1 .. hi-1
            scores = torch.where(torch.arange(1, hi, device=dev) < span[:, None], scores, -1.0)
            where = 1 + scores.topk(k - 1, dim=1).indices.sort(1).values  # (m, K-1) inside 1 .. span-1
            return symbols, span, torch.cat([torch.zeros(m, 1, dtype=torch.long, device=dev), where], 1)

        symbols, span, where = draw_in_split(draw, split, n, generator)
        b = len(symbols)
        pos = torch.arange(hi + 1, device=dev)  # (S,)
        src = torch.where(pos < span[:, None], NOISE, PAD)  # (B, S)
        src = torch.where(pos == span[:, None], DELIM, src)
        src.scatter_(1, where, symbols)
        src = src[:, : int(span.max()) + 1 if b else 1]
        tgt = torch.cat([symbols, torch.full((b, 1), EOS, dtype=torch.long, device=dev)], 1)  # (B, K+1)
        return Batch(src, tgt, span)

    def distance_from_tokens(self, batch: Batch) -> Tensor:
        """The delimiter's position minus the first symbol's. -> (B,)"""
        return (batch.src == DELIM).long().argmax(1) - (batch.src >= SYM0).long().argmax(1)

    def clue_positions(self, batch: Batch) -> Tensor:
        """The first answer reads the first symbol (the one `distance` tokens before the delimiter); the others
        name no clue (-1), so gradient reach is measured at the distance. -> (B, T)"""
        clues = torch.full_like(batch.tgt, -1)  # (B, T)
        clues[:, 0] = (batch.src >= SYM0).long().argmax(1)
        return clues

    def decode(self, ids: list[int]) -> str:
        names = {NOISE: "_", DELIM: ":"}
        return " ".join(names.get(i, f"s{i - SYM0}") for i in map(int, ids) if i >= N_SPECIAL)


@seqbench.hookimpl
def register_tasks(register) -> None:
    register(
        TaskSpec(
            name="selective-copy",
            description="selective copying (Mamba): copy K symbols scattered among noise (distance = their span)",
            build=SelectiveCopyTask,
            options=SelectiveCopyOptions,
            default_distances=("16", "64"),
        )
    )
