"""What a user sees while a matrix runs: results on stdout only, a short log on stderr, curves in Lightning's
loggers, and memory measured per cell."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from seqbench.records import store as results

SMALL = """
[matrix]
archs = ["lstm", "gru"]
tasks = ["copy"]
seeds = [0, 1, 2]
distances = [2, 3]

[model]
d_model = 12
n_layers = 1

[train]
max_steps = 12
batch_size = 8
val_every = 6
throughput_warmup = 2

[eval]
n_val = 16
n_test = 16
batch_size = 16

[task.copy]
k = 3
alphabet = 4
"""


def config(tmp_path: Path, text: str = SMALL) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(textwrap.dedent(text))
    return path


def run_cli(*argv: str) -> subprocess.CompletedProcess:
    """The command line in a child process, with stdout and stderr as separate pipes (not a terminal)."""
    code = "import sys; from seqbench.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=600)


def test_stdout_holds_only_results_and_the_log_is_short(tmp_path):
    proc = run_cli("run", "--profile", "none", "--config", str(config(tmp_path)), "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stdout and "\r" not in proc.stderr  # no progress bars redrawn into a file
    assert "seqbench:" not in proc.stdout and "it/s" not in proc.stdout
    assert proc.stdout.startswith("Summary: Reach from brackets")  # the summary is the first thing a run prints
    assert "copy" in proc.stdout and "lstm" in proc.stdout and "gru" in proc.stdout
    lines = proc.stderr.strip().splitlines()
    # 12 cells: a start line, one line per finished row (lstm on copy, gru on copy), the summary; nothing per cell
    assert len(lines) <= 6, lines
    assert sum("done: token_acc by distance" in line for line in lines) == 2
    verbose = run_cli("run", "--profile", "none", "--config", str(config(tmp_path)), "--out", str(tmp_path / "v"),
                      "-v")
    assert sum(": training (" in line for line in verbose.stderr.splitlines()) == 12  # --verbose: one per cell


def test_csv_and_tensorboard_loggers_write_curves_others_can_read(tmp_path):
    pytest.importorskip("tensorboard", reason="the tensorboard extra (pip install 'seqbench[tensorboard]') is absent")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    text = SMALL.replace('archs = ["lstm", "gru"]', 'archs = ["lstm"]').replace("seeds = [0, 1, 2]", "seeds = [0]") \
        .replace("distances = [2, 3]", "distances = [2]")
    for kind in ("csv", "tensorboard"):
        out = tmp_path / kind
        proc = run_cli("run", "--profile", "none", "--config", str(config(tmp_path, text)), "--out", str(out),
                       "--logger", kind)
        assert proc.returncode == 0, proc.stderr
        (record,) = results.load_dir(out).records
        folder = out / "logs" / record.cell_id
        if kind == "csv":
            metrics = pd.concat(pd.read_csv(p) for p in folder.glob("*/metrics.csv"))
            val = metrics.dropna(subset=["val_loss"])
            assert list(val["step"]) == [h.step - 1 for h in record.metrics.val.history] or len(val) == 2
            assert val["val_loss"].tolist() == pytest.approx([h.val_loss for h in record.metrics.val.history])
            assert metrics["train_loss"].notna().any()
            hparams = (next(folder.glob("*/hparams.yaml"))).read_text()
            assert "train.max_steps: 12" in hparams and record.cell_id in hparams
        else:
            (events,) = [p for p in folder.rglob("events.out.tfevents.*")]
            acc = EventAccumulator(str(events.parent))
            acc.Reload()
            assert {"val_loss", "val_acc", "train_loss"} <= set(acc.Tags()["scalars"])
            assert [e.value for e in acc.Scalars("val_loss")] == pytest.approx(
                [h.val_loss for h in record.metrics.val.history], rel=1e-5)


def test_peak_memory_is_measured_per_cell(tmp_path):
    """Two cells in one run, the big one first: a process-wide high-water mark would give the small one the big
    one's figure; the per-cell measure does not."""
    text = """
        [matrix]
        archs = ["transformer"]
        tasks = ["copy"]
        seeds = [0]
        distances = [200]
        params = [300000, 3000]
        [model]
        n_layers = 1
        [train]
        max_steps = 3
        batch_size = 64
        val_every = 3
        [eval]
        n_val = 8
        n_test = 8
        [task.copy]
        k = 3
        alphabet = 4
    """
    out = tmp_path / "out"
    proc = run_cli("run", "--profile", "none", "--config", str(config(tmp_path, text)), "--out", str(out),
                   "--jobs", "1", "-v")
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if ": training (" in line]
    assert "[1/2]" in lines[0] and int(lines[0].split("(")[1].split()[0]) > 100000  # the big cell ran first
    peaks = {r.params_budget: r.throughput.peak_memory_mb for r in results.load_dir(out).records}
    assert {r.throughput.memory_kind for r in results.load_dir(out).records} == {"cell_process_peak_rss"}
    assert peaks[300000] > peaks[3000] + 20, peaks
