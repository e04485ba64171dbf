"""The published results are what the commands produce from the committed records."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from seqbench.records import store as results
from seqbench.cli import main

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = sorted(p for p in (ROOT / "results").glob("*") if (p / "records").is_dir())


@pytest.mark.parametrize("folder", PUBLISHED, ids=[p.name for p in PUBLISHED])
def test_committed_report_matches_a_rebuild(folder, tmp_path, monkeypatch, capsys):
    loaded = results.load_dir(folder)
    assert loaded.records and not loaded.bad
    assert all(r["status"] == "ok" for r in loaded.dicts())
    copy = tmp_path / "results" / folder.name
    shutil.copytree(folder / "records", copy / "records")
    monkeypatch.chdir(tmp_path)
    assert main(["report", f"results/{folder.name}"]) == 0
    rebuilt = (copy / "report" / "report.md").read_text()
    assert rebuilt == (folder / "report" / "report.md").read_text()
    capsys.readouterr()
    assert main(["table", f"results/{folder.name}", "--format", "markdown"]) == 0
    table = capsys.readouterr().out
    for line in table.splitlines():
        if line.startswith("| ") and "arch" not in line:
            assert line in rebuilt  # the table is the report's table


def test_readme_shows_the_published_quick_table():
    readme = (ROOT / "README.md").read_text()
    report = (ROOT / "results" / "quick-cpu" / "report" / "report.md").read_text()
    start = readme.index("## Results")
    results = readme[start:readme.index("\n## ", start + 1)]  # the section, up to the next one
    rows = [line for line in results.splitlines() if line.startswith("| ") and not line.startswith("| arch")]
    assert len(rows) >= 7 and all(row in report for row in rows)


def test_readme_shows_the_published_multi30k_table():
    readme = (ROOT / "README.md").read_text()
    report = (ROOT / "results" / "multi30k-cpu" / "report" / "report.md").read_text()
    start = readme.index("## Translation on a real corpus")
    section = readme[start:readme.index("\n## ", start + 1)]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| arch")]
    assert len(rows) == 3 and all(row in report for row in rows)
