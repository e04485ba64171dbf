"""The reach search driven over cells (issue 24): fake cells whose validation accuracy is a known step function of
distance, records as the runner writes them, rounds run in parallel, resumption after a kill, the cap, and
decisions that read validation only."""

from __future__ import annotations

import math

import pytest

from _records import edited, make_record
from seqbench.contract import registry
from seqbench.run import resolve
from seqbench.run.searching import Outcome, outcome, passed, run_search, threshold

REG = registry.load(entry_points=False)


def config(cap: int = 256, seeds=(0, 1)):
    return resolve.resolve({"matrix": {"archs": ["lstm"], "tasks": ["copy"], "seeds": list(seeds)},
                            "model": {"d_model": 8, "n_layers": 1},
                            "search": {"enabled": True, "start": 16, "cap": cap, "ratio": 1.25}}, REG)


class FakeCells:
    """Writes, for every cell it is asked to run, the record a cell would: validation passes up to `reach[seed]`;
    the test scores are the opposite of validation, so a search that read them would go wrong."""

    def __init__(self, reach: dict[int, int], die_after: int | None = None) -> None:
        self.reach, self.die_after = reach, die_after
        self.records: dict[str, object] = {}
        self.trained: list[str] = []
        self.rounds: list[int] = []

    def read(self):
        return list(self.records.values())

    def run(self, cells, tasks) -> bool:
        if self.die_after is not None and len(self.rounds) >= self.die_after:
            return False  # killed: nothing of this round finished
        self.rounds.append(len(cells))
        for cell in cells:
            assert cell.cell_id not in self.records, f"{cell.name} trained twice"
            d = int(cell.distance.label)
            good = d <= self.reach[cell.seed]
            record = make_record(cell.arch, cell.task, distance=d, seed=cell.seed, chance=0.125,
                                 acc=0.1 if good else 1.0)  # test accuracy: the opposite of validation

            def fill(data, cell=cell, good=good):
                data["cell_id"] = cell.cell_id
                data["metrics"]["val"]["best_val_gen_acc"] = 0.99 if good else 0.2

            self.records[cell.cell_id] = edited(record, fill)
            self.trained.append(cell.cell_id)
        return True


def test_each_search_brackets_its_seeds_reach_in_parallel_rounds():
    fake = FakeCells({0: 40, 1: 100})
    states = run_search(config(), REG, fake.read, fake.run)
    by_seed = {st.slot.seed: st for st in states}
    for seed, reach in ((0, 40), (1, 100)):
        b = by_seed[seed].step.bracket
        assert b.lo <= reach < b.hi and b.hi / b.lo <= 1.25 and by_seed[seed].step.why == "narrow"
    assert fake.rounds[0] == 2  # both seeds' first probes (d=16) in one round
    assert len(fake.trained) == sum(len(st.probes) for st in states)
    assert [p.distance for p in by_seed[0].probes[:3]] == [16, 32, 64]


def test_a_round_starts_its_longest_distances_first():
    """A round ends with its last cell; the longest distances are the slowest cells, so they go first."""
    order: list[list[int]] = []
    fake = FakeCells({0: 40, 1: 100, 2: 20})

    def run(cells, tasks):
        order.append([int(c.distance.label) for c in cells])
        return fake.run(cells, tasks)

    run_search(config(seeds=(0, 1, 2)), REG, fake.read, run)
    assert any(len(set(r)) > 1 for r in order)  # rounds that mix distances
    assert all(r == sorted(r, reverse=True) for r in order)


def test_a_killed_search_resumes_without_training_a_finished_probe_again():
    whole = FakeCells({0: 40, 1: 100})
    done = run_search(config(), REG, whole.read, whole.run)
    first = FakeCells({0: 40, 1: 100}, die_after=2)
    assert [st.step.next for st in run_search(config(), REG, first.read, first.run)] != [None, None]
    first.die_after = None  # the same folder, run again
    again = run_search(config(), REG, first.read, first.run)
    assert [st.probes for st in again] == [st.probes for st in done]
    assert sorted(first.trained) == sorted(whole.trained)  # each probe trained once, across both runs


