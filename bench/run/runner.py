"""Runs the cells of a matrix with Lightning, one record per finished cell, and never loses finished work."""

from __future__ import annotations

import contextlib
import logging
import shutil
import signal
import sys
import threading
import time
import traceback
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

import pytorch_lightning as pl
import torch
from filelock import FileLock, Timeout
from pytorch_lightning.callbacks import ModelCheckpoint

from pydantic import ValidationError

from seqbench.records import store as results
from seqbench.records.schema import SCHEMA, Record, describe
from seqbench.contract.checks import ContractError
from seqbench.contract.errors import PluginFault
from seqbench.run.config import RunConfig
from seqbench.run.data import TaskData, stream_seed
from seqbench.run.env import environment
from seqbench.contract.generate import is_incremental
from seqbench.run.measure import TrainThroughput, peak_memory, reset_peak_memory
from seqbench.records.distance import edges_to_bins
from seqbench.run.module import Diverged, SeqModule
from seqbench.contract.registry import Registry
from seqbench.run.resolve import Cell
from seqbench.contract.sizing import build_model, count_params
from seqbench.contract.specs import PAD, Task

logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)  # no "GPU available" banners per cell
logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
warnings.filterwarnings("ignore", message=".*(LeafSpec|transfer_batch_to_device|litlogger|does not have many workers|"
                                          "num_workers|IterableDataset|deterministic).*")

WORK_DIR = ".work"  # per-cell checkpoints, removed when the cell finishes
LOCK_DIR = ".locks"


@dataclass
class Summary:
    """What a matrix run did, cell by cell."""

    done: list[str] = field(default_factory=list)  # cell ids run to a record now
    skipped: list[str] = field(default_factory=list)  # finished before, not re-run
    busy: list[str] = field(default_factory=list)  # held by another runner on the same directory
    not_ok: list[str] = field(default_factory=list)  # recorded as diverged, oom or failed
    interrupted: bool = False


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Interrupted(BaseException):
    """Ctrl-C or SIGTERM during a matrix: stop after the current instant, keep every finished record.

    A BaseException that is not KeyboardInterrupt, so Lightning re-raises it instead of exiting the process.
    """


def finished(out: Path, cell_id: str, repair: bool = False, retry_failed: bool = False) -> bool:
    """Whether a trusted record of this cell exists (and, with `retry_failed`, says ok). With `repair` (only
    under the cell's lock) an untrusted record is moved aside, so the cell runs again."""
    path = results.record_path(out, cell_id)
    if not path.exists():
        return False
    try:
        return results.read(path).status == "ok" or not retry_failed
    except results.BadRecord as e:
        if repair:
            aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
            path.replace(aside)
            print(f"seqbench: {e}; moved aside to {aside.name}, the cell runs again", file=sys.stderr)
        return False


