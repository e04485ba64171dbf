"""The task contract, as checks: a task builds at each of its default distances, its batches keep the layout the
host relies on, it is determined by its generator alone, its splits share no example, its distances lie in the
setting (and match the tokens, when the task says how to recompute them), its bins cover them, its chance level
is a probability no worse than a uniform guess, and `decode` reads tokens the same way every time.

Each check takes a `TaskSubject` and raises AssertionError with a one-line message when the contract is broken.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from seqbench.contract.checks import check_batch, check_task
from seqbench.contract.specs import EOS, N_SPECIAL, PAD, SEP, SPLITS, Batch, Distance, Task, TaskSpec
from seqbench.testing.core import NotApplicable, check_list

N = 64  # examples per draw


@dataclass(frozen=True)
class TaskSubject:
    """One task with one set of options, at each of its default distance settings."""

    name: str
    spec: TaskSpec
    options: dict[str, Any] = field(default_factory=dict)

    def tasks(self) -> list[Task]:
        opts = self.spec.options(**self.options)
        return [check_task(self.spec.build(opts, Distance.parse(d)), self.name) for d in self.spec.default_distances]


TASK_CHECKS, _check = check_list()


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _same(a: Batch, b: Batch) -> bool:
    return all(x.shape == y.shape and torch.equal(x, y) for x, y in
               ((a.src, b.src), (a.tgt, b.tgt), (a.distance, b.distance)))


@_check
def check_builds(s: TaskSubject) -> None:
    """build gives a Task at every default distance, with its vocabulary, chance and longest lengths set."""
    for task in s.tasks():
        assert task.vocab_size > N_SPECIAL, f"vocab_size {task.vocab_size} leaves no ids after the {N_SPECIAL} specials"
        assert task.max_src_len >= 1 and task.max_tgt_len >= 2, "max_src_len >= 1 and max_tgt_len >= 2 (content, EOS)"


@_check
def check_layout(s: TaskSubject) -> None:
    """Every split's batches: long tensors in the vocabulary, right-padded, one EOS ending each target, sources
    without specials, lengths within max_src_len and max_tgt_len, n rows of train."""
    for task in s.tasks():
        for split in SPLITS:
            batch = check_batch(task.sample(split, N, gen(0)), task, split, N)
            where = f"distance {task.distance.label}, {split}"
            for name, x in (("source", batch.src), ("target", batch.tgt)):
                live = x != PAD
                assert bool((live[:, 1:] <= live[:, :-1]).all()), f"{where}: padding inside a {name} row"
                assert bool(live[:, 0].all()), f"{where}: an empty {name} row"
            assert bool(((batch.tgt == EOS).sum(1) == 1).all()), f"{where}: a target with more than one EOS"
            last = (batch.tgt != PAD).sum(1) - 1  # (B,)
            assert bool((batch.tgt.gather(1, last[:, None]) == EOS).all()), f"{where}: EOS is not a target's last token"
            assert bool((batch.src[batch.src != PAD] >= N_SPECIAL).all()), f"{where}: a source holds a special id"
            assert batch.src.shape[1] <= task.max_src_len, f"{where}: a source longer than max_src_len"
            assert batch.tgt.shape[1] <= task.max_tgt_len, f"{where}: a target longer than max_tgt_len"


@_check
def check_deterministic(s: TaskSubject) -> None:
    """The same generator seed gives the same batch, another seed another; the global RNG plays no part."""
    for task in s.tasks():
        for split in SPLITS:
            torch.manual_seed(0)
            a = task.sample(split, N, gen(3))
            torch.manual_seed(1)
            assert _same(a, task.sample(split, N, gen(3))), f"{split}: the same generator seed gave another batch"
            assert _same(task.eval_set(split, N, gen(5)), task.eval_set(split, N, gen(5))), (
                f"{split}: eval_set is not determined by its generator")
        assert not _same(task.sample("train", N, gen(3)), task.sample("train", N, gen(4))), (
            "two generator seeds gave the same training batch")


@_check
def check_disjoint_splits(s: TaskSubject) -> None:
    """No example (source and target) is drawn for two splits."""
    task = s.tasks()[0]
    rows = {}
    for split, n in (("train", 2000), ("val", 400), ("test", 400)):
        b = task.sample(split, n, gen(7))
        rows[split] = {(tuple(x[x != PAD].tolist()), tuple(y[y != PAD].tolist())) for x, y in zip(b.src, b.tgt)}
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        shared = rows[a] & rows[b]
        assert not shared, f"{len(shared)} examples are in both {a} and {b}, e.g. {next(iter(shared))}"


@_check
def check_distances(s: TaskSubject) -> None:
    """Every distance lies in the task's distance setting, and equals the task's recomputation from the tokens
    (`distance_from_tokens`) where it offers one."""
    recomputed = False
    for task in s.tasks():
        for split in ("train", "val"):
            b = task.sample(split, N, gen(1))
            lo, hi = int(b.distance.min()), int(b.distance.max())
            assert task.distance.lo <= lo and hi <= task.distance.hi, (
                f"{split}: distances {lo}..{hi} outside the setting {task.distance.label}")
            again = task.distance_from_tokens(b)
            if again is not None:
                recomputed = True
                assert torch.equal(again.to(b.distance), b.distance), (
                    f"{split}: batch.distance differs from the distances recomputed from the tokens")
    if not recomputed:
        raise NotApplicable("in the setting; the task offers no distance_from_tokens to recompute them")


@_check
def check_bins(s: TaskSubject) -> None:
    """bin_edges are increasing integers from at most the setting's low end, so every test distance has a bin."""
    for task in s.tasks():
        edges = task.bin_edges()
        assert edges and all(isinstance(e, int) and e >= 1 for e in edges), f"bin_edges {edges} must be integers >= 1"
        assert edges == sorted(set(edges)), f"bin_edges {edges} must increase"
        b = task.eval_set("test", N, gen(2))
        assert int(b.distance.min()) >= edges[0], f"test distance {int(b.distance.min())} is below the first bin"


