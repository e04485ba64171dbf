"""Stale records: a results folder holds a record of the same architecture, task, distance, seed, parameter
budget and learning rate as a planned cell, but under another cell id, because seqbench's own computing code
(`seqbench.run.hostcode`), the plugins' code or the configuration changed.
`seqbench run` names them and says what changed; it neither reuses them nor deletes them."""

from __future__ import annotations

from typing import Any, Iterable

from seqbench.records.schema import PluginRef, Record
from seqbench.run.plan import Cell


def _slot(arch: str, task: str, distance: str, seed: int, budget: int | None, lr: float | None) -> tuple:
    return arch, task, distance, seed, budget, lr


def stale(cells: Iterable[Cell], records: Iterable[Record]) -> list[tuple[Cell, Record]]:
    """(planned cell, older record) pairs: same slot, another id."""
    ids = {c.cell_id for c in cells}
    by_slot: dict[tuple, list[Record]] = {}
    for r in records:
        if r.cell_id not in ids:
            lr = r.lr if r.lr is not None else r.config.train.lr  # schema 1: no lr field
            by_slot.setdefault(_slot(r.arch, r.task, r.distance, r.seed, r.params_budget, lr), []).append(r)
    return [(c, r) for c in cells
            for r in by_slot.get(_slot(c.arch, c.task, c.distance.label, c.seed, c.params_budget, c.lr), [])]


def what_changed(cell: Cell, record: Record) -> str:
    """`arch plugin seqbench.plugins.recurrent: source changed; train.max_steps: 40 -> 20`, the first few."""
    changes = []
    for role in ("arch", "task"):
        old, new = record.plugins.get(role), cell.plugins[role]
        if isinstance(old, str):  # schema 1: "name==version", no digest
            changes.append(f"{role} plugin {new.plugin}: recorded as {old}, without a source digest")
        elif old is None or old.model_dump() != new.model_dump():
            what = "source changed" if old is not None and old.plugin == new.plugin else "another plugin"
            changes.append(f"{role} plugin {new.plugin}: {what}")
    old, new = record.plugins.get("host"), cell.plugins["host"]
    if not isinstance(old, PluginRef):  # recorded before the host's code had a digest
        changes.append("host code: recorded without a digest of seqbench's own code")
    elif old.digest != new.digest:
        changes.append(f"host code changed (seqbench {old.version} -> {new.version}, digest {old.digest} -> "
                       f"{new.digest})")
    changes += [f"{key}: {_short(a)} -> {_short(b)}"
                for key, a, b in _diff(record.config.to_dict(), cell.resolved.to_dict())]
    return "; ".join(changes[:4]) + (f" and {len(changes) - 4} more" if len(changes) > 4 else "") or "cell id scheme"


def _short(value: Any) -> str:
    text = "(none)" if value is None else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _diff(old: Any, new: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new), key=str):
            out += _diff(old.get(key), new.get(key), f"{prefix}{key}.")
        return out
    return [] if old == new else [(prefix.rstrip("."), old, new)]
