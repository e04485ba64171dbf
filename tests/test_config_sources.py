"""Where settings come from and which wins: the precedence table of the README, case by case, through the real
command line (`main(["run", ..., "--dry-run"])`) and through `sources.merge` itself."""

from __future__ import annotations

import textwrap
import types
from pathlib import Path

import pytest

import seqbench
from seqbench.cli import main
from seqbench.contract import registry
from seqbench.contract.errors import ConfigError
from seqbench.contract.specs import ArchSpec
from seqbench.run import resolve, sources
from seqbench.run.plan import plan
from seqbench.run.sources import Source


def dry_run(capsys, *argv: str) -> tuple[list[dict[str, str]], str]:
    """The cells a dry run plans, as dicts of their printed fields, and what went to stderr."""
    assert main(["run", "--dry-run", *argv, "--set", "search.enabled=false"]) == 0  # the grid: cells to list
    captured = capsys.readouterr()
    cells = []
    for line in captured.out.splitlines():
        cell_id, arch, task, *rest = line.split()
        fields = dict(part.split("=", 1) for part in rest)
        cells.append({"arch": arch, "task": task, **fields})
    return cells, captured.err


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(textwrap.dedent(text))
    return path


def merged(*layers: tuple[int, dict]) -> dict:
    return sources.merge([Source(f"source {rank}", rank, data) for rank, data in layers]).data


# --- the order: profile, then TOML, then flags, then --set ------------------------------------------------------


def test_each_later_source_wins_for_the_same_key(tmp_path, capsys):
    config = write(tmp_path, """
        [matrix]
        archs = ["lstm"]
        tasks = ["copy"]
        seeds = [3]
        [train]
        max_steps = 11
    """)
    cells, _ = dry_run(capsys, "--config", str(config))
    assert {c["seed"] for c in cells} == {"3"}  # the TOML over the profile's seeds
    assert main(["run", "--dry-run", "--config", str(config), "--seeds", "4",
                 "--set", "search.enabled=false"]) == 0  # a flag over the TOML
    assert {line.split()[4] for line in capsys.readouterr().out.splitlines()} == {"seed=4"}
    cells, _ = dry_run(capsys, "--config", str(config), "--seeds", "4", "--set", "matrix.seeds=[5]")
    assert {c["seed"] for c in cells} == {"5"}  # --set over the flag


def test_later_set_wins_over_earlier_set():
    data = sources.merge(sources.sets(["train.lr=0.1", "train.lr=0.2"])).data
    assert data["train"]["lr"] == 0.2


def test_config_file_layers_on_the_default_profile(tmp_path, capsys):
    """`--config FILE` alone keeps the profile underneath: what the file does not set comes from `quick`."""
    config = write(tmp_path, '[matrix]\narchs = ["gru"]\ntasks = ["copy"]\n')
    cells, _ = dry_run(capsys, "--config", str(config))
    quick = sources.profile("quick").data
    assert {c["arch"] for c in cells} == {"gru"}
    assert sorted({int(c["seed"]) for c in cells}) == sorted(quick["matrix"]["seeds"])
    cells, _ = dry_run(capsys, "--config", str(config), "--profile", "none")
    assert {c["seed"] for c in cells} == {"0"}  # no profile: the built-in default seed


# --- keys that cover others ---------------------------------------------------------------------------------------


def test_distance_flag_replaces_the_profiles_per_task_distances(capsys):
    cells, err = dry_run(capsys, "--profile", "full", "--arch", "lstm", "--task", "copy,cloze", "--distance", "5")
    assert {c["d"] for c in cells} == {"5"}
    assert "matrix.distances from a flag replaces matrix.task_distances" in err


def test_set_distances_replaces_the_profiles_per_task_distances(capsys):
    cells, _ = dry_run(capsys, "--profile", "full", "--arch", "lstm", "--task", "copy", "--set",
                       "matrix.distances=[7]")
    assert {c["d"] for c in cells} == {"7"}


