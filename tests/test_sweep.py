"""The learning-rate sweep (issue 24, item 4): its decision reads validation only, its cells are ordinary records
that a later search reuses, the chosen rates reach the cells, and the config refuses what contradicts it."""

from __future__ import annotations

import json
import math
import types

import pytest

from _records import edited, make_record
from seqbench.cli import main
from seqbench.contract import registry
from seqbench.contract.errors import ConfigError
from seqbench.records import store as results
from seqbench.run import plan as P
from seqbench.run import resolve, sweeping
from seqbench.run.searching import run_search, slots
from seqbench.run.sweep import Trial, choose, score_name

REG = registry.load(entry_points=False)


def config(**sections):
    base = {"matrix": {"archs": ["lstm", "gru"], "tasks": ["copy"], "seeds": [0, 1]},
            "model": {"d_model": 8, "n_layers": 1},
            "sweep": {"enabled": True, "lrs": [1e-3, 1e-2], "seeds": [0]}}
    for key, value in sections.items():
        base[key] = {**base.get(key, {}), **value}
    return resolve.resolve(base, REG)


# --- the decision -------------------------------------------------------------------------------------------------

def test_the_best_mean_validation_accuracy_wins():
    trials = [Trial(1e-3, True, 0.4, 900, 1.0), Trial(1e-3, True, 0.6, 800, 0.9),
              Trial(1e-2, True, 0.55, 500, 0.8), Trial(1e-2, True, 0.55, 500, 0.8)]
    choice = choose(trials)
    assert choice.lr == 1e-2  # mean 0.55 beats mean 0.5
    assert [s.lr for s in choice.scores] == [1e-2, 1e-3]
    assert math.isclose(choice.scores[1].val_acc, 0.5)


def test_a_failed_cell_ranks_a_rate_below_every_rate_without_one():
    choice = choose([Trial(1e-3, True, 0.3, 100, 2.0), Trial(3e-3, False, None, None, None),
                     Trial(3e-3, True, 0.9, 100, 0.1)])
    assert choice.lr == 1e-3


def test_ties_in_accuracy_go_to_the_earliest_best_then_the_lowest_loss_then_the_lowest_rate():
    assert choose([Trial(1e-3, True, 1.0, 900, 0.1), Trial(1e-2, True, 1.0, 300, 0.2)]).lr == 1e-2
    assert choose([Trial(1e-3, True, 1.0, 300, 0.3), Trial(1e-2, True, 1.0, 300, 0.2)]).lr == 1e-2
    tie = choose([Trial(1e-2, True, 1.0, 300, 0.2), Trial(1e-3, True, 1.0, 300, 0.2)])
    assert tie.lr == 1e-3 and "tied with 0.01" in tie.why


def test_when_every_rate_failed_the_lowest_is_taken_and_said_so():
    choice = choose([Trial(1e-2, False, None, None, None), Trial(1e-3, False, None, None, None)])
    assert choice.lr == 1e-3 and "every rate failed" in choice.why


# --- cells and records --------------------------------------------------------------------------------------------

def fake_record(cell: P.Cell, val_acc: float, test_acc: float, step: int = 500):
    record = make_record(cell.arch, cell.task, distance=int(cell.distance.label), seed=cell.seed, acc=test_acc)

    def fill(data):
        data["cell_id"] = cell.cell_id
        data["metrics"]["val"].update(best_val_gen_acc=val_acc, best_step=step, best_val_loss=1.0 - val_acc)

    return edited(record, fill)


def test_the_sweep_trains_each_rate_on_its_seeds_at_the_search_start_and_the_decision_ignores_test():
    cfg = config(search={"enabled": True, "start": 8})
    cells, _ = sweeping.plan(cfg, REG)
    assert sorted((c.arch, c.lr, c.seed, c.distance.label) for c in cells) == [
        (a, lr, 0, "8") for a in ("gru", "lstm") for lr in (1e-3, 1e-2)]
    assert sweeping.choices(cells, {}) is None  # no record yet: no choice
    # validation favours 1e-2 for lstm and 1e-3 for gru; test accuracy says the opposite, and must not count
    good = {("lstm", 1e-2), ("gru", 1e-3)}
    records = {c.cell_id: fake_record(c, 0.9 if (c.arch, c.lr) in good else 0.3,
                                      0.1 if (c.arch, c.lr) in good else 1.0) for c in cells}
    picked = sweeping.choices(cells, records)
    assert {g: c.lr for g, c in picked.items()} == {("lstm", "copy", None): 1e-2, ("gru", "copy", None): 1e-3}
    data = sweeping.summary(cfg, cells, picked)
    assert data["settings"]["distances"] == {"copy": "8"}
    assert {(c["arch"], c["lr"]) for c in data["choices"]} == {("lstm", 1e-2), ("gru", 1e-3)}
    json.dumps(data, allow_nan=False)  # strict JSON


