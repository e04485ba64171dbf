"""End to end through `main([...])`: a real tiny training run, its record, its table, and resume."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from seqbench.records import store as results
from seqbench.cli import main

TINY = """
[matrix]
archs = ["lstm"]
tasks = ["copy"]
seeds = [0]
distances = ["2-6"]

[model]
d_model = 24
n_layers = 1

[train]
max_steps = 40
batch_size = 16
lr = 0.01
val_every = 20
throughput_warmup = 3

[eval]
n_val = 32
n_test = 64
batch_size = 32


[task.copy]
k = 3
alphabet = 4
"""


@pytest.fixture
def tiny_config(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(textwrap.dedent(TINY))
    return path


def run(config: Path, out: Path, *extra: str) -> int:
    return main(["run", "--config", str(config), "--profile", "none", "--out", str(out), "--no-progress", *extra])


def test_tiny_run_writes_a_record_and_a_table(tiny_config, tmp_path, capsys):
    out = tmp_path / "out"
    assert run(tiny_config, out) == 0
    captured = capsys.readouterr()
    files = list(results.records_dir(out).glob("*.json"))
    assert len(files) == 1
    record = results.read(files[0]).to_dict()
    assert (record["arch"], record["task"], record["distance"], record["seed"], record["status"]) == (
        "lstm", "copy", "2-6", 0, "ok")
    assert record["config"]["model"]["d_model"] == 24 and record["config"]["train"]["max_steps"] == 40
    arch_ref = record["plugins"]["arch"]
    assert arch_ref["plugin"] == "seqbench.plugins.recurrent" and len(arch_ref["digest"]) == 16
    assert record["plugins"]["task"]["plugin"] == "seqbench.tasks.copy"
    assert record["config"]["host_block"]["ffn"] == "Linear(d, 4d) -> ReLU -> Linear(4d, d)"
    assert record["params"] > 1000 and record["chance"] == pytest.approx(0.25)
    bins = record["metrics"]["bins"]
    assert [b["label"] for b in bins] == ["2-3", "4-6"]  # powers of two across the range
    assert [b["n"] for b in bins] == [64, 64] and record["metrics"]["overall"]["n"] == 128  # stratified: n_test per bin
    for b in bins:
        assert 0.0 <= b["token_acc"] <= 1.0 and 0.0 <= b["seq_acc"] <= b["token_acc"] + 1e-9
    thr = record["throughput"]
    assert thr["train_tokens_per_s"] > 0 and thr["gen_tokens_per_s"] > 0
    assert thr["train_steps_timed"] == 40 - 3 and thr["incremental_generation"] is True
    assert record["metrics"]["val"]["best_step"] in (20, 40)
    env = record["env"]
    assert env["device"] == "cpu" and env["torch"] and env["lightning"] and env["seqbench"]
    assert record["times"]["wall_s"] > 0 and record["command"].startswith("seqbench run --config")
    # the table printed at the end is a view of that record
    assert "lstm" in captured.out and "2-3" in captured.out and str(record["params"]) in captured.out
    assert main(["table", str(out)]) == 0
    assert capsys.readouterr().out.strip() != ""


def test_rerun_skips_finished_cells_and_rerun_flag_forces_them(tiny_config, tmp_path, capsys):
    out = tmp_path / "out"
    assert run(tiny_config, out) == 0
    path = next(results.records_dir(out).glob("*.json"))
    first = path.read_text()
    capsys.readouterr()
    assert run(tiny_config, out) == 0
    assert "1 of 1 cells were finished before and are not run again" in capsys.readouterr().err
    assert path.read_text() == first
    assert run(tiny_config, out, "--rerun") == 0
    assert json.loads(path.read_text())["times"]["started"] >= json.loads(first)["times"]["started"]
    assert "were finished before" not in capsys.readouterr().err


def test_changed_setting_is_a_new_cell(tiny_config, tmp_path):
    out = tmp_path / "out"
    assert run(tiny_config, out) == 0
    assert run(tiny_config, out, "--set", "train.max_steps=20") == 0
    assert len(list(results.records_dir(out).glob("*.json"))) == 2


def test_same_config_and_seed_give_identical_metrics(tiny_config, tmp_path):
    metrics = []
    for name in ("a", "b"):
        assert run(tiny_config, tmp_path / name) == 0
        record = results.read(next(results.records_dir(tmp_path / name).glob("*.json"))).to_dict()
        val = record["metrics"]["val"]
        clock = [point.pop("time_s") for point in val["history"]]  # wall-clock seconds: measured, not determined
        assert clock == sorted(clock) and all(t > 0 for t in clock)
        metrics.append((record["metrics"]["bins"], record["metrics"]["overall"], val))
    assert metrics[0] == metrics[1]