@_check
def check_chance(s: TaskSubject) -> None:
    """chance is a probability, at least that of a uniform guess over the task's own symbols."""
    for task in s.tasks():
        floor = 1.0 / (task.vocab_size - N_SPECIAL)
        assert floor - 1e-12 <= task.chance <= 1.0, (
            f"chance {task.chance} is not in [1/{task.vocab_size - N_SPECIAL}, 1]: a memoryless guesser does at "
            f"least as well as a uniform guess over the vocabulary")


@_check
def check_decode(s: TaskSubject) -> None:
    """decode gives text, the same for a row with or without padding and host specials, and tells apart targets
    with different content."""
    task = s.tasks()[0]
    b = task.sample("val", N, gen(4))
    texts = {}
    for row in b.tgt.tolist() + b.src.tolist():
        content = [i for i in row if i >= N_SPECIAL]
        text = task.decode(row)
        assert isinstance(text, str), f"decode returned {type(text).__name__}, not str"
        assert text == task.decode(content) == task.decode([SEP, *content, EOS, PAD, PAD]), (
            f"decode reads padding or specials: {task.decode(row)!r} vs {task.decode(content)!r}")
    for row in b.tgt.tolist():
        content = tuple(i for i in row if i >= N_SPECIAL)
        other = texts.setdefault(task.decode(list(content)), content)
        assert other == content, f"two different targets decode to the same text {task.decode(list(content))!r}"


@_check
def check_alignment_spans(s: TaskSubject) -> None:
    """alignment_spans, where the task has them, are one non-negative long per example."""
    spans = [(task, task.alignment_spans(b := task.sample("test", N, gen(6))), b) for task in s.tasks()]
    if all(x is None for _, x, _ in spans):
        raise NotApplicable("the task has no alignment spans")
    for task, x, b in spans:
        assert x is not None and x.shape == (len(b),) and x.dtype == torch.long and bool((x >= 0).all()), (
            f"alignment_spans must be (B,) long and non-negative, got {x!r:.80}")


@_check
def check_clue_positions(s: TaskSubject) -> None:
    """clue_positions, where the task has them, are (B, T) long like the target: -1 or a real source position,
    -1 at EOS and padding, at least one clue per example (the gradient reach measure reads the last)."""
    found = False
    for task in s.tasks():
        b = task.sample("test", N, gen(8))
        clues = task.clue_positions(b)
        if clues is None:
            continue
        found = True
        where = f"distance {task.distance.label}: clue_positions"
        assert isinstance(clues, torch.Tensor) and clues.dtype == torch.long and clues.shape == b.tgt.shape, (
            f"{where} must be a long tensor shaped like the target {tuple(b.tgt.shape)}, got {clues!r:.80}")
        src_len = (b.src != PAD).sum(1, keepdim=True)  # (B, 1)
        assert bool(((clues == -1) | ((clues >= 0) & (clues < src_len))).all()), (
            f"{where} must be -1 or a position inside the example's source (0 .. length-1)")
        assert bool((clues[(b.tgt == EOS) | (b.tgt == PAD)] == -1).all()), f"{where} must be -1 at EOS and padding"
        assert bool((clues >= 0).any(1).all()), f"{where}: an example without any clue"
        again = task.clue_positions(b.select(torch.arange(len(b) - 1, -1, -1)))
        assert torch.equal(again, clues.flip(0)[:, : again.shape[1]]), f"{where} differ for the same rows reordered"
    if not found:
        raise NotApplicable("the task has no clue positions (no gradient reach measure)")
