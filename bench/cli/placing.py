"""Where the cells of `seqbench run` train: the device, the jobs at once, and the executor the flags ask for."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from seqbench.contract.errors import plural


def placement(args: argparse.Namespace, cfg) -> tuple[str, str, bool, int]:
    """The command line as recorded, the device type, whether cells have a time budget, and the jobs at once."""
    from seqbench.run import executors, plan

    device = plan.device_type(cfg.train.accelerator)
    timed = cfg.train.max_time is not None
    jobs = executors.default_jobs(device, cfg.train.devices, timed) if args.jobs is None else args.jobs
    return "seqbench " + " ".join(shlex.quote(a) for a in args.argv), device, timed, jobs


def executor(args: argparse.Namespace, reg, device: str, jobs: int, cells: int, out: Path):
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


def run_cells(args: argparse.Namespace, cfg, reg, cells: list, tasks: dict, out: Path, logger, *, rerun: bool = False,
              label: str = "", noun: str = "cell"):
    """`cells` as one matrix (resumable, parallel) on the executor and the device the flags ask for, with one line
    saying how (`label` before the count of `noun`s); the same for a plain run and for each round of a sweep or a
    search, so that both lower --jobs to the GPUs and show tracebacks under --debug alike. -> the runner's summary."""
    from seqbench.run import cell as cell_runner
    from seqbench.run import executors, runner

    command, device, timed, jobs = placement(args, cfg)
    if timed and device == "cpu" and args.jobs is None and len(cells) > 1:
        print(f"seqbench: note: train.max_time gives every cell the same time: they run one at a time on all "
              f"{executors.cpu_count()} CPU cores, so that each has the same machine (--jobs, --threads to change)",
              file=sys.stderr)
    if device == "cuda" and jobs > executors.default_jobs(device, cfg.train.devices):
        jobs = executors.default_jobs(device, cfg.train.devices)
        print(f"seqbench: note: --jobs lowered to {jobs}: each cell has {cfg.train.devices} GPU(s) of its own",
              file=sys.stderr)
    run_on = executor(args, reg, device, jobs, len(cells), out)  # a matrix run shuts its executor down
    cell_runner.SHOW_TRACEBACKS = bool(args.debug)  # --debug runs cells in this process: their tracebacks show
    threads = args.threads or executors.default_threads(device, run_on.slots, timed)
    print(f"seqbench: {label}{plural(len(cells), noun)} -> {out}; {min(run_on.slots, len(cells))} at a time"
          f"{f', {threads} CPU thread(s) each' if device == 'cpu' else ''}", file=sys.stderr)
    return runner.run_matrix(cfg, reg, cells, tasks, out, executor=run_on, load=executors.PluginLoad.here(args.plugins),
                             threads=threads, rerun=rerun, retry_failed=args.retry_failed, command=command,
                             logger=logger, live=False if args.no_progress else None, verbose=args.verbose,
                             keep_weights=args.keep_weights)
