"""A time budget as a step count, measured once: `train.max_time` becomes each architecture's `train.max_steps`.

A cell with a time budget trains for as many steps as the machine gives it in that time, so its result depends on
how busy the machine was while it ran. Here each architecture's training step is timed once, before anything
trains (a short warm-up, then `STEPS` steps, through the cell's own training code: the same model, batches,
optimizer, precision and CPU threads, without validation), in `ROUNDS` rounds that take turns between the
architectures, so that a change in the machine's load falls on all of them rather than on whichever was being
timed (two one-round calibrations of the same Multi30k models, ten minutes apart, differed by up to 20% an
architecture, in opposite directions); each round times the same batches again. The time budget is converted from
the median over every timed step: max_steps = floor(max_time / median step seconds). The calibration (speeds,
machine, date, seqbench version, git commit) is written to `calibration.json` in the results folder and read back
on every later run into it, so the schedule never changes mid-run: equal training time is then equal steps at the
measured speed, whatever the load of the machine afterwards. Validation is not in the budget (a time budget
counts it); the steps are.

The step count enters planning as each architecture's training default (`ArchSpec.train`, over the
configuration's `train.max_steps`, with `train.max_time` off), so the sweep, the reach search and the grid all plan
ordinary step-budgeted cells whose records state their `max_steps`. One step count per architecture: the run has
one task, one distance setting and one parameter budget (the step time depends on all three).
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import pytorch_lightning as pl
import torch
from pydantic import BaseModel, ConfigDict, JsonValue, ValidationError

import seqbench
from seqbench.contract.errors import ConfigError, UserError
from seqbench.contract.registry import Registry
from seqbench.host.sizing import build_model
from seqbench.records.distance import edges_to_bins
from seqbench.records.schema import describe as why_not
from seqbench.records.store import write_atomic
from seqbench.run import config as C
from seqbench.run import plan as P
from seqbench.run.cell import denormals_flushed
from seqbench.run.data import TaskData, stream_seed
from seqbench.run.env import device_name, git_commit, load_average
from seqbench.run.measure import sync
from seqbench.run.module import SeqModule

FILE = "calibration.json"
STEPS = 30  # training steps timed per architecture and round, after train.throughput_warmup untimed ones (>= 3)
ROUNDS = 3  # rounds taking turns between the architectures: a load that changes during the timing falls on all
MIN_WARMUP = 3


class StepTiming(BaseModel):
    """One architecture's timed training step, and the step count the time budget became."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    median_step_s: float  # the median of `timed_steps` steps
    steps_per_s: float
    max_steps: int  # floor(max_time / median_step_s), at least 1: the cells' train.max_steps
    timed_steps: int  # over every round
    warmup_steps: int  # untimed steps before them, in each round
    rounds: int = 1  # rounds taking turns between the architectures (calibrations written before rounds: 1)
    round_medians: list[float] = []  # each round's median step seconds: how much the speed moved between rounds
    params: int | None  # of the timed model
    d_model: int
    measured: str  # when (UTC)
    load_avg: list[float] | None  # the machine's 1/5/15-minute load when it was timed


class Machine(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    device: str
    device_name: str
    cpu_threads: int
    torch: str


class Calibration(BaseModel):
    """`calibration.json`: the time budget as a step count per architecture, and what it was measured under."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    what: str  # the conversion, in words
    max_time_s: float  # the time budget converted
    setting: dict[str, JsonValue]  # what a step's time depends on (`setting`): reused only under the same
    created: str
    seqbench: str
    git_commit: str | None
    machine: Machine
    archs: dict[str, StepTiming]

    def to_json(self) -> str:
        return self.model_dump_json(indent=1) + "\n"


class StepClock(pl.Callback):
    """The wall-clock seconds from one training step's end to the next (forward, backward, optimizer, and drawing
    the batch), after `warmup` untimed steps."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.seconds: list[float] = []
        self._last: float | None = None
        self._seen = 0

    def on_train_batch_end(self, trainer: pl.Trainer, module: pl.LightningModule, outputs: Any, batch: Any,
                           idx: int) -> None:
        sync(module.device)
        t = time.perf_counter()
        self._seen += 1
        if self._seen > self.warmup and self._last is not None:
            self.seconds.append(t - self._last)
        self._last = t


