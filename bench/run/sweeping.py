"""The learning-rate sweep, run over ordinary cells (`seqbench.run.sweep` holds the decision).

Before the run proper, every (architecture, task, budget) of the matrix trains at each rate of `sweep.lrs`, on the
sweep's seeds, at one distance per task (`sweep.task_distances`; else `search.start` when the reach search is on,
else the task's longest distance setting). Each is a cell like any other: its record has a content-addressed id,
a killed sweep resumes from its records, and a sweep cell that is also a probe of a later search (same distance,
seed and rate) is trained once. The decision reads validation only (`seqbench.run.sweep.Trial`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Iterable, Mapping

from seqbench.contract.registry import Registry
from seqbench.records.distance import Distance
from seqbench.records.schema import Record
from seqbench.run import config as C
from seqbench.run import plan as P
from seqbench.run.sweep import Choice, Trial, choose, score_name

Group = tuple[str, str, int | None]  # (architecture, task, parameter budget)


def distance(cfg: C.RunConfig, task: str) -> Distance:
    """Where the sweep trains `task`."""
    setting = cfg.sweep.task_distances.get(task)
    if setting is not None:
        return Distance.parse(setting)
    if cfg.search.enabled:
        return Distance(cfg.search.start, cfg.search.start)
    return max(cfg.distances[task], key=lambda d: (d.hi, d.lo))


def plan(cfg: C.RunConfig, reg: Registry) -> tuple[list[P.Cell], dict]:
    """Every cell of the sweep and the tasks they use."""
    m = cfg.matrix
    one = dataclasses.replace(cfg, matrix=dataclasses.replace(m, lrs=cfg.sweep.lrs, seeds=cfg.sweep.seeds),
                              distances={t: (distance(cfg, t),) for t in m.tasks}, lr_table={})
    return P.plan(one, reg)


def trial(cell: P.Cell, record: Record, select: str = "val_gen_acc") -> Trial:
    """The validation outcome of a sweep cell, scored by `select` (`eval.select`) at its tested checkpoint."""
    val = record.metrics.val
    score = val.best_val_gen_acc
    if select != "val_gen_acc":
        at = [p for p in val.history if p.step == val.best_step]
        score = getattr(at[0], select, None) if at else None
    return Trial(cell.lr, record.status == "ok", score, val.best_step, val.best_val_loss)


def choices(cells: Iterable[P.Cell], records: Mapping[str, Record],
            select: str = "val_gen_acc") -> dict[Group, Choice] | None:
    """The rate of every group, or None while a sweep cell has no record yet."""
    trials: dict[Group, list[Trial]] = {}
    for cell in cells:
        record = records.get(cell.cell_id)
        if record is None:
            return None
        trials.setdefault((cell.arch, cell.task, cell.params_budget), []).append(trial(cell, record, select))
    return {group: choose(ts, score_name(select)) for group, ts in trials.items()}


def chosen(cfg: C.RunConfig, picked: Mapping[Group, float], budget: int | None) -> C.RunConfig:
    """`cfg` for one budget, every (architecture, task) at its chosen rate (the `lr_table`); `picked`: (arch, task,
    budget) -> lr, as the sweep's round returns it (`seqbench.cli.rounds.sweep`)."""
    table: dict[str, dict[str, float]] = {}
    for (arch, task, b), lr in picked.items():
        if b == budget:
            table.setdefault(task, {})[arch] = lr
    matrix = dataclasses.replace(cfg.matrix, params=() if budget is None else (budget,))
    return dataclasses.replace(cfg, matrix=matrix, lr_table=table)


def plan_chosen(cfg: C.RunConfig, reg: Registry, picked: Mapping[Group, float]) -> tuple[list[P.Cell], dict]:
    """The grid of `cfg` with every (architecture, task, budget) at its chosen rate ((arch, task, budget) -> lr)."""
    cells: list[P.Cell] = []
    tasks: dict = {}
    for budget in cfg.matrix.params or (None,):
        more, built = P.plan(chosen(cfg, picked, budget), reg)
        cells += more
        tasks.update(built)
    return cells, tasks


def summary(cfg: C.RunConfig, cells: list[P.Cell], picked: Mapping[Group, Choice]) -> dict:
    """The sweep as JSON data for `sweep.json`: its settings, its cells and each group's choice. A view: the records
    and the settings rebuild it."""
    s = cfg.sweep
    return {
        "settings": {"lrs": list(s.lrs), "seeds": list(s.seeds), "select": cfg.eval.select,
                     "distances": {t: distance(cfg, t).label for t in cfg.matrix.tasks}},
        "choices": [{"arch": a, "task": t, "params_budget": b, "lr": c.lr, "why": c.why,
                     "scores": [_plain(dataclasses.asdict(x)) for x in c.scores],
                     "cells": [cell.cell_id for cell in cells if (cell.arch, cell.task, cell.params_budget) == (a, t, b)]}
                    for (a, t, b), c in sorted(picked.items(), key=lambda kv: (kv[0][1], kv[0][0], kv[0][2] or 0))],
    }


def _plain(d: dict) -> dict:
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in d.items()}  # JSON has no NaN


def describe(group: Group, choice: Choice) -> str:
    """`lstm/copy/params=40000: lr 0.003 (best validation accuracy 0.952 (mean of 1))`."""
    arch, task, budget = group
    return f"{arch}/{task}{'' if budget is None else f'/params={budget}'}: lr {choice.lr:g} ({choice.why})"
