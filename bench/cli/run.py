"""`seqbench run`: the configuration from profile, file and flags, then a matrix, a learning-rate sweep or reach
searches (`seqbench.cli.rounds`), on the executor the flags ask for (`seqbench.cli.placing`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seqbench.cli import common, placing, rounds
from seqbench.contract.errors import UserError, plural


def cmd_run(args: argparse.Namespace) -> int:
    """`seqbench run`: check the flags, resolve the configuration, then a sweep, searches or a matrix of cells."""
    from seqbench.publish.output import check_folder
    from seqbench.run import loggers, plan, runner, sweeping

    out = check_folder(args.out, "--out", subfolders=("records", runner.LOCK_DIR, runner.WORK_DIR, "logs"))
    _refuse_future_records(out)
    logger = loggers.logger_spec(args.logger, out)
    reg = common.registry(args)
    settings, cfg, reg = _configure(args, reg, out)
    picked = None
    if cfg.sweep.enabled:
        picked = rounds.sweep(args, cfg, reg, out, logger)
        if isinstance(picked, int):
            return picked
    if cfg.search.enabled:
        return rounds.search(args, cfg, reg, out, logger, picked)
    cells, tasks = plan.plan(cfg, reg) if picked is None else sweeping.plan_chosen(cfg, reg, picked)
    if not cfg.sweep.enabled:
        common.notes(settings.notes)
    faulty = [c for c in cells if c.fault is not None]
    if faulty:
        print(f"seqbench: {len(faulty)} of {len(cells)} cells cannot run, their plugin failed while planning "
              f"(recorded as failed)", file=sys.stderr)
    _report_stale(cells, out)
    if args.dry_run:
        _list_cells(cells)
        return common.EXIT_OK
    return _run_matrix(args, cfg, reg, cells, tasks, out, logger)


def _configure(args: argparse.Namespace, reg, out: Path):
    """The flags checked, the settings gathered (profile, file, flags, --set) and resolved, time budgets turned
    into steps where asked. -> (settings, configuration, registry)."""
    from seqbench.run import resolve, sources

    if args.jobs is not None and args.jobs < 0:
        raise UserError(f"--jobs must be 0 (cells in this process) or more, got {args.jobs}")
    if args.threads is not None and args.threads < 1:
        raise UserError(f"--threads must be at least 1, got {args.threads}")
    _check_executor_flags(args)
    settings = sources.gather(args.profile, args.config, {
        "matrix.archs": args.arch, "matrix.tasks": args.task, "matrix.seeds": args.seeds,
        "matrix.distances": args.distance, "matrix.params": args.params, "matrix.lrs": args.lr,
        "train.max_steps": args.max_steps, "train.precision": args.precision, "train.accelerator": args.accelerator,
        "train.devices": args.devices, "train.strategy": args.strategy,
        "search.enabled": False if args.distance else None,  # distances named on the command line are trained
    }, args.set)
    if args.distance:
        settings.notes.append("--distance names the distances to train: the reach search is off for this run")
    cfg = resolve.resolve(settings, reg)
    cfg, reg = _steps_for_time(args, settings, cfg, reg, out)
    if cfg.search.enabled or cfg.sweep.enabled:  # the grid shows them once planned (an error there comes alone)
        common.notes(settings.notes)
    if args.rerun and (cfg.search.enabled or cfg.sweep.enabled):
        raise UserError(f"--rerun does not combine with {'search' if cfg.search.enabled else 'sweep'}.enabled: it "
                        "reuses its finished cells; remove the records to train them again")
    return settings, cfg, reg


def _list_cells(cells: list) -> None:
    """A dry run's listing: one line per planned cell."""
    print(f"seqbench: {plural(len(cells), 'cell')} planned", file=sys.stderr)
    for c in cells:
        what = (f"FAILED: {c.fault.plugin}: {c.fault}" if c.fault is not None
                else f"params={c.params} d_model={c.model.d_model}")
        print(f"{c.cell_id}  {c.arch:<14} {c.task:<12} d={c.distance.label:<10} seed={c.seed} lr={c.lr:g} "
              f"{what}")


