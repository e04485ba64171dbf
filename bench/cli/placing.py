"""Where the cells of `seqbench run` train: the device, the jobs at once, and the executor the flags ask for."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path


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
