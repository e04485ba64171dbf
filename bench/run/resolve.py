"""Step two of configuration: the merged settings (`seqbench.run.sources`) validated into one `RunConfig`.

Names are checked against the registry, every section and every plugin's options against its schema
(`seqbench.run.config`), and distance settings parsed, all before anything is built or trained.
"""

from __future__ import annotations

from typing import Any, Mapping

from seqbench.contract.errors import ConfigError
from seqbench.contract.registry import Registry
from seqbench.records.distance import Distance
from seqbench.run import config as C
from seqbench.run.sources import Merged, Source, merge


def resolve(settings: Merged | Mapping[str, Any], reg: Registry) -> C.RunConfig:
    """Validate merged settings (or one plain dict, taken as a single source) into a `RunConfig`."""
    if not isinstance(settings, Merged):
        settings = merge([Source("the configuration", 2, settings)])
    raw = settings.data
    for key in raw:
        if key not in C.SECTIONS:
            raise C.unknown_key("", key, list(C.SECTIONS), what="section")
    matrix = C.section(C.MatrixConfig, _table(raw, "matrix"), "matrix")
    for name in matrix.archs:
        reg.arch(name)
    for name in matrix.tasks:
        reg.task(name)
    for name in matrix.task_distances:
        if name not in reg.tasks:
            raise C.unknown_key("matrix.task_distances", name, list(reg.tasks), what="task")
    task_raw, arch_raw = _table(raw, "task"), _table(raw, "arch")
    for key in task_raw:
        if key not in reg.tasks:
            raise C.unknown_key("task", key, list(reg.tasks))
    for key in arch_raw:
        if key not in reg.archs:
            raise C.unknown_key("arch", key, list(reg.archs))
    distances: dict[str, tuple[Distance, ...]] = {}
    task_options: dict[str, Any] = {}
    for name in sorted(set(matrix.tasks) | set(task_raw)):
        spec = reg.task(name)
        if name in matrix.task_distances:
            setting, where = matrix.task_distances[name], f"matrix.task_distances.{name}"
        elif matrix.distances:
            setting, where = matrix.distances, "matrix.distances"
        else:
            setting, where = spec.default_distances, f"the default distances of task '{name}'"
        distances[name] = _distances(setting, where)
        task_options[name] = C.section(spec.options, _table(task_raw, name, "task."), f"task.{name}")
    arch_options = {name: C.section(reg.arch(name).options, _table(arch_raw, name, "arch."), f"arch.{name}")
                    for name in sorted(set(matrix.archs) | set(arch_raw))}
    train_raw = _table(raw, "train")
    train = C.section(C.TrainConfig, train_raw, "train")
    for name in matrix.archs:  # an architecture's own defaults must be valid training settings too
        defaults = dict(reg.arch(name).train)
        try:
            C.section(C.TrainConfig, {**defaults, **train_raw}, f"the training defaults of architecture '{name}'")
        except ConfigError as e:
            raise ConfigError(f"architecture '{name}' declares training defaults that are not valid: {e}") from None
    lr_table = _lr_table(_table(raw, "lr"), matrix, reg)
    return C.RunConfig(
        matrix=matrix,
        model=C.section(C.ModelConfig, _table(raw, "model"), "model"),
        train=train,
        train_set=frozenset(train_raw),
        eval=C.section(C.EvalConfig, _table(raw, "eval"), "eval"),
        distances=distances,
        search=_search(_table(raw, "search"), matrix, reg),
        sweep=_sweep(_table(raw, "sweep"), matrix, reg, lr_table),
        lr_table=lr_table,
        task_options=task_options,
        arch_options=arch_options,
    )


def _search(raw: Mapping[str, Any], matrix: C.MatrixConfig, reg: Registry) -> C.SearchConfig:
    search = C.section(C.SearchConfig, raw, "search")
    for name in search.task_caps:
        if name not in reg.tasks:
            raise C.unknown_key("search.task_caps", name, list(reg.tasks), what="task")
    for name in search.arch_caps:
        if name not in reg.archs:
            raise C.unknown_key("search.arch_caps", name, list(reg.archs), what="architecture")
    for name in matrix.tasks if search.enabled else ():
        cap = search.task_caps.get(name, search.cap)
        if cap < search.start:
            raise ConfigError(f"search: the cap of task '{name}' ({cap}) is below search.start ({search.start})")
    for name, cap in search.arch_caps.items() if search.enabled else ():
        if cap < search.start:
            raise ConfigError(f"search.arch_caps.{name}={cap} is below search.start ({search.start})")
    return search


def _lr_table(raw: Mapping[str, Any], matrix: C.MatrixConfig, reg: Registry) -> dict[str, dict[str, float]]:
    """`[lr.<task>]` sections: architecture = learning rate, each a valid `train.lr`."""
    out: dict[str, dict[str, float]] = {}
    for task, rates in raw.items():
        if task not in reg.tasks:
            raise C.unknown_key("lr", task, list(reg.tasks), what="task")
        for arch, value in _table(raw, task, "lr.").items():
            if arch not in reg.archs:
                raise C.unknown_key(f"lr.{task}", arch, list(reg.archs), what="architecture")
            out.setdefault(task, {})[arch] = C.section(C.TrainConfig, {"lr": value}, f"lr.{task}.{arch}").lr
    if out and matrix.lrs:
        raise ConfigError(f"matrix.lrs ({', '.join(f'{x:g}' for x in matrix.lrs)}) gives every cell its learning "
                          f"rates, so the [lr.<task>] table would be ignored: keep one of them")
    return out


def _sweep(raw: Mapping[str, Any], matrix: C.MatrixConfig, reg: Registry,
           lr_table: Mapping[str, Mapping[str, float]]) -> C.SweepConfig:
    sweep = C.section(C.SweepConfig, raw, "sweep")
    for name, setting in sweep.task_distances.items():
        if name not in reg.tasks:
            raise C.unknown_key("sweep.task_distances", name, list(reg.tasks), what="task")
        _distances([setting], f"sweep.task_distances.{name}")
    if sweep.enabled and matrix.lrs:
        raise ConfigError("sweep.enabled chooses each architecture's learning rate, and matrix.lrs sets them: "
                          "keep one of them")
    if sweep.enabled:
        for task, rates in lr_table.items():
            for arch in rates:
                if arch in matrix.archs and task in matrix.tasks:
                    raise ConfigError(f"lr.{task}.{arch} sets a learning rate that sweep.enabled chooses: "
                                      f"keep one of them")
    return sweep


def _table(raw: Mapping[str, Any], name: str, parent: str = "") -> Mapping[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{parent}{name} must be a section of key = value, got {value!r}")
    return value


def _distances(setting: Any, where: str) -> tuple[Distance, ...]:
    out = []
    for item in setting:
        try:
            out.append(Distance.parse(item))
        except ValueError as e:
            raise ConfigError(f"{where}: {e}") from None
    if len(set(out)) != len(out):
        raise ConfigError(f"{where}: a distance setting is listed twice: {[d.label for d in out]}")
    if not out:
        raise ConfigError(f"{where}: give at least one distance (e.g. 100 or 10-100)")
    return tuple(out)
