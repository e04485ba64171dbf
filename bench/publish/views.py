"""The shared view over records that tables and plots draw: rows (task x arch x budget) and distance-bin columns.

A row gathers every record of one architecture at one parameter budget on one task, across distance settings and
seeds. A column is one distance bin of one distance setting, keyed by (setting, `lo`): the last bin of a range is
closed at the largest distance a seed's test set held, so its `hi` and label may differ between seeds; the column
shows the widest. Only records with status "ok" give numbers; the others give their state.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from seqbench.contract.errors import UserError
from seqbench.records.distance import sort_key
from seqbench.publish.stats import Stat, mean_ci

METRICS = ("token_acc", "seq_acc")


@dataclass(frozen=True)
class BinColumn:
    """One distance bin of one distance setting."""

    header: str  # column header: the bin label, with the setting added when two settings share a label
    label: str
    lo: int
    hi: int
    distance: str  # the distance setting whose cells measured this bin
    chance: float | None  # the task's chance-level token accuracy at this setting

    @property
    def mid(self) -> float:
        return (self.lo + self.hi) / 2.0


@dataclass
class Row:
    """Every record of one architecture at one parameter budget on one task."""

    task: str
    arch: str
    budget: int | None
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r["status"] == "ok"]

    def label(self, with_budget: bool) -> str:
        return f"{self.arch} ({self.budget if self.budget is not None else 'no budget'})" if with_budget else self.arch

    def at(self, distance: str) -> list[dict[str, Any]]:
        return [r for r in self.records if str(r["distance"]) == distance]

    def state(self, records: list[dict[str, Any]] | None = None) -> str:
        """The states of records that are not ok, e.g. `diverged` or `diverged, oom` ("" when none)."""
        records = self.records if records is None else records
        return ", ".join(sorted({r["status"] for r in records if r["status"] != "ok"}))

    def status(self) -> str:
        """`ok`, or the ok count and each other state with its seeds and settings: `2 ok; diverged: seed 2 (10-100)`."""
        bad = [r for r in self.records if r["status"] != "ok"]
        if not bad:
            return "ok"
        parts = [f"{len(self.ok)} ok"] if self.ok else []
        for state in sorted({r["status"] for r in bad}):
            cells = ", ".join(f"seed {r['seed']} ({r['distance']})" for r in bad if r["status"] == state)
            parts.append(f"{state}: {cells}")
        return "; ".join(parts)


def _block(record: dict[str, Any], name: str) -> dict[str, Any]:
    return record.get(name) or {}


def bins(record: dict[str, Any]) -> list[dict[str, Any]]:
    """A record's `metrics.bins` (none for a cell that did not finish)."""
    return _block(record, "metrics").get("bins") or []


def overall(record: dict[str, Any]) -> dict[str, Any]:
    """A record's `metrics.overall` ({} when absent)."""
    return _block(record, "metrics").get("overall") or {}


def plain(records: list[Any]) -> list[dict[str, Any]]:
    """Records (typed `Record`s or their dicts) as JSON-ready dicts."""
    return [r.to_dict() if hasattr(r, "to_dict") else r for r in records]


def by_task(records: list[dict[str, Any]]) -> dict[str, list[Row]]:
    """Rows per task, tasks and rows sorted by name then budget; refuses two records of one cell position."""
    records = plain(records)
    _refuse_pooling(records)
    rows: dict[tuple[str, str, Any], Row] = {}
    for r in records:
        key = (r["task"], r["arch"], r.get("params_budget"))
        rows.setdefault(key, Row(*key)).records.append(r)
    out: dict[str, list[Row]] = {}
    for key in sorted(rows, key=lambda k: (k[0], k[1], k[2] is not None, k[2] or 0)):
        out.setdefault(key[0], []).append(rows[key])
    return out


def _refuse_pooling(records: list[dict[str, Any]]) -> None:
    seen: dict[tuple, str] = {}
    for r in records:
        key = (r["task"], r["arch"], r.get("params_budget"), str(r["distance"]), r["seed"])
        if key in seen:
            raise UserError(
                f"Cells {seen[key]} and {r['cell_id']} are both {r['arch']} on {r['task']} at distance "
                f"{r['distance']}, seed {r['seed']}, budget {r.get('params_budget')}, but differ in configuration; "
                "a table would pool them as seeds. Publish them from separate folders.")
        seen[key] = r["cell_id"]


def settings(rows: list[Row]) -> list[str]:
    """The distance settings of a task's records, ordered by distance."""
    found = {str(r["distance"]) for row in rows for r in row.records}
    return sorted(found, key=sort_key)


def chances(rows: list[Row]) -> dict[str, float]:
    """Chance-level token accuracy per distance setting (the first record that states it)."""
    out: dict[str, float] = {}
    for row in rows:
        for r in row.records:
            if r.get("chance") is not None:
                out.setdefault(str(r["distance"]), r["chance"])
    return out


def bin_columns(rows: list[Row]) -> list[BinColumn]:
    """The distance-bin columns of one task's rows, ordered by `lo`, then `hi`, then setting."""
    found: dict[tuple[str, int], dict[str, Any]] = {}
    chance = chances(rows)
    for row in rows:
        for r in row.ok:
            for b in bins(r):
                key = (str(r["distance"]), b["lo"])
                if key not in found or b["hi"] > found[key]["hi"]:
                    found[key] = b
    labels = Counter(b["label"] for b in found.values())
    cols = [BinColumn(header=b["label"] if labels[b["label"]] == 1 else f"{b['label']} [{d}]", label=b["label"],
                      lo=b["lo"], hi=b["hi"], distance=d, chance=chance.get(d))
            for (d, _), b in found.items()]
    return sorted(cols, key=lambda c: (c.lo, c.hi, c.distance))


def bin_values(row: Row, col: BinColumn, metric: str) -> list[float]:
    """One value per ok record of `row` at the column's setting: that record's `metric` in the column's bin."""
    values = []
    for r in row.at(col.distance):
        if r["status"] != "ok":
            continue
        for b in bins(r):
            if b["lo"] == col.lo and b.get(metric) is not None:
                values.append(b[metric])
    return values


def bin_stat(row: Row, col: BinColumn, metric: str) -> Stat | None:
    return mean_ci(bin_values(row, col, metric))


def overall_stat(records: list[dict[str, Any]], key: str) -> Stat | None:
    """Mean and CI over ok records of `metrics.overall[key]` (token_acc, seq_acc, bleu, chrf)."""
    return mean_ci(overall(r).get(key) for r in records if r["status"] == "ok")


def throughput(records: list[dict[str, Any]], key: str) -> list[float]:
    """`throughput[key]` of each ok record that measured it."""
    return [r["throughput"][key] for r in records
            if r["status"] == "ok" and _block(r, "throughput").get(key) is not None]


def seq_len(record: dict[str, Any]) -> float | None:
    """Mean source plus target length of a record's test set, from its throughput block."""
    t = _block(record, "throughput")
    if t.get("mean_src_len") is None or t.get("mean_tgt_len") is None:
        return None
    return t["mean_src_len"] + t["mean_tgt_len"]
