"""Step three of configuration: the cells of the matrix, each fully resolved, sized and identified.

Every architecture is sized to every parameter budget and every task built at every distance before anything
trains, so a run that cannot finish is refused up front. The machine is checked too: an accelerator or precision it
cannot run is refused before any cell starts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import torch

from seqbench.contract.checks import ContractError, check_task
from seqbench.contract.errors import ConfigError, PluginFault, UserError
from seqbench.host.block import HOST_BLOCK
from seqbench.contract.registry import Registry
from seqbench.host.sizing import build_model, count_params, params_at, size_to_budget
from seqbench.contract.specs import Distance, ModelShape, Task
from seqbench.records.schema import Header, PluginRef
from seqbench.records.settings import CellConfig, EvalSettings, ModelSettings, TrainSettings
from seqbench.run import config as C
from seqbench.run import hostcode


@dataclass(frozen=True)
class Cell:
    """One (architecture, task, distance, parameter budget, learning rate, seed) cell, fully resolved."""

    arch: str
    task: str
    distance: Distance
    seed: int
    params_budget: int | None
    lr: float  # the peak learning rate this cell trains with
    model: C.ModelConfig  # with d_model sized to the budget when there is one
    train: C.TrainConfig  # the architecture's defaults under the configuration's values
    params: int | None  # actual parameter count (None when planning failed)
    max_len: int  # the longest stream the model is built for
    cell_id: str
    resolved: CellConfig  # the record's "config"
    plugins: dict[str, PluginRef]  # the record's "plugins": arch, task and host
    fault: PluginFault | None = None  # plugin code failed while planning: the cell is recorded as failed

    def header(self, command: str = "", chance: float | None = None) -> Header:
        """The cell's record before any result (`Record.ok`, `Record.failed`)."""
        return Header(cell_id=self.cell_id, arch=self.arch, task=self.task, distance=self.distance.label,
                      seed=self.seed, params_budget=self.params_budget, lr=self.lr, config=self.resolved,
                      plugins=self.plugins, params=self.params, chance=chance, command=command)

    @property
    def shape(self) -> ModelShape:
        """The sizes the cell's model is built at."""
        return model_shape(self.model, self.max_len)

    @property
    def name(self) -> str:
        return f"{self.arch}/{self.task}/d={self.distance.label}/seed={self.seed}/lr={self.lr:g}"


def model_shape(model: C.ModelConfig, max_len: int) -> ModelShape:
    return ModelShape(model.d_model, model.n_layers, model.n_heads, model.dropout, max_len)


def build_task(reg: Registry, name: str, options: Any, distance: Distance) -> Task:
    """Build a task, turning its refusals (UserError, ValueError, OSError) into one-line configuration errors and
    any other failure of its code into a `PluginFault`."""
    try:
        return check_task(reg.task(name).build(options, distance), name)
    except UserError:
        raise
    except (ValueError, OSError) as e:
        raise ConfigError(f"task.{name} at distance {distance.label}: {e}") from None
    except (Exception, SystemExit) as e:
        raise PluginFault(reg.who("task", name), e, f"building task '{name}' at distance {distance.label}") from e


def device_type(accelerator: str) -> str:
    """The device type cells will run on, refusing an accelerator this machine does not have."""
    cuda, mps = torch.cuda.is_available(), bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    have = "a CUDA GPU" if cuda else "Apple MPS" if mps else "a CPU only"
    if accelerator in ("gpu", "cuda") and not cuda:
        raise ConfigError(f"train.accelerator={accelerator} needs a CUDA GPU; this machine has {have}: "
                          "use auto or cpu")
    if accelerator == "mps" and not mps:
        raise ConfigError(f"train.accelerator=mps needs Apple MPS; this machine has {have}: use auto or cpu")
    if accelerator == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    return "cuda" if accelerator == "gpu" else accelerator


