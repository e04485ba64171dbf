"""The copy and cloze tasks: determinism, disjoint splits, distances recomputed from tokens, layout, options."""

from __future__ import annotations

import io

import pytest
import torch

from seqbench.contract import registry
from seqbench.run.config import section as build_options
from seqbench.contract.errors import ConfigError
from seqbench.contract.specs import EOS, N_SPECIAL, PAD, Batch, Distance
from seqbench.contract.splits import in_split
from seqbench.tasks import cloze, copy
from seqbench.tasks.cloze import FLUENT, GREW, SPEAKS, ClozeOptions, ClozeTask
from seqbench.tasks.copy import BLANK, DELIM, CopyOptions, CopyTask


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def same(a: Batch, b: Batch) -> bool:
    return a.src.shape == b.src.shape and bool((a.src == b.src).all() and (a.tgt == b.tgt).all()) and bool(
        (a.distance == b.distance).all()
    )


def check_layout(task, batch: Batch, n: int) -> None:
    """The batch contract: right-padded source, target = content, one EOS, then PAD; ids in range."""
    assert len(batch) == n and batch.src.dtype == batch.tgt.dtype == batch.distance.dtype == torch.long
    for x in (batch.src, batch.tgt):
        live = x != PAD
        assert bool((live[:, 1:] <= live[:, :-1]).all()), "padding inside a row"
        assert bool(live[:, -1].any()), "a column of padding only at the end"
        assert int(x.max()) < task.vocab_size and int(x.min()) >= 0
    tgt_len = (batch.tgt != PAD).sum(1)  # (B,)
    assert bool((batch.tgt.gather(1, (tgt_len - 1)[:, None])[:, 0] == EOS).all())
    assert bool(((batch.tgt == EOS).sum(1) == 1).all())
    assert bool((batch.src != EOS).all()) and bool((batch.src[:, 0] != PAD).all())
    assert batch.src.shape[1] <= task.max_src_len and batch.tgt.shape[1] <= task.max_tgt_len


# --- registry ---------------------------------------------------------------------------------------------------


def test_both_tasks_register_through_the_registry():
    err = io.StringIO()
    reg = registry.load(entry_points=False, err=err)
    for name, module in (("copy", copy), ("cloze", cloze)):
        spec = reg.task(name)
        info = reg.owner[("task", name)]
        assert (info.name, info.source, info.status) == (module.__name__, "builtin", "ok")
        assert module.__name__ not in err.getvalue()
        for setting in spec.default_distances:
            distance = Distance.parse(setting)
            task = spec.build(spec.options(), distance)
            batch = task.sample("train", 8, gen(0))
            check_layout(task, batch, 8)
            assert task.distance == distance
            assert bool(((batch.distance >= distance.lo) & (batch.distance <= distance.hi)).all())


# --- copy -------------------------------------------------------------------------------------------------------


def test_copy_worked_example_in_docstring():
    task = CopyTask(CopyOptions(alphabet=8, k=4), Distance(5, 5))
    batch = task.sample("train", 1, gen(1))
    src, tgt = task.decode(batch.src[0].tolist()), task.decode(batch.tgt[0].tolist())
    assert src == "s5 s3 s4 s0 _ _ _ _ _ :" and tgt == "s5 s3 s4 s0" and batch.distance.tolist() == [5]
    assert f"source:   {src}\n" in copy.__doc__ and f"target:   {tgt}\n" in copy.__doc__
    assert "distance: 5\n" in copy.__doc__ and "manual_seed(1)" in copy.__doc__


def test_copy_is_deterministic_in_the_generator():
    task = CopyTask(CopyOptions(), Distance(5, 20))
    assert same(task.sample("train", 64, gen(3)), task.sample("train", 64, gen(3)))
    assert not same(task.sample("train", 64, gen(3)), task.sample("train", 64, gen(4)))
    torch.manual_seed(0)
    a = task.sample("val", 16, gen(5))
    torch.manual_seed(1)  # the global RNG plays no part
    assert same(a, task.sample("val", 16, gen(5)))


def test_copy_splits_are_disjoint_on_the_symbols():
    k = 3  # 512 strings: small enough that overlap would show if splits shared strings
    task = CopyTask(CopyOptions(alphabet=8, k=k), Distance(2, 6))
    keys = {s: task.sample(s, n, gen(0)).src[:, :k] for s, n in (("train", 2000), ("val", 500), ("test", 500))}
    rows = {s: set(map(tuple, v.tolist())) for s, v in keys.items()}
    assert not rows["train"] & rows["test"] and not rows["train"] & rows["val"] and not rows["val"] & rows["test"]
    for s, v in keys.items():
        assert bool(in_split(v, s).all())


