"""Frozen, validated configuration: the sections of a run and the generic builder that checks every value.

A run's configuration comes from a profile, a TOML file, command-line flags and `--set section.key=value`
overrides, merged in that order into one nested dict, then built here. Unknown keys are refused with a
suggestion, values are type-checked and range-checked, and nothing trains until all of it passes.

Sections: `matrix` (what to cross), `model` (shared sizes), `train`, `eval`, `task` (`task.distance` for every
task, `task.<name>.<option>` for one task), `arch` (`arch.<name>.<option>`).
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal, Mapping

from seqbench.contract.errors import ConfigError
from seqbench.contract.specs import Distance


@dataclass(frozen=True)
class MatrixConfig:
    """What the run crosses: every architecture x task x distance setting x seed x parameter budget."""

    archs: tuple[str, ...] = ("lstm",)  # registry names of architectures
    tasks: tuple[str, ...] = ("copy",)  # registry names of tasks
    seeds: tuple[int, ...] = (0,)  # one cell per seed; each seed fixes data, initialisation and order

    def __post_init__(self) -> None:
        _check(len(self.archs) > 0, "archs", "name at least one architecture")
        _check(len(self.tasks) > 0, "tasks", "name at least one task")
        _check(len(self.seeds) > 0, "seeds", "give at least one seed")
        _check(all(s >= 0 for s in self.seeds), "seeds", f"seeds must be 0 or more, got {list(self.seeds)}")
        for field in ("archs", "tasks", "seeds"):
            values = getattr(self, field)
            _check(len(set(values)) == len(values), field, f"{field} lists a value twice: {list(values)}")


@dataclass(frozen=True)
class ModelConfig:
    """Sizes every architecture shares; each architecture reads the ones it uses."""

    d_model: int = 64  # width: embedding and hidden size (ignored when `params` is set)
    n_layers: int = 2  # stacked layers (recurrent layers, or Transformer blocks per stack)
    n_heads: int = 4  # attention heads, for architectures that attend
    dropout: float = 0.0  # dropout probability inside the model
    params: tuple[int, ...] = ()  # parameter budgets: when given, d_model is sized to land within 10% of each
    max_len: int = 0  # longest sequence a model is built for; 0 fits it to each task (longer ones are refused)

    def __post_init__(self) -> None:
        _check(self.d_model >= 1, "d_model", f"must be at least 1, got {self.d_model}")
        _check(self.n_layers >= 1, "n_layers", f"must be at least 1, got {self.n_layers}")
        _check(self.n_heads >= 1, "n_heads", f"must be at least 1, got {self.n_heads}")
        _check(0.0 <= self.dropout < 1.0, "dropout", f"must be in [0, 1), got {self.dropout}")
        _check(self.max_len >= 0, "max_len", f"must be 0 (fit to the task) or positive, got {self.max_len}")
        _check(all(p >= 1 for p in self.params), "params", f"budgets must be positive, got {list(self.params)}")


@dataclass(frozen=True)
class TrainConfig:
    """How each cell trains."""

    max_steps: int = 300  # optimizer steps per cell
    batch_size: int = 32  # examples per training step
    lr: float = 3e-3  # peak learning rate of AdamW
    weight_decay: float = 0.0  # AdamW weight decay
    warmup_steps: int = 20  # linear learning-rate warm-up, then cosine decay to 10% at max_steps
    grad_clip: float = 1.0  # gradient norm clipping (0 turns it off); recurrent models need it
    val_every: int = 100  # steps between validations; the best validation checkpoint is the one tested
    accelerator: str = "auto"  # Lightning accelerator: auto (GPU when there is one), cpu, gpu, cuda, mps
    precision: Literal["32-true", "bf16-mixed", "16-mixed", "bf16-true", "64-true"] = "32-true"  # Lightning precision
    throughput_warmup: int = 5  # training steps not timed, before the timed ones

    def __post_init__(self) -> None:
        _check(self.max_steps >= 1, "max_steps", f"must be at least 1, got {self.max_steps}")
        _check(self.batch_size >= 1, "batch_size", f"must be at least 1, got {self.batch_size}")
        _check(self.lr > 0, "lr", f"must be positive, got {self.lr}")
        _check(self.weight_decay >= 0, "weight_decay", f"must be 0 or more, got {self.weight_decay}")
        _check(self.warmup_steps >= 0, "warmup_steps", f"must be 0 or more, got {self.warmup_steps}")
        _check(self.grad_clip >= 0, "grad_clip", f"must be 0 or more, got {self.grad_clip}")
        _check(self.val_every >= 1, "val_every", f"must be at least 1, got {self.val_every}")
        allowed = ("auto", "cpu", "gpu", "cuda", "mps")
        _check(self.accelerator in allowed, "accelerator", f"must be one of {', '.join(allowed)}, got {self.accelerator!r}")
        _check(self.throughput_warmup >= 0, "throughput_warmup", f"must be 0 or more, got {self.throughput_warmup}")


@dataclass(frozen=True)
class EvalConfig:
    """How each cell is validated and tested."""

    n_val: int = 256  # validation examples (fixed set), for choosing the checkpoint
    n_test: int = 512  # test examples (fixed set), scored per distance bin
    batch_size: int = 128  # examples per evaluation batch
    generation_warmup: int = 1  # test batches generated before timing starts

    def __post_init__(self) -> None:
        _check(self.n_val >= 1, "n_val", f"must be at least 1, got {self.n_val}")
        _check(self.n_test >= 1, "n_test", f"must be at least 1, got {self.n_test}")
        _check(self.batch_size >= 1, "batch_size", f"must be at least 1, got {self.batch_size}")
        _check(self.generation_warmup >= 0, "generation_warmup", f"must be 0 or more, got {self.generation_warmup}")


@dataclass(frozen=True)
class RunConfig:
    """The whole, validated configuration of a run."""

    matrix: MatrixConfig
    model: ModelConfig
    train: TrainConfig
    eval: EvalConfig
    distances: Mapping[str, tuple[Distance, ...]]  # task name -> distance settings (a matrix axis)
    task_options: Mapping[str, Any]  # task name -> that task's options dataclass
    arch_options: Mapping[str, Any]  # architecture name -> that architecture's options dataclass


class _FieldError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _check(ok: bool, field: str, message: str) -> None:
    if not ok:
        raise _FieldError(field, message)


def build(cls: type, values: Mapping[str, Any], where: str) -> Any:
    """Build the frozen dataclass `cls` from `values`, refusing unknown keys and ill-typed or out-of-range values.

    `where` names the section in messages, e.g. `train` or `task.copy`.
    """
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where} must be a table of key = value, got {_typename(values)}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, raw in values.items():
        if key not in fields:
            raise unknown_key(where, key, fields)
        try:
            kwargs[key] = coerce(raw, hints[key])
        except ValueError as e:
            raise ConfigError(f"{where}.{key}: {e}") from None
    try:
        return cls(**kwargs)
    except _FieldError as e:
        raise ConfigError(f"{where}.{e.field}: {e}") from None
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{where}: {e}") from None


def unknown_key(where: str, key: str, allowed: Mapping[str, Any] | list[str], what: str = "key") -> ConfigError:
    """`Unknown key 'train.lrr'. Did you mean 'lr'? Allowed: ...`."""
    names = sorted(allowed)
    close = difflib.get_close_matches(key, names, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    full = f"{where}.{key}" if where else key
    return ConfigError(f"Unknown {what} '{full}'.{hint} Allowed: {', '.join(names) or '(none)'}")


def coerce(value: Any, hint: Any) -> Any:
    """Check `value` against the type `hint`, converting the text forms that flags give (`"0,1"`, `"true"`)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() == "none"):
            if type(None) in args:
                return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg)
            except ValueError as e:
                errors.append(str(e))
        raise ValueError("; ".join(errors))
    if origin is Literal:
        if value in args:
            return value
        raise ValueError(f"must be one of {', '.join(map(str, args))}, got {value!r}")
    if origin is tuple:
        item = args[0] if args else Any
        if isinstance(value, str):
            value = [v for v in (p.strip() for p in value.split(",")) if v]
        elif not isinstance(value, (list, tuple)):
            value = [value]
        return tuple(coerce(v, item) for v in value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ValueError(f"must be true or false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise ValueError(f"must be an integer, got {value!r}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ValueError(f"must be a number, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise ValueError(f"must be a string, got {value!r}")
    return value


def _typename(value: Any) -> str:
    return {dict: "a table", list: "a list", str: "a string", int: "an integer", float: "a number"}.get(
        type(value), type(value).__name__
    )
