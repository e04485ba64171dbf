"""Fault injection: SIGKILL the runner at several points of a small matrix, rerun, and check that no record was
lost or corrupted, that only unfinished cells ran again, and that the final results equal an uninterrupted run's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from seqbench.records import store as results
from seqbench.cli import main
from _tiny import determined
from test_run import TINY

MATRIX = TINY.replace("seeds = [0]", "seeds = [0, 1, 2]").replace("max_steps = 40", "max_steps = 20")

# Runs the CLI in a child process; FAULT picks where the child SIGKILLs itself.
CHILD = textwrap.dedent("""
    import os, signal, sys
    import seqbench.records.store as results
    from seqbench.cli import main

    fault, n = os.environ.get("FAULT", ""), int(os.environ.get("FAULT_AT", "1"))
    calls = {"save": 0, "replace": 0}
    die = lambda: os.kill(os.getpid(), signal.SIGKILL)

    if fault == "after_save":            # right after the n-th record is safely on disk
        original_save = results.save
        def save(out, record):
            path = original_save(out, record)
            calls["save"] += 1
            if calls["save"] == n:
                die()
            return path
        results.save = save
    elif fault == "before_rename":       # the temporary file is written and synced, the rename never happens
        original_replace = os.replace
        def replace(src, dst):
            if str(dst).endswith(".json"):
                calls["replace"] += 1
                if calls["replace"] == n:
                    die()
            return original_replace(src, dst)
        os.replace = replace
    elif fault == "mid_write":           # half of the record's text reaches its temporary file
        original_fdopen = os.fdopen
        def fdopen(fd, *a, **k):
            f = original_fdopen(fd, *a, **k)
            if "/records/" in os.readlink(f"/proc/self/fd/{fd}"):
                calls["save"] += 1
                if calls["save"] == n:
                    class Half:
                        def __enter__(self): return self
                        def __exit__(self, *e): return False
                        def write(self, text):
                            f.write(text[: len(text) // 2]); f.flush(); die()
                    return Half()
            return f
        os.fdopen = fdopen
    sys.exit(main(sys.argv[1:]))
""")


def child(config: Path, out: Path, fault: str = "", at: int = 1) -> subprocess.Popen:
    env = {**os.environ, "FAULT": fault, "FAULT_AT": str(at), "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-c", CHILD, "run", "--config", str(config), "--profile", "none", "--no-progress", "-v", "--jobs", "1", "--out", str(out)]
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_second_cell(proc: subprocess.Popen) -> str:
    """Read the child's stderr until it starts training its second cell; returns what it printed so far."""
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if "[2/3]" in line and ": training (" in line:
            return "".join(seen)
    raise AssertionError("the child ended before its second cell: " + "".join(seen))


def measured(out: Path) -> dict[str, tuple]:
    """What must not depend on interruptions: per cell, its metrics (the wall-clock time of each validation, a
    measurement, left out)."""
    loaded = results.load_dir(out)
    assert not loaded.bad, loaded.bad
    return {r["cell_id"]: (r["status"], determined(r["metrics"])) for r in loaded.dicts()}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, dict]:
    """The uninterrupted run of the same matrix, in a child process like the others."""
    folder = tmp_path_factory.mktemp("reference")
    config = folder / "matrix.toml"
    config.write_text(MATRIX)
    proc = child(config, folder / "out")
    assert proc.wait(timeout=600) == 0, proc.stderr.read()
    return config, measured(folder / "out")


@pytest.mark.parametrize("fault, at, finished_before", [
    ("after_save", 1, 1),     # killed between two cells
    # slow: mid_write below also leaves cell 2's record in a temporary file that is never renamed, and checks the
    # rerun removes it and trains cell 2 again
    pytest.param("before_rename", 2, 1, marks=pytest.mark.slow),  # cell 2's record in a temporary file only
    ("mid_write", 2, 1),      # killed with half of cell 2's record written
    # slow: after_save-1-1 above checks the same path (records saved before the kill are kept, skipped, not rerun)
    pytest.param("after_save", 3, 3, marks=pytest.mark.slow),  # killed after the last record, before the table
])
def test_sigkill_then_rerun(reference, tmp_path, fault, at, finished_before):
    config, expected = reference
    out = tmp_path / "out"
    proc = child(config, out, fault, at)
    assert proc.wait(timeout=600) == -signal.SIGKILL
    survivors = {p.name: p.read_bytes() for p in results.records_dir(out).glob("*.json")}
    assert len(survivors) == finished_before
    for body in survivors.values():
        json.loads(body)  # whole, never half-written
    rerun = child(config, out)
    assert rerun.wait(timeout=600) == 0
    err = rerun.stderr.read()
    assert err.count("finished before, skipped") == finished_before
    assert err.count(": training (") == 3 - finished_before
    for name, body in survivors.items():  # finished cells were not run again
        assert (results.records_dir(out) / name).read_bytes() == body
    assert not list(results.records_dir(out).glob(".*.tmp"))  # no leftovers of the killed write
    assert measured(out) == expected


@pytest.mark.slow  # covered in the default run by test_parallel's test_sigkill_of_a_parallel_run_at_a_random_instant_
# loses_nothing (SIGKILL while cells train: whole records only, finished cells kept, the rerun equals a clean run) and
# by test_ctrl_c_stops_cleanly_and_says_what_finished below (stopped while training the second cell, then rerun)
def test_sigkill_during_training_of_a_cell(reference, tmp_path):
    config, expected = reference
    out = tmp_path / "out"
    proc = child(config, out)
    wait_for_second_cell(proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert len(list(results.records_dir(out).glob("*.json"))) == 1
    assert main(["run", "--config", str(config), "--profile", "none", "--no-progress", "-v", "--jobs", "1", "--out", str(out)]) == 0
    assert measured(out) == expected


def test_corrupted_record_is_detected_and_rerun(reference, tmp_path, capsys):
    config, expected = reference
    out = tmp_path / "out"
    assert main(["run", "--config", str(config), "--profile", "none", "--no-progress", "-v", "--jobs", "1", "--out", str(out)]) == 0
    victim = sorted(results.records_dir(out).glob("*.json"))[0]
    victim.write_text(victim.read_text()[:100])  # truncated by a disk or a careless editor
    capsys.readouterr()
    assert main(["run", "--config", str(config), "--profile", "none", "--no-progress", "-v", "--jobs", "1", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "not a readable JSON record" in err and "moved aside" in err
    assert err.count("finished before, skipped") == 2 and err.count(": training (") == 1
    assert list(results.records_dir(out).glob(f"{victim.name}.corrupt-*"))
    assert measured(out) == expected


def test_ctrl_c_stops_cleanly_and_says_what_finished(reference, tmp_path):
    config, expected = reference
    out = tmp_path / "out"
    proc = child(config, out)
    err = wait_for_second_cell(proc)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 130
    err += proc.stderr.read()
    assert "interrupted. Finished: 1 of 3 cells (1 in this run)" in err
    assert "Not finished: lstm/copy/d=2-6/seed=" in err and "Traceback" not in err
    assert not list((out / ".work").glob("*/*.ckpt"))  # no half-trained leftovers
    assert main(["run", "--config", str(config), "--profile", "none", "--no-progress", "-v", "--jobs", "1", "--out", str(out)]) == 0
    assert measured(out) == expected


def test_two_runs_on_one_directory_run_each_cell_once(reference, tmp_path):
    config, expected = reference
    out = tmp_path / "out"
    a, b = child(config, out), child(config, out)
    assert a.wait(timeout=600) == 0 and b.wait(timeout=600) == 0
    err = a.stderr.read() + b.stderr.read()
    assert err.count(": training (") == 3
    assert measured(out) == expected
