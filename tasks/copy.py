"""Copying memory (Hochreiter & Schmidhuber 1997; Arjovsky, Shah & Bengio 2016): recall K symbols after a delay.

Layout of one example (`_` is the blank, `:` the delimiter, `s0`..`s{alphabet-1}` the symbols):

    source:  x1 x2 ... xK  _ _ ... _  :   PAD...     K symbols, `delay` blanks, one delimiter
    target:  x1 x2 ... xK  <eos>  PAD...             the K symbols again, in order

Distance: the example's delay, i.e. the number of blanks between the last symbol xK and the delimiter. The
delimiter is where recall starts, so symbol x_i is (K - i) + delay tokens away from it; the recorded distance is
the gap of the last, nearest symbol. Arjovsky et al.'s "T" (T - 1 blanks) is distance + 1. A range distance
draws each example's delay uniformly from the range, so rows differ in length and are right-padded.

Splits key on the K symbols only: a symbol string belongs to one split at every delay, so no test string was
ever trained on, at any delay. With `test_delays`, the test split draws its delays from those values instead of
the built distance (extrapolation); validation keeps the built distance, so checkpoint choice never sees them.

Worked example: `CopyTask(CopyOptions(alphabet=8, k=4), Distance(5, 5)).sample("train", 1,
torch.Generator().manual_seed(1))`, decoded:

    source:   s5 s3 s4 s0 _ _ _ _ _ :
    target:   s5 s3 s4 s0
    distance: 5

Chance (a memoryless guess of each symbol) is 1/alphabet. Ids: blank 4, delimiter 5, symbol i is 6 + i.
"""

from __future__ import annotations


import torch
from torch import Tensor

import seqbench
from seqbench.contract.specs import EOS, N_SPECIAL, PAD, Batch, Distance, Split, Task, TaskSpec, options
from seqbench.contract.splits import draw_in_split
from seqbench.tasks._common import ENUMERATE_UP_TO, check_key_space, check_split

BLANK, DELIM, SYM0 = N_SPECIAL, N_SPECIAL + 1, N_SPECIAL + 2


@options
class CopyOptions:
    """Options of the copy task (`task.copy.<name>`)."""

    alphabet: int = 8  # distinct symbols; chance accuracy is 1/alphabet
    k: int = 10  # symbols to remember per example, recalled in order
    test_delays: tuple[int, ...] = ()  # if given, the test split's delays, drawn uniformly from these values

    def __post_init__(self) -> None:
        if self.alphabet < 2:
            raise ValueError(f"alphabet must be at least 2 symbols, got {self.alphabet}")
        if self.k < 1:
            raise ValueError(f"k must be at least 1 symbol, got {self.k}")
        if any(d < 1 for d in self.test_delays):
            raise ValueError(f"test_delays must all be at least 1 blank, got {list(self.test_delays)}")
        if len(set(self.test_delays)) != len(self.test_delays):
            raise ValueError(f"test_delays lists a value twice: {list(self.test_delays)}")
        if self.alphabet**self.k <= ENUMERATE_UP_TO:
            keys = SYM0 + all_strings(self.alphabet, self.k)  # (alphabet**k, K) every key, as sample() makes it
            check_key_space(keys, f"alphabet={self.alphabet}, k={self.k}", "raise alphabet or k")


def all_strings(alphabet: int, k: int) -> Tensor:
    """Every string of k symbol indices, (alphabet**k, k)."""
    index = torch.arange(alphabet**k)[:, None]  # (N, 1)
    return index // alphabet ** torch.arange(k) % alphabet  # (N, K)


def layout(symbols: Tensor, delay: Tensor) -> tuple[Tensor, Tensor]:
    """Source (B, K + max delay + 1) and target (B, K + 1) of symbol ids (B, K) held for `delay` (B,) blanks."""
    b, k = symbols.shape
    pos = torch.arange(k + int(delay.max()) + 1, device=symbols.device)  # (S,)
    delim = (k + delay)[:, None]  # (B, 1) position of the delimiter
    src = torch.full((b, pos.numel()), PAD, dtype=torch.long, device=symbols.device)  # (B, S)
    src[:, :k] = symbols
    src = torch.where((pos >= k) & (pos < delim), BLANK, src)
    src = torch.where(pos == delim, DELIM, src)
    tgt = torch.cat([symbols, torch.full((b, 1), EOS, dtype=torch.long, device=symbols.device)], 1)  # (B, K+1)
    return src, tgt


class CopyTask(Task):
    """The copy task at one distance setting."""

    def __init__(self, options: CopyOptions, distance: Distance) -> None:
        self.options, self.distance = options, distance
        self.vocab_size = SYM0 + options.alphabet
        self.chance = 1.0 / options.alphabet
        self.max_src_len = options.k + max((distance.hi, *options.test_delays)) + 1
        self.max_tgt_len = options.k + 1

    def sample(self, split: Split, n: int, generator: torch.Generator) -> Batch:
        check_split(split)
        k, lo, hi, dev = self.options.k, self.distance.lo, self.distance.hi, generator.device
        choices = torch.tensor(self.options.test_delays, dtype=torch.long, device=dev)
        extrapolate = split == "test" and len(choices) > 0

        def draw(m: int, g: torch.Generator) -> tuple[Tensor, Tensor]:
            symbols = torch.randint(SYM0, self.vocab_size, (m, k), generator=g, device=dev)  # (m, K): the key
            if extrapolate:
                delay = choices[torch.randint(len(choices), (m,), generator=g, device=dev)]  # (m,)
            else:
                delay = torch.randint(lo, hi + 1, (m,), generator=g, device=dev)  # (m,)
            return symbols, delay

        symbols, delay = draw_in_split(draw, split, n, generator)
        src, tgt = layout(symbols, delay)
        return Batch(src, tgt, delay)

    def distance_from_tokens(self, batch: Batch) -> Tensor:
        """The blanks between the last symbol and the delimiter: the delimiter's position - K. -> (B,)"""
        return (batch.src == DELIM).long().argmax(1) - self.options.k

    def clue_positions(self, batch: Batch) -> Tensor:
        """Target symbol i copies source position i; EOS and padding copy nothing (-1). -> (B, T). The last
        symbol's clue, x_K, is the example's distance (its delay) from the delimiter."""
        t = torch.arange(batch.tgt.shape[1], device=batch.tgt.device).expand_as(batch.tgt)  # (B, T)
        return torch.where((batch.tgt != PAD) & (batch.tgt != EOS), t, -1)

    def decode(self, ids: list[int]) -> str:
        names = {BLANK: "_", DELIM: ":"}
        return " ".join(names.get(i, f"s{i - SYM0}") for i in map(int, ids) if i >= N_SPECIAL)

    def bin_edges(self) -> list[int]:
        """The default bins, plus one bin starting at each test delay so extrapolation is reported per delay."""
        return sorted(set(super().bin_edges()) | set(self.options.test_delays))


@seqbench.hookimpl
def register_tasks(register) -> None:
    register(
        TaskSpec(
            name="copy",
            description="copying memory: recall K symbols after a delay of blanks (distance = delay)",
            build=CopyTask,
            options=CopyOptions,
            default_distances=("10", "100"),
        )
    )