def check(cfg: C.RunConfig) -> None:
    """Refuse a run whose cells could not share one step count per architecture."""
    task = cfg.matrix.tasks
    many = [f"{len(task)} tasks" if len(task) > 1 else "",
            f"{len(cfg.distances[task[0]])} distance settings" if len(cfg.distances[task[0]]) > 1 else "",
            f"{len(cfg.matrix.params)} parameter budgets" if len(cfg.matrix.params) > 1 else ""]
    many = [m for m in many if m]
    if many:
        raise ConfigError(f"steps from time: a step's time depends on the task, its distance and the model's size, "
                          f"and this run has {' and '.join(many)}: give one of each (one run per --out)")
    if cfg.train.devices > 1:
        raise ConfigError("steps from time times one device per cell: train.devices must be 1")


def setting(cfg: C.RunConfig, device: str, threads: int) -> dict[str, Any]:
    """What a step's time depends on besides the architecture: a calibration is reused only under the same. As JSON
    values (lists, not tuples), as the file holds them."""
    task = cfg.matrix.tasks[0]
    t = cfg.train
    return json.loads(json.dumps({"task": task, "distance": cfg.distances[task][0].label,
            "params_budget": cfg.matrix.params[0] if cfg.matrix.params else None,
            "model": dataclasses.asdict(cfg.model), "task_options": dataclasses.asdict(cfg.task_options[task]),
            "batch_size": t.batch_size, "bucket": t.bucket, "precision": t.precision,
            "accelerator": t.accelerator, "device": device, "threads": threads}))


def convert(max_time: float, median_step_s: float) -> int:
    """The steps that fit in `max_time` seconds at `median_step_s` seconds a step (at least 1)."""
    return max(1, int(max_time / median_step_s))


def time_steps(cell: P.Cell, task: Any, cfg: C.RunConfig, reg: Registry, warmup: int, steps: int) -> list[float]:
    """Seconds of each of `steps` training steps of `cell` after `warmup` untimed ones, through the cell's own
    module and data (`seqbench.run.cell`), without validation."""
    train = cell.train
    pl.seed_everything(stream_seed(cell.seed, "model") % 2**32, verbose=False)
    model = build_model(reg.arch(cell.arch), cell.shape, cfg.arch_options[cell.arch], task.vocab_size)
    bins = edges_to_bins(task.bin_edges(), task.distance.hi)
    eval_cfg = dataclasses.replace(cfg.eval, n_val=1, n_test=1, val_generate=0, grad_examples=0)
    module = SeqModule(model, task, train, eval_cfg, bins, cell.max_len)
    data = TaskData(task, cell.seed, train.batch_size, eval_cfg, bins, bucket=train.bucket)
    clock = StepClock(warmup)
    torch.utils.deterministic.fill_uninitialized_memory = False  # as the cell's trainer (`seqbench.run.cell`)
    trainer = pl.Trainer(accelerator=train.accelerator, devices=1, precision=train.precision,
                         max_steps=warmup + steps, limit_val_batches=0, num_sanity_val_steps=0,
                         gradient_clip_val=train.grad_clip or None, callbacks=[clock], logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         use_distributed_sampler=False, deterministic="warn")
    flushing = denormals_flushed()
    torch.set_flush_denormal(train.flush_denormal)
    try:
        trainer.fit(module, datamodule=data)
    finally:
        torch.set_flush_denormal(flushing)
    return clock.seconds


def measure(cfg: C.RunConfig, reg: Registry, archs: list[str], device: str, threads: int,
            steps: int = STEPS, rounds: int = ROUNDS) -> dict[str, StepTiming]:
    """Each architecture's step time on this machine, and the step count `train.max_time` converts to: `rounds`
    rounds of `steps` steps, taking turns between the architectures, the median over all of them."""
    warmup = max(MIN_WARMUP, cfg.train.throughput_warmup)
    timing = dataclasses.replace(
        cfg, matrix=dataclasses.replace(cfg.matrix, archs=tuple(archs), seeds=cfg.matrix.seeds[:1], lrs=()),
        train=dataclasses.replace(cfg.train, max_time=None, max_steps=warmup + steps, patience=None, solved_at=None),
        eval=dataclasses.replace(cfg.eval, select="val_gen_acc"))
    cells, tasks = P.plan(timing, reg)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    for cell in cells:
        if cell.fault is not None:
            raise UserError(f"steps from time: {cell.arch} cannot be timed, its plugin failed while planning: "
                            f"{cell.fault}")
    timed: dict[str, list[list[float]]] = {cell.arch: [] for cell in cells}
    try:
        for _ in range(max(1, rounds)):
            for cell in cells:
                timed[cell.arch].append(time_steps(cell, tasks[(cell.task, cell.distance)], timing, reg, warmup,
                                                   steps))
    finally:
        torch.set_num_threads(before)
    out: dict[str, StepTiming] = {}
    for cell in cells:
        seconds = [s for one in timed[cell.arch] for s in one]
        median = max(round(statistics.median(seconds), 6), 1e-6)  # as written: the steps follow from it
        out[cell.arch] = StepTiming(median_step_s=median, steps_per_s=round(1 / median, 4),
                                    max_steps=convert(cfg.train.max_time, median), timed_steps=len(seconds),
                                    warmup_steps=warmup, rounds=len(timed[cell.arch]),
                                    round_medians=[round(statistics.median(one), 6) for one in timed[cell.arch]],
                                    params=cell.params, d_model=cell.model.d_model, measured=_now(),
                                    load_avg=load_average())
    return out


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def read(path: Path) -> Calibration:
    """`calibration.json` as written, or a one-line UserError naming what is wrong with it."""
    try:
        return Calibration.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: cannot be read ({e})") from None
    except ValidationError as e:
        raise UserError(f"{path}: not a seqbench calibration ({why_not(e)}); remove it to measure again") from None


