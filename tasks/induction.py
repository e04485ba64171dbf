"""Induction heads (Olsson et al. 2022; Gu & Dao 2023, Mamba, Table 11): after the trigger, say what followed it.

Layout of one example (`>` is the trigger, `s0`..`s{alphabet-1}` the symbols, `a` the answer):

    source:  s s ... s  > a  s s ... s  >   PAD...   random symbols; the trigger twice, the second one last
    target:  a  <eos>  PAD...                        the symbol that followed the first trigger

The trigger is a token of its own that appears nowhere else; every other token, the answer included, is drawn
uniformly from the alphabet. Before the first trigger stand `lead` random symbols, `lead` uniform over
0 .. distance - 1, so the first trigger's position tells nothing and a source is distance + 1 to 2 distance long.

Distance: how far back the first trigger is from the end: the last trigger's position minus the first's. The
answer sits right after the first trigger, distance - 1 tokens before the last. Distances start at 2 (`> a >`).

Extrapolation (as Mamba trains at one length and tests at longer ones): with `test_distances` (n values), the test
split draws each example's distance from one of these values with probability 1/(n + 1) each, and from the setting
otherwise, so the test set holds sequences longer than any trained on beside the trained ones (the in-distribution
baseline, and the setting's own bins stay filled). Validation keeps the setting, so checkpoint choice never sees the
test distances, and each test distance starts a bin of its own (accuracy per test length). Splits key on the first
32 source tokens (what the example is) and its distance and lead, the same at every setting, so a sequence belongs
to one split whatever the distances drawn.

Chance (a uniform guess of the answer) is 1/alphabet. Ids: trigger 4, symbol i is 5 + i.

Worked example: `InductionTask(InductionOptions(alphabet=8), Distance(6, 6)).sample("train", 1,
torch.Generator().manual_seed(1))`, decoded:

    source:   s1 s3 s4 s0 s1 > s4 s2 s4 s0 s5 >
    target:   s4
    distance: 6 (the first trigger at position 5, the last at 11)
"""

from __future__ import annotations


import torch
from torch import Tensor

import seqbench
from seqbench.contract.specs import EOS, N_SPECIAL, PAD, Batch, Distance, Split, Task, TaskSpec, options
from seqbench.contract.splits import draw_in_split
from seqbench.tasks._common import check_split

TRIGGER, SYM0 = N_SPECIAL, N_SPECIAL + 1
MIN_DISTANCE = 2  # `> a >`
KEY_TOKENS = 32  # a split keys on this many leading source tokens, with the example's distance and lead


@options
class InductionOptions:
    """Options of the induction task (`task.induction.<name>`)."""

    alphabet: int = 16  # symbols, the trigger not counted; chance accuracy is 1/alphabet
    test_distances: tuple[int, ...] = ()  # if given, the test split's distances, drawn uniformly from these values

    def __post_init__(self) -> None:
        if self.alphabet < 2:
            raise ValueError(f"alphabet must be at least 2 symbols, got {self.alphabet}")
        if any(d < MIN_DISTANCE for d in self.test_distances):
            raise ValueError(f"test_distances must all be at least {MIN_DISTANCE}, got {list(self.test_distances)}")
        if len(set(self.test_distances)) != len(self.test_distances):
            raise ValueError(f"test_distances lists a value twice: {list(self.test_distances)}")


class InductionTask(Task):
    """The induction task at one distance setting."""

    def __init__(self, options: InductionOptions, distance: Distance) -> None:
        if distance.lo < MIN_DISTANCE:
            raise ValueError(f"induction distances start at {MIN_DISTANCE} ('> a >'), got {distance.label}")
        self.options, self.distance = options, distance
        self.vocab_size = SYM0 + options.alphabet
        self.chance = 1.0 / options.alphabet
        self.max_src_len = 2 * max((distance.hi, *options.test_distances))
        self.max_tgt_len = 2

    def sample(self, split: Split, n: int, generator: torch.Generator) -> Batch:
        check_split(split)
        lo, hi, dev = self.distance.lo, self.distance.hi, generator.device
        choices = torch.tensor(self.options.test_distances, dtype=torch.long, device=dev)
        extrapolate = split == "test" and len(choices) > 0
        width = max(self.max_src_len, KEY_TOKENS)  # one width for every split, so keys are comparable

        def draw(m: int, g: torch.Generator) -> tuple[Tensor, Tensor]:
            dist = torch.randint(lo, hi + 1, (m,), generator=g, device=dev)  # (m,)
            if extrapolate:  # a test distance with probability n / (n + 1), each equally likely
                pick = torch.randint(len(choices) + 1, (m,), generator=g, device=dev)  # (m,) n: the setting
                dist = torch.where(pick < len(choices), choices[pick.clamp(max=len(choices) - 1)], dist)
            lead = (torch.rand(m, generator=g, device=dev) * dist).long().minimum(dist - 1)  # (m,) uniform, 0 .. dist-1
            pos = torch.arange(width, device=dev)  # (W,)
            src = torch.randint(SYM0, self.vocab_size, (m, width), generator=g, device=dev)  # (m, W)
            src = torch.where((pos == lead[:, None]) | (pos == (lead + dist)[:, None]), TRIGGER, src)
            src = torch.where(pos > (lead + dist)[:, None], PAD, src)
            key = torch.cat([src[:, :KEY_TOKENS], dist[:, None], lead[:, None]], 1)  # (m, 34)
            return key, src, dist

        _, src, dist = draw_in_split(draw, split, n, generator)
        src = src[:, : int((src != PAD).sum(1).max()) if len(src) else 1]
        first = (src == TRIGGER).long().argmax(1)  # (B,)
        answer = src.gather(1, (first + 1)[:, None])  # (B, 1)
        tgt = torch.cat([answer, torch.full_like(answer, EOS)], 1)  # (B, 2)
        return Batch(src, tgt, dist)

    def distance_from_tokens(self, batch: Batch) -> Tensor:
        """The last trigger's position (the source's last token) minus the first trigger's. -> (B,)"""
        return (batch.src != PAD).sum(1) - 1 - (batch.src == TRIGGER).long().argmax(1)

    def clue_positions(self, batch: Batch) -> Tensor:
        """The answer is read from the token after the first trigger; EOS from nothing. -> (B, T)"""
        clues = torch.full_like(batch.tgt, -1)  # (B, T)
        clues[:, 0] = (batch.src == TRIGGER).long().argmax(1) + 1
        return clues

    def decode(self, ids: list[int]) -> str:
        return " ".join(">" if i == TRIGGER else f"s{i - SYM0}" for i in map(int, ids) if i >= N_SPECIAL)

    def bin_edges(self) -> list[int]:
        """The default bins, plus one bin starting at each test distance so extrapolation is reported per length."""
        return sorted(set(super().bin_edges()) | set(self.options.test_distances))


@seqbench.hookimpl
def register_tasks(register) -> None:
    register(
        TaskSpec(
            name="induction",
            description="induction heads: a trigger, its answer, random tokens, the trigger again; say the answer "
                        "(distance = how far back the first trigger is)",
            build=InductionTask,
            options=InductionOptions,
            default_distances=("16", "64"),
        )
    )
