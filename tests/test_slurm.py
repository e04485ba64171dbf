"""`--executor slurm` through submitit's local executor (SEQBENCH_SUBMITIT_CLUSTER=local): the cells as a job
array, each task writing its record on the shared folder, finished cells skipped, a dying task recorded as failed,
and metrics equal to a local run's."""

from __future__ import annotations

import pytest

pytest.importorskip("submitit", reason="the extra seqbench[slurm] is not installed (pip install 'seqbench[slurm]')")

from _remote import check_remote_run  # noqa: E402
from seqbench.cli import main  # noqa: E402


def test_slurm_array_runs_cells_resumes_and_records_dying_tasks(tmp_path, write_plugin, capsys, monkeypatch):
    monkeypatch.setenv("SEQBENCH_SUBMITIT_CLUSTER", "local")
    err = check_remote_run(tmp_path, write_plugin, capsys,
                           ["--executor", "slurm", "--jobs", "2", "--time", "20", "--partition", "any"])
    assert "SLURM job" in err and "ended before it finished" in err
    assert list((tmp_path / "out" / ".slurm").glob("*/*_log.out"))  # submitit's logs, beside the records


def test_slurm_without_a_cluster_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SEQBENCH_SUBMITIT_CLUSTER", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch
    config_free = ["run", "--profile", "none", "--arch", "lstm", "--task", "copy", "--out", str(tmp_path / "out")]
    assert main([*config_free, "--executor", "slurm"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("seqbench: error: --executor slurm: no SLURM here (sbatch is not on PATH)")
    assert not (tmp_path / "out" / "records").exists()
