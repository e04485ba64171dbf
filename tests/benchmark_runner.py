"""Where a cell's time goes, and what `--jobs 2` buys: measured side by side in one run. Not a test module.

    python tests/benchmark_runner.py [--archs lstm transformer] [--task copy] [--steps 300] [--repeats 5]
                                     [--jobs-matrix] [--jobs-repeats 1]

1. Training: a quick-profile cell trained by the real `run_cell` (Lightning: its callbacks, logging, checkpoints)
   against a bare PyTorch loop over the same model, batches, optimizer, schedule and clipping. Training time is
   from the first step to the end of training, less validation and checkpoint writes; both on one thread.
   Goal: Lightning within 1.1x of the bare loop.
2. The fixed cost of a cell, from the same runs: start (model, data, trainer, until the first step), validation,
   checkpoint writes, test (generation and scoring), and the rest.
   Times are CPU seconds of this process (`time.process_time`; one thread, so other processes on a shared machine
   barely move them); `--clock wall` measures wall seconds instead.
3. With --jobs-matrix: a reduced quick-profile matrix run by `seqbench run --jobs 1` and `--jobs 2` (fresh output
   folders, each cell in its own process), wall time of the whole command, and whether every metric is equal.
   Goal: --jobs 2 at least 1.6x faster on 2 cores.

Each figure is the median over `--repeats` runs, with the spread (min-max) beside it, since the machine may be
shared. Exits 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from _tiny import determined
from seqbench.contract import registry
from seqbench.host.sizing import build_model
from seqbench.run import cell as cell_mod
from seqbench.run import plan, resolve, sources
from seqbench.run.cell import CellInputs, run_cell
from seqbench.run.data import _TrainStream, stream_seed
from seqbench.run.module import SeqModule

CLOCK = time.process_time

JOBS_MATRIX = ["--arch", "lstm,gru,transformer,gpt", "--task", "copy,cloze", "--max-steps", "200"]


class Phases(pl.Callback):
    """Timestamps of a cell's phases: first step, validations, checkpoint writes, end of training."""

    def __init__(self) -> None:
        self.first = self.end = 0.0
        self.val: list[float] = []
        self.ckpt: list[float] = []
        self._v = 0.0

    def on_fit_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        save = trainer.save_checkpoint

        def timed(*a: Any, **k: Any) -> Any:
            t = CLOCK()
            try:
                return save(*a, **k)
            finally:
                self.ckpt.append(CLOCK() - t)

        trainer.save_checkpoint = timed  # what ModelCheckpoint calls

    def on_train_batch_start(self, trainer, module, batch, idx) -> None:
        if not self.first:
            self.first = CLOCK()

    def on_validation_start(self, trainer, module) -> None:
        self._v = CLOCK()

    def on_validation_end(self, trainer, module) -> None:
        self.val.append(CLOCK() - self._v)

    def on_train_end(self, trainer, module) -> None:
        self.end = CLOCK()


def lightning_cell(cell: plan.Cell, task: Any, cfg: Any, reg: registry.Registry) -> dict[str, float]:
    """One real `run_cell`, with `Phases` added to its trainer's callbacks."""
    phases = Phases()
    original = cell_mod._trainer

    def trainer(train, callbacks, logger):
        return original(train, [*callbacks, phases], logger) if callbacks else original(train, callbacks, logger)

    cell_mod._trainer = trainer
    try:
        t0 = CLOCK()
        with tempfile.TemporaryDirectory() as work:
            record = run_cell(CellInputs(cell, task, cfg.eval, cfg.arch_options[cell.arch], work=Path(work)), reg,
                              lambda event: None)  # a cell's process always reports progress
            tested = CLOCK() - phases.end
        wall = CLOCK() - t0
    finally:
        cell_mod._trainer = original
    assert record.status == "ok", record.error
    val, ckpt = sum(phases.val), sum(phases.ckpt)
    train = phases.end - phases.first - val - ckpt
    return {"train": train, "start": phases.first - t0, "validation": val, "checkpoint": ckpt, "test": tested,
            "total": wall}


