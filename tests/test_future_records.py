"""Records a newer seqbench wrote (a schema version this one does not read), and merges with nothing readable: every
reader says so in one line naming the file and the version; `run` refuses rather than moving the record aside; a
merge with nothing usable is bad input (issue 27)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _records import make_record
from seqbench.cli import main
from seqbench.records import store
from seqbench.records.schema import READABLE

FUTURE = max(READABLE) + 1


def folder(tmp_path: Path, name: str, future: bool = True, good: bool = True) -> tuple[Path, Path | None]:
    """A result folder with a good lstm record and/or a gru record rewritten with a future schema version."""
    out = tmp_path / name
    if good:
        store.save(out, make_record("lstm", distance=10))
    path = None
    if future:
        record = make_record("gru", distance=10)
        path = store.save(out, record)
        data = json.loads(path.read_text())
        data["schema"] = FUTURE
        data["newer_field"] = {"what": "a newer seqbench records"}
        path.write_text(json.dumps(data))
    return out, path


def newer(path: Path) -> str:
    return (f"{path}: written by a newer seqbench (record schema {FUTURE}; this seqbench reads schema "
            f"{', '.join(map(str, READABLE))}): upgrade seqbench to read it")


@pytest.mark.parametrize("command", ["table", "plot", "report"])
def test_readers_skip_a_future_record_with_one_line(tmp_path, capsys, command):
    res, path = folder(tmp_path, "res")
    extra = {"table": [], "plot": ["--out", str(tmp_path / "p"), "--format", "svg"],
             "report": ["--out", str(tmp_path / "r")]}[command]
    assert main([command, str(res), *extra]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == [f"warning: skipped {newer(path)}"]


def test_merge_skips_a_future_record_with_one_line(tmp_path, capsys):
    res, path = folder(tmp_path, "res")
    assert main(["merge", str(res), "--out", str(tmp_path / "all")]) == 1
    out, err = capsys.readouterr()
    assert err.splitlines() == [f"warning: skipped {newer(path)}"] and ": 1 written, " in out
    assert not store.record_path(tmp_path / "all", path.stem).exists()


def test_run_refuses_a_folder_holding_a_future_record(tmp_path, capsys):
    res, path = folder(tmp_path, "res")
    before = sorted(p.name for p in (res / "records").iterdir())
    assert main(["run", "--arch", "gru", "--task", "copy", "--out", str(res), "--dry-run"]) == 2
    assert capsys.readouterr().err == (f"seqbench: error: {newer(path)}; run neither moves it aside nor replaces it: "
                                       f"use that seqbench, or another --out\n")
    assert sorted(p.name for p in (res / "records").iterdir()) == before  # nothing moved aside


@pytest.mark.parametrize("future", [True, False])
def test_merge_with_nothing_readable_is_bad_input(tmp_path, capsys, future):
    res, path = folder(tmp_path, "res", future=future, good=False)
    if not future:
        path = store.records_dir(res) / "0000.json"
        path.parent.mkdir(parents=True)
        path.write_text("not json")
    assert main(["merge", str(res), "--out", str(tmp_path / "all")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"seqbench: error: no readable record in {res}: {path}: ") and err.count("\n") == 1
    assert err.endswith(f"; nothing was merged into {tmp_path / 'all'}\n") and not (tmp_path / "all").exists()
    if future:
        assert newer(path) in err