def load_or_measure(cfg: C.RunConfig, reg: Registry, out: Path, device: str, threads: int, *, write: bool = True,
                    steps: int = STEPS, rounds: int = ROUNDS, log: Callable[[str], None] = lambda line: None
                    ) -> Calibration:
    """The calibration of this run: read from `out/calibration.json` when it is there (an architecture it lacks is
    measured and added), else measured now; written back unless `write` is False (a dry run). A calibration made
    under other settings, or for another time budget, is refused: the schedule of a run never changes."""
    check(cfg)
    assert cfg.train.max_time is not None
    path = out / FILE
    now = setting(cfg, device, threads)
    cal = read(path) if path.is_file() else None
    if cal is not None and (cal.max_time_s != cfg.train.max_time or cal.setting != now):
        diff = [k for k in sorted(set(now) | set(cal.setting)) if now.get(k) != cal.setting.get(k)]
        what = (f"train.max_time {cal.max_time_s} -> {cfg.train.max_time}" if cal.max_time_s != cfg.train.max_time
                else f"{', '.join(diff)} changed")
        raise UserError(f"{path} converted another time budget or setting ({what}): a run's schedule does not "
                        f"change; use another --out, or remove {FILE} and the records to start again")
    missing = [a for a in cfg.matrix.archs if cal is None or a not in cal.archs]
    if not missing:
        log(f"steps from time: reusing {path} (measured {cal.created})")
        return cal
    log(f"steps from time: timing {steps} training steps of {', '.join(missing)} on {threads} thread(s), "
        f"{rounds} round(s) taking turns")
    if cal is None:
        cal = Calibration(
            what=f"train.max_time ({cfg.train.max_time:g} s) converted to train.max_steps per architecture: "
                 f"max_steps = floor(max_time / median step seconds), the step timed once on this machine (in "
                 f"rounds taking turns between the architectures)",
            max_time_s=cfg.train.max_time, setting=now, created=_now(), seqbench=seqbench.__version__,
            git_commit=git_commit(), machine=Machine(device=device, device_name=device_name(torch.device(device)),
                                                     cpu_threads=threads, torch=torch.__version__), archs={})
    cal = cal.model_copy(update={"archs": {**cal.archs, **measure(cfg, reg, missing, device, threads, steps, rounds)}})
    if write:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, cal.to_json())
    return cal


def apply(cfg: C.RunConfig, reg: Registry, cal: Calibration) -> tuple[C.RunConfig, Registry]:
    """`cfg` with the time budget off, and a registry whose architectures default to their calibrated step counts
    (over the configuration's `train.max_steps`, which no longer counts as set)."""
    archs = dict(reg.archs)
    for name in cfg.matrix.archs:
        spec = archs[name]
        archs[name] = dataclasses.replace(spec, train={**spec.train, "max_steps": cal.archs[name].max_steps})
    train = dataclasses.replace(cfg.train, max_time=None)
    return (dataclasses.replace(cfg, train=train, train_set=cfg.train_set - {"max_steps"} | {"max_time"}),
            dataclasses.replace(reg, archs=archs))


def describe(cal: Calibration, archs: list[str]) -> list[str]:
    """`transformer: 0.0812 s a step (12.3 steps/s) -> 22167 steps for 1800 s`, per architecture."""
    return [f"{a}: {e.median_step_s:.4g} s a step ({e.steps_per_s:.3g} steps/s, median of {e.timed_steps})"
            f" -> {e.max_steps} steps for {cal.max_time_s:g} s" for a, e in ((a, cal.archs[a]) for a in archs)]