def test_the_chosen_rates_reach_the_search_and_a_sweep_cell_at_its_start_is_reused_as_a_probe():
    cfg = config(search={"enabled": True, "start": 8, "cap": 16, "ratio": 1.25})
    cells, _ = sweeping.plan(cfg, REG)
    records = {c.cell_id: fake_record(c, 0.9 if c.lr == 1e-2 else 0.3, 0.5) for c in cells}
    picked = {g: c.lr for g, c in sweeping.choices(cells, records).items()}
    assert all(s.lr == 1e-2 for s in slots(cfg, picked))
    trained: list[str] = []

    def run(batch, tasks):
        for cell in batch:
            trained.append(cell.cell_id)
            records[cell.cell_id] = fake_record(cell, 0.99, 0.5)
        return True

    states = run_search(cfg, REG, lambda: list(records.values()), run, picked=picked)
    sweep_ids = {c.cell_id for c in cells if c.lr == 1e-2}
    first_probes = {st.cells[0] for st in states if st.slot.seed == 0}
    assert first_probes <= sweep_ids  # seed 0's first probe (d=8, lr 1e-2) is the sweep's cell
    assert not sweep_ids & set(trained)  # and was not trained again
    assert all(st.step.why == "cap" for st in states)


def test_the_grid_runs_at_the_chosen_rate_per_architecture_and_task():
    cfg = config(matrix={"tasks": ["copy", "cloze"]}, search={}, sweep={"task_distances": {"copy": 4, "cloze": 8}})
    cells, _ = sweeping.plan(cfg, REG)
    assert {(c.task, c.distance.label) for c in cells} == {("copy", "4"), ("cloze", "8")}
    choices = {("lstm", "copy", None): _choice(3e-3), ("gru", "copy", None): _choice(1e-3),
               ("lstm", "cloze", None): _choice(1e-2), ("gru", "cloze", None): _choice(1e-3)}
    picked = {group: choice.lr for group, choice in choices.items()}  # what the sweep's round hands on
    grid, _ = sweeping.plan_chosen(cfg, REG, picked)
    assert {(c.arch, c.task, c.lr) for c in grid} == {("lstm", "copy", 3e-3), ("gru", "copy", 1e-3),
                                                      ("lstm", "cloze", 1e-2), ("gru", "cloze", 1e-3)}


def test_a_choice_names_the_score_it_was_made_on():
    trials = [Trial(1e-3, True, 30.5, 400, 1.0), Trial(1e-2, True, 67.6, 600, 0.5)]
    assert choose(trials).why == "best validation accuracy 67.600 (mean of 1)"
    assert choose(trials, score_name("sacrebleu")).why == "best validation sacrebleu 67.600 (mean of 1)"
    assert score_name("val_gen_acc") == score_name(None) == "validation accuracy"


def _choice(lr):
    return choose([Trial(lr, True, 1.0, 1, 0.0)])


# --- the [lr.<task>] table and what the config refuses --------------------------------------------------------------

def test_the_lr_table_sets_a_rate_per_task_and_architecture_and_the_rest_keep_their_own():
    cfg = resolve.resolve({"matrix": {"archs": ["lstm", "gru"], "tasks": ["copy", "cloze"]},
                           "model": {"d_model": 8, "n_layers": 1}, "lr": {"copy": {"lstm": 0.02}}}, REG)
    cells, _ = P.plan(cfg, REG)
    plain = resolve.resolve({"matrix": {"archs": ["lstm", "gru"], "tasks": ["cloze"]},
                             "model": {"d_model": 8, "n_layers": 1}}, REG)
    own = {c.arch: c.lr for c in P.plan(plain, REG)[0]}
    for c in cells:
        assert c.lr == (0.02 if (c.arch, c.task) == ("lstm", "copy") else own[c.arch])


