"""Multi-query associative recall (MQAR; Arora et al. 2023, "Zoology", HazyResearch/zoology): look up Q keys.

Layout of one example (`_` is the blank filler, `kI` a key, `vJ` a value; N = n_pairs, Q = n_queries):

    source:  k1 v1 k2 v2 ... kN vN  _ _ ... _  q1 q2 ... qQ   PAD...   N pairs, F blanks, Q queried keys
    target:  val(q1) val(q2) ... val(qQ)  <eos>  PAD...              the value paired with each query, in order

Keys come from one half of the vocabulary, values from the other; the N keys of an example are distinct (values may
repeat), and the Q queries are distinct keys of the example, in random order. zoology's defaults are a vocabulary of
8192 (vocab=8192 here) and 8 pairs; its sweep runs (length, pairs) = (64, 4) to (512, 64). zoology's layout answers
each query in place (a causal stream `k v ... q v'`); a seqbench task is source -> target, so the queries end the
source and the target lists their values, the way copy lists its symbols after the delimiter.

Distance: the LARGEST gap over the example's queries, where a query's gap is its position minus the position of
the value it asks for (the token the answer is read from): gap_i = pos(q_i) - pos(v of q_i's pair). The blanks F
are chosen per example so that the largest gap equals the distance drawn from the setting; without blanks the
largest gap is already 2N + i - 2j - 1 for query i asking pair j, at most 2N + Q - 2, so distances start at
2N + Q - 2 (22 with the defaults; build refuses less).

Splits key on the pairs and the queries (not the blanks): a set of pairs asked in one order belongs to one split at
every distance. Chance (a uniform guess over the values) is 1/(vocab/2). Ids: blank 4, key i is 5 + i, value j is
5 + vocab/2 + j. Gradient reach (`clue_positions`) is measured on the one answer whose gap is the distance.

Worked example: `MQARTask(MQAROptions(n_pairs=3, n_queries=2, vocab=16), Distance(9, 9)).sample("train", 1,
torch.Generator().manual_seed(1))`, decoded:

    source:   k4 v4 k1 v3 k6 v5 _ _ _ _ k4 k6
    target:   v4 v5
    distance: 9 (q1 = k4 at position 10 asks v4 at position 1, gap 9; q2 = k6 at 11 asks v5 at 5, gap 6)
"""

from __future__ import annotations


import torch
from torch import Tensor

import seqbench
from seqbench.contract.specs import EOS, N_SPECIAL, PAD, Batch, Distance, Split, Task, TaskSpec, options
from seqbench.contract.splits import draw_in_split
from seqbench.tasks._common import check_split

BLANK, KEY0 = N_SPECIAL, N_SPECIAL + 1


@options
class MQAROptions:
    """Options of the mqar task (`task.mqar.<name>`)."""

    n_pairs: int = 8  # key-value pairs per example
    n_queries: int = 0  # keys asked per example, distinct, at most n_pairs; 0: as many as n_pairs
    vocab: int = 64  # keys and values together: vocab/2 keys, vocab/2 values; chance accuracy is 2/vocab

    def __post_init__(self) -> None:
        if self.n_pairs < 1:
            raise ValueError(f"n_pairs must be at least 1, got {self.n_pairs}")
        if not 0 <= self.n_queries <= self.n_pairs:
            raise ValueError(f"n_queries must be 0 (= n_pairs) to n_pairs = {self.n_pairs}, got {self.n_queries}")
        if self.vocab < 4 or self.vocab % 2:
            raise ValueError(f"vocab must be even and at least 4 (half keys, half values), got {self.vocab}")
        if self.vocab // 2 < self.n_pairs:
            raise ValueError(f"vocab/2 = {self.vocab // 2} keys cannot give {self.n_pairs} distinct keys: raise vocab")

    @property
    def queries(self) -> int:
        """How many keys each example asks."""
        return self.n_queries or self.n_pairs


def min_distance(o: MQAROptions) -> int:
    """The largest gap when no blanks stand between pairs and queries, at worst: 2N + Q - 2."""
    return 2 * o.n_pairs + o.queries - 2


def asked(src: Tensor, n_pairs: int, n_queries: int) -> tuple[Tensor, Tensor]:
    """Each query's position and the position of the value it asks, from the tokens. src (B, S) -> (B, Q), (B, Q)."""
    length = (src != PAD).sum(1)  # (B,)
    qpos = length[:, None] - n_queries + torch.arange(n_queries, device=src.device)  # (B, Q)
    query = src.gather(1, qpos)  # (B, Q)
    keys = src[:, 0 : 2 * n_pairs : 2]  # (B, N)
    pair = (keys[:, None, :] == query[:, :, None]).long().argmax(2)  # (B, Q) which pair each query names
    return qpos, 2 * pair + 1