def check_machine(cfg: C.RunConfig, train: C.TrainConfig) -> str:
    """The device type, refusing a precision the device cannot run (Lightning would swap it with a warning and
    the record would state something that did not happen)."""
    device = device_type(train.accelerator)
    if device == "cpu" and train.precision == "16-mixed":
        raise ConfigError("train.precision=16-mixed needs a GPU; cells run on the CPU here: use 32-true or bf16-mixed")
    if device == "cuda" and "bf16" in train.precision and not torch.cuda.is_bf16_supported():
        raise ConfigError(f"train.precision={train.precision}: this GPU does not support bf16; use 16-mixed or 32-true")
    if train.devices > 1:
        _check_devices(device, train)
    if device == "mps" and train.precision not in ("32-true", "16-mixed"):
        raise ConfigError(f"train.precision={train.precision} does not run on Apple MPS; use 32-true or 16-mixed")
    return device


def _check_devices(device: str, train: C.TrainConfig) -> None:
    """Several devices per cell: DDP on CPUs (gloo) or CUDA GPUs (nccl), the batch split evenly between them."""
    if device == "mps":
        raise ConfigError("train.devices > 1 does not run on Apple MPS; use devices = 1")
    if device == "cuda" and torch.cuda.device_count() < train.devices:
        raise ConfigError(f"train.devices={train.devices}: this machine has {torch.cuda.device_count()} GPU(s)")
    if train.batch_size % train.devices:
        raise ConfigError(f"train.batch_size={train.batch_size} must be a multiple of train.devices={train.devices} "
                          "(each device trains on its own slice of every batch)")


def check_select(eval_cfg: C.EvalConfig, name: str, task: Task) -> None:
    """`eval.select` must be a score every validation of the task measures."""
    if eval_cfg.select == "val_gen_acc":
        return
    metrics = sorted(task.text_metrics())
    if eval_cfg.select not in metrics:
        raise ConfigError(f"eval.select={eval_cfg.select!r}: task '{name}' validates on val_gen_acc"
                          + (f" or its text metrics {', '.join(metrics)}" if metrics else " only (it has no text metric)"))
    if eval_cfg.val_generate == 0:
        raise ConfigError(f"eval.select={eval_cfg.select!r} is scored on the first eval.val_generate validation "
                          f"examples: set eval.val_generate above 0")


def plan(cfg: C.RunConfig, reg: Registry) -> tuple[list[Cell], dict[tuple[str, Distance], Task]]:
    """Every cell of the matrix, sized and identified, and the built tasks they use. A task or architecture whose
    code fails here makes its cells failed ones (`Cell.fault`); the rest of the matrix is planned as usual."""
    tasks: dict[tuple[str, Distance], Task] = {}
    broken: dict[tuple[str, Distance], PluginFault] = {}
    for name in cfg.matrix.tasks:
        for d in cfg.distances[name]:
            try:
                tasks[(name, d)] = build_task(reg, name, cfg.task_options[name], d)
            except PluginFault as fault:
                broken[(name, d)] = fault
    for (name, d), task in tasks.items():
        check_select(cfg.eval, name, task)
    trains = {(arch, task): [cfg.train_for(reg.arch(arch).train, lr)
                             for lr in (cfg.matrix.lrs or (cfg.lr_for(arch, task),))]
              for arch in cfg.matrix.archs for task in cfg.matrix.tasks}
    for arch_trains in trains.values():
        for train in arch_trains:
            check_machine(cfg, train)
    cells: list[Cell] = []
    sized: dict[tuple, tuple[C.ModelConfig, int | None, PluginFault | None]] = {}
    budgets: tuple[int | None, ...] = cfg.matrix.params or (None,)
    for task_name in cfg.matrix.tasks:
        for d in cfg.distances[task_name]:
            if (task_name, d) in broken:
                cells += [_cell(cfg, reg, arch, task_name, d, seed, budget, cfg.model, train, None, cfg.model.max_len,
                                broken[(task_name, d)])
                          for arch in cfg.matrix.archs for budget in budgets for train in trains[(arch, task_name)]
                          for seed in cfg.matrix.seeds]
                continue
            task = tasks[(task_name, d)]
            stream = task.max_src_len + 1 + task.max_tgt_len
            if cfg.model.max_len and stream > cfg.model.max_len:
                raise ConfigError(
                    f"task '{task_name}' at distance {d.label} needs sequences of {stream} tokens, longer than "
                    f"model.max_len={cfg.model.max_len}; lower the distance or raise model.max_len"
                )
            max_len = cfg.model.max_len or stream
            for arch in cfg.matrix.archs:
                spec = reg.arch(arch)
                for budget in budgets:
                    key = (arch, task.vocab_size, max_len, budget)
                    if key not in sized:
                        sized[key] = _size(spec, cfg, reg, arch, task, max_len, budget)
                    model_cfg, n_params, fault = sized[key]
                    for train in trains[(arch, task_name)]:
                        for seed in cfg.matrix.seeds:
                            cells.append(_cell(cfg, reg, arch, task_name, d, seed, budget, model_cfg, train,
                                               n_params, max_len, fault))
    return cells, tasks


