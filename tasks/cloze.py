"""Cloze with a distant clue: a fact stated early decides the word needed at the end of the passage.

Layout of one example (P: the person asked about, C: their country, L(C): its language, D = `distractors`):

    source:  [b distractor facts]  P grew up in C .  [gap: filler words with D - b distractor facts]  P speaks fluent
    target:  L(C) <eos>

A fact is the 6 tokens `person grew up in country .`. Distractor facts name other people and other countries
(all distinct), so the answer is found only by binding the query's person to their fact, not by remembering the
last (or first) country. How many distractors precede the true fact, b, is uniform over 0..D, so the true fact's
rank among the D + 1 facts is uniform; when the gap is too short to hold D - b of them (distance < 4 + 6 D) the
ones that do not fit go before the true fact instead. Filler words are drawn uniformly from the filler vocabulary.

Distance: the number of source tokens after the clue C, i.e. from C to the blank (the position right after
`fluent`, where the answer is needed; the host's SEP is not counted): `.` + gap + `P speaks fluent` = gap + 4.
The distance setting fixes the gap (distance - 4 tokens), one value or, for a range, drawn uniformly per example;
the smallest distance is 4 (no gap).

Lexicon: people `person_i`, countries `country_j`, each with its language `language_j` (a fixed bijection, so
the task is learnable), filler words `w_k`; which person grew up where is random in every example. Splits key on
the (person, country) of the true fact: a pair asked about at test time never appears as a queried fact in
training. Chance is 1/n_countries.

Worked example: `ClozeTask(ClozeOptions(), Distance(12, 12)).sample("train", 1,
torch.Generator().manual_seed(1))`, decoded (b = 1: one distractor before the true fact, one in the gap):

    source:   person_139 grew up in country_12 . person_345 grew up in country_1 . w137 person_87 grew up in
              country_4 . w76 person_345 speaks fluent
    target:   language_1
    distance: 12 (after the clue country_1: `. w137`, 6 distractor tokens, `w76`, `person_345 speaks fluent`)
"""

from __future__ import annotations


import torch
from torch import Tensor

import seqbench
from seqbench.contract.specs import EOS, N_SPECIAL, PAD, Batch, Distance, Split, Task, TaskSpec, options
from seqbench.contract.splits import draw_in_split
from seqbench.tasks._common import ENUMERATE_UP_TO, check_key_space, check_split

WORDS = ("grew", "up", "in", ".", "speaks", "fluent")
GREW, UP, IN, STOP, SPEAKS, FLUENT = range(N_SPECIAL, N_SPECIAL + len(WORDS))
PERSON0 = N_SPECIAL + len(WORDS)  # first person id; countries, languages and filler words follow
FACT_LEN = 6  # person grew up in country .
MIN_DISTANCE = 4  # the clue is followed at least by `.` and `person speaks fluent`


@options
class ClozeOptions:
    """Options of the cloze task (`task.cloze.<name>`)."""

    n_people: int = 500  # person names; each fact's person is drawn from these
    n_countries: int = 20  # countries, each with its own language; chance accuracy is 1/n_countries
    filler_vocab: int = 200  # filler words that pad the gap between the true fact and the query
    distractors: int = 2  # other person-country facts in each passage (0 turns them off)

    def __post_init__(self) -> None:
        if self.distractors < 0:
            raise ValueError(f"distractors must be 0 or more, got {self.distractors}")
        if self.n_people < self.distractors + 1:
            raise ValueError(f"n_people must be at least distractors + 1 = {self.distractors + 1}, got {self.n_people}")
        if self.n_countries < max(2, self.distractors + 1):
            raise ValueError(
                f"n_countries must be at least 2 and at least distractors + 1 = {self.distractors + 1} "
                f"(every fact names a different country), got {self.n_countries}"
            )
        if self.filler_vocab < 1:
            raise ValueError(f"filler_vocab must be at least 1 word, got {self.filler_vocab}")
        if self.n_people * self.n_countries <= ENUMERATE_UP_TO:
            people = torch.arange(self.n_people).repeat_interleave(self.n_countries)  # (P*C,)
            countries = torch.arange(self.n_countries).repeat(self.n_people)  # (P*C,)
            keys = torch.stack([PERSON0 + people, PERSON0 + self.n_people + countries], 1)  # as sample() makes them
            what = f"n_people={self.n_people}, n_countries={self.n_countries}"
            check_key_space(keys, what, "raise n_people or n_countries")


def others(true: Tensor, size: int, count: int, generator: torch.Generator) -> Tensor:
    """`count` distinct indices in [0, size) per row, all different from `true` (B,). -> (B, count)."""
    scores = torch.rand(len(true), size, generator=generator, device=true.device)  # (B, size)
    scores.scatter_(1, true[:, None], -1.0)
    return scores.topk(count, dim=1).indices


def clue(src: Tensor) -> Tensor:
    """The clue's position in each source (B, S): the country of the one fact whose person the query names. -> (B,)"""
    length = (src != PAD).sum(1)  # (B,)
    asked = src.gather(1, (length - 3)[:, None])  # (B, 1): the person in `P speaks fluent`
    fact = (src[:, :-1] == asked) & (src[:, 1:] == GREW)  # (B, S-1): where `P grew` starts
    return fact.long().argmax(1) + 4