@pytest.mark.parametrize("raw, says", [
    ({"lr": {"copyy": {"lstm": 0.1}}}, "copyy"),
    ({"lr": {"copy": {"lstmm": 0.1}}}, "lstmm"),
    ({"lr": {"copy": {"lstm": -1}}}, "lr.copy.lstm"),
    ({"lr": {"copy": {"lstm": 0.1}}, "matrix": {"lrs": [0.1]}}, "matrix.lrs"),
    ({"lr": {"copy": {"lstm": 0.1}}, "sweep": {"enabled": True}}, "lr.copy.lstm"),
    ({"sweep": {"enabled": True}, "matrix": {"lrs": [0.1]}}, "matrix.lrs"),
    ({"sweep": {"task_distances": {"copyy": 4}}}, "copyy"),
    ({"sweep": {"task_distances": {"copy": "x"}}}, "sweep.task_distances.copy"),
    ({"sweep": {"lrs": []}}, "sweep.lrs"),
])
def test_contradictions_and_unknown_names_are_refused_in_one_line(raw, says):
    base = {"matrix": {"archs": ["lstm"], "tasks": ["copy"]}}
    for key, value in raw.items():
        base[key] = {**base.get(key, {}), **value}
    with pytest.raises(ConfigError) as e:
        resolve.resolve(base, REG)
    assert says in str(e.value) and "\n" not in str(e.value)


def test_a_dry_run_lists_the_sweep_cells_and_waits_for_them(tmp_path, capsys):
    code = main(["run", "--arch", "lstm", "--task", "copy", "--out", str(tmp_path / "r"), "--dry-run",
                 "--set", "sweep.enabled=true", "--set", "sweep.lrs=0.001,0.01", "--set", "search.enabled=true",
                 "--set", "model.d_model=8"])
    out, err = capsys.readouterr()
    assert code == 0
    assert "learning-rate sweep: 2 cells, 2 to train" in err and "planned once every sweep cell" in err
    assert out.count(" sweep lstm") == 2


@pytest.mark.slow
def test_a_real_sweep_then_search_trains_tiny_cells_and_writes_both_summaries(tmp_path):
    out = tmp_path / "r"
    args = ["run", "--arch", "lstm", "--task", "copy", "--out", str(out), "--jobs", "0", "--no-progress",
            "--set", "sweep.enabled=true", "--set", "sweep.lrs=0.0001,0.01", "--set", "search.enabled=true",
            "--set", "search.start=2", "--set", "search.cap=4", "--set", "model.d_model=16",
            "--set", "model.n_layers=1", "--set", "train.max_steps=150", "--set", "train.val_every=50",
            "--set", "task.copy.k=2", "--set", "eval.n_val=32", "--set", "eval.n_test=32"]
    assert main(args) in (0, 3)
    sweep = json.loads((out / "sweep.json").read_text())
    (choice,) = sweep["choices"]
    assert choice["lr"] == 0.01  # 1e-4 for 150 steps learns nothing; validation says so
    search = json.loads((out / "search.json").read_text())
    assert all(s["lr"] == 0.01 for s in search["searches"])


def test_a_real_sweep_then_a_grid_trains_the_grid_at_the_chosen_rate(tmp_path, capsys):
    """Sweep without a search (as the translation profile runs): after the sweep's cells, the grid's cells train at
    the rate it chose, from the command line, and a second run trains nothing more."""
    out = tmp_path / "r"
    args = ["run", "--arch", "lstm", "--task", "copy", "--distance", "2", "--seeds", "1", "--out", str(out),
            "--jobs", "0", "--no-progress", "--set", "sweep.enabled=true", "--set", "sweep.lrs=0.0001,0.01",
            "--set", "sweep.seeds=0", "--set", "sweep.task_distances.copy=2", "--set", "model.d_model=16",
            "--set", "model.n_layers=1", "--set", "train.max_steps=120", "--set", "train.val_every=40",
            "--set", "task.copy.k=2", "--set", "eval.n_val=32", "--set", "eval.n_test=32"]
    assert main(args) == 0
    (choice,) = json.loads((out / "sweep.json").read_text())["choices"]
    assert choice["lr"] == 0.01  # 1e-4 for 120 steps learns nothing; validation says so
    records = results.load_dir(out).dicts()
    grid = [r for r in records if r["seed"] == 1]
    assert len(records) == 3 and len(grid) == 1 and grid[0]["lr"] == 0.01 and grid[0]["status"] == "ok"
    capsys.readouterr()
    assert main(args) == 0
    assert "0 cells run, 1 finished before" in capsys.readouterr().err


# --- eval.select: the score that picks the checkpoint, the plateau and the sweep -------------------------------------

