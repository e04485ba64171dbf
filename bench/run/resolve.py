"""From profile, TOML file, flags and `--set` overrides to a validated `RunConfig` and the list of cells to run.

Everything that can be checked is checked here, before any training: names, keys, types, ranges, that every task
can be built at every distance (data files included), that every parameter budget fits every architecture, and
that every sequence fits `model.max_len`.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

import torch

from seqbench.run import config as C
from seqbench.contract.checks import check_task
from seqbench.contract.errors import ConfigError, PluginFault, UserError, unknown
from seqbench.contract.host import HOST_BLOCK
from seqbench.contract.registry import Registry
from seqbench.contract.sizing import build_model, count_params, size_to_budget
from seqbench.contract.specs import Distance, ModelShape, Task

SECTIONS = ("matrix", "model", "train", "eval", "task", "arch")
DEFAULT_PROFILE = "quick"


@dataclass(frozen=True)
class Cell:
    """One (architecture, task, distance, seed, parameter budget) cell, fully resolved."""

    arch: str
    task: str
    distance: Distance
    seed: int
    params_budget: int | None
    model: C.ModelConfig  # with d_model sized to the budget when there is one
    params: int | None  # actual parameter count (None when planning failed)
    max_len: int  # the longest stream the model is built for
    cell_id: str
    resolved: dict[str, Any]  # the record's "config"
    plugins: dict[str, dict[str, Any]]  # the record's "plugins": arch and task as `PluginRef` data
    fault: PluginFault | None = None  # plugin code failed while planning: the cell is recorded as failed

    @property
    def shape(self) -> ModelShape:
        """The sizes the cell's model is built at."""
        return model_shape(self.model, self.max_len)


def model_shape(model: C.ModelConfig, max_len: int) -> ModelShape:
    return ModelShape(model.d_model, model.n_layers, model.n_heads, model.dropout, max_len)


def profiles() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("seqbench.profiles").iterdir() if p.name.endswith(".toml"))


def load_profile(name: str) -> dict[str, Any]:
    if name not in profiles():
        raise unknown("profile", name, profiles())
    return tomllib.loads(resources.files("seqbench.profiles").joinpath(f"{name}.toml").read_text(encoding="utf-8"))


def load_toml(path: str | Path) -> dict[str, Any]:
    """A TOML config file; a syntax error names the file, line and column."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {p} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"config file {p} cannot be read: {e}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {p} is not valid TOML: {e}") from None


def parse_set(item: str) -> tuple[list[str], Any]:
    """`train.lr=1e-3` -> (["train", "lr"], 0.001). Values are read as TOML values when they parse, else as text."""
    if "=" not in item:
        raise ConfigError(f"--set takes section.key=value (e.g. train.lr=1e-3), got {item!r}")
    key, text = item.split("=", 1)
    path = [p.strip() for p in key.strip().split(".")]
    if len(path) < 2 or not all(path):
        raise ConfigError(f"--set key must name a section and a key (e.g. train.lr), got {key.strip()!r}")
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text.strip()
    return path, value


def merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge: tables merge key by key, everything else is replaced."""
    out = copy.deepcopy(base)
    for k, v in override.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def set_path(raw: dict[str, Any], path: list[str], value: Any) -> None:
    node = raw
    for p in path[:-1]:
        nxt = node.setdefault(p, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"--set {'.'.join(path)}: '{p}' is a value, not a section")
        node = nxt
    node[path[-1]] = value


def resolve(raw: Mapping[str, Any], reg: Registry) -> C.RunConfig:
    """Validate the merged configuration dict into a `RunConfig`."""
    for key in raw:
        if key not in SECTIONS:
            raise C.unknown_key("", key, list(SECTIONS), what="section")
    matrix = C.build(C.MatrixConfig, raw.get("matrix", {}), "matrix")
    for name in matrix.archs:
        reg.arch(name)
    for name in matrix.tasks:
        reg.task(name)
    task_raw = _section(raw, "task")
    arch_raw = _section(raw, "arch")
    common = task_raw.get("distance")
    distances: dict[str, tuple[Distance, ...]] = {}
    task_options: dict[str, Any] = {}
    for key in task_raw:
        if key != "distance" and key not in reg.tasks:
            raise C.unknown_key("task", key, ["distance", *reg.tasks])
    for name in sorted(set(matrix.tasks) | (set(task_raw) - {"distance"})):
        spec = reg.task(name)
        own = dict(_section(task_raw, name, "task."))
        where = f"task.{name}.distance" if "distance" in own else "task.distance"
        setting = own.pop("distance", common)
        distances[name] = _distances(list(spec.default_distances) if setting is None else setting, where)
        task_options[name] = C.build(spec.options, own, f"task.{name}")
    arch_options: dict[str, Any] = {}
    for key in arch_raw:
        if key not in reg.archs:
            raise C.unknown_key("arch", key, list(reg.archs))
    for name in sorted(set(matrix.archs) | set(arch_raw)):
        arch_options[name] = C.build(reg.arch(name).options, _section(arch_raw, name, "arch."), f"arch.{name}")
    return C.RunConfig(
        matrix=matrix,
        model=C.build(C.ModelConfig, raw.get("model", {}), "model"),
        train=C.build(C.TrainConfig, raw.get("train", {}), "train"),
        eval=C.build(C.EvalConfig, raw.get("eval", {}), "eval"),
        distances=distances,
        task_options=task_options,
        arch_options=arch_options,
    )