def _size(spec, cfg: C.RunConfig, reg: Registry, arch: str, task: Task, max_len: int, budget: int | None):
    """(model config, parameter count, None), or (unsized config, None, fault) when the plugin's build fails on the
    meta device. A budget the architecture cannot meet is the user's: a `ConfigError`."""
    options = cfg.arch_options[arch]
    shape = model_shape(cfg.model, max_len)
    try:
        if budget is None:
            with torch.device("meta"):
                return cfg.model, count_params(build_model(spec, shape, options, task.vocab_size)), None
        sized, _ = size_to_budget(spec, shape, options, task.vocab_size, budget)  # its body (no embeddings) count
        total = params_at(spec, sized, options, task.vocab_size, sized.d_model)
        return dataclasses.replace(cfg.model, d_model=sized.d_model, n_heads=sized.n_heads), total, None
    except UserError:
        raise
    except ContractError as e:  # build returned no model: every cell would fail the same way, refused up front
        raise ConfigError(f"{reg.who('architecture', arch)}: {e}") from None
    except (Exception, SystemExit) as e:
        fault = PluginFault(reg.who("architecture", arch), e, "build() failed while sizing the model on the meta "
                                                             "device (see seqbench.contract.hookspecs)")
        return cfg.model, None, fault


# Settings added after records existed: at these values they stay out of the cell id, so older records keep theirs.
NEUTRAL = {"train": {"devices": 1, "strategy": "auto", "min_delta": 0.0}}


def _identity(resolved: dict[str, Any]) -> dict[str, Any]:
    """What a cell id covers: the resolved configuration less the settings at their `NEUTRAL` values."""
    return {**resolved, **{section: {k: v for k, v in resolved[section].items() if NEUTRAL[section].get(k, ...) != v}
                           for section in NEUTRAL}}


def _options(options: Any) -> dict[str, Any]:
    """A plugin's options dataclass as the JSON values a record holds (tuples as lists)."""
    return json.loads(json.dumps(dataclasses.asdict(options), default=str))


def _cell(cfg, reg, arch, task_name, d, seed, budget, model_cfg, train, n_params, max_len, fault=None) -> Cell:
    resolved = CellConfig(
        arch=arch, task=task_name, distance=d.label, seed=seed, params_budget=budget,
        model=ModelSettings(**dataclasses.asdict(model_cfg)), max_len=max_len,
        train=TrainSettings(**dataclasses.asdict(train)), eval=EvalSettings(**dataclasses.asdict(cfg.eval)),
        task_options=_options(cfg.task_options[task_name]), arch_options=_options(cfg.arch_options[arch]),
        host_block=HOST_BLOCK,
    )
    plugins = {"arch": reg.ref("architecture", arch), "task": reg.ref("task", task_name), "host": hostcode.ref()}
    identity = {"config": _identity(resolved.to_dict()), "plugins": {k: v.model_dump() for k, v in plugins.items()}}
    blob = json.dumps(identity, sort_keys=True, default=str)
    cell_id = hashlib.sha256(blob.encode()).hexdigest()[:16]
    return Cell(arch, task_name, d, seed, budget, train.lr, model_cfg, train, n_params, max_len, cell_id, resolved,
                plugins, fault)
