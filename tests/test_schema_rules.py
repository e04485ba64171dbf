"""The record schema's field rules, each tested at its edge: the value just inside is read, the value just outside is
refused naming the field. The base is a committed record (a Multi30k cell: bins, overall, text metrics, a validation
history), changed one field at a time."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from seqbench.records import schema
from seqbench.records.schema import Bin, Overall, Record, ValPoint, Validation, describe

BASE = Path(__file__).resolve().parent.parent / "results/multi30k-cpu-seed1/records/1a08d3ef1aebac2e.json"
FRACTIONS = ["metrics.bins.0.token_acc", "metrics.bins.0.seq_acc", "metrics.overall.token_acc",
             "metrics.overall.seq_acc", "metrics.val.history.0.val_acc"]
OPTIONAL_FRACTIONS = ["metrics.val.history.0.val_gen_acc", "metrics.val.best_val_acc", "metrics.val.best_val_gen_acc"]
COUNTS = ["metrics.bins.0.n", "metrics.overall.n", "metrics.val.history.0.step"]  # whole numbers from 0
MEASURES = [f"throughput.{k}" for k in ("train_tokens_per_s", "gen_tokens_per_s", "peak_memory_mb", "train_steps_timed",
                                        "gen_batches_timed", "mean_src_len", "mean_tgt_len", "train_steps",
                                        "train_tokens", "flops_per_token", "train_flops")]  # from 0, or unmeasured
OPTIONAL_COUNTS = ["metrics.bins.0.tokens", "metrics.overall.tokens"]  # absent in schema 1
REQUIRED = ["metrics.bins.0.lo", "metrics.bins.0.hi", "metrics.bins.0.n", "metrics.bins.0.token_acc",
            "metrics.bins.0.seq_acc", "metrics.overall.n", "metrics.overall.token_acc", "metrics.overall.seq_acc",
            "metrics.val.history.0.step", "metrics.val.history.0.val_acc", "metrics.val.history.0.val_loss"]


def base() -> dict[str, Any]:
    return json.loads(BASE.read_text())


def _walk(data: dict[str, Any], path: str) -> tuple[Any, str | int]:
    *parents, last = path.split(".")
    for key in parents:
        data = data[int(key)] if isinstance(data, list) else data[key]
    return data, (int(last) if isinstance(data, list) else last)


def at(data: dict[str, Any], path: str) -> Any:
    """The value at `path` in `data`."""
    parent, key = _walk(data, path)
    return parent[key]


def changed(path: str, value: Any) -> dict[str, Any]:
    """The base record with the field at `path` (dotted, list indices as numbers) set to `value`."""
    data = base()
    parent, key = _walk(data, path)
    parent[key] = value
    return data


def without(path: str) -> dict[str, Any]:
    data = base()
    parent, key = _walk(data, path)
    del parent[key]
    return data


def refused(data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as e:
        Record.model_validate(data)
    return describe(e.value)


def test_the_base_record_reads():
    r = Record.model_validate(base())
    assert r.status == "ok" and r.metrics.bins[0].n == 83 and r.metrics.overall.extra()["sacrebleu"] > 0


@pytest.mark.parametrize("path", FRACTIONS + OPTIONAL_FRACTIONS)
def test_a_fraction_is_read_from_0_to_1_and_refused_outside_or_not_finite(path):
    for ok in (0.0, 1.0, 0.5):
        Record.model_validate(changed(path, ok))
    for bad in (-0.001, 1.001, 2.0, math.nan, math.inf):
        assert refused(changed(path, bad)).startswith(path + ":")


@pytest.mark.parametrize("path", OPTIONAL_FRACTIONS)
def test_an_optional_fraction_may_be_null(path):
    Record.model_validate(changed(path, None))


@pytest.mark.parametrize("path", COUNTS + OPTIONAL_COUNTS)
def test_a_count_is_read_from_0_and_refused_below(path):
    Record.model_validate(changed(path, 0))
    assert refused(changed(path, -1)).startswith(path + ":")


@pytest.mark.parametrize("path", OPTIONAL_COUNTS)
def test_token_counts_may_be_absent_as_in_schema_1(path):
    assert at(Record.model_validate(without(path)).to_dict(), path) is None


@pytest.mark.parametrize("path", REQUIRED)
def test_a_required_score_or_position_cannot_be_left_out(path):
    assert refused(without(path)).startswith(path + ":")


def test_bin_ends_start_at_1_and_an_empty_bin_is_refused():
    Record.model_validate(changed("metrics.bins.0.lo", 1))
    for end in ("lo", "hi"):
        assert refused(changed(f"metrics.bins.0.{end}", 0)).startswith(f"metrics.bins.0.{end}:")
    data = changed("metrics.bins.0.lo", 10)  # the bin is 1-9
    assert refused(data) == "metrics.bins.0: Value error, bin 10-9 is empty: hi must be at least lo"
    Record.model_validate(changed("metrics.bins.0.hi", 1))  # a bin of one distance


@pytest.mark.parametrize("reason", ["solved", "plateau", "budget", "time"])
def test_each_stop_reason_is_read(reason):
    r = Record.model_validate(changed("metrics.val.stop_reason", reason))
    assert r.metrics.val.stop_reason == reason


def test_an_unknown_stop_reason_is_refused_naming_the_choices():
    line = refused(changed("metrics.val.stop_reason", "bored"))
    assert line.startswith("metrics.val.stop_reason:")
    assert all(f"'{r}'" in line for r in ("solved", "plateau", "budget", "time"))


@pytest.mark.parametrize("path", ["metrics.bins.0", "metrics.overall", "metrics.val.history.0"])
def test_extra_scores_are_finite_numbers_or_null(path):
    Record.model_validate(changed(f"{path}.grad_norm", None))
    Record.model_validate(changed(f"{path}.grad_norm", 2.5))
    for bad in (math.nan, math.inf, "high"):
        assert refused(changed(f"{path}.grad_norm", bad)).startswith(f"{path}.grad_norm:")


@pytest.mark.parametrize("path", ["metrics.val", "metrics", "throughput", "times", "", "plugins.arch"])
def test_an_unknown_field_is_refused_where_the_schema_is_strict(path):
    line = refused(changed(f"{path}.typo".lstrip("."), 1))
    where = line.split(":")[0].split(".")
    assert where[:len(path.split(".")) if path else 0] == (path.split(".") if path else []) and where[-1] == "typo"
    assert "Extra inputs are not permitted" in line


@pytest.mark.parametrize("kind", list(schema.MEMORY_KINDS))
def test_each_memory_kind_is_read_and_others_refused(kind):
    assert Record.model_validate(changed("throughput.memory_kind", kind)).throughput.memory_kind == kind
    assert refused(changed("throughput.memory_kind", "rss")).startswith("throughput.memory_kind:")


def _models(record: Record) -> list[BaseModel]:
    m = record.metrics
    return [record, m, m.bins[0], m.overall, m.val, m.val.history[0], record.throughput, record.times, record.env,
            record.config]


def test_a_read_record_cannot_be_changed_in_place():
    for model in _models(Record.model_validate(base())):
        name = next(iter(type(model).model_fields))
        with pytest.raises(ValidationError, match="frozen"):
            setattr(model, name, getattr(model, name))


def test_the_accuracy_names_are_the_fraction_fields_of_a_bin_and_of_overall():
    for model in (Bin, Overall):
        fractions = {name for name, f in model.model_fields.items() if f.annotation is float}
        assert fractions == set(schema.ACCURACIES)


def test_text_metric_names_are_what_a_translation_cell_writes():
    assert sorted(Record.model_validate(base()).metrics.text_metrics) == sorted(schema.TEXT_METRICS)  # all three


def test_each_text_score_of_a_trained_cell_has_its_interval_under_the_declared_names():
    from _records import real_record  # a tiny synthetic translation cell, trained once per test session

    metrics = Record.model_validate(real_record("translation")).metrics
    assert metrics.text_metrics and set(metrics.text_metrics) <= set(schema.TEXT_METRICS)
    for scores in (metrics.overall, *metrics.bins):
        extra = scores.extra()
        for name in metrics.text_metrics:
            low, high = (extra[name + end] for end in schema.TEXT_INTERVAL)
            assert low <= extra[name] <= high


def test_validation_and_points_are_their_own_types():
    r = Record.model_validate(base())
    assert isinstance(r.metrics.val, Validation) and isinstance(r.metrics.val.history[0], ValPoint)
    assert copy.deepcopy(r) == r


@pytest.mark.parametrize("path", MEASURES)
def test_a_measure_is_read_from_0_or_unmeasured_and_refused_below(path):
    assert at(Record.model_validate(changed(path, 0)).to_dict(), path) == 0
    Record.model_validate(changed(path, None))
    assert refused(changed(path, -1)).startswith(path + ":")


def test_what_an_older_record_leaves_out_reads_as_unset():
    r = Record.model_validate(without("metrics.val.stopped"))
    assert r.metrics.val.stopped is None and Record.model_validate(base()).metrics.val.stopped == "time"
    assert Record.model_validate(without("metrics.decoding")).metrics.decoding is None
    failed = changed("status", "failed")
    failed["error"] = {"type": "RuntimeError", "message": "killed"}
    failed["metrics"]["overall"] = {}  # schema 1 wrote {} for a cell that did not finish
    assert Record.model_validate(failed).metrics.overall is None


def test_each_memory_kind_says_what_it_measured():
    assert schema.MEMORY_KINDS == {  # tables print these words under the memory column
        "cuda_max_allocated": "the CUDA allocator's peak during the cell",
        "cell_process_peak_rss": "the peak resident memory of the process that ran this cell alone, its imports "
                                 "included",
        "process_max_rss": "the high-water mark of a process that ran several cells: NOT per cell, it includes every "
                           "cell the process ran before",
    }


@pytest.mark.parametrize("path", ["env.git_commit", "env.lightning", "env.torchmetrics", "env.python", "env.platform",
                                  "env.device_name", "env.cpu_threads", "env.accelerator", "env.precision",
                                  "env.cpu_capability",
                                  "throughput.flops_method", "throughput.memory_kind", "command"])
def test_an_environment_or_method_a_record_does_not_name_is_unknown_not_empty(path):
    data = base()
    parent, key = _walk(data, path)
    parent.pop(key, None)
    assert at(Record.model_validate(data).to_dict(), path) is None


@pytest.mark.parametrize("path", ["times.wall_s", "times.train_s", "times.cpu_s"])
def test_a_duration_is_read_from_0_and_refused_below(path):
    Record.model_validate(changed(path, 0.0))
    assert refused(changed(path, -0.5)).startswith(path + ":")


def test_a_record_needs_its_wall_clock_time_and_an_error_or_plugin_left_unnamed_is_unknown():
    assert refused(without("times.wall_s")).startswith("times.wall_s:")
    data = changed("status", "failed")
    data["error"] = {"type": "RuntimeError", "message": "killed"}
    assert Record.model_validate(data).error.plugin is None
    data = base()
    data["plugins"]["arch"].pop("digest")
    assert Record.model_validate(data).plugins["arch"].digest is None


@pytest.mark.parametrize("key, ok, bad", [("cell_id", "0123abcd", "0123ABCD"), ("cell_id", "a" * 64, "a" * 7),
                                          ("arch", "x", ""), ("task", "y", ""), ("seed", 0, -1),
                                          ("params_budget", 1, 0), ("lr", 1e-9, 0.0), ("params", 0, -1),
                                          ("chance", 1.0, 1.001), ("chance", 0.0, -0.001)])
def test_a_header_field_takes_its_edge_and_refuses_past_it(key, ok, bad):
    header = {k: v for k, v in base().items() if k in schema.Header.model_fields}
    assert getattr(schema.Header.model_validate({**header, key: ok}), key) == ok
    with pytest.raises(ValidationError) as e:
        schema.Header.model_validate({**header, key: bad})
    assert describe(e.value).startswith(f"{key}:")
    missing = {k: v for k, v in header.items() if k != key}
    if key in OPTIONAL:  # a budget-free cell is sized by width; the rest are known after planning, or never
        assert getattr(schema.Header.model_validate(missing), key) is None
    else:
        with pytest.raises(ValidationError):
            schema.Header.model_validate(missing)


OPTIONAL = {"params_budget", "lr", "params", "chance"}


@pytest.mark.parametrize("key, ok, bad", [("lr", 1e-9, 0.0), ("lr", 3e-3, -3e-3), ("params", 0, -1),
                                          ("params_budget", 1, 0), ("chance", 1.0, 1.001)])
def test_a_record_field_planning_fixed_takes_its_edge_and_refuses_past_it(key, ok, bad):
    assert getattr(Record.model_validate(changed(key, ok)), key) == ok
    assert refused(changed(key, bad)).startswith(f"{key}:")
    assert getattr(Record.model_validate(without(key)), key) is None


def _header() -> schema.Header:
    return schema.Header.model_validate({k: v for k, v in base().items() if k in schema.Header.model_fields})


def test_a_record_of_a_cell_that_did_not_finish_is_failed_unless_told_otherwise_and_never_ok():
    done = Record.model_validate(base())
    error = schema.Error(type="RuntimeError", message="killed")
    record = Record.failed(_header(), error=error, env=done.env, times=done.times)
    assert (record.status, record.error, record.warnings, record.artifacts) == ("failed", error, [], {})
    assert Record.failed(_header(), error=error, env=done.env, times=done.times, status="oom").status == "oom"
    with pytest.raises(ValueError) as e:
        Record.failed(_header(), error=error, env=done.env, times=done.times, status="ok")
    assert str(e.value) == "Record.failed needs a status other than ok"


@pytest.mark.parametrize("path, empty", [("warnings", []), ("artifacts", {}), ("command", None), ("error", None)])
def test_what_a_record_leaves_out_reads_as_empty(path, empty):
    assert getattr(Record.model_validate(without(path)), path) == empty
    header = {k: v for k, v in base().items() if k in schema.Header.model_fields and k != path}
    if path in schema.Header.model_fields:
        assert getattr(schema.Header.model_validate(header), path) == empty


def test_a_record_reads_its_schema_by_the_files_name_or_the_fields_and_is_strict_and_frozen():
    data = base()
    data["schema_"] = data.pop("schema")
    assert Record.model_validate(data).schema_ == base()["schema"]
    assert refused({**base(), "bogus": 1}) == "bogus: Extra inputs are not permitted"
    with pytest.raises(ValidationError):
        Record.model_validate(base()).status = "failed"


@pytest.mark.parametrize("path, value, says", [
    ("schema", 99, "schema: Value error, schema 99: this seqbench reads schema 1, 2"),
    ("distance", True, "distance: Value error, must be a distance like 16 or 1-64, got True"),
    ("distance", 1.5, "distance: Value error, must be a distance like 16 or 1-64, got 1.5"),
])
def test_an_unreadable_schema_or_a_distance_that_is_none_is_refused_in_words(path, value, says):
    assert refused(changed(path, value)) == says


def test_a_records_status_agrees_with_its_results_and_its_error():
    said = "(record): Value error, status "
    assert refused(changed("metrics.bins", [])) == said + "ok needs metrics.bins (at least one distance bin)"
    assert refused(changed("error", {"type": "RuntimeError", "message": "x"})) == said + "ok must have error null"
    assert refused(changed("status", "failed")) == said + "failed needs an error (type, message)"
