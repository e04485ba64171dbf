"""Runs made of rounds: the learning-rate sweep (`sweep.enabled`), then the reach searches (`search.enabled`), each
round of cells run as a matrix (resumable, parallel) on the executor the flags ask for."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seqbench.cli import common, placing
from seqbench.contract.errors import plural


def round_runner(args: argparse.Namespace, cfg, reg, out: Path, logger, what: str, noun: str):
    """A function that runs one round of cells (sweep cells, search probes) as a matrix: resumable, parallel, on the
    executor the flags ask for. -> (run_cells(cells, tasks) -> False when interrupted, the sizes of rounds run)."""
    rounds: list[int] = []

    def run_cells(cells: list, tasks: dict) -> bool:
        rounds.append(len(cells))
        label = f"{what} round {len(rounds)}: "
        return not placing.run_cells(args, cfg, reg, cells, tasks, out, logger, label=label, noun=noun).interrupted

    return run_cells, rounds


def sweep(args: argparse.Namespace, cfg, reg, out: Path, logger):
    """`sweep.enabled`: train every sweep cell, then choose each (architecture, task, budget)'s learning rate on
    validation and write `sweep.json`. -> the choice ((arch, task, budget) -> lr), or the exit code when the run
    ends here (interrupted; a dry run whose sweep is not finished)."""
    import json

    from seqbench.records import store as results
    from seqbench.run import sweeping

    cells, tasks = sweeping.plan(cfg, reg)
    done = {r.cell_id: r for r in results.load_dir(out).records}
    if args.dry_run:
        left = [c for c in cells if c.cell_id not in done]
        print(f"seqbench: learning-rate sweep: {plural(len(cells), 'cell')}, {len(left)} to train", file=sys.stderr)
        for c in left:
            print(f"{c.cell_id}  sweep {c.arch:<14} {c.task:<12} d={c.distance.label:<6} seed={c.seed} lr={c.lr:g}")
    elif any(c.cell_id not in done for c in cells):
        run_cells, _ = round_runner(args, cfg, reg, out, logger, "sweep", "cell")
        if not run_cells(cells, tasks):
            print("seqbench: interrupted in the learning-rate sweep; the same command resumes it", file=sys.stderr)
            return common.EXIT_INTERRUPTED
        done = {r.cell_id: r for r in results.load_dir(out).records}
    picked = sweeping.choices(cells, done, cfg.eval.select)
    if picked is None:
        print("seqbench: the run after the sweep is planned once every sweep cell has its record", file=sys.stderr)
        return common.EXIT_OK
    if not args.dry_run:
        results.write_atomic(out / "sweep.json", json.dumps(sweeping.summary(cfg, cells, picked), indent=1) + "\n")
    for group, choice in picked.items():
        print(f"seqbench: sweep: {sweeping.describe(group, choice)}", file=sys.stderr)
    return {group: choice.lr for group, choice in picked.items()}


def search(args: argparse.Namespace, cfg, reg, out: Path, logger, picked=None) -> int:
    """`seqbench run` with `search.enabled`: every reach search to its end, a round of probes at a time, each round
    run as a matrix (resumable, parallel); then `search.json` beside the records and the tables. `picked`: the
    sweep's learning rates ((arch, task, budget) -> lr)."""
    import json

    from seqbench.publish import render
    from seqbench.records import store as results
    from seqbench.run import searching

    read = lambda: results.load_dir(out).records  # noqa: E731
    if args.dry_run:
        planner = searching.Planner(cfg, reg)
        done = {r.cell_id: r for r in read()}
        states = [searching.replay(s, searching.settings(cfg, s.task, arch=s.arch), planner, done)
                  for s in searching.slots(cfg, picked)]
        print(f"seqbench: {len(states)} reach searches planned", file=sys.stderr)
        for st in states:
            print(searching.describe(st))
        return common.EXIT_OK
    run_cells, rounds = round_runner(args, cfg, reg, out, logger, "search", "probe")
    states = searching.run_search(cfg, reg, read, run_cells, picked=picked)
    results.write_atomic(out / "search.json", json.dumps(searching.summary(cfg, states), indent=1) + "\n")
    for st in states:
        print(f"seqbench: {searching.describe(st)}", file=sys.stderr)
    unfinished = [st for st in states if st.step.next is not None]
    if unfinished:
        print(f"seqbench: interrupted: {len(unfinished)} of {len(states)} searches unfinished; the same command "
              f"resumes them from their records", file=sys.stderr)
        return common.EXIT_INTERRUPTED
    ids = {cid for st in states for cid in st.cells}
    mine = [r for r in results.load_dir(out).dicts() if r["cell_id"] in ids]
    print(render.terminal(mine))
    not_ok = [r for r in mine if r["status"] != "ok"]
    print(f"seqbench: {len(states)} searches ended after {len(rounds)} rounds, {len(ids)} probes "
          f"({len(not_ok)} not ok); records in {results.records_dir(out)}, the searches in {out / 'search.json'}",
          file=sys.stderr)
    return common.EXIT_CELLS_FAILED if not_ok else common.EXIT_OK