def test_the_cap_ends_a_search_that_always_passes():
    fake = FakeCells({0: 10**6})
    (state,) = run_search(config(cap=100, seeds=(0,)), REG, fake.read, fake.run)
    assert state.step.why == "cap" and state.step.bracket.text == "100+"
    assert [p.distance for p in state.probes] == [16, 32, 64, 100]


def test_the_decision_reads_validation_only():
    """A record's pass is a function of its `Outcome` (status, chance, validation), and `Outcome` has no field for
    anything of the test split: changing every test score changes no decision."""
    assert set(Outcome.__dataclass_fields__) == {"ok", "val_acc", "chance"}
    base = make_record("lstm", "copy", distance=16, chance=0.125, acc=0.0)
    good = edited(base, lambda d: d["metrics"]["val"].update(best_val_gen_acc=0.99))
    for test_acc in (0.0, 0.5, 1.0):
        perfect_test = edited(good, lambda d: [b.update(token_acc=test_acc, seq_acc=test_acc)
                                               for b in d["metrics"]["bins"]])
        assert outcome(perfect_test) == outcome(good) and passed(outcome(perfect_test))
    bad = edited(base, lambda d: d["metrics"]["val"].update(best_val_gen_acc=0.5))
    perfect = edited(bad, lambda d: [b.update(token_acc=1.0, seq_acc=1.0) for b in d["metrics"]["bins"]])
    assert not passed(outcome(perfect))  # perfect on test, failing on validation: a failure
    assert threshold(0.125) == pytest.approx(0.5625)
    assert not passed(Outcome(False, 1.0, 0.1))  # a cell that did not finish ok fails its probe


def test_search_settings_are_no_part_of_a_cell_id():
    """A probe is an ordinary cell: another cap or ratio reuses it."""
    fake = FakeCells({0: 40})
    run_search(config(cap=256, seeds=(0,)), REG, fake.read, fake.run)
    trained = len(fake.trained)
    wider = resolve.resolve({"matrix": {"archs": ["lstm"], "tasks": ["copy"], "seeds": [0]},
                             "model": {"d_model": 8, "n_layers": 1},
                             "search": {"enabled": True, "start": 16, "cap": 512, "ratio": 1.1}}, REG)
    (state,) = run_search(wider, REG, fake.read, fake.run)
    assert len(fake.trained) - trained <= 2  # only the extra bisection steps of the finer ratio
    assert state.step.bracket.hi / state.step.bracket.lo <= 1.1 or state.step.bracket.hi - state.step.bracket.lo == 1
    assert math.isfinite(state.step.bracket.lo)


def test_run_with_search_enabled_trains_probes_writes_the_searches_and_resumes(tmp_path, capsys):
    """End to end: tiny lstm cells; a second run trains nothing and says the same."""
    import json

    from seqbench.cli import main

    out = tmp_path / "out"
    args = ["run", "--profile", "none", "--arch", "lstm", "--task", "copy", "--seeds", "0", "--jobs", "0",
            "--no-progress", "--out", str(out), "--set", "search.enabled=true", "--set", "search.start=2",
            "--set", "search.cap=8", "--set", "search.ratio=2", "--set", "model.d_model=8", "--set",
            "model.n_layers=1", "--set", "task.copy.k=3", "--set", "task.copy.alphabet=6", "--set",
            "train.max_steps=20", "--set", "train.val_every=10", "--set", "eval.n_val=16", "--set", "eval.n_test=16"]
    code = main(args)
    err = capsys.readouterr().err
    assert code in (0, 1) and "search round 1: 1 probe" in err
    summary = json.loads((out / "search.json").read_text())
    (search,) = summary["searches"]
    assert summary["settings"]["cap"] == 8 and search["ended"] in ("narrow", "cap", "floor", "integer")
    assert [p[0] for p in search["probes"]][0] == 2 and all(p[0] <= 8 for p in search["probes"])
    ids = sorted(p[2] for p in search["probes"])
    assert sorted(r.stem for r in (out / "records").glob("*.json")) == ids  # one record per probe, nothing else
    assert main(args) == code
    err = capsys.readouterr().err
    assert "after 0 rounds" in err and "search round" not in err  # resumed: every probe finished before