@contextlib.contextmanager
def _stop_on_signals():
    """Turn SIGINT and SIGTERM into `Interrupted` for the duration of a matrix (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise Interrupted(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_matrix(cfg: RunConfig, reg: Registry, cells: list[Cell], tasks: dict, out: Path, *, rerun: bool = False,
               retry_failed: bool = False, command: str = "", progress: bool = True,
               err: TextIO | None = None) -> Summary:
    """Run every unfinished cell (with `retry_failed`, also those recorded as diverged, oom or failed; with
    `rerun`, all); each finished one leaves its record in `out/records/`."""
    err = err if err is not None else sys.stderr
    summary = Summary()
    out = Path(out)
    (out / LOCK_DIR).mkdir(parents=True, exist_ok=True)
    n = len(cells)
    started = time.monotonic()
    spent: list[float] = []
    with _stop_on_signals():
        try:
            for i, cell in enumerate(cells, 1):
                head = f"[{i}/{n}] {cell.arch} on {cell.task} d={cell.distance.label} seed={cell.seed}"
                if not rerun and finished(out, cell.cell_id, retry_failed=retry_failed):
                    summary.skipped.append(cell.cell_id)
                    print(f"{head}: finished before, skipped ({cell.cell_id})", file=err)
                    continue
                lock = FileLock(str(out / LOCK_DIR / f"{cell.cell_id}.lock"))
                try:
                    lock.acquire(timeout=0)
                except Timeout:
                    summary.busy.append(cell.cell_id)
                    print(f"{head}: another seqbench run is on it, skipped", file=err)
                    continue
                try:
                    for stale in results.records_dir(out).glob(f".{cell.cell_id}.json.*.tmp"):
                        stale.unlink(missing_ok=True)  # left by a runner killed mid-write; its cell is ours now
                    if not rerun and finished(out, cell.cell_id, repair=True, retry_failed=retry_failed):  # another runner finished it
                        summary.skipped.append(cell.cell_id)
                        continue
                    t0 = time.monotonic()
                    if cell.fault is None:
                        print(f"{head}: training ({cell.params} parameters)", file=err)
                    record = run_cell(cfg, reg, cell, tasks.get((cell.task, cell.distance)), out, command, progress)
                    results.save(out, record)
                    spent.append(time.monotonic() - t0)
                finally:
                    lock.release()
                summary.done.append(cell.cell_id)
                if record.status != "ok":
                    summary.not_ok.append(cell.cell_id)
                eta = (sum(spent) / len(spent)) * (n - i)
                score = (f"token_acc={record.metrics.overall.token_acc:.3f}" if record.status == "ok"
                         else f"{record.status.upper()}: {record.error.message}")
                print(f"{head}: {score} | elapsed {_hms(time.monotonic() - started)}, about {_hms(eta)} left",
                      file=err)
        except (Interrupted, KeyboardInterrupt):
            summary.interrupted = True
    return summary


def _hms(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def run_cell(cfg: RunConfig, reg: Registry, cell: Cell, task: Task | None, out: Path, command: str = "",
             progress: bool = True) -> Record:
    """Train, select by validation, test; return the cell's record whatever happened (ok, diverged, oom, failed).
    A cell whose plugin failed while planning (`cell.fault`, no task) is recorded as failed without training."""
    started, t0 = now(), time.monotonic()
    record: dict[str, Any] = {
        "schema": SCHEMA, "cell_id": cell.cell_id, "status": "ok", "arch": cell.arch, "task": cell.task,
        "distance": cell.distance.label, "seed": cell.seed, "params_budget": cell.params_budget,
        "config": cell.resolved, "plugins": cell.plugins, "params": cell.params, "chance": None if task is None else task.chance,
        "metrics": {"bins": [], "overall": {}, "val": {}}, "throughput": {}, "error": None, "command": command,
    }
    work = out / WORK_DIR / cell.cell_id
    accelerator = cfg.train.accelerator
    device = torch.device("cpu")
    throughput = TrainThroughput(cfg.train.throughput_warmup)
    module = None
    train_s: float | None = None
    try:
        if cell.fault is not None:
            raise cell.fault
        pl.seed_everything(stream_seed(cell.seed, "model") % 2**32, verbose=False)
        model = build_model(reg.arch(cell.arch), cell.shape, cfg.arch_options[cell.arch], task.vocab_size)
        record["params"] = count_params(model)
        bins = edges_to_bins(task.bin_edges(), task.distance.hi)
        module = SeqModule(model, task, cfg.train, cfg.eval, bins)
        data = TaskData(task, cell.seed, cfg.train.batch_size, cfg.eval.n_val, cfg.eval.n_test, cfg.eval.batch_size)
        ckpt = ModelCheckpoint(dirpath=work, monitor="val_loss", mode="min", save_top_k=1, save_last=False,
                               filename="best")
        trainer = _trainer(cfg, [ckpt, throughput], progress)
        device = trainer.strategy.root_device
        reset_peak_memory(device)
        trainer.fit(module, datamodule=data)
        train_s = time.monotonic() - t0
        trainer.test(module, datamodule=data, ckpt_path=ckpt.best_model_path or None, verbose=False)
        mem, mem_kind = peak_memory(device)
        test_src = torch.cat([(b.src != PAD).sum(1) for b in data.sets["test"]]).float()
        test_tgt = torch.cat([(b.tgt != PAD).sum(1) for b in data.sets["test"]]).float()
        record["metrics"] = {
            "bins": module.results["bins"],
            "overall": module.results["overall"],
            "val": {**module.best_validation(), "history": module.val_history},
        }
        record["throughput"] = {
            "train_tokens_per_s": throughput.tokens_per_s, "gen_tokens_per_s": module.results["gen_tokens_per_s"],
            "peak_memory_mb": round(mem, 1), "memory_kind": mem_kind,
            "train_steps_timed": len(throughput.seconds), "gen_batches_timed": module.results["gen_batches_timed"],
            "incremental_generation": is_incremental(model),
            "mean_src_len": float(test_src.mean()), "mean_tgt_len": float(test_tgt.mean()),
        }
    except Diverged as e:
        _fail(record, "diverged", e, cell, reg, step=e.step)
    except torch.cuda.OutOfMemoryError as e:
        _fail(record, "oom", e, cell, reg)
    except RuntimeError as e:
        _fail(record, "oom" if "out of memory" in str(e).lower() else "failed", e, cell, reg)
    except (Exception, SystemExit) as e:  # a plugin that raises (or calls sys.exit) must not sink the matrix
        _fail(record, "failed", e, cell, reg)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if device.type == "cuda":
            del module
            torch.cuda.empty_cache()
    record["env"] = environment(device, accelerator, cfg.train.precision)
    record["times"] = {"started": started, "finished": now(), "wall_s": round(time.monotonic() - t0, 3),
                       "train_s": None if train_s is None else round(train_s, 3)}
    return _validated(record, cell, reg)


def _validated(record: dict[str, Any], cell: Cell, reg: Registry) -> Record:
    """The record checked against the schema; one that fails (e.g. a metric that is not a number) is kept as a
    failed cell naming the field, never written as it is."""
    try:
        return Record.model_validate(record)
    except ValidationError as e:
        bad = RuntimeError(f"the cell's record failed validation: {describe(e)}")
        record["metrics"], record["throughput"] = {}, {}
        _fail(record, "failed", bad, cell, reg)
        return Record.model_validate(record)


def _trainer(cfg: RunConfig, callbacks: list, progress: bool) -> pl.Trainer:
    return pl.Trainer(
        accelerator=cfg.train.accelerator, devices=1, precision=cfg.train.precision,
        max_steps=cfg.train.max_steps, val_check_interval=min(cfg.train.val_every, cfg.train.max_steps),
        check_val_every_n_epoch=None, num_sanity_val_steps=0, limit_train_batches=None,
        gradient_clip_val=cfg.train.grad_clip or None, callbacks=callbacks, logger=False,
        enable_progress_bar=progress, enable_model_summary=False, deterministic="warn",
    )


def _fail(record: dict, status: str, e: BaseException, cell: Cell, reg: Registry, step: int | None = None) -> None:
    record["status"] = status
    text = f"it called sys.exit({e.code!r})" if isinstance(e, SystemExit) else str(e)
    record["error"] = {"type": getattr(e, "error_type", type(e).__name__), "message": text.splitlines()[0][:500] if text else type(e).__name__,
                       "plugin": _blame(e, cell, reg), "step": step}


def _blame(e: BaseException, cell: Cell, reg: Registry) -> str:
    """The plugin whose code raised: the innermost traceback frame inside an architecture's or a task's code."""
    if isinstance(e, PluginFault):
        return e.plugin
    if isinstance(e, ContractError):
        name = cell.arch if e.kind == "architecture" else cell.task
        return f"{e.kind} plugin '{name}' ({reg.owner[(e.kind, name)].name})"
    owners = {}
    for kind, name in (("architecture", cell.arch), ("task", cell.task)):
        spec = reg.arch(name) if kind == "architecture" else reg.task(name)
        module = sys.modules.get(getattr(spec.build, "__module__", None) or "")
        if module is not None and getattr(module, "__file__", None):
            owners[_code_root(module)] = f"{kind} plugin '{name}' ({reg.owner[(kind, name)].name})"
    for frame in reversed(traceback.extract_tb(e.__traceback__)):
        path = str(Path(frame.filename).resolve())
        for root, who in owners.items():
            if path.startswith(root):
                return who
    return "seqbench"


def _code_root(module: Any) -> str:
    """Where a plugin's code lives: its folder for built-ins and packages, its file for a single module."""
    top = sys.modules.get(module.__name__.split(".")[0])
    if module.__name__.startswith("seqbench."):
        return str(Path(module.__file__).resolve().parent)
    if top is not None and hasattr(top, "__path__") and getattr(top, "__file__", None):
        return str(Path(top.__file__).resolve().parent)
    return str(Path(module.__file__).resolve())
