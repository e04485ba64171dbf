"""Runs the cells of a matrix, one record per finished cell, and never loses finished work.

The runner owns the output folder: it skips cells finished before, takes a lock per cell so that two runs on one
folder share the work, hands each cell to an executor (`seqbench.run.executors`: this process, or a process per
cell, several at once), writes each record atomically as it comes back, and stops cleanly on Ctrl-C or SIGTERM.
Which executor ran a cell changes nothing in its record but the timings.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from filelock import FileLock, Timeout

from seqbench.contract.registry import Registry
from seqbench.records import store as results
from seqbench.records.schema import Error, Record, Times
from seqbench.run.cell import CellInputs, now
from seqbench.run.config import RunConfig
from seqbench.run.env import environment
from seqbench.run.executors import InProcess, Job, PluginLoad
from seqbench.run.plan import Cell, device_type
from seqbench.run import weights
from seqbench.run.progress import Display

LOCK_DIR = ".locks"
WORK_DIR = ".work"  # per-cell checkpoints while a cell trains, removed when it ends


@dataclass
class Summary:
    """What a matrix run did, cell by cell."""

    done: list[str] = field(default_factory=list)  # cell ids run to a record now
    skipped: list[str] = field(default_factory=list)  # finished before, not re-run
    busy: list[str] = field(default_factory=list)  # held by another runner on the same directory
    not_ok: list[str] = field(default_factory=list)  # recorded as diverged, oom or failed
    interrupted: bool = False


class Interrupted(BaseException):
    """Ctrl-C or SIGTERM during a matrix: stop after the current instant, keep every finished record.

    A BaseException that is not KeyboardInterrupt, so Lightning re-raises it instead of exiting the process.
    """


def finished(out: Path, cell_id: str, repair: bool = False, retry_failed: bool = False,
             keep_weights: bool = False) -> bool:
    """Whether a trusted record of this cell exists (and, with `retry_failed`, says ok; with `keep_weights`, an ok
    record also has its weights file). With `repair` (only under the cell's lock) an untrusted record is moved
    aside, so the cell runs again."""
    path = results.record_path(out, cell_id)
    if not path.exists():
        return False
    try:
        record = results.read(path)
        if keep_weights and record.status == "ok" and not weights.has_weights(out, record):
            return False
        return record.status == "ok" or not retry_failed
    except results.BadRecord as e:
        if repair:
            aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
            path.replace(aside)
            print(f"seqbench: {e}; moved aside to {aside.name}, the cell runs again", file=sys.stderr)
        return False


@contextlib.contextmanager
def _stop_on_signals(stop_now: bool):
    """SIGINT and SIGTERM during a matrix (main thread only): raise `Interrupted` at once when a cell trains in
    this process (`stop_now`), else set a flag the runner's loop checks, so that nothing in multiprocessing's
    plumbing is interrupted halfway."""
    asked: list[str] = []
    if threading.current_thread() is not threading.main_thread():
        yield asked
        return

    def stop(signum, frame):
        asked.append(signal.Signals(signum).name)
        if stop_now:
            raise Interrupted(asked[-1])

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield asked
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@dataclass
class _Running:
    cell: Cell
    lock: FileLock
    t0: float


def run_matrix(cfg: RunConfig, reg: Registry, cells: list[Cell], tasks: dict, out: Path, *, executor: Any = None,
               load: PluginLoad | None = None, threads: int = 1, rerun: bool = False, retry_failed: bool = False,
               command: str = "", logger: Any = None, live: bool | None = None, verbose: bool = False,
               err: TextIO | None = None, keep_weights: bool = False) -> Summary:
    """Run every unfinished cell (with `retry_failed`, also those recorded as diverged, oom or failed; with
    `rerun`, all); each finished one leaves its record in `out/records/`, and with `keep_weights` its weights
    beside it (an ok cell that kept none is run again)."""
    err = err if err is not None else sys.stderr
    executor = executor if executor is not None else InProcess(reg)
    load = load if load is not None else PluginLoad.here([])
    summary = Summary()
    out = Path(out)
    (out / LOCK_DIR).mkdir(parents=True, exist_ok=True)
    todo = _unfinished(cells, out, summary, rerun, retry_failed, keep_weights, verbose, err)
    display = Display(len(todo), executor.slots, Counter((c.arch, c.task) for c in todo), err=err, live=live,
                      verbose=verbose)
    running: dict[str, _Running] = {}
    with _stop_on_signals(isinstance(executor, InProcess)) as asked:
        try:
            pending = list(todo)
            while pending or running:
                if asked:
                    raise Interrupted(asked[0])
                while pending and len(running) < executor.slots:
                    cell = pending.pop(0)
                    lock = _claim(out, cell, rerun, retry_failed, summary, display, keep_weights)
                    if lock is None:
                        continue
                    work = out / WORK_DIR / cell.cell_id if getattr(executor, "shares_files", True) else None
                    inputs = CellInputs(cell, tasks.get((cell.task, cell.distance)), cfg.eval,
                                        cfg.arch_options[cell.arch], command, work=work, logger=logger,
                                        weights=weights.weights_path(out, cell.cell_id) if keep_weights else None)
                    running[cell.cell_id] = _Running(cell, lock, time.monotonic())
                    display.start(cell.cell_id, cell.name, cell.params)
                    executor.submit(cell.cell_id, Job.of(inputs, load, threads))
                for key, result in executor.wait(0.2):
                    _keep(out, key, result, running.pop(key), command, summary, display)
                for event in executor.events():
                    display.progress(event)
                display.heartbeat()
            if asked:
                raise Interrupted(asked[0])
        except (Interrupted, KeyboardInterrupt):
            summary.interrupted = True
        finally:
            executor.shutdown()  # ends what the executor started; no cell outlives a runner that failed
            if summary.interrupted:  # the unfinished cells' processes are gone: their locks can go
                for key, job in running.items():
                    shutil.rmtree(out / WORK_DIR / key, ignore_errors=True)
                    job.lock.release()
            display.close()
    return summary


def _unfinished(cells: list[Cell], out: Path, summary: Summary, rerun: bool, retry_failed: bool,
                keep_weights: bool, verbose: bool, err: TextIO) -> list[Cell]:
    """The cells to run; those finished before are counted in `summary.skipped` and said so."""
    todo = []
    for cell in cells:
        if not rerun and finished(out, cell.cell_id, retry_failed=retry_failed, keep_weights=keep_weights):
            summary.skipped.append(cell.cell_id)
            if verbose:
                print(f"seqbench: {cell.name}: finished before, skipped ({cell.cell_id})", file=err)
        else:
            todo.append(cell)
    if summary.skipped:
        print(f"seqbench: {len(summary.skipped)} of {len(cells)} cells were finished before and are not run again "
              f"(--rerun runs them)", file=err)
    return todo


def _keep(out: Path, key: str, result: Any, job: _Running, command: str, summary: Summary, display: Display) -> None:
    """Save what a finished cell's job returned (its record, or the failure it died of), then free its lock."""
    try:
        record = result if isinstance(result, Record) else _died(job.cell, result, command)
        results.save(out, record)
        if weights.WEIGHTS not in record.artifacts:  # an older run's weights are not this record's
            weights.weights_path(out, key).unlink(missing_ok=True)
    finally:
        shutil.rmtree(out / WORK_DIR / key, ignore_errors=True)
        job.lock.release()
    summary.done.append(key)
    if record.status != "ok":
        summary.not_ok.append(key)
    display.finish(key, record, time.monotonic() - job.t0)


def _claim(out: Path, cell: Cell, rerun: bool, retry_failed: bool, summary: Summary,
           display: Display, keep_weights: bool = False) -> FileLock | None:
    """The cell's lock, or None when another run holds it or has finished the cell meanwhile."""
    lock = FileLock(str(out / LOCK_DIR / f"{cell.cell_id}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        summary.busy.append(cell.cell_id)
        display.skipped(cell.name, "another seqbench run is on it, skipped")
        return None
    for stale in results.records_dir(out).glob(f".{cell.cell_id}.*.tmp"):
        stale.unlink(missing_ok=True)  # a record or weights left by a process killed mid-write; the cell is ours now
    if not rerun and finished(out, cell.cell_id, repair=True, retry_failed=retry_failed, keep_weights=keep_weights):
        summary.skipped.append(cell.cell_id)  # another runner finished it
        lock.release()
        return None
    return lock


def _died(cell: Cell, error: BaseException, command: str) -> Record:
    """The record of a cell whose process ended without one: failed, saying how it ended."""
    import torch

    stamp = now()
    return Record.failed(
        cell.header(command), error=Error(type=type(error).__name__, message=str(error)[:500]),
        env=environment(torch.device(device_type(cell.train.accelerator)), cell.train.accelerator,
                        cell.train.precision),
        times=Times(started=stamp, finished=stamp, wall_s=0.0))