def test_copy_layout_and_distance_from_tokens():
    k = 5
    task = CopyTask(CopyOptions(alphabet=6, k=k), Distance(1, 12))
    batch = task.sample("train", 300, gen(2))
    check_layout(task, batch, 300)
    src, tgt = batch.src, batch.tgt
    assert bool(((src[:, :k] >= N_SPECIAL + 2) & (src[:, :k] < task.vocab_size)).all())
    assert bool((tgt[:, :k] == src[:, :k]).all()) and bool((tgt[:, k] == EOS).all()) and tgt.shape[1] == k + 1
    delim = (src == DELIM).float().argmax(1)  # (B,) the one delimiter
    assert bool(((src == DELIM).sum(1) == 1).all())
    assert torch.equal(delim - k, batch.distance)  # blanks between the last symbol and the delimiter
    assert torch.equal((src == BLANK).sum(1), batch.distance)
    assert torch.equal((src != PAD).sum(1), k + batch.distance + 1)
    assert src.shape[1] == k + int(batch.distance.max()) + 1
    assert task.vocab_size == N_SPECIAL + 2 + 6 and task.max_tgt_len == k + 1 and task.max_src_len == k + 12 + 1


def test_copy_range_mixes_delays_and_single_value_does_not():
    batch = CopyTask(CopyOptions(), Distance(3, 9)).sample("train", 2000, gen(0))
    assert set(batch.distance.tolist()) == set(range(3, 10))
    batch = CopyTask(CopyOptions(), Distance(7, 7)).sample("train", 100, gen(0))
    assert set(batch.distance.tolist()) == {7} and batch.src.shape[1] == 10 + 7 + 1


def test_copy_test_delays_extrapolate_only_the_test_split():
    task = CopyTask(CopyOptions(test_delays=(50, 200)), Distance(1, 10))
    test = task.sample("test", 400, gen(0))
    assert set(test.distance.tolist()) == {50, 200}
    assert torch.equal((test.src == BLANK).sum(1), test.distance)
    for split in ("train", "val"):
        assert int(task.sample(split, 400, gen(0)).distance.max()) <= 10
    assert task.max_src_len == 10 + 200 + 1
    assert task.bin_edges() == [1, 2, 4, 8, 50, 200]
    assert CopyTask(CopyOptions(), Distance(1, 10)).bin_edges() == [1, 2, 4, 8]


