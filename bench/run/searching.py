"""The reach search, driven round by round over ordinary cells (`seqbench.run.search` holds its logic).

Each search is one `Slot`: an architecture on a task at one seed, parameter budget and learning rate. A round
replays every search from the records already in the results folder (a probe counts only if a record holds the
exact cell that search would train: same id, so a stale record never decides anything), collects each unfinished
search's next probe, and hands the whole round to `run_cells`, which runs them in parallel on whatever executor the
run uses (`--jobs`, Ray, SLURM). It ends when every search has ended. A search killed at any moment resumes from
its records; a probe another search (or an earlier run) trained is reused, never trained again.

Pass or fail is decided by `passed(outcome(record))`, and `outcome` reads the record's status, chance level and
validation (`metrics.val`) only: the test split cannot decide anything, by construction.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

from seqbench.contract.registry import Registry
from seqbench.records.distance import Distance
from seqbench.records.schema import Record
from seqbench.run import config as C
from seqbench.run import plan as P
from seqbench.run.search import Probe, SearchSettings, Step, step


@dataclass(frozen=True)
class Slot:
    """One search: everything of a cell but its distance."""

    arch: str
    task: str
    seed: int
    budget: int | None
    lr: float | None  # None: the architecture's own

    @property
    def name(self) -> str:
        budget = "" if self.budget is None else f"/params={self.budget}"
        return f"{self.arch}/{self.task}/seed={self.seed}{budget}" + ("" if self.lr is None else f"/lr={self.lr:g}")


@dataclass(frozen=True)
class Outcome:
    """What a probe's pass or fail is decided from: nothing of the test split."""

    ok: bool  # the cell finished ok (a diverged or failed cell fails its probe)
    val_acc: float | None  # the best validation free-running token accuracy (`metrics.val.best_val_gen_acc`)
    chance: float | None  # the task's chance-level token accuracy at that distance


def outcome(record: Record) -> Outcome:
    """The validation outcome of a probe's record."""
    return Outcome(record.status == "ok", record.metrics.val.best_val_gen_acc, record.chance)


def threshold(chance: float | None) -> float:
    """The accuracy a probe must exceed: midway between chance and perfect, as reach is defined
    (`seqbench.publish.reach`)."""
    return ((chance or 0.0) + 1.0) / 2.0


def passed(o: Outcome) -> bool:
    return o.ok and o.val_acc is not None and o.val_acc > threshold(o.chance)


@dataclass(frozen=True)
class SearchState:
    """A search as its records leave it: the probes in the order asked, and its next step."""

    slot: Slot
    probes: tuple[Probe, ...]
    step: Step
    cells: tuple[str, ...]  # the cell ids of its probes, in order


def settings(cfg: C.RunConfig, task: str, floor: int = 1, arch: str | None = None) -> SearchSettings:
    s = cfg.search
    cap = s.task_caps.get(task, s.cap) if arch is None else s.cap_for(arch, task)
    return SearchSettings(start=s.start, growth=s.growth, ratio=s.ratio, cap=cap, floor=floor)


def slots(cfg: C.RunConfig, picked: Mapping[tuple[str, str, int | None], float] | None = None) -> list[Slot]:
    """Every search of the matrix (its distances axis left out); `picked` ((arch, task, budget) -> lr, the sweep's
    choice) gives each its one learning rate."""
    def rates(arch: str, task: str, budget: int | None) -> tuple[float | None, ...]:
        if picked is not None:
            return (picked[(arch, task, budget)],)
        return cfg.matrix.lrs or (None,)

    return [Slot(arch, task, seed, budget, lr) for task in cfg.matrix.tasks for arch in cfg.matrix.archs
            for budget in (cfg.matrix.params or (None,)) for lr in rates(arch, task, budget)
            for seed in cfg.matrix.seeds]


