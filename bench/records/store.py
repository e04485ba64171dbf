"""Where records live and how they are written and read: atomically, and validated against `schema.Record` both
ways.

A record lives at `OUT/records/<cell_id>.json`. It is written atomically (temporary file, fsync, rename, fsync of
the folder), so a run killed at any instant leaves either the whole record or none. Reading validates it; a file
that fails is reported by file and field (`BadRecord`) and never half-used.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from pydantic import ValidationError

from seqbench.records.schema import READABLE, Record, describe

RECORDS_DIR = "records"


def records_dir(out: Path) -> Path:
    return Path(out) / RECORDS_DIR


def record_path(out: Path, cell_id: str) -> Path:
    return records_dir(out) / f"{cell_id}.json"


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside `path` to write a file at; when the block ends without an error the file is
    fsynced and renamed to `path` (readers see the old file or the whole new one), else removed. The temporary
    name is `.<name>.<random>.tmp`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_atomic(path: Path, text: str | bytes) -> None:
    """Write `text` to `path` so that readers see the old file or the whole new one, never a part."""
    with atomic_path(path) as tmp, os.fdopen(os.open(tmp, os.O_WRONLY | os.O_TRUNC), "wb") as f:
        f.write(text.encode("utf-8") if isinstance(text, str) else text)


def save(out: Path, record: Record) -> Path:
    """Write a record (validated when it was built) to its place under `out`."""
    if not isinstance(record, Record):
        raise TypeError(f"save() takes a seqbench.records.schema.Record, got {type(record).__name__}")
    path = record_path(out, record.cell_id)
    write_atomic(path, record.to_json())
    return path


class BadRecord(ValueError):
    """A record file that cannot be trusted: unreadable, truncated, invalid, or not what its name says."""


class FutureRecord(BadRecord):
    """A record written by a newer seqbench (a schema version above `READABLE`): not damaged, only unreadable here.
    Readers skip it with a warning; `run` refuses to move it aside or replace it."""


def _future(data: dict, where: str) -> None:
    version = data.get("schema")
    if isinstance(version, int) and not isinstance(version, bool) and version > max(READABLE):
        raise FutureRecord(f"{where}: written by a newer seqbench (record schema {version}; this seqbench reads "
                           f"schema {', '.join(map(str, READABLE))}): upgrade seqbench to read it")


def parse(text: str, where: str = "record") -> Record:
    """A record from JSON text; BadRecord names the field that is wrong."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise BadRecord(f"{where}: not a readable JSON record ({e})") from None
    if not isinstance(data, dict):
        raise BadRecord(f"{where}: not a JSON object")
    _future(data, where)
    try:
        return Record.model_validate(data)
    except ValidationError as e:
        raise BadRecord(f"{where}: {describe(e)}") from None


def read(path: Path) -> Record:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise BadRecord(f"{path}: not a readable JSON record ({e})") from None
    record = parse(text, str(path))
    if Path(path).stem != record.cell_id:
        raise BadRecord(f"{path}: holds cell {record.cell_id!r}, not the cell its name says")
    return record


@dataclass
class Loaded:
    """The records of one or more output directories, and the files that could not be trusted."""

    records: list[Record] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)  # one message per untrusted file
    missing: list[str] = field(default_factory=list)  # one message per artifact a record names that is not there

    def dicts(self) -> list[dict]:
        """The records as JSON-ready dicts, for views that work on plain data."""
        return [r.to_dict() for r in self.records]


def missing_artifacts(folder: Path, record: Record) -> list[str]:
    """One message per file the record names in `artifacts` that is not beside it in the records folder `folder`."""
    return [f"{folder / record.cell_id}.json names its {name} {folder / path}, which is missing"
            for name, path in record.artifacts.items() if not (Path(folder) / path).is_file()]


def future_records(out: Path) -> list[str]:
    """One message per record under `out/records/` that a newer seqbench wrote (`FutureRecord`)."""
    found = []
    folder = records_dir(out)
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            read(path)
        except FutureRecord as e:
            found.append(str(e))
        except BadRecord:
            continue
    return found


def load_dir(out: Path | Iterable[Path]) -> Loaded:
    """Every record under `out/records/` (or under several output directories), sorted by cell identity."""
    outs = [Path(out)] if isinstance(out, (str, Path)) else [Path(o) for o in out]
    loaded = Loaded()
    for o in outs:
        folder = records_dir(o)
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.json")):
            try:
                loaded.records.append(read(path))
            except BadRecord as e:
                loaded.bad.append(str(e))
                continue
            loaded.missing += missing_artifacts(folder, loaded.records[-1])
    loaded.records.sort(key=lambda r: (r.task, r.arch, r.distance, r.seed, r.cell_id))
    return loaded
