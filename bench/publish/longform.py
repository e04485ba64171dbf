"""Long-format export: one row per record x distance bin, every other field flattened into dotted columns.

A record with no bins (a cell that diverged, ran out of memory or failed) gives one row with empty bin columns.
Nested dicts become `section.key` columns; lists become JSON text; a column whose values mix types (an int in
one record, text in another) is written as text, so that Parquet can hold it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from seqbench.contract.errors import UserError
from seqbench.records.flat import flatten
from seqbench.records.store import write_atomic

FIRST = ["cell_id", "status", "task", "arch", "distance", "seed", "params_budget", "lr", "params", "chance",
         "bin.label", "bin.lo", "bin.hi", "bin.n", "bin.tokens", "bin.token_acc", "bin.seq_acc"]
SUFFIXES = (".csv", ".parquet")


def plain(records: list[Any]) -> list[dict[str, Any]]:
    """Records (typed `Record`s or their dicts) as JSON-ready dicts."""
    return [r.to_dict() if hasattr(r, "to_dict") else r for r in records]


def long_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Every record, one row per bin, with config, plugins, metrics, throughput, env, times and error flattened."""
    # Not pandas.json_normalize(record_path=["metrics", "bins"]): it drops a record without bins, and empty dicts.
    rows = []
    for r in plain(records):
        metrics = {k: v for k, v in (r.get("metrics") or {}).items() if k != "bins"}
        base = flatten({k: v for k, v in r.items() if k != "metrics"})
        base.update(flatten(metrics, "metrics."))
        for b in (r.get("metrics") or {}).get("bins") or [None]:
            rows.append({**base, **(flatten(b, "bin.") if b else {})})
    df = pd.DataFrame(rows)
    for col in FIRST:
        if col not in df.columns:
            df[col] = None
    df = df[FIRST + sorted(c for c in df.columns if c not in FIRST)]
    for col in df.columns[df.dtypes == object]:
        kinds = {type(v) for v in df[col] if v is not None and v == v}
        if len(kinds) > 1:
            df[col] = df[col].map(lambda v: v if v is None or v != v else str(v))
    return df


def write_long(records: list[dict[str, Any]], path: Path) -> Path:
    """Write the long format to `path`: CSV or Parquet, chosen by its suffix."""
    path = Path(path)
    if path.suffix not in SUFFIXES:
        raise UserError(f"Cannot write long format to '{path}': the file must end in {' or '.join(SUFFIXES)}")
    df = long_frame(records)
    if path.suffix == ".csv":
        write_atomic(path, df.to_csv(index=False))
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        df.to_parquet(tmp, index=False)
        tmp.replace(path)
    return path
