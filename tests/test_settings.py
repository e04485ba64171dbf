"""The record's typed configuration (`seqbench.records.settings`) and the typed constructors of a record."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import get_args

import pytest
import torch
from pydantic import ValidationError

from _records import make_record
from seqbench.contract import registry
from seqbench.records import store
from seqbench.records.schema import Error, Metrics, Record, Status, Throughput, Times, describe
from seqbench.records.settings import SECTIONS, CellConfig
from seqbench.run import cell as C
from seqbench.run import config, plan, resolve, sources
from seqbench.run.env import environment
from test_run import TINY

ROOT = Path(__file__).resolve().parents[1]


def test_the_records_sections_name_every_live_setting():
    """A setting added to the live configuration and not to the record's copy would be dropped from records (the
    record refuses unknown keys, so planning would fail): the field lists are the same."""
    live = {"model": config.ModelConfig, "train": config.TrainConfig, "eval": config.EvalConfig}
    for name, recorded in SECTIONS.items():
        assert list(recorded.model_fields) == [f.name for f in dataclasses.fields(live[name])], name


def test_every_committed_record_config_reads_and_writes_back_as_it_is():
    folders = sorted(ROOT.glob("results/*/records"))
    files = sorted(ROOT.glob("results/*/records/*.json"))
    assert len(folders) >= 4 and all(any(folder.glob("*.json")) for folder in folders)
    for path in files:
        raw = json.loads(path.read_text(encoding="utf-8"))["config"]
        assert CellConfig.model_validate(raw).to_dict() == raw, path


def test_a_setting_an_older_record_lacks_stays_unset_not_defaulted():
    """A record written before the plateau rule has no train.patience: reading it must not claim today's default."""
    data = make_record("lstm").to_dict()
    del data["config"]["train"]["patience"], data["config"]["eval"]["select"]
    older = Record.model_validate(data)
    assert older.config.train.patience is None and "patience" not in older.config.train.model_fields_set
    assert "patience" not in older.to_dict()["config"]["train"] and "select" not in older.to_dict()["config"]["eval"]
    assert older.config.train.max_time is None and "max_time" in older.to_dict()["config"]["train"]  # set, to null


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    path = tmp_path_factory.mktemp("c") / "c.toml"
    path.write_text(TINY)
    reg = registry.load(entry_points=False)
    cells, _ = plan.plan(resolve.resolve(sources.gather("none", str(path), {}, []), reg), reg)
    return cells[0], reg


def test_a_planned_cell_carries_its_configuration_typed(planned):
    cell, _ = planned
    assert isinstance(cell.resolved, CellConfig)
    assert cell.resolved.train.lr == cell.lr and cell.resolved.model.d_model == cell.model.d_model
    assert cell.resolved.to_dict()["train"] == json.loads(json.dumps(dataclasses.asdict(cell.train)))


def _parts(cell):
    env = environment(torch.device("cpu"), "cpu", "32-true")
    return env, Times(started="2026-01-01T00:00:00+00:00", finished="2026-01-01T00:00:01+00:00", wall_s=1.0)


def test_failed_records_are_built_from_the_header_and_say_why(planned):
    cell, _ = planned
    env, times = _parts(cell)
    r = Record.failed(cell.header("seqbench run"), status="diverged", env=env, times=times,
                      error=Error(type="FloatingPointError", message="nan at step 3", step=3))
    assert (r.status, r.cell_id, r.config, r.error.step) == ("diverged", cell.cell_id, cell.resolved, 3)
    assert r.metrics == Metrics() and r.command == "seqbench run"
    assert Record.model_validate(json.loads(r.to_json())) == r  # what is written reads back equal
    with pytest.raises(ValueError, match="other than ok"):
        Record.failed(cell.header(), status="ok", env=env, times=times, error=Error(type="X", message="x"))


def test_every_status_but_ok_is_a_failed_record_and_no_other_is_one(planned):
    cell, _ = planned
    env, times = _parts(cell)
    assert set(get_args(Status)) == {"ok", "diverged", "oom", "failed"}  # what readers of records rely on
    for status in ("diverged", "oom", "failed"):
        r = Record.failed(cell.header(), status=status, env=env, times=times, error=Error(type="E", message="m"))
        assert Record.model_validate(r.to_dict()).status == status
    data = r.to_dict()
    data["status"] = "crashed"
    with pytest.raises(ValidationError, match="status"):
        Record.model_validate(data)


def test_records_of_schema_1_are_read_and_of_an_unknown_schema_refused():
    data = make_record("lstm").to_dict()
    assert Record.model_validate({**data, "schema": 1}).schema_ == 1
    for version in (0, 3):
        with pytest.raises(ValidationError, match=f"schema {version}: this seqbench reads schema 1, 2"):
            Record.model_validate({**data, "schema": version})


def test_an_ok_record_needs_its_results(planned):
    cell, _ = planned
    env, times = _parts(cell)
    with pytest.raises(ValidationError, match="status ok needs metrics.bins"):
        Record.ok(cell.header(), metrics=Metrics(), throughput=Throughput(), env=env, times=times)
    with pytest.raises(TypeError):
        Record.ok(cell.header(), metrics=Metrics(), throughput=Throughput(), env=env, times=times, metrix={})


def test_results_that_break_the_schema_fail_the_cell_naming_the_field(planned):
    cell, reg = planned
    bad = {"lo": 1, "hi": 1, "label": "1", "n": 4, "token_acc": 1.5, "seq_acc": 0.0}
    with pytest.raises(ValidationError) as e:
        Metrics(bins=[bad])
    status, error = C._error(e.value, cell, reg)
    assert status == "failed" and error.message.startswith("the cell's record failed validation: bins.0.token_acc:")
    assert describe(e.value).startswith("bins.0.token_acc")


def test_a_plugins_own_validation_error_is_not_called_the_records(planned):
    """A plugin that validates its own input with pydantic: its error is its own, not the record's."""
    cell, reg = planned
    from pydantic import BaseModel

    class Options(BaseModel):
        width: int

    with pytest.raises(ValidationError) as e:
        Options(width="wide")
    status, error = C._error(e.value, cell, reg)
    assert status == "failed" and "record failed validation" not in error.message and "Options" in error.message


def test_a_cell_that_trains_writes_a_record_that_reads_back_equal(tmp_path):
    from seqbench.cli import main

    path = tmp_path / "c.toml"
    path.write_text(TINY)
    assert main(["run", "--config", str(path), "--profile", "none", "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    (r,) = store.load_dir(tmp_path / "o").records[:1]
    assert r.status == "ok" and isinstance(r.config, CellConfig) and r.params and r.metrics.overall is not None
    assert r.env.device == "cpu" and r.times.train_s is not None and r.throughput.train_steps
