"""Result records: one self-describing JSON file per finished cell. Tables and plots are views over them.

A record lives at `OUT/records/<cell_id>.json` and is written atomically (temporary file, fsync, rename), so a
run killed at any instant leaves either the whole record or none. Reading checks the schema and the cell id; a
record that fails the check is reported and treated as unfinished.

Schema (version 1), every number measured by the run that wrote it:

    {
      "schema": 1,
      "cell_id": "3f2a9c...",            # sha256 of "config" + "plugins", first 16 hex digits
      "status": "ok",                    # ok | diverged | oom | failed
      "arch": "lstm", "task": "copy", "distance": "10-100", "seed": 0,
      "params_budget": 50000,            # or null when sized by model.d_model
      "config": {"model": {...}, "train": {...}, "eval": {...}, "task_options": {...}, "arch_options": {...}},
      "plugins": {"arch": "seqbench.plugins.recurrent==0.1.0", "task": "seqbench.tasks.copy==0.1.0"},
      "params": 49876,                   # actual trainable parameter count
      "chance": 0.125,                   # the task's chance-level token accuracy
      "metrics": {
        "bins": [{"lo": 10, "hi": 15, "label": "10-15", "n": 120, "token_acc": 0.51, "seq_acc": 0.07}, ...],
        "overall": {"n": 512, "token_acc": 0.4, "seq_acc": 0.05, "bleu": 0.2, "chrf": 0.4},  # text metrics if any
        "val": {"best_step": 300, "best_val_loss": 1.2, "best_val_acc": 0.41}
      },
      "throughput": {"train_tokens_per_s": 1.2e5, "gen_tokens_per_s": 3.4e4, "peak_memory_mb": 812.0,
                     "memory_kind": "process_max_rss",  # or cuda_max_allocated
                     "train_steps_timed": 295, "gen_batches_timed": 3, "incremental_generation": true,
                     "mean_src_len": 62.1, "mean_tgt_len": 11.0},
      "env": {"seqbench": "0.1.0", "git_commit": "abc1234", "torch": "2.13.0", "lightning": "2.6.6",
              "torchmetrics": "1.9.0", "python": "3.11.7", "platform": "...", "device": "cpu",
              "device_name": "...", "accelerator": "cpu", "precision": "32-true"},
      "times": {"started": "2026-11-23T01:02:03+00:00", "finished": "...", "wall_s": 12.3, "train_s": 9.1},
      "error": null,                     # or {"type", "message", "plugin", "step"} when status is not ok
      "command": "seqbench run --arch lstm --task copy"
    }

Bins: `lo` and `hi` are inclusive distances; the last bin of a range is closed at the largest distance seen.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

SCHEMA = 1
STATUSES = ("ok", "diverged", "oom", "failed")
REQUIRED = ("schema", "cell_id", "status", "arch", "task", "distance", "seed", "config", "plugins", "metrics",
            "throughput", "env", "times")
RECORDS_DIR = "records"


def records_dir(out: Path) -> Path:
    return Path(out) / RECORDS_DIR


def record_path(out: Path, cell_id: str) -> Path:
    return records_dir(out) / f"{cell_id}.json"


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` so that readers see the old file or the whole new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
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


def save(out: Path, record: dict[str, Any]) -> Path:
    path = record_path(out, record["cell_id"])
    write_atomic(path, json.dumps(record, indent=2, sort_keys=True, allow_nan=True) + "\n")
    return path


class BadRecord(ValueError):
    """A record file that cannot be trusted: unreadable, truncated, or not what its name says."""


def read(path: Path) -> dict[str, Any]:
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BadRecord(f"{path}: not a readable JSON record ({e})") from None
    if not isinstance(record, dict):
        raise BadRecord(f"{path}: not a JSON object")
    missing = [k for k in REQUIRED if k not in record]
    if missing:
        raise BadRecord(f"{path}: missing {', '.join(missing)}")
    if record["schema"] != SCHEMA:
        raise BadRecord(f"{path}: schema {record['schema']!r}, this seqbench reads schema {SCHEMA}")
    if record["status"] not in STATUSES:
        raise BadRecord(f"{path}: status {record['status']!r} is not one of {', '.join(STATUSES)}")
    if Path(path).stem != record["cell_id"]:
        raise BadRecord(f"{path}: holds cell {record['cell_id']!r}, not the cell its name says")
    return record


@dataclass
class Loaded:
    """The records of an output directory, and the files that could not be trusted."""

    records: list[dict[str, Any]] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)  # one message per untrusted file


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
    loaded.records.sort(key=lambda r: (r["task"], r["arch"], str(r["distance"]), r["seed"], r["cell_id"]))
    return loaded