def bare_loop(cell: plan.Cell, task: Any, cfg: Any, reg: registry.Registry) -> float:
    """The same steps without Lightning: forward, loss, backward, clipping, AdamW, schedule. Seconds."""
    pl.seed_everything(stream_seed(cell.seed, "model") % 2**32, verbose=False)
    model = build_model(reg.arch(cell.arch), cell.shape, cfg.arch_options[cell.arch], task.vocab_size)
    module = SeqModule(model, task, cell.train, cfg.eval, [(0, 1)])
    opt_cfg = module.configure_optimizers()
    opt, sched = opt_cfg["optimizer"], opt_cfg["lr_scheduler"]["scheduler"]
    stream = iter(_TrainStream(task, cell.train.batch_size, cell.seed))
    model.train()
    t0 = CLOCK()
    for _ in range(cell.train.max_steps):
        batch = next(stream)
        loss = module._loss(module._logits(batch), batch.tgt)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cell.train.grad_clip)
        opt.step()
        sched.step()
    return CLOCK() - t0


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):7.2f} [{min(values):.2f}-{max(values):.2f}]"


def jobs_run(jobs: int, extra: list[str]) -> tuple[float, dict[str, str]]:
    """Wall seconds of `seqbench run --jobs N` on the reduced matrix, and each cell's metrics."""
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "seqbench", "run", *JOBS_MATRIX, *extra, "--jobs", str(jobs),
                        "--out", out, "--no-progress"], check=True, capture_output=True)
        wall = time.perf_counter() - t0
        metrics = {p.name: determined(json.loads(p.read_text())["metrics"])  # without validation wall-clock times
                   for p in (Path(out) / "records").glob("*.json")}
    return wall, metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", nargs="+", default=["lstm", "transformer"])
    parser.add_argument("--task", default="copy")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-cells", action="store_true", help="only the --jobs comparison")
    parser.add_argument("--jobs-matrix", action="store_true", help="also time --jobs 1 against --jobs 2")
    parser.add_argument("--jobs-repeats", type=int, default=1)
    parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu")
    args = parser.parse_args(argv)
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    torch.set_num_threads(1)
    reg = registry.load(entry_points=False)
    settings = sources.gather("quick", None, {"matrix.archs": ",".join(args.archs), "matrix.tasks": args.task,
                                              "train.max_steps": str(args.steps)},
                               ["train.solved_at=none"])  # no early stop: every step, as the bare loop
    cfg = resolve.resolve(settings, reg)
    cells, tasks = plan.plan(cfg, reg)
    missed = False
    print(f"load average (1, 5, 15 min): {', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    print(f"{args.steps} steps, quick-profile sizes, one thread, median [min-max] of {args.repeats} runs, "
          f"{args.clock} seconds")
    print(f"{'cell':<22} {'bare loop':>18} {'Lightning':>18} {'ratio':>18} | {'start':>7} {'valid.':>7} "
          f"{'ckpt':>7} {'test':>7} {'total':>7}")
    for c in [] if args.skip_cells else cells:
        task = tasks[(c.task, c.distance)]
        bare, light, ratio, parts = [], [], [], {k: [] for k in ("start", "validation", "checkpoint", "test", "total")}
        for _ in range(args.repeats):  # interleaved, so that a busy spell of the machine hits both
            b = bare_loop(c, task, cfg, reg)
            lc = lightning_cell(c, task, cfg, reg)
            bare.append(b)
            light.append(lc["train"])
            ratio.append(lc["train"] / b)
            for k in parts:
                parts[k].append(lc[k])
        print(f"{c.arch + '/' + c.task + '/d=' + c.distance.label + '/s=' + str(c.seed):<22} {spread(bare):>18} {spread(light):>18} {spread(ratio):>18} | "
              + " ".join(f"{statistics.median(v):7.2f}" for v in parts.values()))
        missed |= statistics.median(ratio) > 1.1
    if args.jobs_matrix:
        print(f"\nseqbench run {' '.join(JOBS_MATRIX)}: whole command, seconds, {args.jobs_repeats} run(s) each")
        one, two, same = [], [], True
        for _ in range(args.jobs_repeats):
            w1, m1 = jobs_run(1, [])
            w2, m2 = jobs_run(2, [])
            one.append(w1)
            two.append(w2)
            same &= m1 == m2
        speedup = [a / b for a, b in zip(one, two)]
        print(f"--jobs 1 {spread(one)}   --jobs 2 {spread(two)}   speed-up {spread(speedup)}   "
              f"metrics {'identical' if same else 'DIFFERENT'}")
        print(f"load average at the end (1, 5, 15 min): {', '.join(f'{x:.1f}' for x in os.getloadavg())} on "
              f"{os.cpu_count()} cores")
        missed |= statistics.median(speedup) < 1.6 or not same
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
