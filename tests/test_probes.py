"""The zoology-style probe tasks (mqar, selective-copy, induction): distances recomputed here from the decoded text,
independently of the tasks' own `distance_from_tokens`; disjoint splits; chance; the docstrings' worked examples;
induction's extrapolation test set."""

from __future__ import annotations

import re

import pytest
import torch

from seqbench.contract import registry
from seqbench.contract.specs import PAD, Distance
from seqbench.tasks import induction, mqar, selective_copy

REGISTRY = registry.load()
PROBES = ("mqar", "selective-copy", "induction")


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def build(name: str, distance: str, **options):
    spec = REGISTRY.task(name)
    return spec.build(spec.options(**options), Distance.parse(distance))


def rows(task, batch):
    """(source words, target words, distance) per example, from the decoded text."""
    for src, tgt, d in zip(batch.src.tolist(), batch.tgt.tolist(), batch.distance.tolist()):
        yield task.decode(src).split(), task.decode(tgt).split(), d


def mqar_distance(src: list[str], tgt: list[str], n_pairs: int, n_queries: int) -> int:
    """The largest query position - position of the value it asks; also checks the layout and the answers."""
    pairs, queries, filler = src[: 2 * n_pairs], src[-n_queries:], src[2 * n_pairs : len(src) - n_queries]
    keys, values = pairs[0::2], pairs[1::2]
    assert all(k.startswith("k") for k in keys) and all(v.startswith("v") for v in values), src
    assert len(set(keys)) == n_pairs and len(set(queries)) == n_queries and set(filler) <= {"_"}, src
    assert tgt == [values[keys.index(q)] for q in queries], (src, tgt)
    first_query = len(src) - n_queries
    return max(first_query + i - (2 * keys.index(q) + 1) for i, q in enumerate(queries))


def selective_copy_distance(src: list[str], tgt: list[str], k: int) -> int:
    """The delimiter's position minus the first symbol's; also checks the answers."""
    assert src[-1] == ":" and src.count(":") == 1, src
    symbols = [w for w in src if w not in ("_", ":")]
    assert symbols == tgt and len(tgt) == k, (src, tgt)
    first = next(i for i, w in enumerate(src) if w not in ("_", ":"))
    return len(src) - 1 - first


def induction_distance(src: list[str], tgt: list[str]) -> int:
    """The last trigger's position minus the first's; also checks the trigger appears twice, last, and the answer."""
    where = [i for i, w in enumerate(src) if w == ">"]
    assert len(where) == 2 and where[1] == len(src) - 1, src
    assert tgt == [src[where[0] + 1]], (src, tgt)
    return where[1] - where[0]


CASES = [
    ("mqar", "22-60", {}, lambda s, t: mqar_distance(s, t, 8, 8)),
    ("mqar", "9-20", {"n_pairs": 3, "n_queries": 2, "vocab": 16}, lambda s, t: mqar_distance(s, t, 3, 2)),
    ("mqar", "7", {"n_pairs": 4, "n_queries": 1}, lambda s, t: mqar_distance(s, t, 4, 1)),
    ("selective-copy", "8-70", {}, lambda s, t: selective_copy_distance(s, t, 8)),
    ("selective-copy", "1-5", {"k": 1, "alphabet": 4}, lambda s, t: selective_copy_distance(s, t, 1)),
    ("selective-copy", "5", {"k": 5, "alphabet": 3}, lambda s, t: selective_copy_distance(s, t, 5)),
    ("induction", "2-40", {}, induction_distance),
    ("induction", "3", {"alphabet": 2}, induction_distance),
]


