"""One cell, start to finish: build the model, train it with Lightning, choose the checkpoint on validation, test
it, and return its record, whatever happened (ok, diverged, oom, failed). Nothing here writes the record or holds a
lock: the runner does that, so a cell can run in any process (or on another machine)."""

from __future__ import annotations

import logging
import shutil
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import pytorch_lightning as pl
import torch
from pydantic import ValidationError
from pytorch_lightning.callbacks import ModelCheckpoint

from seqbench.contract import ContractDeprecation
from seqbench.contract.checks import ContractError
from seqbench.host.beam import can_beam
from seqbench.contract.errors import PluginFault, UserError
from seqbench.host.generate import is_incremental
from seqbench.contract.registry import Registry
from seqbench.host.sizing import build_model, count_params
from seqbench.contract.specs import PAD, Task
from seqbench.records.distance import edges_to_bins
from seqbench.records.schema import (Env, Error, Header, Metrics, Record, Status, Throughput, Times, Validation,
                                     describe)
from seqbench.run.config import EvalConfig, TrainConfig
from seqbench.run import gradients, weights
from seqbench.run.data import TaskData, stream_seed
from seqbench.run.env import environment, load_average
from seqbench.run.measure import GenerationThroughput, Progress, TrainFlops, TrainThroughput, peak_memory, reset_peak_memory
from seqbench.run.module import Diverged, SeqModule
from seqbench.run import ranks
from seqbench.run.plan import Cell
from seqbench.run.stopping import StopRule, improving, monitored, stop_reason

for _name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning.fabric"):
    logging.getLogger(_name).setLevel(logging.WARNING)  # no banners per cell ("GPU available", "Restoring states")

# Warnings that say nothing about the cell's results: Lightning's advice on data loading and its own deprecations.
# Everything else a cell raises (non-deterministic kernels, precision fallbacks...) goes into its record.
NOISE = ("LeafSpec", "transfer_batch_to_device", "litlogger", "does not have many workers", "num_workers",
         "IterableDataset", "has `shuffle=True`", "GPU available but not used", "TPU available", "HPU available",
         "that has no `len()`", "log_every_n_steps", "the sum of the validation", "Checkpoint directory")


RECORD_PARTS = {m.__name__ for m in (Metrics, Throughput, Validation, Record)}  # a ValidationError of these: the
# cell's results broke the record's schema (any other comes from a plugin's own code)

SHOW_TRACEBACKS = False  # `run --debug` (cells then run in its process): a failed cell's traceback on stderr too


def denormals_flushed() -> bool:
    """Whether this thread treats denormal floats as zero now (a denormal times one comes out zero)."""
    return float(torch.tensor([1e-40], dtype=torch.float32) * 1.0) == 0.0


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class CellInputs:
    """What one cell needs besides the registry: picklable, so a cell can run in another process."""

    cell: Cell
    task: Task | None  # None when the task's plugin failed while planning (`cell.fault`)
    eval: EvalConfig
    arch_options: Any
    command: str = ""
    work: Path | None = None  # where checkpoints go (deleted after); None: a temporary folder
    logger: Any = None  # a factory of a Lightning logger for this cell, or None
    weights: Path | None = None  # where to keep the trained weights (`seqbench.run.weights`); None: not kept


def run_cell(inputs: CellInputs, reg: Registry, on_progress: Callable[[dict], None] | None = None) -> Record | None:
    """Train, select by validation, test; return the cell's record. A cell whose plugin failed while planning
    (`cell.fault`) is recorded as failed without training. On several devices (`seqbench.run.ranks` starts a
    process per rank), every rank trains, rank zero alone tests and returns the record, the others return None
    (or a failed record when their training failed)."""
    cell, train_cfg = inputs.cell, inputs.cell.train
    flushing = denormals_flushed()
    started, t0, cpu0 = now(), time.monotonic(), time.process_time()
    header = cell.header(inputs.command, None if inputs.task is None else inputs.task.chance)
    work = Path(inputs.work) if inputs.work else Path(tempfile.mkdtemp(prefix="seqbench-"))
    ran = _Ran(torch.device("cpu"), train_cfg.precision)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if cell.fault is not None:
                raise cell.fault
            if not _train_and_test(inputs, reg, work, on_progress, ran, t0):
                return None  # rank zero tests and returns the record
        except (Exception, SystemExit) as e:  # a plugin that raises (or calls sys.exit) must not sink the matrix
            ran.error = _error(e, cell, reg)
        finally:
            torch.set_flush_denormal(flushing)  # a cell in the caller's process leaves its float mode as it was
            shutil.rmtree(work, ignore_errors=True)
            if ran.device.type == "cuda":  # the model is gone with _train_and_test's frame
                torch.cuda.empty_cache()
    env = environment(ran.device, train_cfg.accelerator, ran.precision)
    times = Times(started=started, finished=now(), wall_s=round(time.monotonic() - t0, 3),
                  train_s=None if ran.train_s is None else round(ran.train_s, 3),
                  cpu_s=round(time.process_time() - cpu0, 3), load_avg=load_average())
    return _record(header.model_copy(update={"params": ran.params}) if ran.params is not None else header,
                   ran, env, times, _kept(caught), cell, reg)