def test_old_distance_key_is_refused_with_where_it_moved(capsys):
    assert main(["run", "--dry-run", "--set", "task.distance=5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "task.distance moved to matrix.distances" in err[0]


def test_old_budget_key_is_refused_with_where_it_moved(capsys):
    assert main(["run", "--dry-run", "--set", "model.params=20000"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "model.params moved to matrix.params" in err[0]


def test_per_task_distance_refines_the_general_one_in_the_same_source(tmp_path, capsys):
    config = write(tmp_path, """
        [matrix]
        archs = ["lstm"]
        tasks = ["copy", "cloze"]
        distances = [6]
        [matrix.task_distances]
        cloze = [9]
    """)
    cells, _ = dry_run(capsys, "--config", str(config), "--profile", "none")
    assert {(c["task"], c["d"]) for c in cells} == {("copy", "6"), ("cloze", "9")}


def test_user_width_replaces_the_profiles_parameter_budget(capsys):
    cells, err = dry_run(capsys, "--arch", "lstm", "--task", "copy", "--set", "model.d_model=128")
    assert {c["d_model"] for c in cells} == {"128"}
    assert "model.d_model from --set model.d_model replaces matrix.params from the profile 'quick'" in err


def test_user_budget_replaces_a_lower_sources_width(tmp_path, capsys):
    config = write(tmp_path, '[model]\nd_model = 128\n[matrix]\narchs = ["lstm"]\ntasks = ["copy"]\n')
    cells, _ = dry_run(capsys, "--config", str(config), "--params", "20000")
    assert {c["d_model"] for c in cells} != {"128"} and all(18000 <= int(c["params"]) <= 22000 for c in cells)


def test_one_source_setting_width_and_budget_is_refused(tmp_path, capsys):
    config = write(tmp_path, '[model]\nd_model = 128\n[matrix]\nparams = [20000]\n')
    assert main(["run", "--dry-run", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "sets both" in err[0] and "set one" in err[0]


def test_learning_rate_axis_and_single_rate_cover_each_other(tmp_path, capsys):
    cells, _ = dry_run(capsys, "--arch", "lstm", "--task", "copy", "--distance", "4", "--lr", "0.001,0.003")
    assert sorted({c["lr"] for c in cells}) == ["0.001", "0.003"]
    config = write(tmp_path, '[matrix]\nlrs = [0.001, 0.003]\narchs = ["lstm"]\ntasks = ["copy"]\n')
    cells, err = dry_run(capsys, "--config", str(config), "--set", "train.lr=0.02", "--distance", "4")
    assert {c["lr"] for c in cells} == {"0.02"} and "replaces matrix.lrs" in err
    config = write(tmp_path, '[train]\nlr = 0.02\n[matrix]\narchs = ["lstm"]\ntasks = ["copy"]\n')
    cells, err = dry_run(capsys, "--config", str(config), "--lr", "0.001,0.003", "--distance", "4")
    assert sorted({c["lr"] for c in cells}) == ["0.001", "0.003"] and "replaces train.lr" in err


def test_a_rate_axis_or_a_sweep_replaces_a_lower_sources_rate_tables():
    """The quick profile's [lr.copy] and [lr.cloze] tables (the reference sweep's choices) give way to a learning-rate
    axis or to `sweep.enabled = true` from a higher source, with a note; `sweep.enabled = false` keeps them."""
    reg = registry.load(entry_points=False)
    quick = resolve.resolve(sources.gather(None, None, {}, []), reg)
    assert quick.lr_table["copy"] == {"rnn": 1e-3, "gru": 3e-3} and quick.lr_table["cloze"] == {"rnn": 1e-2}
    swept = sources.gather(None, None, {}, ["sweep.enabled=true"])
    assert "lr" not in swept.data and any("sweep.enabled from" in n and "replaces lr.copy.rnn" in n
                                          for n in swept.notes)
    assert resolve.resolve(swept, reg).sweep.enabled and not resolve.resolve(swept, reg).lr_table
    kept = sources.gather(None, None, {}, ["sweep.enabled=false"])
    assert resolve.resolve(kept, reg).lr_table == quick.lr_table and not kept.notes
    axis = sources.gather(None, None, {"matrix": {"lrs": [1e-3, 3e-3]}}, [])
    assert "lr" not in axis.data and resolve.resolve(axis, reg).matrix.lrs == (1e-3, 3e-3)


def test_a_rate_axis_is_checked_as_learning_rates_before_planning(capsys):
    """`--lr 1e9` on the default profile (whose [lr.<task>] tables it replaces) is refused in one line, as
    `train.lr=1e9` is, not by a traceback from the planner (found by the property test of any command line)."""
    code = main(["run", "--dry-run", "--no-progress", "--arch", "lstm", "--task", "copy", "--lr", "1e9"])
    err = capsys.readouterr().err
    assert code == 2 and "matrix.lrs: must be at most 10, got '1e9'" in err
    assert "Traceback" not in err


def test_architecture_training_defaults_lose_to_any_configured_value():
    arch = ArchSpec(name="fussy", description="wants its own lr", kind="mixer", build=lambda ctx: None,
                    train={"lr": 0.0123})

    plugin = types.SimpleNamespace(register_architectures=seqbench.hookimpl(lambda register: register(arch)))
    reg = registry.load(entry_points=False, plugins=[("fussy", plugin)])
    base = {"matrix": {"archs": ["fussy"], "tasks": ["copy"]}}
    assert resolve.resolve(base, reg).train_for(arch.train).lr == 0.0123
    cfg = resolve.resolve({**base, "train": {"lr": 0.5}}, reg)
    assert cfg.train_for(arch.train).lr == 0.5
    cfg = resolve.resolve({"matrix": {**base["matrix"], "lrs": [0.2]}}, reg)
    assert cfg.train_for(arch.train, lr=0.2).lr == 0.2
    with pytest.raises(ConfigError, match="training defaults"):
        bad = ArchSpec(name="fussy", description="", kind="mixer", build=lambda ctx: None, train={"lr": -1})
        reg.archs["fussy"] = bad
        resolve.resolve(base, reg)


# --- merge itself ---------------------------------------------------------------------------------------------------


def test_a_value_replaces_a_table_and_a_table_replaces_a_value():
    assert merged((1, {"a": {"b": {"c": 1}}}), (2, {"a": {"b": 5}})) == {"a": {"b": 5}}
    assert merged((1, {"a": {"b": 5}}), (2, {"a": {"b": {"c": 1}}})) == {"a": {"b": {"c": 1}}}


def test_lower_source_cannot_override_a_covering_key():
    """A lower-ranked source's covered key never comes back, whatever order the sources are given in."""
    data = merged((3, {"model": {"d_model": 8}}), (1, {"matrix": {"params": [40000]}}))
    assert data == {"model": {"d_model": 8}}


def test_quick_profile_plans():
    reg = registry.load(entry_points=False)
    cfg = resolve.resolve(sources.gather(None, None, {}, []), reg)
    cells, _ = plan(cfg, reg)
    assert cells and {c.task for c in cells} == set(cfg.matrix.tasks)


# --- `none`: unsetting a key a lower source set -------------------------------------------------------------------


def test_none_unsets_an_optional_key_that_a_profile_set():
    reg = registry.load()
    timed = sources.gather("multi30k", None, {}, ["task.translation.data_dir=/corpus", "train.max_time=none"])
    assert resolve.resolve(timed, reg).train.max_time is None
    assert resolve.resolve(sources.gather("multi30k", None, {}, ["task.translation.data_dir=/corpus"]),
                           reg).train.max_time == 1800
    quick = resolve.resolve(sources.gather(None, None, {}, ["train.solved_at=none"]), reg)
    assert quick.train.solved_at is None
    assert sources.parse_set('task.translation.tokenizer="none"') == (["task", "translation", "tokenizer"], "none")


def _every_key(reg) -> list[str]:
    import dataclasses

    from seqbench.run import config as C
    keys = [f"{section}.{name}" for section, cls in (("matrix", C.MatrixConfig), ("model", C.ModelConfig),
                                                     ("train", C.TrainConfig), ("eval", C.EvalConfig))
            for name in (f.name for f in dataclasses.fields(cls))]
    keys += [f"task.{t}.{f.name}" for t in reg.tasks for f in dataclasses.fields(reg.task(t).options)]
    keys += [f"arch.{a}.{f.name}" for a in reg.archs for f in dataclasses.fields(reg.arch(a).options)]
    return keys


def test_none_on_every_key_is_taken_or_refused_in_one_line(capsys):
    """Every key of every section, task and architecture set to `none`: either the run plans (the key is optional)
    or one line names the key and says it cannot be unset; never a traceback."""
    keys = _every_key(registry.load())
    assert len(keys) > 40
    refused = set()
    for key in keys:
        code = main(["run", "--dry-run", "--profile", "none", "--arch", "lstm", "--task", "copy", "--set",
                     f"{key}=none"])
        err = capsys.readouterr().err.strip()
        assert code in (0, 2), (key, err)
        if code == 2:
            assert err.count("\n") == 0 and err.startswith("seqbench: error: "), (key, err)
            assert key in err or key.rsplit(".", 1)[0] in err, (key, err)
            refused.add(key)
    assert {"train.lr", "matrix.archs", "eval.batch_size", "task.copy.k"} <= refused
    assert not {"train.max_time", "train.solved_at"} & refused
