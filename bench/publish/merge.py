"""Merge result folders from several machines into one, refusing two different results for one cell.

Two records with the same cell id clash when they differ in anything but `times` and `command` (when and how the
cell was launched): status, metrics, throughput, env, error, params, config or plugins. Identical records are kept
once (the first seen: the output folder's own, then the sources in the order given). Every input is checked
before anything is written, so a clash leaves the output as it was. Unreadable record files are skipped and
reported, and counted: every record file read from the sources is either written, identical to one already taken
(the output's own or an earlier source's), or unreadable and skipped. An existing file in the output is never
overwritten.

Artifacts (`Record.artifacts`, e.g. the weights of `run --keep-weights`) travel with their records: each file a
taken record names is copied beside it (atomically, before the record), and one that an identical record in the
output lacks is filled in. An artifact file already in the output with other bytes is a clash. A record whose
artifact is missing in its source is merged all the same and reported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from seqbench.contract.errors import UserError, plural
from seqbench.records.store import BadRecord, missing_artifacts, read, record_path, records_dir, write_atomic

VOLATILE = ("times", "command")  # when and how a cell was launched, not what it measured


@dataclass
class Merged:
    """What a merge did."""

    out: Path
    inputs: int = 0  # record files found in the sources
    written: list[str] = field(default_factory=list)  # cell ids copied into `out`
    identical: int = 0  # source records identical to one already taken (in `out`, or read earlier)
    bad: list[str] = field(default_factory=list)  # one message per unreadable source file (skipped)
    bad_out: list[str] = field(default_factory=list)  # unreadable files the output folder held (left as they are)
    held: int = 0  # readable records in `out` after the merge
    artifacts: int = 0  # artifact files copied into `out`
    missing: list[str] = field(default_factory=list)  # one message per artifact a source record names but lacks

    def line(self, folders: int) -> str:
        """What the merge did, in one line whose counts add up to the inputs."""
        out_bad = f"; {plural(len(self.bad_out), 'unreadable file')} in {self.out} left as is" if self.bad_out else ""
        copied = f", {plural(self.artifacts, 'artifact file')} copied" if self.artifacts else ""
        missing = f", {plural(len(self.missing), 'artifact')} missing in the sources" if self.missing else ""
        return (f"merged {plural(folders, 'folder')} ({plural(self.inputs, 'record file')}) into {self.out}: "
                f"{len(self.written)} written, {self.identical} identical to a record already there, "
                f"{len(self.bad)} unreadable and skipped{out_bad}{copied}{missing}; {self.out} holds "
                f"{plural(self.held, 'record')}")


@dataclass
class _Seen:
    folder: Path
    record: dict[str, Any]
    text: str
    measured: str


def measured(record: dict[str, Any]) -> str:
    """The content two copies of a cell must share: the record without its volatile fields, canonical JSON."""
    return json.dumps({k: v for k, v in record.items() if k not in VOLATILE}, sort_keys=True, allow_nan=True)


def _differing(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    keys = sorted((set(a) | set(b)) - set(VOLATILE))
    return [k for k in keys if json.dumps(a.get(k), sort_keys=True) != json.dumps(b.get(k), sort_keys=True)]


def _folders(sources: Sequence[Path], out: Path) -> list[Path]:
    """The output folder first, then each source once, by resolved path."""
    found: dict[Path, Path] = {}
    for folder in [out, *sources]:
        found.setdefault(Path(folder).resolve(), Path(folder))
    return list(found.values())


def _artifacts(record: dict[str, Any]) -> list[str]:
    return list((record.get("artifacts") or {}).values())


def _artifact(own: Path, spare: Path | None) -> Path | None:
    """Where to copy an artifact from: beside the record taken, else beside an identical copy of it."""
    return own if own.is_file() else spare


def merge(sources: Sequence[Path], out: Path) -> Merged:
    """Copy the records of `sources` into `out`; raise UserError on a clash, writing nothing."""
    out = Path(out)
    for src in sources:
        if not any(records_dir(src).glob("*.json")):
            raise UserError(f"No records were found in {src} (looked in {records_dir(src)})")
    result = Merged(out)
    seen, spare, bad_in_out = _survey(sources, out, result)
    if result.inputs and len(result.bad) == result.inputs:  # nothing to merge: bad input, not a partial merge
        more = f" (and {result.inputs - 1} more)" if result.inputs > 1 else ""
        raise UserError(f"no readable record in {', '.join(map(str, sources))}: {result.bad[0]}{more}; nothing was "
                        f"merged into {out}")
    _write(out, seen, spare, bad_in_out, result)
    result.held = len(seen)
    return result


def _survey(sources: Sequence[Path], out: Path, result: Merged
            ) -> tuple[dict[str, _Seen], dict[str, Path], set[str]]:
    """Read every record of `out` and `sources`, counting into `result`: the first copy of each cell id, a spare
    file per artifact name (from a later, identical copy of its record), and the unreadable files in `out`. A cell
    with different results in two folders is a `UserError`, before anything is written."""
    seen: dict[str, _Seen] = {}
    spare: dict[str, Path] = {}  # artifact name -> its file in a later, identical copy of the record
    bad_in_out: set[str] = set()
    for folder in _folders(sources, out):
        is_out = folder.resolve() == out.resolve()
        for path in sorted(records_dir(folder).glob("*.json")):
            result.inputs += not is_out
            try:
                typed = read(path)
                record = typed.to_dict()
                text = path.read_text(encoding="utf-8")
            except (BadRecord, OSError) as e:
                (result.bad_out if is_out else result.bad).append(str(e))
                bad_in_out |= {path.name} if is_out else set()
                continue
            cid, m = record["cell_id"], measured(record)
            if not is_out:
                result.missing += [msg for msg in missing_artifacts(records_dir(folder), typed)
                                   if msg not in result.missing]
            if cid not in seen:
                seen[cid] = _Seen(folder, record, text, m)
                continue
            first = seen[cid]
            if first.measured != m:
                raise UserError(
                    f"Cell {cid} has different results in {first.folder} and {folder} "
                    f"({', '.join(_differing(first.record, record))} differ); nothing was merged into {out}")
            result.identical += 1
            for a in _artifacts(record):
                if (records_dir(folder) / a).is_file():
                    spare.setdefault(a, records_dir(folder) / a)
    return seen, spare, bad_in_out


def _write(out: Path, seen: dict[str, _Seen], spare: dict[str, Path], bad_in_out: set[str], result: Merged) -> None:
    """Copy into `out` the artifacts and then the records it lacks; refused, writing nothing, where that would
    replace an unreadable file of `out` or an artifact file that differs."""
    todo = [(cid, s) for cid, s in seen.items() if s.folder.resolve() != out.resolve()]
    clobber = sorted(f"{cid}.json" for cid, _ in todo if f"{cid}.json" in bad_in_out)
    if clobber:
        raise UserError(f"{records_dir(out)} holds unreadable files that the merge would replace "
                        f"({', '.join(clobber)}); move them away first. Nothing was merged")
    copies = [(src, records_dir(out) / a) for s in seen.values() for a in _artifacts(s.record)
              if (src := _artifact(records_dir(s.folder) / a, spare.get(a))) is not None]
    clash = [str(dst) for src, dst in copies if dst.exists() and dst.read_bytes() != src.read_bytes()]
    if clash:
        raise UserError(f"{clash[0]} already holds another file than the one the merge would copy there"
                        f"{f' (and {len(clash) - 1} more)' if len(clash) > 1 else ''}; nothing was merged")
    for src, dst in copies:
        if not dst.exists():
            write_atomic(dst, src.read_bytes())
            result.artifacts += 1
    for cid, s in todo:
        write_atomic(record_path(out, cid), s.text)
        result.written.append(cid)