def test_the_plateau_rule_and_the_sweep_read_the_selection_score():
    from seqbench.run.stopping import decide, improving

    history = [{"step": 100, "val_gen_acc": 0.5, "val_loss": 1.0, "sacrebleu": 10.0},
               {"step": 200, "val_gen_acc": 0.4, "val_loss": 1.1, "sacrebleu": 30.0},
               {"step": 300, "val_gen_acc": 0.4, "val_loss": 1.2, "sacrebleu": 20.0}]
    assert decide(history, None, 200) == "plateau"  # accuracy's best was at step 100
    assert decide(history, None, 200, "sacrebleu") is None  # BLEU's best was at step 200
    train = resolve.resolve({"train": {"patience": 150}}, REG).train
    assert improving(history, train, "sacrebleu") is True


@pytest.mark.parametrize("settings, says", [
    ({"eval": {"select": "sacrebleu"}}, "task 'copy' validates on val_gen_acc only"),
    ({"eval": {"select": "bleu"}, "matrix": {"tasks": ["translation"]}}, "or its text metrics"),
    ({"eval": {"select": "sacrebleu"}, "matrix": {"tasks": ["translation"]}}, "eval.val_generate"),
])
def test_a_selection_score_the_task_does_not_measure_is_refused_at_planning(settings, says):
    base = {"matrix": {"archs": ["lstm"], "tasks": ["copy"]}, "model": {"d_model": 8, "n_layers": 1}}
    for key, value in settings.items():
        base[key] = {**base.get(key, {}), **value}
    with pytest.raises(ConfigError) as e:
        P.plan(resolve.resolve(base, REG), REG)
    assert says in str(e.value)


def test_an_architecture_cap_lowers_its_searches_cap_only():
    cfg = config(search={"enabled": True, "start": 16, "cap": 1024, "arch_caps": {"gru": 32}}, sweep={"enabled": False})
    records: dict = {}

    def run(batch, tasks):
        for cell in batch:
            records[cell.cell_id] = fake_record(cell, 0.99, 0.5)  # every probe passes: each search ends at its cap
        return True

    states = run_search(cfg, REG, lambda: list(records.values()), run)
    caps = {st.slot.arch: (st.probes[-1].distance, st.step.why) for st in states}
    assert caps == {"gru": (32, "cap"), "lstm": (1024, "cap")}
    with pytest.raises(ConfigError, match="search.arch_caps.gru=8 is below search.start"):
        config(search={"enabled": True, "start": 16, "arch_caps": {"gru": 8}})


def test_the_view_and_the_run_see_the_same_trial_of_a_record_selected_by_validation_bleu():
    from seqbench.publish import views

    history = [{"step": 100, "val_loss": 3.0, "val_acc": 0.2, "val_gen_acc": 0.30, "sacrebleu": 8.0},
               {"step": 200, "val_loss": 2.5, "val_acc": 0.3, "val_gen_acc": 0.20, "sacrebleu": 12.5}]
    record = make_record("seq2seq-attn", "translation", distance="5-12", lr=3e-3, history=history, val_loss=2.5,
                         val_gen_acc=0.30, config={"eval": {"select": "sacrebleu"}})
    record = edited(record, lambda d: d["metrics"]["val"].update(best_step=200))
    (seen,) = views.trials(views.cells(views.tidy([record])))
    assert seen == Trial(3e-3, True, 12.5, 200, 2.5)  # the BLEU at the tested checkpoint, not the accuracy
    cell = types.SimpleNamespace(lr=3e-3)  # `trial` reads only the cell's rate
    assert sweeping.trial(cell, record, "sacrebleu") == seen


def test_a_choice_at_an_end_of_three_rates_or_more_says_the_best_may_lie_beyond():
    rising = [Trial(1e-3, True, 40.0, 400, 1.0), Trial(3e-3, True, 60.0, 400, 0.8), Trial(1e-2, True, 67.6, 600, 0.5)]
    top = choose(rising)
    assert top.lr == 1e-2 and "the largest rate tried: the best may lie beyond it (add a larger rate" in top.why
    falling = [Trial(t.lr, True, 100 - t.val_acc, 400, 1.0) for t in rising]
    assert "the smallest rate tried" in choose(falling).why and choose(falling).lr == 1e-3
    inside = [Trial(1e-3, True, 40.0, 400, 1.0), Trial(3e-3, True, 70.0, 400, 0.8), Trial(1e-2, True, 67.6, 600, 0.5)]
    assert choose(inside).why == "best validation accuracy 70.000 (mean of 1)"
    assert "beyond" not in choose(rising[1:]).why  # two rates bracket nothing: no end to speak of