def _section(raw: Mapping[str, Any], name: str, parent: str = "") -> Mapping[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{parent}{name} must be a section of key = value, got {value!r}")
    return value


def _distances(setting: Any, where: str) -> tuple[Distance, ...]:
    items = setting if isinstance(setting, (list, tuple)) else (
        [s for s in str(setting).split(",") if s.strip()] if isinstance(setting, str) else [setting])
    if not items:
        raise ConfigError(f"{where}: give at least one distance (e.g. 100 or 10-100)")
    out = []
    for item in items:
        try:
            out.append(Distance.parse(item))
        except ValueError as e:
            raise ConfigError(f"{where}: {e}") from None
    if len(set(out)) != len(out):
        raise ConfigError(f"{where}: a distance setting is listed twice: {[d.label for d in out]}")
    return tuple(out)


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
    cells: list[Cell] = []
    sized: dict[tuple, tuple[C.ModelConfig, int | None, PluginFault | None]] = {}
    budgets: tuple[int | None, ...] = cfg.model.params or (None,)
    unsized = dataclasses.replace(cfg.model, params=())
    for task_name in cfg.matrix.tasks:
        for d in cfg.distances[task_name]:
            if (task_name, d) in broken:
                cells += [_cell(cfg, reg, arch, task_name, d, seed, budget, unsized, None, cfg.model.max_len,
                                broken[(task_name, d)])
                          for arch in cfg.matrix.archs for budget in budgets for seed in cfg.matrix.seeds]
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
                    for seed in cfg.matrix.seeds:
                        cells.append(_cell(cfg, reg, arch, task_name, d, seed, budget, model_cfg, n_params, max_len,
                                           fault))
    return cells, tasks


def _size(spec, cfg: C.RunConfig, reg: Registry, arch: str, task: Task, max_len: int, budget: int | None):
    """(model config, parameter count, None), or (unsized config, None, fault) when the plugin's build fails on the
    meta device. A budget the architecture cannot meet is the user's: a `ConfigError`."""
    options = cfg.arch_options[arch]
    shape = model_shape(cfg.model, max_len)
    try:
        if budget is None:
            with torch.device("meta"):
                return dataclasses.replace(cfg.model, params=()), count_params(
                    build_model(spec, shape, options, task.vocab_size)), None
        sized, n = size_to_budget(spec, shape, options, task.vocab_size, budget)
        return dataclasses.replace(cfg.model, d_model=sized.d_model, n_heads=sized.n_heads, params=()), n, None
    except UserError:
        raise
    except (Exception, SystemExit) as e:
        fault = PluginFault(reg.who("architecture", arch), e, "build() failed while sizing the model on the meta "
                                                             "device (see seqbench.contract.hookspecs)")
        return dataclasses.replace(cfg.model, params=()), None, fault


def _cell(cfg, reg, arch, task_name, d, seed, budget, model_cfg, n_params, max_len, fault=None) -> Cell:
    resolved = {
        "arch": arch,
        "task": task_name,
        "distance": d.label,
        "seed": seed,
        "params_budget": budget,
        "model": dataclasses.asdict(model_cfg),
        "max_len": max_len,
        "train": dataclasses.asdict(cfg.train),
        "eval": dataclasses.asdict(cfg.eval),
        "task_options": dataclasses.asdict(cfg.task_options[task_name]),
        "arch_options": dataclasses.asdict(cfg.arch_options[arch]),
        "host_block": HOST_BLOCK,
    }
    plugins = {"arch": reg.ref("architecture", arch).model_dump(), "task": reg.ref("task", task_name).model_dump()}
    blob = json.dumps({"config": resolved, "plugins": plugins}, sort_keys=True, default=str)
    cell_id = hashlib.sha256(blob.encode()).hexdigest()[:16]
    return Cell(arch, task_name, d, seed, budget, model_cfg, n_params, max_len, cell_id, resolved, plugins, fault)
