"""A time budget as a step count measured once (issue 25, item 3): `train.max_time` becomes each architecture's
`train.max_steps`, timed on a tiny model, written to `calibration.json`, reused on resume (never measured again),
and refused when the run's settings changed under it."""

from __future__ import annotations

import json

import pytest

from seqbench.cli import main
from seqbench.contract import registry
from seqbench.contract.errors import ConfigError, UserError
from seqbench.run import calibrate, resolve, sources
from seqbench.run import plan as P
from seqbench.run import sweeping

REG = registry.load(entry_points=False)


def config(**sections):
    base = {"matrix": {"archs": ["lstm", "gru"], "tasks": ["copy"], "seeds": [0, 1], "distances": ["2-6"]},
            "model": {"d_model": 8, "n_layers": 1},
            "train": {"max_time": 3.0, "max_steps": 1000000, "batch_size": 8, "throughput_warmup": 2},
            "task": {"copy": {"k": 3, "alphabet": 4}}}
    for key, value in sections.items():
        base[key] = {**base.get(key, {}), **value}
    return resolve.resolve(base, REG)


def test_the_time_budget_is_the_steps_that_fit_at_the_median_step_time():
    assert calibrate.convert(1800, 0.08) == 22500
    assert calibrate.convert(10, 0.3) == 33  # floor: never more time than the budget
    assert calibrate.convert(0.1, 5.0) == 1  # at least one step


def test_a_tiny_model_is_timed_once_then_the_calibration_is_reused_and_plans_step_budgets(tmp_path, monkeypatch):
    cfg = config()
    order: list[str] = []
    timer = calibrate.time_steps

    def logged(cell, *args):
        order.append(cell.arch)
        return timer(cell, *args)

    monkeypatch.setattr(calibrate, "time_steps", logged)
    cal = calibrate.load_or_measure(cfg, REG, tmp_path, "cpu", 1, steps=3, rounds=2)
    monkeypatch.setattr(calibrate, "time_steps", timer)
    assert order == ["lstm", "gru", "lstm", "gru"]  # rounds take turns: a change of load falls on both
    written = json.loads((tmp_path / calibrate.FILE).read_text())
    assert written == cal.model_dump(mode="json") and calibrate.read(tmp_path / calibrate.FILE) == cal
    assert written["max_time_s"] == 3.0 and written["setting"]["threads"] == 1
    assert written["seqbench"] and written["created"] and written["machine"]["device"] == "cpu"
    for arch in ("lstm", "gru"):
        entry = written["archs"][arch]
        assert entry["timed_steps"] == 6 and entry["warmup_steps"] == calibrate.MIN_WARMUP
        assert entry["rounds"] == 2 and len(entry["round_medians"]) == 2
        assert min(entry["round_medians"]) <= entry["median_step_s"] <= max(entry["round_medians"])
        assert entry["max_steps"] == calibrate.convert(3.0, entry["median_step_s"])

    def never(*args, **kwargs):
        raise AssertionError("measured again although calibration.json exists")

    monkeypatch.setattr(calibrate, "measure", never)
    assert calibrate.load_or_measure(cfg, REG, tmp_path, "cpu", 1, steps=3) == cal  # resume: the same schedule

    planned, reg = calibrate.apply(cfg, REG, cal)
    assert planned.train.max_time is None
    cells, _ = P.plan(planned, reg)
    assert {(c.arch, c.train.max_steps, c.train.max_time) for c in cells} == {
        (a, cal.archs[a].max_steps, None) for a in ("lstm", "gru")}
    assert all(c.resolved.train.max_steps == cal.archs[c.arch].max_steps for c in cells)
    sweep = sweeping.plan(calibrate.apply(config(sweep={"enabled": True, "lrs": [1e-3, 1e-2]}), REG, cal)[0], reg)[0]
    assert {c.train.max_steps for c in sweep} == {cal.archs[a].max_steps for a in ("lstm", "gru")}

    with pytest.raises(UserError, match=r"train.max_time 3.0 -> 4.0"):
        calibrate.load_or_measure(config(train={"max_time": 4.0}), REG, tmp_path, "cpu", 1)
    with pytest.raises(UserError, match="batch_size changed"):
        calibrate.load_or_measure(config(train={"batch_size": 16}), REG, tmp_path, "cpu", 1)
    with pytest.raises(UserError, match="threads changed"):
        calibrate.load_or_measure(cfg, REG, tmp_path, "cpu", 2)


