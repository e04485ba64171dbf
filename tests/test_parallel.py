"""Cells in processes of their own, several at once (`--jobs N`): the same metrics as one at a time, nothing lost
when the runner is killed at any instant, no cell process outliving it, and a cell whose process dies recorded as
failed while the rest of the matrix runs."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from seqbench.cli import main
from seqbench.records import store as results
from _tiny import determined
from test_run import TINY

# Two architectures (the Transformer's metrics change with the CPU thread count, the LSTM's do not) and two seeds.
MATRIX = (TINY.replace('archs = ["lstm"]', 'archs = ["lstm", "transformer"]')
          .replace("seeds = [0]", "seeds = [0, 1]").replace("max_steps = 40", "max_steps = 20"))


def metrics(out: Path) -> dict[str, tuple]:
    loaded = results.load_dir(out)
    assert not loaded.bad, loaded.bad
    return {r["cell_id"]: (r["status"], determined(r["metrics"])) for r in loaded.dicts()}


def run_args(config: Path, out: Path, jobs: int) -> list[str]:
    return ["run", "--config", str(config), "--profile", "none", "--no-progress", "-v", "--jobs", str(jobs),
            "--out", str(out)]


@pytest.fixture(scope="module")
def sequential(tmp_path_factory) -> tuple[Path, dict]:
    """The matrix with one cell at a time: the reference every parallel run must equal."""
    folder = tmp_path_factory.mktemp("sequential")
    config = folder / "matrix.toml"
    config.write_text(MATRIX)
    assert main(run_args(config, folder / "out", 1)) == 0
    return config, metrics(folder / "out")


def test_two_jobs_give_the_metrics_of_one(sequential, tmp_path, capsys):
    config, expected = sequential
    assert len(expected) == 4
    assert main(run_args(config, tmp_path / "out", 2)) == 0
    err = capsys.readouterr().err
    assert "2 at a time, 1 CPU thread(s) each" in err
    assert metrics(tmp_path / "out") == expected  # bit for bit: every cell has one thread, whatever --jobs is
    threads = {r["env"]["cpu_threads"] for r in results.load_dir(tmp_path / "out").dicts()}
    assert threads == {1}
    assert_names_its_machine(tmp_path / "out")


def assert_names_its_machine(out: Path) -> None:
    """Every record names the instruction set it ran on (torch's dispatch level here), set where the cell ran."""
    here = torch.backends.cpu.get_cpu_capability()
    assert {r["env"]["cpu_capability"] for r in results.load_dir(out).dicts()} == {here}



def test_in_process_cells_give_the_same_metrics(sequential, tmp_path):
    config, expected = sequential
    assert main(run_args(config, tmp_path / "out", 0)) == 0
    assert metrics(tmp_path / "out") == expected  # same cell ids too: the machine's name is not part of them
    assert_names_its_machine(tmp_path / "out")


def _descendants(pid: int) -> set[int]:
    """Every living process below `pid`, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    """Running or sleeping, not gone and not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads processes from /proc (Linux)")
def test_sigkill_of_a_parallel_run_at_a_random_instant_loses_nothing(sequential, tmp_path):
    config, expected = sequential
    out = tmp_path / "out"
    rng = random.Random()
    mark, instant = f"[{rng.choice([2, 3, 4])}/4]", rng.uniform(0.0, 1.0)  # a cell's start, then up to a second
    proc = subprocess.Popen([sys.executable, "-m", "seqbench", *run_args(config, out, 2)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    for line in proc.stderr:
        if mark in line:
            break
    time.sleep(instant)
    assert proc.poll() is None, f"the run ended before the instant chosen ({mark} + {instant:.2f} s)"
    cells = _descendants(proc.pid)  # the fork server and the cells' processes
    assert cells, "no cell processes found under the runner"
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    deadline = time.monotonic() + 30
    while any(_alive(p) for p in cells) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in cells if _alive(p)], f"processes outlived the runner (killed at {mark} + {instant:.2f} s)"
    survivors = {p.name: p.read_bytes() for p in results.records_dir(out).glob("*.json")}
    for body in survivors.values():
        json.loads(body)  # whole, never half-written
    assert main(run_args(config, out, 2)) == 0
    for name, body in survivors.items():  # finished cells were not run again
        assert (results.records_dir(out) / name).read_bytes() == body
    assert not list(results.records_dir(out).glob(".*.tmp"))
    assert metrics(out) == expected, f"killed at {mark} + {instant:.2f} s"


DYING = """
    import os, signal
    import torch.nn as nn
    import seqbench
    from seqbench.contract.specs import ArchSpec

    class Exits(nn.Module):
        '''Ends its process from inside forward, as a crash in native code would.'''
        def __init__(self, d):
            super().__init__()
            self.lin = nn.Linear(d, d)
        def forward(self, x):
            os._exit(3)

    class Killed(nn.Module):
        '''Killed from inside forward, as the kernel's out-of-memory killer would.'''
        def __init__(self, d):
            super().__init__()
            self.lin = nn.Linear(d, d)
        def forward(self, x):
            os.kill(os.getpid(), signal.SIGKILL)

    @seqbench.hookimpl
    def register_architectures(register):
        register(ArchSpec("exits", "calls os._exit", "mixer", lambda ctx: Exits(ctx.model.d_model)))
        register(ArchSpec("killed", "is killed", "mixer", lambda ctx: Killed(ctx.model.d_model)))
"""


def test_a_cell_whose_process_dies_is_recorded_as_failed_and_the_matrix_goes_on(tmp_path, write_plugin, capsys):
    plugin = write_plugin("dying", DYING)
    config = tmp_path / "matrix.toml"
    config.write_text(TINY.replace('archs = ["lstm"]', 'archs = ["exits", "killed", "lstm"]'))
    code = main([*run_args(config, tmp_path / "out", 2), "-p", str(plugin)])
    assert code == 1
    by_arch = {r["arch"]: r for r in results.load_dir(tmp_path / "out").dicts()}
    assert by_arch["lstm"]["status"] == "ok"
    assert by_arch["exits"]["status"] == "failed" and by_arch["killed"]["status"] == "failed"
    assert by_arch["exits"]["error"]["type"] == "WorkerDied"
    assert "exited with code 3 before it finished" in by_arch["exits"]["error"]["message"]
    assert "killed by SIGKILL" in by_arch["killed"]["error"]["message"]
    assert "3 cells run" in capsys.readouterr().err


def test_options_of_one_executor_are_refused_by_another(tmp_path, capsys):
    for argv, message in (
        (["--address", "127.0.0.1:6379"], "--address is an option of --executor ray, not of --executor local"),
        (["--executor", "ray", "--partition", "gpu"], "--partition is an option of --executor slurm, not of "
                                                       "--executor ray"),
        (["--executor", "slurm", "--jobs", "0"], "--jobs 0 runs cells in this process; with --executor slurm give "
                                                  "1 or more"),
    ):
        assert main(["run", "--out", str(tmp_path / "out"), *argv]) == 2
        assert capsys.readouterr().err.strip() == f"seqbench: error: {message}"
    assert not (tmp_path / "out").exists()


def test_a_time_budget_runs_cells_one_at_a_time_on_every_core(tmp_path, capsys, monkeypatch):
    """With `train.max_time` every cell gets the same time, so by default the same machine: one cell at a time, all
    the cores its threads; the record says how much of the machine it had (its CPU time, the load beside it)."""
    from seqbench.run import executors
    monkeypatch.setattr(executors, "cpu_count", lambda: 2)
    config = tmp_path / "matrix.toml"
    config.write_text(TINY.replace("seeds = [0]", "seeds = [0, 1]").replace("max_steps = 40",
                                                                          "max_steps = 20\nmax_time = 600"))
    args = ["run", "--config", str(config), "--profile", "none", "--no-progress", "--out", str(tmp_path / "out")]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "train.max_time gives every cell the same time: they run one at a time on all 2 CPU cores" in err
    assert "2 cells -> " in err and "1 at a time, 2 CPU thread(s) each" in err
    loaded = results.load_dir(tmp_path / "out").dicts()
    assert len(loaded) == 2
    for r in loaded:
        assert r["status"] == "ok" and r["env"]["cpu_threads"] == 2
        assert 0 < r["times"]["cpu_s"] and r["times"]["train_s"] <= r["times"]["wall_s"]
        assert len(r["times"]["load_avg"]) == 3 and min(r["times"]["load_avg"]) >= 0
    # given flags win; without a time budget a CPU cell keeps one thread and the cores go to parallel cells
    assert executors.default_jobs("cpu", timed=True) == 1 and executors.default_jobs("cpu") == 2
    assert executors.default_threads("cpu", 1, timed=True) == 2 and executors.default_threads("cpu", 1) == 1
    assert executors.default_threads("cpu", 2, timed=True) == 1
    assert main([*args[:-2], "--jobs", "2", "--out", str(tmp_path / "out2")]) == 0
    err = capsys.readouterr().err
    assert "one at a time" not in err and "2 at a time, 1 CPU thread(s) each" in err