class ClozeTask(Task):
    """The cloze task at one distance setting."""

    def __init__(self, options: ClozeOptions, distance: Distance) -> None:
        if distance.lo < MIN_DISTANCE:
            raise ValueError(
                f"cloze distances start at {MIN_DISTANCE} (the clue is followed by '.' and "
                f"'<person> speaks fluent'), got {distance.label}"
            )
        self.options, self.distance = options, distance
        self.country0 = PERSON0 + options.n_people
        self.language0 = self.country0 + options.n_countries
        self.filler0 = self.language0 + options.n_countries
        self.vocab_size = self.filler0 + options.filler_vocab
        self.chance = 1.0 / options.n_countries
        self.max_src_len = FACT_LEN * (options.distractors + 1) + distance.hi - 1  # lead facts, fact, then distance - 1
        self.max_tgt_len = 2

    def sample(self, split: Split, n: int, generator: torch.Generator) -> Batch:
        check_split(split)
        o, g, dev = self.options, generator, generator.device

        def draw(m: int, g: torch.Generator) -> tuple[Tensor]:
            person = torch.randint(o.n_people, (m,), generator=g, device=dev)  # (m,)
            country = torch.randint(o.n_countries, (m,), generator=g, device=dev)  # (m,)
            return (torch.stack([PERSON0 + person, self.country0 + country], 1),)  # (m, 2): the key

        (key,) = draw_in_split(draw, split, n, g)
        person, country = key[:, 0], key[:, 1]  # (n,) token ids of the true fact
        n, d = len(key), o.distractors
        dist = torch.randint(self.distance.lo, self.distance.hi + 1, (n,), generator=g, device=dev)  # (n,)
        other_p = PERSON0 + others(person - PERSON0, o.n_people, d, g)  # (n, D)
        other_c = self.country0 + others(country - self.country0, o.n_countries, d, g)  # (n, D)
        gap = dist - MIN_DISTANCE  # (n,) tokens between `.` and the query
        after = torch.minimum(d - torch.randint(d + 1, (n,), generator=g, device=dev), gap // FACT_LEN)  # (n,)
        before = d - after  # (n,) distractor facts ahead of the true fact
        start = FACT_LEN * before  # (n,) position of the true fact
        length = start + FACT_LEN + gap + 3  # (n,) source length; the clue is at start + 4

        pos = torch.arange(int(length.max()), device=dev)  # (S,)
        src = torch.randint(self.filler0, self.vocab_size, (n, len(pos)), generator=g, device=dev)  # (n, S)
        src = torch.where(pos < length[:, None], src, PAD)
        # the a = D - b distractors after the clue sit among the gap's filler words: their slots are a uniform
        # choice of a among the (gap - 6 a) filler words + a facts, counted as whole units
        units = gap - (FACT_LEN - 1) * after  # (n,)
        scores = torch.rand(n, max(int(units.max()), d), generator=g, device=dev)  # (n, U)
        scores = torch.where(torch.arange(scores.shape[1], device=dev) < units[:, None], scores, -1.0)
        slots = scores.topk(d, dim=1).indices  # (n, D) distinct unit indices, valid ones first
        slots = torch.where(torch.arange(d, device=dev) < after[:, None], slots, slots.shape[1]).sort(1).values

        def put(at: Tensor, *tokens: Tensor | int) -> None:  # write tokens at per-row offsets at (n,)
            row = torch.stack([torch.as_tensor(t, device=dev).expand(n) for t in tokens], 1)  # (n, len)
            src.scatter_(1, at[:, None] + torch.arange(len(tokens), device=dev), row)

        for j in range(d):  # distractor j goes before the true fact if j < b, else into the gap with rank j - b
            rank = (j - before).clamp(min=0)  # (n,)
            in_gap = start + FACT_LEN + slots.gather(1, rank[:, None])[:, 0] + (FACT_LEN - 1) * rank  # (n,)
            put(torch.where(j < before, FACT_LEN * j, in_gap), other_p[:, j], GREW, UP, IN, other_c[:, j], STOP)
        put(start, person, GREW, UP, IN, country, STOP)
        put(length - 3, person, SPEAKS, FLUENT)

        language = self.language0 + country - self.country0  # (n,)
        tgt = torch.stack([language, torch.full_like(language, EOS)], 1)  # (n, 2)
        return Batch(src, tgt, dist)

    def distance_from_tokens(self, batch: Batch) -> Tensor:
        """Tokens after the clue: the source length - the clue's position - 1. -> (B,)"""
        return (batch.src != PAD).sum(1) - clue(batch.src) - 1

    def clue_positions(self, batch: Batch) -> Tensor:
        """The answer (the language) is read from the clue (the country of the queried person's fact); EOS from
        nothing. -> (B, T)"""
        clues = torch.full_like(batch.tgt, -1)  # (B, T)
        clues[:, 0] = clue(batch.src)
        return clues

    def decode(self, ids: list[int]) -> str:
        return " ".join(self.word(i) for i in map(int, ids) if i >= N_SPECIAL)

    def word(self, i: int) -> str:
        """The text of one task token id."""
        if i < PERSON0:
            return WORDS[i - N_SPECIAL]
        for first, name in ((self.filler0, "w"), (self.language0, "language_"), (self.country0, "country_")):
            if i >= first:
                return f"{name}{i - first}"
        return f"person_{i - PERSON0}"


@seqbench.hookimpl
def register_tasks(register) -> None:
    register(
        TaskSpec(
            name="cloze",
            description="name a person's language from a fact stated far back, among distractor facts",
            build=ClozeTask,
            options=ClozeOptions,
            default_distances=("20", "100"),
        )
    )