@pytest.mark.parametrize(
    "values, message",
    [
        ({"alphabet": 1}, "alphabet must be at least 2 symbols, got 1"),
        ({"k": 0}, "k must be at least 1 symbol, got 0"),
        ({"test_delays": (10, 0)}, "test_delays must all be at least 1 blank, got [10, 0]"),
        ({"test_delays": (10, 10)}, "test_delays lists a value twice"),
        ({"alphabet": 2, "k": 3}, "alphabet=2, k=3 give only 8 distinct examples"),
    ],
)
def test_copy_options_are_validated(values, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        CopyOptions(**values)
    with pytest.raises(ConfigError, match=r"^task\.copy: "):
        build_options(CopyOptions, values, "task.copy")


def test_copy_chance_decode_and_bad_arguments():
    task = CopyTask(CopyOptions(alphabet=5), Distance(3, 3))
    assert task.chance == pytest.approx(1 / 5)
    assert task.decode([PAD, 1, N_SPECIAL + 2, BLANK, DELIM, N_SPECIAL + 6, EOS, PAD]) == "s0 _ : s4"
    with pytest.raises(ValueError, match="split must be one of train, val, test"):
        task.sample("dev", 4, gen(0))
    with pytest.raises(ValueError, match="distance must be at least 1"):
        Distance.parse(0)
    assert build_options(CopyOptions, {"test_delays": "100,200"}, "task.copy").test_delays == (100, 200)


# --- cloze ------------------------------------------------------------------------------------------------------


def read_cloze(task: ClozeTask, row: list[int]) -> dict:
    """Find the query, its fact and the clue in one source row by locating tokens (independent of the code)."""
    row = [t for t in row if t != PAD]
    assert row[-2:] == [SPEAKS, FLUENT]
    person = row[-3]
    facts = [i for i, t in enumerate(row) if t == GREW]  # each fact: person GREW up in country .
    true = [i - 1 for i in facts if row[i - 1] == person]
    assert len(true) == 1, "the queried person has exactly one fact"
    clue = true[0] + 4
    return {
        "person": person,
        "country": row[clue],
        "distance": len(row) - clue - 1,
        "people": [row[i - 1] for i in facts],
        "countries": [row[i + 3] for i in facts],
        "rank": facts.index(true[0] + 1),
        "after": sum(i > clue for i in facts),
    }


def test_cloze_worked_example_in_docstring():
    task = ClozeTask(ClozeOptions(), Distance(12, 12))
    batch = task.sample("train", 1, gen(1))
    src, tgt = task.decode(batch.src[0].tolist()), task.decode(batch.tgt[0].tolist())
    doc = " ".join(cloze.__doc__.split())  # the docstring wraps the source line
    assert f"source: {src} target: {tgt} distance: 12 " in doc and "manual_seed(1)" in doc
    assert read_cloze(task, batch.src[0].tolist())["distance"] == 12 == int(batch.distance[0])


def test_cloze_is_deterministic_in_the_generator():
    task = ClozeTask(ClozeOptions(), Distance(8, 40))
    assert same(task.sample("test", 64, gen(3)), task.sample("test", 64, gen(3)))
    assert not same(task.sample("test", 64, gen(3)), task.sample("test", 64, gen(4)))


def test_cloze_splits_are_disjoint_on_the_fact():
    task = ClozeTask(ClozeOptions(n_people=40, n_countries=10), Distance(6, 20))  # 400 facts: overlap would show
    facts = {}
    for split, n in (("train", 2000), ("val", 500), ("test", 500)):
        batch = task.sample(split, n, gen(0))
        found = [read_cloze(task, r) for r in batch.src.tolist()]
        facts[split] = {(f["person"], f["country"]) for f in found}
        assert bool(in_split(torch.tensor(sorted(facts[split])), split).all())
    assert not facts["train"] & facts["test"] and not facts["train"] & facts["val"] and not facts["val"] & facts["test"]


@pytest.mark.parametrize("distance, distractors", [(Distance(4, 4), 0), (Distance(10, 10), 2), (Distance(4, 60), 3)])
def test_cloze_distance_and_answer_from_tokens(distance, distractors):
    task = ClozeTask(ClozeOptions(distractors=distractors), distance)
    batch = task.sample("train", 200, gen(7))
    check_layout(task, batch, 200)
    for row, tgt, d in zip(batch.src.tolist(), batch.tgt.tolist(), batch.distance.tolist()):
        f = read_cloze(task, row)
        assert f["distance"] == d and distance.lo <= d <= distance.hi
        assert tgt == [task.language0 + f["country"] - task.country0, EOS]
        assert len(f["people"]) == len(set(f["people"])) == distractors + 1  # distinct people, one fact each
        assert len(set(f["countries"])) == distractors + 1  # and distinct countries
        assert 6 * f["after"] <= d - 4  # distractors after the clue fit in the gap
    assert task.max_tgt_len == 2 and task.max_src_len == 6 * (distractors + 1) + distance.hi - 1


def test_cloze_range_mixes_distances_and_the_true_fact_has_no_fixed_rank():
    task = ClozeTask(ClozeOptions(distractors=2), Distance(16, 30))
    batch = task.sample("train", 3000, gen(0))
    assert set(batch.distance.tolist()) == set(range(16, 31))
    ranks = torch.tensor([read_cloze(task, r)["rank"] for r in batch.src.tolist()])
    share = torch.bincount(ranks, minlength=3).float() / len(ranks)
    assert bool(((share - 1 / 3).abs() < 0.05).all()), share  # neither "first" nor "last country" is a shortcut


def test_cloze_short_distance_moves_distractors_before_the_fact():
    task = ClozeTask(ClozeOptions(distractors=2), Distance(10, 10))  # the gap of 6 holds one distractor
    found = [read_cloze(task, r) for r in task.sample("train", 300, gen(0)).src.tolist()]
    assert {f["after"] for f in found} == {0, 1} and all(len(f["people"]) == 3 for f in found)


@pytest.mark.parametrize(
    "values, message",
    [
        ({"distractors": -1}, "distractors must be 0 or more, got -1"),
        ({"n_people": 2}, "n_people must be at least distractors \\+ 1 = 3, got 2"),
        ({"n_countries": 1, "distractors": 0}, "n_countries must be at least 2"),
        ({"n_countries": 2}, "n_countries must be at least 2 and at least distractors \\+ 1 = 3"),
        ({"filler_vocab": 0}, "filler_vocab must be at least 1 word, got 0"),
        ({"n_people": 3, "n_countries": 3}, "n_people=3, n_countries=3 give only 9 distinct examples"),
    ],
)
def test_cloze_options_are_validated(values, message):
    with pytest.raises(ValueError, match=message):
        ClozeOptions(**values)
    with pytest.raises(ConfigError, match=r"^task\.cloze: "):
        build_options(ClozeOptions, values, "task.cloze")


def test_cloze_distance_below_four_is_refused():
    with pytest.raises(ValueError, match="cloze distances start at 4 .* got 2-10"):
        ClozeTask(ClozeOptions(), Distance(2, 10))


def test_cloze_chance_vocab_and_decode():
    o = ClozeOptions(n_people=30, n_countries=7, filler_vocab=11)
    task = ClozeTask(o, Distance(4, 4))
    assert task.chance == pytest.approx(1 / 7) and task.vocab_size == N_SPECIAL + 6 + 30 + 2 * 7 + 11
    ids = [task.country0 - 1, GREW, task.country0, task.language0 + 6, task.filler0, task.vocab_size - 1, EOS, PAD]
    assert task.decode(ids) == "person_29 grew country_0 language_6 w0 w10"
