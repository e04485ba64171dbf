"""What every remote executor must do, checked the same way for Ray and SLURM (submitit's local executor)."""

from __future__ import annotations

from pathlib import Path

from seqbench.cli import main
from seqbench.records import store as results
from _tiny import determined
from test_parallel import DYING
from test_run import TINY


def by_arch(out: Path) -> dict[str, dict]:
    loaded = results.load_dir(out)
    assert not loaded.bad, loaded.bad
    return {r["arch"]: r for r in loaded.dicts()}


def check_remote_run(tmp_path: Path, write_plugin, capsys, executor: list[str]) -> str:
    """A local run of lstm and gru; gru's record removed; then the remote executor on lstm, gru and a plugin that
    ends its process: lstm is skipped, gru runs again to the same metrics, the dying cell is recorded as failed.
    Returns the remote run's stderr and the dying cell's error message."""
    plugin = write_plugin("dying", DYING)
    config = tmp_path / "matrix.toml"
    config.write_text(TINY.replace("max_steps = 40", "max_steps = 20"))
    out = tmp_path / "out"
    common = ["run", "--config", str(config), "--profile", "none", "--no-progress", "-v", "--out", str(out),
              "-p", str(plugin)]
    assert main([*common, "--arch", "lstm,gru", "--jobs", "0"]) == 0
    local = by_arch(out)
    lstm_bytes = results.record_path(out, local["lstm"]["cell_id"]).read_bytes()
    results.record_path(out, local["gru"]["cell_id"]).unlink()
    capsys.readouterr()

    assert main([*common, "--arch", "lstm,gru,exits", *executor]) == 1
    err = capsys.readouterr().err
    assert "1 of 3 cells were finished before" in err
    remote = by_arch(out)
    assert results.record_path(out, local["lstm"]["cell_id"]).read_bytes() == lstm_bytes
    assert remote["gru"]["status"] == "ok"
    assert determined(remote["gru"]["metrics"]) == determined(local["gru"]["metrics"])
    assert remote["gru"]["env"]["cpu_threads"] == 1
    assert remote["exits"]["status"] == "failed" and remote["exits"]["error"]["type"] == "WorkerDied"
    return err + remote["exits"]["error"]["message"]
