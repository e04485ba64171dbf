"""The shipped task contract (`seqbench.testing.task_checks`, what `seqbench check-plugin TASK` runs) over every
registered task, with some non-default options."""

from __future__ import annotations

import pytest
import torch

from seqbench.contract import registry
from seqbench.contract.specs import Distance
from seqbench.testing.core import NotApplicable
from seqbench.testing.task_checks import TASK_CHECKS, TaskSubject

REGISTRY = registry.load()
CASES = [(name, {}) for name in sorted(REGISTRY.tasks)] + [
    ("copy", {"alphabet": 4, "k": 3, "test_delays": (2, 30)}),
    ("cloze", {"distractors": 0, "n_countries": 5}),
    ("translation", {"n_nouns": 30, "max_adjectives": 2}),
    ("mqar", {"n_pairs": 2, "n_queries": 1, "vocab": 8}),
    ("selective-copy", {"alphabet": 3, "k": 4}),
    ("induction", {"alphabet": 3, "test_distances": (70, 90)}),
]


def test_every_plugin_loaded():
    assert all(info.status == "ok" for info in REGISTRY.plugins), [(i.name, i.errors) for i in REGISTRY.plugins]


@pytest.mark.parametrize("check", TASK_CHECKS, ids=[c.name for c in TASK_CHECKS])
@pytest.mark.parametrize("name,options", CASES, ids=[n + "".join(f"[{k}]" for k in o) for n, o in CASES])
def test_task_contract(name, options, check):
    try:
        check.run(TaskSubject(name, REGISTRY.task(name), options))
    except NotApplicable as e:
        pytest.skip(str(e))


@pytest.mark.parametrize("name", ["copy", "cloze", "translation"])
def test_builtin_tasks_recompute_their_distances_from_tokens(name):
    """So the `distances` check compares, rather than only bounding, for every built-in."""
    spec = REGISTRY.task(name)
    task = spec.build(spec.options(), Distance(5, 40))
    batch = task.sample("train", 128, torch.Generator().manual_seed(0))
    assert torch.equal(task.distance_from_tokens(batch), batch.distance)