def _run_matrix(args: argparse.Namespace, cfg, reg, cells: list, tasks: dict, out: Path, logger) -> int:
    """Every planned cell on the executor the flags ask for; then the table of their records and a summary line."""
    from seqbench.run import runner

    summary = placing.run_cells(args, cfg, reg, cells, tasks, out, logger, rerun=args.rerun)
    if summary.interrupted:
        left = [c for c in cells if not runner.finished(out, c.cell_id, keep_weights=args.keep_weights)]
        print(f"seqbench: interrupted. Finished: {len(cells) - len(left)} of {len(cells)} cells "
              f"({len(summary.done)} in this run), records in {out}. Not finished: "
              + ", ".join(c.name for c in left[:10])
              + (f" and {len(left) - 10} more" if len(left) > 10 else "")
              + ". Repeat the command to run only those.", file=sys.stderr)
        return common.EXIT_INTERRUPTED
    from seqbench.publish import render
    from seqbench.records import store as results

    ids = {c.cell_id for c in cells}
    mine = [r for r in results.load_dir(out).dicts() if r["cell_id"] in ids]
    print(render.terminal(mine))
    not_ok = [r for r in mine if r["status"] != "ok"]
    print(f"seqbench: {plural(len(summary.done), 'cell')} run, {len(summary.skipped)} finished before, "
          f"{len(summary.busy)} held by another run; {len(not_ok)} of {plural(len(cells), 'cell')} not ok"
          + (" (--retry-failed runs them again)" if not_ok else "") + f"; records in {results.records_dir(out)}",
          file=sys.stderr)
    return common.EXIT_CELLS_FAILED if not_ok else common.EXIT_OK


def _steps_for_time(args: argparse.Namespace, settings, cfg, reg, out: Path):
    """`--steps-for-time` (or the profile's `steps_from_time`): train.max_time becomes each architecture's
    train.max_steps, timed once and kept in `calibration.json` (`seqbench.run.calibrate`). -> (cfg, registry)."""
    if not (args.steps_for_time or settings.about.get("steps_from_time")):
        return cfg, reg
    if cfg.train.max_time is None:
        if args.steps_for_time:
            raise UserError("--steps-for-time converts train.max_time into steps: set train.max_time")
        return cfg, reg  # the profile's time budget unset (--set train.max_time=none): its steps as configured
    from seqbench.run import calibrate, executors, plan

    device = plan.device_type(cfg.train.accelerator)
    jobs = executors.default_jobs(device, cfg.train.devices) if args.jobs is None else max(1, args.jobs)
    threads = args.threads or executors.default_threads(device, jobs)
    say = lambda line: print(f"seqbench: {line}", file=sys.stderr)  # noqa: E731
    cal = calibrate.load_or_measure(cfg, reg, out, device, threads, write=not args.dry_run, log=say)
    for line in calibrate.describe(cal, list(cfg.matrix.archs)):
        say(f"steps from time: {line}")
    if args.dry_run and not (out / calibrate.FILE).is_file():
        say(f"steps from time: dry run, {calibrate.FILE} not written: the run measures again")
    return calibrate.apply(cfg, reg, cal)


def _refuse_future_records(out: Path) -> None:
    """A record a newer seqbench wrote is not damaged: `run` would move it aside as corrupt and run its cell again,
    so it is refused before anything runs."""
    from seqbench.records import store

    found = store.future_records(out)
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise UserError(f"{found[0]}{more}; run neither moves it aside nor replaces it: use that seqbench, or "
                        f"another --out")


def _check_executor_flags(args: argparse.Namespace) -> None:
    """Options of one executor given to another, or impossible values: refused before anything runs."""
    own = {"--address": ("ray", args.address), "--partition": ("slurm", args.partition),
           "--time": ("slurm", args.time), "--gpus-per-cell": ("ray or slurm", args.gpus_per_cell)}
    for flag, (where, value) in own.items():
        if value is not None and args.executor not in where.split(" or "):
            raise UserError(f"{flag} is an option of --executor {where}, not of --executor {args.executor}")
    if args.executor != "local" and args.jobs == 0:
        raise UserError(f"--jobs 0 runs cells in this process; with --executor {args.executor} give 1 or more")
    if args.time is not None and args.time < 1:
        raise UserError(f"--time must be at least 1 minute, got {args.time}")
    if args.gpus_per_cell is not None and args.gpus_per_cell < 0:
        raise UserError(f"--gpus-per-cell must be 0 or more, got {args.gpus_per_cell}")


def _report_stale(cells: list, out: Path) -> None:
    """Name the planned cells whose slot holds a record under another id: not reused, not deleted."""
    from seqbench.records import store
    from seqbench.run import stale

    pairs = stale.stale(cells, store.load_dir(out).records)
    if pairs:
        print(f"seqbench: {len(pairs)} records in {out} are stale (same arch, task, distance, seed and budget as a "
              f"planned cell, but another id): they are kept and not reused", file=sys.stderr)
    for cell, record in pairs[:10]:
        print(f"  {cell.arch}/{cell.task}/d={cell.distance.label}/seed={cell.seed}: {record.cell_id} -> "
              f"{cell.cell_id}: {stale.what_changed(cell, record)}", file=sys.stderr)
    if len(pairs) > 10:
        print(f"  and {len(pairs) - 10} more", file=sys.stderr)
