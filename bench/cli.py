"""The `seqbench` command line: list, plugins, run, show-task, and the publishing commands.

Every entry is callable as `main([...])`. Bad input ends with one line on stderr and exit code 2 (a traceback
only with `--debug`).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import traceback
import warnings
from pathlib import Path
from typing import Sequence

import seqbench
from seqbench.contract import ContractDeprecation
from seqbench.contract.errors import PluginFault, UserError, plural

EXIT_OK, EXIT_CELLS_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class _Parser(argparse.ArgumentParser):
    """argparse, but its errors are our one-line UserErrors, and no abbreviated flags (`--max-step` is a typo)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{self.prog}: {message}")


def _common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("-p", "--plugin", action="append", default=[], dest="plugins", metavar="PLUGIN",
                   help="load a plugin module or .py file (repeatable)")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


# Commands that read records only: a plugin named for them (-p before the command) would be ignored, so it is refused.
NO_PLUGINS = ("table", "plot", "merge")


def parser() -> argparse.ArgumentParser:
    common = _common()
    top = _Parser(prog="seqbench",
                  description="Accuracy against dependency distance, and throughput, for sequence models.")
    # Before the command, the same flags under their own names: a subcommand's defaults would overwrite them.
    top.add_argument("-p", "--plugin", action="append", default=[], dest="top_plugins", metavar="PLUGIN",
                     help="load a plugin module or .py file (repeatable; also after the command)")
    top.add_argument("--debug", action="store_true", dest="top_debug", help="show tracebacks")
    top.add_argument("--version", action="version", version=f"seqbench {seqbench.__version__}")
    sub = top.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("list", parents=[common], help="architectures and tasks")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("plugins", parents=[common], help="every plugin, its source, what it provides, its status")
    p.set_defaults(func=cmd_plugins)

    p = sub.add_parser("run", parents=[common], help="run the benchmark matrix")
    p.add_argument("--profile", help="a bundled profile under the other settings (default: quick; none for none)")
    p.add_argument("--config", help="a TOML file with [matrix], [model], [train], [eval], [task], [arch]")
    p.add_argument("--arch", help="architectures, comma-separated")
    p.add_argument("--task", help="tasks, comma-separated")
    p.add_argument("--seeds", help="seeds, comma-separated")
    p.add_argument("--distance", help="distance settings for every task, e.g. 10,100 or 10-100")
    p.add_argument("--max-steps", help="training steps per cell")
    p.add_argument("--params", help="parameter budgets, comma-separated: each architecture is sized to within 10%%")
    p.add_argument("--lr", help="learning rates, comma-separated (several: an axis chosen on validation)")
    p.add_argument("--precision", help="Lightning precision: 32-true, bf16-mixed, 16-mixed, ...")
    p.add_argument("--accelerator", help="auto (default), cpu, gpu")
    p.add_argument("--devices", help="devices training each cell together (DDP, the batch split between them)")
    p.add_argument("--strategy", help="how several devices train a cell: auto (ddp when --devices > 1), ddp")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a setting")
    p.add_argument("--steps-for-time", action="store_true", help="train.max_time as each architecture's step count, "
                   "timed once and kept in OUT/calibration.json (a profile may ask for it: steps_from_time)")
    p.add_argument("--out", default="runs/latest", help="output directory (default: runs/latest)")
    p.add_argument("--rerun", action="store_true", help="run finished cells again")
    p.add_argument("--retry-failed", action="store_true", help="run cells recorded as diverged, oom or failed again")
    p.add_argument("--dry-run", action="store_true", help="validate and list the cells, train nothing")
    p.add_argument("--keep-weights", action="store_true", help="save each cell's trained weights beside its record "
                   "(safetensors); finished cells without weights run again")
    p.add_argument("--jobs", type=int, help="cells at once, each in its own process (default: one per CPU core, or "
                   "one per GPU); 0 runs cells in this process")
    p.add_argument("--executor", choices=["local", "ray", "slurm"], default="local",
                   help="where cells run: local processes (default), Ray tasks, a SLURM job array")
    p.add_argument("--address", help="--executor ray: the Ray cluster to join (default: RAY_ADDRESS, else a local "
                   "instance)")
    p.add_argument("--partition", help="--executor slurm: the partition")
    p.add_argument("--time", type=int, metavar="MINUTES", help="--executor slurm: time limit per cell (default 1440)")
    p.add_argument("--gpus-per-cell", type=int, metavar="N", help="--executor ray or slurm: GPUs each cell asks for "
                   "(default: --devices when cells run on a GPU here, else 0)")
    p.add_argument("--threads", type=int, help="CPU threads per cell (default: 1 on a CPU, whatever --jobs is, so that "
                   "metrics do not depend on --jobs; on a GPU, cores divided by jobs)")
    p.add_argument("--logger", help="also log every cell's curves with Lightning: csv, tensorboard, wandb, mlflow")
    p.add_argument("--no-progress", action="store_true", help="plain progress lines, no live display")
    p.add_argument("--verbose", "-v", action="store_true", help="a progress line for every cell")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("check-plugin", parents=[common], help="run the contract suite on architectures or tasks")
    p.add_argument("names", nargs="+", metavar="NAME", help="registered architecture or task names")
    p.set_defaults(func=cmd_check_plugin)

    p = sub.add_parser("show-task", parents=[common], help="print examples of a task")
    p.add_argument("name")
    p.add_argument("--n", type=int, default=3, help="how many examples")
    p.add_argument("--distance", help="distance setting (default: the profile's first for this task)")
    p.add_argument("--profile", help="the profile whose task settings to show (default: quick; none for none)")
    p.add_argument("--split", default="train", choices=["train", "val", "test"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", default=[], metavar="task.NAME.KEY=VALUE")
    p.set_defaults(func=cmd_show_task)

    from seqbench.publish import cli as publish_cli
    from seqbench.publish import inspect_cli

    publish_cli.add_commands(sub)
    inspect_cli.add_commands(sub, common)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    warnings.filterwarnings("default", category=ContractDeprecation)  # shown once per place: Python hides them
    try:
        args = _parse(argv)
        return int(args.func(args) or 0)
    except UserError as e:
        if debug:
            traceback.print_exc()
        print(f"seqbench: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except PluginFault as e:  # a plugin's code failed outside a matrix (e.g. show-task building its task)
        if debug:
            traceback.print_exc()
        print(f"seqbench: error: {e.plugin}: {e}", file=sys.stderr)
        return EXIT_CELLS_FAILED
    except KeyboardInterrupt:
        print("seqbench: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _parse(argv: list[str]) -> argparse.Namespace:
    """The arguments, with `-p` and `--debug` given before the command joined to those given after it."""
    args = parser().parse_args(argv)
    args.argv = argv
    before = args.top_plugins
    if before and args.command in NO_PLUGINS:
        raise UserError(f"-p {before[0]}: seqbench {args.command} reads records only and loads no plugins; "
                        f"leave -p out")
    args.plugins = [*before, *getattr(args, "plugins", [])]
    args.debug = args.top_debug or getattr(args, "debug", False)
    return args


def _registry(args: argparse.Namespace):
    from seqbench.contract import registry

    return registry.load(args.plugins)


def cmd_list(args: argparse.Namespace) -> int:
    reg = _registry(args)
    width = max([len(n) for n in [*reg.archs, *reg.tasks]] + [4])
    print("Architectures:")
    for name, spec in sorted(reg.archs.items()):
        print(f"  {name:<{width}}  {spec.description}")
    print("Tasks:")
    for name, spec in sorted(reg.tasks.items()):
        print(f"  {name:<{width}}  {spec.description}")
    return EXIT_OK


def cmd_plugins(args: argparse.Namespace) -> int:
    reg = _registry(args)
    rows = [("plugin", "version", "source", "provides", "status")]
    for info in reg.plugins:
        status = info.status if not info.errors else f"{info.status}: {'; '.join(info.errors)}"
        rows.append((info.name, info.version, info.source, ", ".join(info.provides) or "-", status))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4])
    return EXIT_OK


def cmd_check_plugin(args: argparse.Namespace) -> int:
    import io

    from seqbench.contract import registry
    from seqbench.testing.report import check_plugins

    reg = registry.load(args.plugins, err=io.StringIO())  # a plugin that failed to load is named if it matters
    return check_plugins(reg, args.names, sys.stdout)


def cmd_run(args: argparse.Namespace) -> int:
    from seqbench.publish.output import check_folder
    from seqbench.run import executors, loggers, plan, resolve, runner, sources

    out = check_folder(args.out, "--out", subfolders=("records", runner.LOCK_DIR, runner.WORK_DIR, "logs"))
    _refuse_future_records(out)
    logger = loggers.logger_spec(args.logger, out)
    reg = _registry(args)
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
        _notes(settings.notes)
    if args.rerun and (cfg.search.enabled or cfg.sweep.enabled):
        raise UserError(f"--rerun does not combine with {'search' if cfg.search.enabled else 'sweep'}.enabled: it "
                        "reuses its finished cells; remove the records to train them again")
    picked = None
    if cfg.sweep.enabled:
        picked = _sweep(args, cfg, reg, out, logger)
        if isinstance(picked, int):
            return picked
    if cfg.search.enabled:
        return _search(args, cfg, reg, out, logger, picked)
    from seqbench.run import sweeping

    cells, tasks = plan.plan(cfg, reg) if picked is None else sweeping.plan_chosen(cfg, reg, picked)
    if not cfg.sweep.enabled:
        _notes(settings.notes)
    faulty = [c for c in cells if c.fault is not None]
    if faulty:
        print(f"seqbench: {len(faulty)} of {len(cells)} cells cannot run, their plugin failed while planning "
              f"(recorded as failed)", file=sys.stderr)
    _report_stale(cells, out)
    if args.dry_run:
        print(f"seqbench: {plural(len(cells), 'cell')} planned", file=sys.stderr)
        for c in cells:
            what = (f"FAILED: {c.fault.plugin}: {c.fault}" if c.fault is not None
                    else f"params={c.params} d_model={c.model.d_model}")
            print(f"{c.cell_id}  {c.arch:<14} {c.task:<12} d={c.distance.label:<10} seed={c.seed} lr={c.lr:g} "
                  f"{what}")
        return EXIT_OK
    command, device, timed, jobs = _placement(args, cfg)
    if timed and device == "cpu" and args.jobs is None and len(cells) > 1:
        print(f"seqbench: note: train.max_time gives every cell the same time: they run one at a time on all "
              f"{executors.cpu_count()} CPU cores, so that each has the same machine (--jobs, --threads to change)",
              file=sys.stderr)
    if device == "cuda" and jobs > executors.default_jobs(device, cfg.train.devices):
        jobs = executors.default_jobs(device, cfg.train.devices)
        print(f"seqbench: note: --jobs lowered to {jobs}: each cell has {cfg.train.devices} GPU(s) of its own",
              file=sys.stderr)
    executor = _executor(args, reg, device, jobs, len(cells), out)
    from seqbench.run import cell as cell_runner

    cell_runner.SHOW_TRACEBACKS = bool(args.debug)  # --debug runs cells in this process: their tracebacks show
    threads = args.threads or executors.default_threads(device, executor.slots, timed)
    print(f"seqbench: {plural(len(cells), 'cell')} -> {out}; {min(executor.slots, len(cells))} at a time"
          f"{f', {threads} CPU thread(s) each' if device == 'cpu' else ''}", file=sys.stderr)
    summary = runner.run_matrix(cfg, reg, cells, tasks, out, executor=executor,
                                load=executors.PluginLoad.here(args.plugins), threads=threads, rerun=args.rerun,
                                retry_failed=args.retry_failed, command=command,
                                logger=logger,
                                live=False if args.no_progress else None, verbose=args.verbose,
                                keep_weights=args.keep_weights)
    if summary.interrupted:
        left = [c for c in cells if not runner.finished(out, c.cell_id, keep_weights=args.keep_weights)]
        print(f"seqbench: interrupted. Finished: {len(cells) - len(left)} of {len(cells)} cells "
              f"({len(summary.done)} in this run), records in {out}. Not finished: "
              + ", ".join(c.name for c in left[:10])
              + (f" and {len(left) - 10} more" if len(left) > 10 else "")
              + ". Repeat the command to run only those.", file=sys.stderr)
        return EXIT_INTERRUPTED
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
    return EXIT_CELLS_FAILED if not_ok else EXIT_OK


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


def _notes(notes: list[str]) -> None:
    for note in notes:
        print(f"seqbench: note: {note}", file=sys.stderr)


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


def _placement(args: argparse.Namespace, cfg) -> tuple[str, str, bool, int]:
    """The command line as recorded, the device type, whether cells have a time budget, and the jobs at once."""
    from seqbench.run import executors, plan

    device = plan.device_type(cfg.train.accelerator)
    timed = cfg.train.max_time is not None
    jobs = executors.default_jobs(device, cfg.train.devices, timed) if args.jobs is None else args.jobs
    return "seqbench " + " ".join(shlex.quote(a) for a in args.argv), device, timed, jobs


def _rounds(args: argparse.Namespace, cfg, reg, out: Path, logger, what: str, noun: str):
    """A function that runs one round of cells (sweep cells, search probes) as a matrix: resumable, parallel, on the
    executor the flags ask for. -> (run_cells(cells, tasks) -> False when interrupted, the sizes of rounds run)."""
    from seqbench.run import executors, runner

    command, device, timed, jobs = _placement(args, cfg)
    rounds: list[int] = []

    def run_cells(cells: list, tasks: dict) -> bool:
        executor = _executor(args, reg, device, jobs, len(cells), out)  # a matrix run shuts its executor down
        threads = args.threads or executors.default_threads(device, executor.slots, timed)
        rounds.append(len(cells))
        print(f"seqbench: {what} round {len(rounds)}: {plural(len(cells), noun)} -> {out}", file=sys.stderr)
        summary = runner.run_matrix(cfg, reg, cells, tasks, out, executor=executor,
                                    load=executors.PluginLoad.here(args.plugins), threads=threads,
                                    retry_failed=args.retry_failed, command=command, logger=logger,
                                    live=False if args.no_progress else None, verbose=args.verbose,
                                    keep_weights=args.keep_weights)
        return not summary.interrupted

    return run_cells, rounds


def _sweep(args: argparse.Namespace, cfg, reg, out: Path, logger):
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
        run_cells, _ = _rounds(args, cfg, reg, out, logger, "sweep", "cell")
        if not run_cells(cells, tasks):
            print("seqbench: interrupted in the learning-rate sweep; the same command resumes it", file=sys.stderr)
            return EXIT_INTERRUPTED
        done = {r.cell_id: r for r in results.load_dir(out).records}
    picked = sweeping.choices(cells, done, cfg.eval.select)
    if picked is None:
        print("seqbench: the run after the sweep is planned once every sweep cell has its record", file=sys.stderr)
        return EXIT_OK
    if not args.dry_run:
        results.write_atomic(out / "sweep.json", json.dumps(sweeping.summary(cfg, cells, picked), indent=1) + "\n")
    for group, choice in picked.items():
        print(f"seqbench: sweep: {sweeping.describe(group, choice)}", file=sys.stderr)
    return {group: choice.lr for group, choice in picked.items()}


def _search(args: argparse.Namespace, cfg, reg, out: Path, logger, picked=None) -> int:
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
        return EXIT_OK
    run_cells, rounds = _rounds(args, cfg, reg, out, logger, "search", "probe")
    states = searching.run_search(cfg, reg, read, run_cells, picked=picked)
    results.write_atomic(out / "search.json", json.dumps(searching.summary(cfg, states), indent=1) + "\n")
    for st in states:
        print(f"seqbench: {searching.describe(st)}", file=sys.stderr)
    unfinished = [st for st in states if st.step.next is not None]
    if unfinished:
        print(f"seqbench: interrupted: {len(unfinished)} of {len(states)} searches unfinished; the same command "
              f"resumes them from their records", file=sys.stderr)
        return EXIT_INTERRUPTED
    ids = {cid for st in states for cid in st.cells}
    mine = [r for r in results.load_dir(out).dicts() if r["cell_id"] in ids]
    print(render.terminal(mine))
    not_ok = [r for r in mine if r["status"] != "ok"]
    print(f"seqbench: {len(states)} searches ended after {len(rounds)} rounds, {len(ids)} probes "
          f"({len(not_ok)} not ok); records in {results.records_dir(out)}, the searches in {out / 'search.json'}",
          file=sys.stderr)
    return EXIT_CELLS_FAILED if not_ok else EXIT_OK


def _executor(args: argparse.Namespace, reg, device: str, jobs: int, cells: int, out: Path):
    """The executor the flags ask for: in this process, local processes, Ray tasks or a SLURM job array."""
    from seqbench.run import executors

    if args.executor == "ray":
        from seqbench.run.executor_ray import RayCells

        return RayCells(args.jobs, args.address, gpus=args.gpus_per_cell)
    if args.executor == "slurm":
        from seqbench.run.executor_slurm import SlurmCells

        return SlurmCells(out, cells, args.jobs, args.partition, args.time, gpus=args.gpus_per_cell)
    if args.debug or jobs == 0:
        return executors.InProcess(reg)
    import torch

    return executors.LocalProcesses(jobs, list(range(torch.cuda.device_count())) if device == "cuda" else None)


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


def cmd_show_task(args: argparse.Namespace) -> int:
    from seqbench.run import plan, resolve, sources
    from seqbench.run.data import generator

    reg = _registry(args)
    spec = reg.task(args.name)
    if args.n < 1:
        raise UserError(f"--n must be at least 1, got {args.n}")
    if args.seed < 0:
        raise UserError(f"--seed must be 0 or more, got {args.seed}")
    settings = sources.gather(args.profile, None, {"matrix.tasks": args.name, "matrix.distances": args.distance},
                              args.set)
    cfg = resolve.resolve(settings, reg)
    distance = cfg.distances[args.name][0]
    task = plan.build_task(reg, args.name, cfg.task_options[args.name], distance)
    batch = task.sample(args.split, args.n, generator(args.seed, args.split))
    print(f"{spec.name}: {spec.description}")
    print(f"distance setting {distance.label} (of {', '.join(d.label for d in cfg.distances[args.name])}), "
          f"vocabulary {task.vocab_size}, chance accuracy {task.chance:.4f}")
    for i in range(len(batch)):
        print(f"\nexample {i + 1} ({args.split}, seed {args.seed})")
        print(f"  source:   {task.decode(batch.src[i].tolist())}")
        print(f"  target:   {task.decode(batch.tgt[i].tolist())}")
        print(f"  distance: {int(batch.distance[i])}")
    return EXIT_OK