@pytest.mark.parametrize("name,distance,options,recompute", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_distance_is_what_the_docstring_says(name, distance, options, recompute):
    task = build(name, distance, **options)
    for split in ("train", "val", "test"):
        batch = task.sample(split, 300, gen(11))
        lo, hi = Distance.parse(distance).lo, Distance.parse(distance).hi
        seen = []
        for src, tgt, d in rows(task, batch):
            assert recompute(src, tgt) == d, (split, src, tgt, d)
            seen.append(d)
        assert lo <= min(seen) and max(seen) <= hi
        if hi - lo >= 3 and split == "train":
            assert len(set(seen)) > 1, "a range setting should give several distances"
        assert torch.equal(task.distance_from_tokens(batch), batch.distance)


@pytest.mark.parametrize("name,distance,options", [(c[0], c[1], c[2]) for c in CASES],
                         ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_splits_share_no_example(name, distance, options):
    task = build(name, distance, **options)
    seen = {}
    for split, n in (("train", 1500), ("val", 300), ("test", 300)):
        b = task.sample(split, n, gen(3))
        seen[split] = {(tuple(s[s != PAD].tolist()), tuple(t[t != PAD].tolist())) for s, t in zip(b.src, b.tgt)}
    assert not seen["train"] & seen["val"] and not seen["train"] & seen["test"] and not seen["val"] & seen["test"]


def test_splits_key_on_content_not_on_the_setting():
    """copy's rule: the same symbol string is in one split whatever the distance (here selective-copy's symbols)."""
    near, far = build("selective-copy", "8"), build("selective-copy", "40")
    a = {tuple(r[1]) for r in rows(near, near.sample("train", 2000, gen(0)))}
    b = {tuple(r[1]) for r in rows(far, far.sample("test", 2000, gen(0)))}
    assert not a & b


@pytest.mark.parametrize("name,options,alphabet", [
    ("mqar", {}, 32), ("mqar", {"vocab": 10, "n_pairs": 2}, 5),
    ("selective-copy", {}, 8), ("selective-copy", {"alphabet": 3, "k": 6}, 3),
    ("induction", {}, 16), ("induction", {"alphabet": 5}, 5),
])
def test_chance_is_a_uniform_guess_over_the_answers(name, options, alphabet):
    """Chance is 1/(number of distinct answer symbols), the answers counted here over many examples."""
    spec = REGISTRY.task(name)
    task = build(name, spec.default_distances[0], **options)
    answers = {w for _, tgt, _ in rows(task, task.sample("train", 2000, gen(5))) for w in tgt}
    assert len(answers) == alphabet
    assert task.chance == pytest.approx(1 / alphabet)


def worked_example(module):
    """The worked example of a task module's docstring: (call, source, target, distance)."""
    doc = module.__doc__
    call = re.search(r"Worked example: `(.+?)`, decoded", doc, re.S).group(1)
    lines = {k: v.strip() for k, v in re.findall(r"^\s+(source|target|distance):\s+(.+)$", doc, re.M)}
    return " ".join(call.split()), lines["source"], lines["target"], int(lines["distance"].split()[0])


@pytest.mark.parametrize("module", [mqar, selective_copy, induction], ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_docstring_worked_example_is_what_the_task_produces(module):
    call, source, target, distance = worked_example(module)
    batch = eval(call, {**vars(module), "torch": torch})
    task_class = next(v for k, v in vars(module).items() if k.endswith("Task") and isinstance(v, type))
    task = eval(call.split(".sample(")[0], {**vars(module), "torch": torch})
    assert isinstance(task, task_class)
    assert task.decode(batch.src[0].tolist()) == source
    assert task.decode(batch.tgt[0].tolist()) == target
    assert int(batch.distance[0]) == distance


def test_induction_test_set_holds_the_extrapolation_distances():
    task = build("induction", "8-16", test_distances=(32, 64, 128))
    test = task.eval_set("test", 300, gen(2))
    far = test.distance > 16
    assert set(test.distance[far].tolist()) == {32, 64, 128}
    assert 0.15 < 1 - float(far.float().mean()) < 0.35, "a quarter of the test set is at the trained distances"
    assert set(test.distance[~far].tolist()) <= set(range(8, 17))
    lengths = (test.src != PAD).sum(1)
    assert int(lengths[far].min()) > 16 * 2, "every extrapolation sequence is longer than any trained on"
    for src, tgt, d in rows(task, test):
        assert induction_distance(src, tgt) == d
    train, val = task.sample("train", 300, gen(2)), task.eval_set("val", 300, gen(2))
    assert int(train.distance.max()) <= 16 and int(val.distance.max()) <= 16, "validation keeps the setting"
    assert {32, 64, 128} <= set(task.bin_edges()), "each test distance starts a bin of its own"
    assert task.max_src_len >= int(lengths.max())


@pytest.mark.parametrize("name,distance", [("mqar", "21"), ("selective-copy", "7"), ("induction", "1")])
def test_distances_below_the_least_possible_are_refused(name, distance):
    with pytest.raises(ValueError, match="distances start at"):
        build(name, distance)