@dataclass
class _Ran:
    """What the cell got to, filled in as it goes: where it trained and for how long (known once its trainer
    exists; the record keeps them even when the cell fails), its results, or the error that ended it."""

    device: torch.device
    precision: str
    train_s: float | None = None
    params: int | None = None  # counted on the built model
    metrics: Metrics | None = None
    throughput: Throughput | None = None
    artifacts: dict[str, str] = field(default_factory=dict)
    error: tuple[Status, Error] | None = None


def _train_and_test(inputs: CellInputs, reg: Registry, work: Path, on_progress: Callable[[dict], None] | None,
                    ran: _Ran, t0: float) -> bool:
    """Build, train and test the cell, its metrics and throughput into `ran`; False on a rank other than zero,
    which only trains."""
    cell, task, train_cfg = inputs.cell, inputs.task, inputs.cell.train
    throughput, generation = TrainThroughput(train_cfg.throughput_warmup), GenerationThroughput()
    pl.seed_everything(stream_seed(cell.seed, "model") % 2**32, verbose=False)
    model = build_model(reg.arch(cell.arch), cell.shape, inputs.arch_options, task.vocab_size)
    ran.params = count_params(model)
    decoding = _decoding(inputs.eval, model)  # refuses beam search on a model that cannot reorder
    bins = edges_to_bins(task.bin_edges(), task.distance.hi)
    module = SeqModule(model, task, train_cfg, inputs.eval, bins, cell.max_len)
    data = TaskData(task, cell.seed, train_cfg.batch_size, inputs.eval, bins, bucket=train_cfg.bucket)
    data.setup("fit")  # the test set, for the gradient reach at initialisation
    probe = gradients.Probe(task, data.sets["test"], bins, inputs.eval.grad_examples, inputs.eval.batch_size)
    probe.measure(model, gradients.INIT)
    ckpt = ModelCheckpoint(dirpath=work, monitor=monitored(inputs.eval.select), mode="max", save_top_k=1, save_last=False,
                           filename="best", save_weights_only=True)  # the first best, as best_validation
    rule, flops = StopRule(train_cfg, inputs.eval.select), TrainFlops()
    progress = [Progress(cell.cell_id, on_progress)] if on_progress else []
    trainer = _trainer(train_cfg, [ckpt, throughput, generation, flops, rule, *progress],
                       inputs.logger(cell) if inputs.logger else False)
    torch.set_flush_denormal(train_cfg.flush_denormal)  # CPU only; run_cell puts it back (it is per thread)
    ran.device, ran.precision = trainer.strategy.root_device, str(trainer.precision)
    reset_peak_memory(ran.device)
    trainer.fit(module, datamodule=data)
    ran.train_s = time.monotonic() - t0
    reason = stop_reason(rule, trainer.global_step, train_cfg)
    if trainer.world_size > 1:
        ranks.close_group()
        if trainer.global_rank:
            return False
    tester = trainer if trainer.world_size == 1 else _tester(train_cfg)
    tester.test(module, datamodule=data, ckpt_path=ckpt.best_model_path or None, verbose=False)
    probe.measure(module.model, gradients.TRAINED)
    mem, mem_kind = peak_memory(ran.device)
    ran.metrics = Metrics(  # typed here: a score that is not a number fails the cell now, naming the field
        bins=probe.into(module.results["bins"]),
        overall=module.results["overall"],
        val=Validation(**module.best_validation(), history=module.val_history,
                       stopped=None if reason == "budget" else reason, stop_reason=reason,
                       improving=improving(module.val_history, train_cfg, inputs.eval.select)),
        text_metrics=sorted(task.text_metrics()),
        text_signatures=module.results["text_signatures"],
        decoding=decoding,
    )
    ran.throughput = Throughput(
        train_tokens_per_s=throughput.tokens_per_s, gen_tokens_per_s=generation.tokens_per_s,
        peak_memory_mb=round(mem, 1), memory_kind=mem_kind,
        train_steps_timed=len(throughput.seconds), gen_batches_timed=len(generation.seconds),
        incremental_generation=is_incremental(model), **_mean_lengths(data.sets["test"]),
        train_steps=trainer.global_step, **flops.record(),
    )
    if inputs.weights is not None:
        about = weights.describe(inputs.cell.header(inputs.command, task.chance), task.vocab_size)
        ran.artifacts = {weights.WEIGHTS: weights.save(module.model, inputs.weights, about)}
    return True