class Planner:
    """Plans the cell of a slot at a distance, once per (slot, distance) for the whole search."""

    def __init__(self, cfg: C.RunConfig, reg: Registry) -> None:
        self.cfg, self.reg = cfg, reg
        self.cells: dict[tuple[Slot, int], tuple[P.Cell, object]] = {}

    def __call__(self, slot: Slot, distance: int) -> tuple[P.Cell, object]:
        key = (slot, distance)
        if key not in self.cells:
            m = self.cfg.matrix
            matrix = dataclasses.replace(m, archs=(slot.arch,), tasks=(slot.task,), seeds=(slot.seed,),
                                         params=() if slot.budget is None else (slot.budget,),
                                         lrs=() if slot.lr is None else (slot.lr,))
            one = dataclasses.replace(self.cfg, matrix=matrix,
                                      distances={**self.cfg.distances, slot.task: (Distance(distance, distance),)})
            cells, tasks = P.plan(one, self.reg)
            (cell,) = cells
            self.cells[key] = (cell, tasks.get((slot.task, cell.distance)))
        return self.cells[key]


def replay(slot: Slot, s: SearchSettings, planner: Planner, records: Mapping[str, Record]) -> SearchState:
    """The search of `slot` as far as `records` (cell id -> record) carry it."""
    probes: dict[int, bool] = {}
    order: list[Probe] = []
    ids: list[str] = []
    while True:
        now = step(probes, s)
        if now.next is None:
            return SearchState(slot, tuple(order), now, tuple(ids))
        cell, _ = planner(slot, now.next)
        record = records.get(cell.cell_id)
        if record is None:
            return SearchState(slot, tuple(order), now, tuple(ids))
        probes[now.next] = passed(outcome(record))
        order.append(Probe(now.next, probes[now.next]))
        ids.append(cell.cell_id)


def run_search(cfg: C.RunConfig, reg: Registry, read: Callable[[], Iterable[Record]],
               run_cells: Callable[[list[P.Cell], dict], bool], floor: Callable[[str], int] = lambda task: 1,
               most_rounds: int = 64,
               picked: Mapping[tuple[str, str, int | None], float] | None = None) -> list[SearchState]:
    """Every search of `cfg` to its end: each round reads the finished records (`read`), plans each unfinished
    search's next probe and runs the round (`run_cells(cells, tasks)`, False when interrupted: the searches are
    returned as they stand); `picked`: the sweep's learning rates. -> the final state of every search."""
    planner = Planner(cfg, reg)
    states: list[SearchState] = []
    for _ in range(most_rounds):
        records = {r.cell_id: r for r in read()}
        states = [replay(slot, settings(cfg, slot.task, floor(slot.task), slot.arch), planner, records)
                  for slot in slots(cfg, picked)]
        wanted = [planner(st.slot, st.step.next) for st in states if st.step.next is not None]
        if not wanted:
            return states
        cells = list({cell.cell_id: cell for cell, _ in wanted}.values())  # two searches may ask for one cell
        cells.sort(key=lambda cell: -cell.distance.hi)  # longest first: a round waits for its last cell, and the
        # longest distances are its slowest cells, so they start first and the short ones fill the other slots
        tasks = {(cell.task, cell.distance): task for cell, task in wanted if task is not None}
        if not run_cells(cells, tasks):
            return states
    raise RuntimeError(f"the reach search did not end within {most_rounds} rounds")


def summary(cfg: C.RunConfig, states: list[SearchState]) -> dict:
    """The searches as JSON data for `search.json` beside the records: the settings, and per search its probes
    (distance, passed, cell id), bracket and why it ended. A view: the records alone rebuild it."""
    s = cfg.search
    return {
        "settings": {"start": s.start, "growth": s.growth, "ratio": s.ratio, "cap": s.cap,
                     "task_caps": dict(s.task_caps), "arch_caps": dict(s.arch_caps)},
        "searches": [{"arch": st.slot.arch, "task": st.slot.task, "seed": st.slot.seed, "params_budget": st.slot.budget,
                      "lr": st.slot.lr, "probes": [[p.distance, p.passed, cid] for p, cid in zip(st.probes, st.cells)],
                      "bracket": st.step.bracket.text, "lo": st.step.bracket.lo, "hi": st.step.bracket.hi,
                      "ended": st.step.why, "next": st.step.next} for st in states],
    }


def describe(st: SearchState) -> str:
    """`lstm/copy/seed=0/params=40000: 16✓ 32✓ 64✗ 45✓ 54✗ -> 45-54 (narrow)`."""
    probes = " ".join(f"{p.distance}{'✓' if p.passed else '✗'}" for p in st.probes) or "no probe yet"
    end = f"({st.step.why})" if st.step.next is None else f"(next {st.step.next})"
    return f"{st.slot.name}: {probes} -> {st.step.bracket.text} {end}"