class MQARTask(Task):
    """The mqar task at one distance setting."""

    def __init__(self, options: MQAROptions, distance: Distance) -> None:
        if distance.lo < min_distance(options):
            raise ValueError(
                f"mqar distances start at 2 n_pairs + n_queries - 2 = {min_distance(options)} (the largest "
                f"query-to-value gap with no blanks), got {distance.label}: lower n_pairs or raise the distance")
        self.options, self.distance = options, distance
        self.n_keys = options.vocab // 2
        self.value0 = KEY0 + self.n_keys
        self.vocab_size = KEY0 + options.vocab
        self.chance = 1.0 / (options.vocab - self.n_keys)
        n, q = options.n_pairs, options.queries
        self.max_src_len = 2 * n + q + distance.hi - (2 * q - 1)  # most blanks: queries of the last pairs, in order
        self.max_tgt_len = q + 1

    def sample(self, split: Split, n: int, generator: torch.Generator) -> Batch:
        check_split(split)
        o, dev = self.options, generator.device
        pairs, q, lo, hi = o.n_pairs, o.queries, self.distance.lo, self.distance.hi

        def draw(m: int, g: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
            keys = KEY0 + torch.rand(m, self.n_keys, generator=g, device=dev).argsort(1)[:, :pairs]  # (m, N) distinct
            values = torch.randint(self.value0, self.vocab_size, (m, pairs), generator=g, device=dev)  # (m, N)
            pick = torch.rand(m, pairs, generator=g, device=dev).argsort(1)[:, :q]  # (m, Q) pairs asked, in order
            block = torch.stack([keys, values], 2).reshape(m, 2 * pairs)  # (m, 2N) k1 v1 k2 v2 ...
            dist = torch.randint(lo, hi + 1, (m,), generator=g, device=dev)  # (m,)
            return torch.cat([block, keys.gather(1, pick)], 1), pick, dist  # key (m, 2N + Q): pairs and queries

        key, pick, dist = draw_in_split(draw, split, n, generator)
        b = len(key)
        gap0 = 2 * pairs + torch.arange(q, device=dev) - (2 * pick + 1)  # (B, Q) gaps with no blanks
        blanks = dist - gap0.max(1).values  # (B,) F, so that the largest gap is the distance
        pos = torch.arange(2 * pairs + q + int(blanks.max()) if b else 2 * pairs + q, device=dev)  # (S,)
        src = torch.full((b, len(pos)), PAD, dtype=torch.long, device=dev)  # (B, S)
        src[:, : 2 * pairs] = key[:, : 2 * pairs]
        src = torch.where((pos >= 2 * pairs) & (pos < 2 * pairs + blanks[:, None]), BLANK, src)
        qpos = 2 * pairs + blanks[:, None] + torch.arange(q, device=dev)  # (B, Q)
        src.scatter_(1, qpos, key[:, 2 * pairs :])
        answers = key[:, 1 : 2 * pairs : 2].gather(1, pick)  # (B, Q) the values asked for
        tgt = torch.cat([answers, torch.full((b, 1), EOS, dtype=torch.long, device=dev)], 1)  # (B, Q+1)
        return Batch(src, tgt, dist)

    def distance_from_tokens(self, batch: Batch) -> Tensor:
        """The largest query position - position of its value, over the queries (the source's last Q tokens)."""
        qpos, vpos = asked(batch.src, self.options.n_pairs, self.options.queries)
        return (qpos - vpos).max(1).values

    def clue_positions(self, batch: Batch) -> Tensor:
        """The answer of the query with the largest gap (the first, on a tie) reads the value it asks for; the
        other answers, EOS and padding name no clue (-1), so gradient reach is measured at the distance. (B, T)"""
        qpos, vpos = asked(batch.src, self.options.n_pairs, self.options.queries)
        far = (qpos - vpos).argmax(1, keepdim=True)  # (B, 1)
        clues = torch.full_like(batch.tgt, -1)  # (B, T)
        clues.scatter_(1, far, vpos.gather(1, far))
        return clues

    def decode(self, ids: list[int]) -> str:
        return " ".join(self.word(i) for i in map(int, ids) if i >= N_SPECIAL)

    def word(self, i: int) -> str:
        """The text of one task token id."""
        if i == BLANK:
            return "_"
        return f"v{i - self.value0}" if i >= self.value0 else f"k{i - KEY0}"


@seqbench.hookimpl
def register_tasks(register) -> None:
    register(
        TaskSpec(
            name="mqar",
            description="multi-query associative recall: N key-value pairs, then Q keys; answer their values "
                        "(distance = largest query-to-value gap)",
            build=MQARTask,
            options=MQAROptions,
            default_distances=("32", "128"),
        )
    )