def _mean_lengths(test: list[Any]) -> dict[str, float]:
    """Mean real (non-padding) source and target lengths of the test batches."""
    return {"mean_src_len": float(torch.cat([(b.src != PAD).sum(1) for b in test]).float().mean()),
            "mean_tgt_len": float(torch.cat([(b.tgt != PAD).sum(1) for b in test]).float().mean())}


def _decoding(cfg: EvalConfig, model: torch.nn.Module) -> str:
    """How the test set is decoded; beam search on a model without `reorder` fails the cell before it trains."""
    if cfg.beam_width == 1:
        return "greedy"
    if not can_beam(model):
        raise UserError(f"eval.beam_width={cfg.beam_width}: beam search needs incremental generation with "
                        "reorder(state, index) (seqbench.contract.specs.Reorderable); this architecture has none")
    return f"beam {cfg.beam_width}, length penalty {cfg.length_penalty:g}"


def _kept(caught: list[warnings.WarningMessage]) -> list[str]:
    """The cell's warnings that bear on its results, each once: `Category: first line`."""
    kept: dict[str, None] = {}
    for w in caught:
        text = str(w.message).strip().splitlines()[0] if str(w.message).strip() else ""
        if text and not any(n in text for n in NOISE) and (not issubclass(w.category, DeprecationWarning)
                                                           or issubclass(w.category, ContractDeprecation)):
            kept[f"{w.category.__name__}: {text[:300]}"] = None
    return list(kept)


def _record(header: Header, ran: _Ran, env: Env, times: Times, kept: list[str], cell: Cell,
            reg: Registry) -> Record:
    """The cell's record: ok with its results, or failed with its error. Results that break the record's rules
    (checked together, e.g. a text metric of the task missing from `overall`) fail the cell, naming the rule."""
    if ran.error is None:
        try:
            return Record.ok(header, metrics=ran.metrics, throughput=ran.throughput, env=env, times=times,
                             warnings=kept, artifacts=ran.artifacts)
        except ValidationError as e:
            ran.error = _error(e, cell, reg)
    status, error = ran.error
    return Record.failed(header, status=status, error=error, env=env, times=times, warnings=kept)


def _trainer(train: TrainConfig, callbacks: list, logger: Any) -> pl.Trainer:
    # deterministic="warn" asks torch for deterministic kernels, which also fills every new tensor with NaN before a
    # kernel writes it (5% of an LSTM step on a CPU); the kernels stay deterministic without that fill.
    torch.utils.deterministic.fill_uninitialized_memory = False
    return pl.Trainer(
        accelerator=train.accelerator, devices=train.devices, strategy=ranks.strategy(train.devices),
        precision=train.precision,
        max_steps=train.max_steps, max_time=None if train.max_time is None else timedelta(seconds=train.max_time),
        val_check_interval=min(train.val_every, train.max_steps), check_val_every_n_epoch=None,
        num_sanity_val_steps=0, limit_train_batches=None, gradient_clip_val=train.grad_clip or None,
        callbacks=callbacks, logger=logger, log_every_n_steps=max(1, min(50, train.val_every)),
        use_distributed_sampler=False,  # every rank validates on the whole validation set
        enable_progress_bar=False, enable_model_summary=False, deterministic="warn",
    )


def _tester(train: TrainConfig) -> pl.Trainer:
    """After training on several ranks, a trainer on rank zero's device alone."""
    return pl.Trainer(accelerator=train.accelerator, devices=1, precision=train.precision, logger=False,
                      enable_progress_bar=False, enable_model_summary=False, deterministic="warn")


def _error(e: BaseException, cell: Cell, reg: Registry) -> tuple[Status, Error]:
    """Why the cell ended: diverged (with the step), oom (CUDA's, or a RuntimeError that says so), or failed (a
    result that broke the record's schema says which field)."""
    status: Status = "failed"
    if isinstance(e, Diverged):
        status = "diverged"
    elif isinstance(e, torch.cuda.OutOfMemoryError) or (isinstance(e, RuntimeError)
                                                        and "out of memory" in str(e).lower()):
        status = "oom"
    if SHOW_TRACEBACKS:
        print(f"seqbench: cell {cell.name} {status}:", file=sys.stderr)
        traceback.print_exception(type(e), e, e.__traceback__, file=sys.stderr)
    if isinstance(e, ValidationError) and e.title in RECORD_PARTS:
        text, kind = f"the cell's record failed validation: {describe(e)}", "RuntimeError"
    else:
        text = f"it called sys.exit({e.code!r})" if isinstance(e, SystemExit) else str(e)
        kind = getattr(e, "error_type", type(e).__name__)
    return status, Error(type=kind, message=text.splitlines()[0][:500] if text else type(e).__name__,
                         plugin=_blame(e, cell, reg), step=e.step if isinstance(e, Diverged) else None)


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
