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

from seqbench.contract.errors import ConfigError, UserError
from seqbench.contract.registry import Registry
from seqbench.contract.sizing import build_model, count_params, size_to_budget
from seqbench.contract.specs import Distance, Task
from seqbench.run import config as C


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
    params: int  # actual parameter count
    max_len: int  # the longest stream the model is built for
    cell_id: str
    resolved: dict[str, Any]  # the record's "config"
    plugins: dict[str, Any]  # the record's "plugins"

    @property
    def name(self) -> str:
        return f"{self.arch}/{self.task}/d={self.distance.label}/seed={self.seed}/lr={self.lr:g}"


def build_task(reg: Registry, name: str, options: Any, distance: Distance) -> Task:
    """Build a task, turning its refusals into one-line configuration errors."""
    try:
        task = reg.task(name).build(options, distance)
    except UserError:
        raise
    except (ValueError, OSError) as e:
        raise ConfigError(f"task.{name} at distance {distance.label}: {e}") from None
    if not isinstance(task, Task):
        raise UserError(f"task plugin '{name}' returned {type(task).__name__} from build(), not a seqbench Task")
    return task


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
    if device == "mps" and train.precision not in ("32-true", "16-mixed"):
        raise ConfigError(f"train.precision={train.precision} does not run on Apple MPS; use 32-true or 16-mixed")
    return device


def plan(cfg: C.RunConfig, reg: Registry) -> tuple[list[Cell], dict[tuple[str, Distance], Task]]:
    """Every cell of the matrix, sized and identified, and the built tasks they use."""
    tasks: dict[tuple[str, Distance], Task] = {}
    for name in cfg.matrix.tasks:
        for d in cfg.distances[name]:
            tasks[(name, d)] = build_task(reg, name, cfg.task_options[name], d)
    trains = {arch: [cfg.train_for(reg.arch(arch).train, lr) for lr in (cfg.matrix.lrs or (None,))]
              for arch in cfg.matrix.archs}
    for arch_trains in trains.values():
        for train in arch_trains:
            check_machine(cfg, train)
    cells: list[Cell] = []
    sized: dict[tuple, tuple[C.ModelConfig, int]] = {}
    budgets: tuple[int | None, ...] = cfg.matrix.params or (None,)
    for task_name in cfg.matrix.tasks:
        for d in cfg.distances[task_name]:
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
                        sized[key] = _size(spec, cfg, arch, task, max_len, budget)
                    model_cfg, n_params = sized[key]
                    for train in trains[arch]:
                        for seed in cfg.matrix.seeds:
                            cells.append(_cell(cfg, reg, arch, task_name, d, seed, budget, model_cfg, train,
                                               n_params, max_len))
    return cells, tasks


def _size(spec, cfg: C.RunConfig, arch: str, task: Task, max_len: int, budget: int | None):
    options = cfg.arch_options[arch]
    if budget is None:
        with torch.device("meta"):
            try:
                n = count_params(build_model(spec, cfg.model, options, task.vocab_size, max_len))
            except (ValueError, TypeError) as e:
                raise ConfigError(f"architecture '{arch}' cannot be built with this model config: {e}") from None
        return cfg.model, n
    try:
        return size_to_budget(spec, cfg.model, options, task.vocab_size, max_len, budget)
    except (ValueError, TypeError) as e:
        if isinstance(e, UserError):
            raise
        raise ConfigError(f"architecture '{arch}' cannot be sized to {budget} parameters: {e}") from None


def _cell(cfg, reg, arch, task_name, d, seed, budget, model_cfg, train, n_params, max_len) -> Cell:
    resolved = {
        "arch": arch,
        "task": task_name,
        "distance": d.label,
        "seed": seed,
        "params_budget": budget,
        "model": dataclasses.asdict(model_cfg),
        "max_len": max_len,
        "train": dataclasses.asdict(train),
        "eval": dataclasses.asdict(cfg.eval),
        "task_options": dataclasses.asdict(cfg.task_options[task_name]),
        "arch_options": dataclasses.asdict(cfg.arch_options[arch]),
    }
    plugins = {"arch": reg.version_of("architecture", arch), "task": reg.version_of("task", task_name)}
    blob = json.dumps({"config": resolved, "plugins": plugins}, sort_keys=True, default=str)
    cell_id = hashlib.sha256(blob.encode()).hexdigest()[:16]
    return Cell(arch, task_name, d, seed, budget, train.lr, model_cfg, train, n_params, max_len, cell_id, resolved,
                plugins)