def _timing(steps: int) -> calibrate.StepTiming:
    return calibrate.StepTiming(median_step_s=3.0 / steps, steps_per_s=steps / 3.0, max_steps=steps, timed_steps=30,
                                warmup_steps=5, params=1000, d_model=8, measured="then", load_avg=None)


def test_an_architecture_added_later_is_timed_and_the_others_kept(tmp_path, monkeypatch):
    earlier = calibrate.Calibration(
        what="w", max_time_s=3.0, setting=calibrate.setting(config(), "cpu", 1), created="then", seqbench="0",
        git_commit=None, machine=calibrate.Machine(device="cpu", device_name="c", cpu_threads=1, torch="t"),
        archs={"lstm": _timing(7)})
    (tmp_path / calibrate.FILE).write_text(earlier.to_json())
    monkeypatch.setattr(calibrate, "measure", lambda cfg, reg, archs, *a, **k: {a: _timing(5) for a in archs})
    cal = calibrate.load_or_measure(config(), REG, tmp_path, "cpu", 1)
    assert {a: t.max_steps for a, t in cal.archs.items()} == {"lstm": 7, "gru": 5}
    assert calibrate.read(tmp_path / calibrate.FILE) == cal


def test_a_broken_calibration_file_is_refused_in_one_line(tmp_path):
    (tmp_path / calibrate.FILE).write_text(json.dumps({"max_time_s": 3.0, "archs": {"lstm": {"max_steps": 7}}}))
    with pytest.raises(UserError, match=r"calibration.json: not a seqbench calibration \(what: "
                                        r"Field required \(and \d+ more\)\); remove it to measure again"):
        calibrate.load_or_measure(config(), REG, tmp_path, "cpu", 1)


@pytest.mark.parametrize("change, says", [
    ({"matrix": {"distances": ["2", "4"]}}, "2 distance settings"),
    ({"matrix": {"tasks": ["copy", "cloze"], "distances": ["4"]}}, "2 tasks"),
    ({"matrix": {"params": [5000, 10000]}, "model": {}}, "2 parameter budgets"),
])
def test_a_run_whose_cells_cannot_share_a_step_count_per_architecture_is_refused(change, says):
    base = config()
    raw = {"matrix": {**{"archs": ["lstm"], "tasks": ["copy"], "distances": ["2-6"]}, **change["matrix"]},
           "model": change.get("model", {"d_model": 8}), "train": {"max_time": 3.0}}
    with pytest.raises(ConfigError, match=says):
        calibrate.check(resolve.resolve(raw, REG))
    calibrate.check(base)


def test_the_flag_needs_a_time_budget_and_a_dry_run_writes_no_calibration(tmp_path, capsys, monkeypatch):
    out = tmp_path / "r"
    args = ["run", "--profile", "none", "--arch", "lstm", "--task", "copy", "--distance", "2-6", "--out", str(out),
            "--steps-for-time", "--set", "model.d_model=8", "--set", "model.n_layers=1"]
    assert main(args) == 2
    assert "set train.max_time" in capsys.readouterr().err
    timed = calibrate.StepTiming(median_step_s=0.01, steps_per_s=100.0, max_steps=123, timed_steps=30, warmup_steps=5,
                                 params=1000, d_model=8, measured="now", load_avg=None)
    monkeypatch.setattr(calibrate, "measure", lambda cfg, reg, archs, *a, **k: {a: timed for a in archs})
    assert main([*args, "--set", "train.max_time=1.23", "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert "lstm: 0.01 s a step (100 steps/s, median of 30) -> 123 steps for 1.23 s" in err
    assert "not written" in err and not (out / calibrate.FILE).exists()



def test_the_multi30k_profile_asks_for_steps_from_time():
    merged = sources.gather("multi30k", None, {}, ["task.translation.data_dir=/nowhere"])
    assert merged.about["steps_from_time"] is True
    cfg = resolve.resolve(merged, REG)
    calibrate.check(cfg)  # one task, one distance setting, one budget: one step count per architecture
    assert cfg.train.max_time == 1800 and cfg.train.patience and cfg.matrix.seeds == (0, 1, 2)
    assert cfg.sweep.enabled and cfg.sweep.lrs == (3e-4, 1e-3, 3e-3) and cfg.sweep.seeds == (0,)
    assert cfg.eval.select == "sacrebleu" and cfg.eval.val_generate > 0
