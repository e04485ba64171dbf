"""`--executor ray` on a local Ray instance: records come back to the driver, which writes them; finished cells
are skipped, a cell whose worker dies is recorded as failed, and metrics equal a local run's."""

from __future__ import annotations

import pytest

pytest.importorskip("ray", reason="the extra seqbench[ray] is not installed (pip install 'seqbench[ray]')")

from _remote import check_remote_run  # noqa: E402


def test_ray_runs_cells_resumes_and_records_dying_workers(tmp_path, write_plugin, capsys):
    err = check_remote_run(tmp_path, write_plugin, capsys, ["--executor", "ray", "--jobs", "2"])
    assert "the Ray worker running the cell died before it finished" in err

