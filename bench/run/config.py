"""The configuration schema: frozen, validated sections with commented defaults, and plugin options, all checked by
pydantic before any training starts.

The merged settings (`seqbench.run.sources`) are validated here into one `RunConfig`. Unknown sections and keys
are refused with a suggestion; every number is finite and in range; lists hold no duplicates and no empty items.

Sections: `matrix` (every axis of the run: architectures, tasks, seeds, parameter budgets, learning rates,
distances), `model` (shared sizes), `train`, `eval`, `search` (the reach search), `sweep` (the learning-rate sweep),
`lr.<task>` (learning rates per architecture on that task), `task.<name>` (a task's options), `arch.<name>` (an
architecture's options).
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Mapping, Optional

from pydantic import BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass as schema

from seqbench.contract.errors import ConfigError
from seqbench.records.distance import Distance

SECTIONS = ("matrix", "model", "train", "eval", "search", "sweep", "lr", "task", "arch")
_STRICT = ConfigDict(extra="forbid")


def _no_bool(v: Any) -> Any:
    if isinstance(v, bool):
        raise ValueError(f"must be a number, got {str(v).lower()}")
    return v


def _integer(v: Any) -> Any:
    """An integer setting takes an integer (or its text, from a flag): `8.0` is refused, not rounded."""
    _no_bool(v)
    if isinstance(v, float):
        raise ValueError(f"must be an integer, got {v!r}")
    if isinstance(v, str):
        try:
            return int(v.strip())
        except ValueError:
            raise ValueError(f"must be an integer, got {v!r}") from None
    return v


def _items(v: Any) -> Any:
    """A list from a list, a single value, or comma-separated text (flags); empty items are refused."""
    if isinstance(v, str):
        parts = [p.strip() for p in v.split(",")]
        if any(not p for p in parts):
            raise ValueError(f"a list must not have empty items, got {v!r}")
        return parts
    if isinstance(v, (list, tuple)):
        return list(v)
    return [v]


def _unique(v: tuple) -> tuple:
    seen = [x for i, x in enumerate(v) if x in v[:i]]
    if seen:
        raise ValueError(f"lists {seen[0]!r} twice: {list(v)}")
    return v


Int = Annotated[int, BeforeValidator(_integer)]
Float = Annotated[float, BeforeValidator(_no_bool), Field(allow_inf_nan=False)]
Name = Annotated[str, Field(min_length=1, pattern=r"^\S+$")]
DistanceText = Annotated[str | int, BeforeValidator(_no_bool)]
LearningRate = Annotated[Float, Field(gt=0, le=10)]  # a peak learning rate of AdamW: train.lr, and the rates that
# become it (matrix.lrs, sweep.lrs)


def _list(item: Any, *, non_empty: bool) -> Any:
    from pydantic import AfterValidator

    return Annotated[tuple[item, ...], BeforeValidator(_items), AfterValidator(_unique),
                     Field(min_length=1 if non_empty else 0)]


@schema(frozen=True, config=_STRICT)
class MatrixConfig:
    """Every axis the run crosses: architecture x task x distance x parameter budget x learning rate x seed."""

    archs: _list(Name, non_empty=True) = ("lstm",)  # registry names of architectures
    tasks: _list(Name, non_empty=True) = ("copy",)  # registry names of tasks
    seeds: _list(Annotated[Int, Field(ge=0)], non_empty=True) = (0,)  # each fixes data, initialisation, order
    params: _list(Annotated[Int, Field(ge=1)], non_empty=False) = ()  # budgets: d_model sized to within 10%
    lrs: _list(LearningRate, non_empty=False) = ()  # learning rates (each a cell's train.lr); () = each arch's own
    distances: _list(DistanceText, non_empty=False) = ()  # settings for every task; () = each task's defaults
    task_distances: Mapping[Name, _list(DistanceText, non_empty=True)] = dataclasses.field(default_factory=dict)


@schema(frozen=True, config=_STRICT)
class ModelConfig:
    """Sizes every architecture shares; each architecture reads the ones it uses."""

    d_model: Annotated[Int, Field(ge=1)] = 64  # width (sized to each budget instead when matrix.params is set)
    n_layers: Annotated[Int, Field(ge=1)] = 2  # stacked layers (recurrent layers, or blocks per stack)
    n_heads: Annotated[Int, Field(ge=1)] = 4  # attention heads, for architectures that attend
    dropout: Annotated[Float, Field(ge=0.0, lt=1.0)] = 0.0  # dropout probability inside the model
    max_len: Annotated[Int, Field(ge=0)] = 0  # longest sequence a model is built for; 0 fits it to each task


Precision = Literal["32-true", "bf16-mixed", "16-mixed", "bf16-true", "64-true"]
Accelerator = Literal["auto", "cpu", "gpu", "cuda", "mps"]


@schema(frozen=True, config=_STRICT)
class TrainConfig:
    """How each cell trains. An architecture may declare its own defaults (`ArchSpec.train`); a value set in the
    configuration overrides them."""

    max_steps: Annotated[Int, Field(ge=1)] = 300  # optimizer steps per cell (at most)
    max_time: Optional[Annotated[Float, Field(gt=0)]] = None  # wall-clock seconds of training per cell (at most)
    batch_size: Annotated[Int, Field(ge=1)] = 32  # examples per training step
    lr: LearningRate = 3e-3  # peak learning rate of AdamW
    weight_decay: Annotated[Float, Field(ge=0, le=10)] = 0.0  # AdamW weight decay
    warmup_steps: Annotated[Int, Field(ge=0)] = 20  # linear warm-up, then cosine decay to 10% at max_steps
    grad_clip: Annotated[Float, Field(ge=0)] = 1.0  # gradient norm clipping (0 turns it off)
    label_smoothing: Annotated[Float, Field(ge=0, lt=1)] = 0.0  # of the training loss (validation loss: plain NLL)
    bucket: bool = False  # batches of similar lengths (each block of 16 drawn batches sorted by length, then cut)
    val_every: Annotated[Int, Field(ge=1)] = 100  # steps between validations; the best one by loss is tested
    solved_at: Optional[Annotated[Float, Field(gt=0, le=1)]] = None  # stop once validation free-running accuracy
    # (`val_gen_acc`, what the tables report) reaches this
    patience: Optional[Annotated[Int, Field(ge=1)]] = None  # steps without a better validation free-running accuracy
    # before a cell stops as plateaued; None: no plateau rule (a cell runs to its budget unless solved)
    min_delta: Annotated[Float, Field(ge=0)] = 0.0  # how much a validation must beat the best so far by (in the
    # selection score's units) to count as better, for the plateau rule and `improving`: noise at chance is not a gain
    flush_denormal: bool = True  # on a CPU, treat denormal floats as zero: a stuck recurrent cell (copy d=64, 40k
    # parameters, 4000 steps) trained in 59.7 s instead of 137.5 s, with the same test accuracy
    accelerator: Accelerator = "auto"  # auto (a GPU when there is one), cpu, gpu, cuda, mps
    precision: Precision = "32-true"  # Lightning precision
    throughput_warmup: Annotated[Int, Field(ge=0)] = 5  # training steps not timed, before the timed ones
    devices: Annotated[Int, Field(ge=1)] = 1  # devices (ranks) training one cell; batch_size is split between them
    strategy: Literal["auto", "ddp"] = "auto"  # how several devices train a cell: auto (ddp when devices > 1), ddp


@schema(frozen=True, config=_STRICT)
class EvalConfig:
    """How each cell is validated and tested."""

    n_val: Annotated[Int, Field(ge=1)] = 256  # validation examples (fixed set), for choosing the checkpoint
    n_test: Annotated[Int, Field(ge=1)] = 256  # test examples per distance bin (stratified: every bin the same)
    batch_size: Annotated[Int, Field(ge=1)] = 128  # examples per evaluation batch
    generation_warmup: Annotated[Int, Field(ge=0)] = 1  # test batches generated before timing starts
    val_generate: Annotated[Int, Field(ge=0)] = 0  # validation examples decoded (greedy) at every validation to
    # score the task's text metrics (BLEU against training time, in the validation history); 0: none
    beam_width: Annotated[Int, Field(ge=1)] = 1  # test decoding: 1 is greedy; more is beam search (needs `reorder`)
    max_len_a: Annotated[Float, Field(ge=0)] = 1.5  # generation stops at EOS or at floor(a * source length + b)
    max_len_b: Annotated[Int, Field(ge=1)] = 10  # tokens (within the model's max_len): a cap from the source alone
    length_penalty: Annotated[Float, Field(ge=0)] = 0.6  # beam search: final hypotheses ranked by log p / lp,
    # lp = ((5 + length) / 6) ** length_penalty (Wu et al. 2016, GNMT); 0 ranks by log p alone
    grad_examples: Annotated[Int, Field(ge=0)] = 256  # test examples for gradient reach, spread over the bins; 0: off
    select: Name = "val_gen_acc"  # the validation score (higher is better) that picks the tested checkpoint and
    # drives the plateau rule and the sweep: the free-running token accuracy, or one of the task's text metrics
    # (e.g. "sacrebleu", scored on the first eval.val_generate validation examples), as MT papers select on BLEU


@schema(frozen=True, config=_STRICT)
class SearchConfig:
    """The reach search (`seqbench.run.search`): instead of the distance grid, each (architecture, task, seed,
    budget, learning rate) probes distances until its reach is bracketed. Not part of any cell id: a probe is an
    ordinary cell, reused by every search that asks for it."""

    enabled: bool = False  # search reach; off: train the distance grid (matrix.distances)
    start: Annotated[Int, Field(ge=1)] = 16  # the first distance probed
    growth: Annotated[Float, Field(gt=1)] = 2.0  # factor between probes while they pass (down while they fail)
    ratio: Annotated[Float, Field(gt=1)] = 1.25  # stop once the bracket's hi / lo is at most this
    cap: Annotated[Int, Field(ge=1)] = 256  # the longest distance probed, unless task_caps names the task
    task_caps: Mapping[Name, Annotated[Int, Field(ge=1)]] = dataclasses.field(default_factory=dict)  # per task
    arch_caps: Mapping[Name, Annotated[Int, Field(ge=1)]] = dataclasses.field(default_factory=dict)  # per
    # architecture: the lower of this and the task's cap (a family shown at its cap, the cap stated)

    def cap_for(self, arch: str, task: str) -> int:
        """The longest distance a search of `arch` on `task` probes."""
        return min(self.task_caps.get(task, self.cap), self.arch_caps.get(arch, self.task_caps.get(task, self.cap)))


@schema(frozen=True, config=_STRICT)
class SweepConfig:
    """The learning-rate sweep (`seqbench.run.sweep`): before the run, each (architecture, task, budget) trains at
    every rate of `lrs` at one distance per task; the rate with the best validation free-running accuracy (then the
    fewest steps to it, then the lowest validation loss) is the one the run uses. Its cells are ordinary records;
    this section is not part of any cell id."""

    enabled: bool = False  # sweep, then run (the reach search or the grid) at the chosen rates
    lrs: _list(LearningRate, non_empty=True) = (1e-3, 3e-3, 1e-2)  # the rates tried
    seeds: _list(Annotated[Int, Field(ge=0)], non_empty=True) = (0,)  # the seeds each rate trains (the mean decides)
    task_distances: Mapping[Name, DistanceText] = dataclasses.field(default_factory=dict)  # the distance per task
    # where the choice matters; a task not named: search.start when the search is on, else its longest setting


@dataclass(frozen=True)
class RunConfig:
    """The whole, validated configuration of a run."""

    matrix: MatrixConfig
    model: ModelConfig
    train: TrainConfig  # with only the configuration's values; `train_for` adds an architecture's defaults
    train_set: frozenset[str]  # the train keys the configuration set explicitly
    eval: EvalConfig
    distances: Mapping[str, tuple[Distance, ...]]  # task name -> distance settings (a matrix axis)
    task_options: Mapping[str, Any]  # task name -> that task's options dataclass
    arch_options: Mapping[str, Any]  # architecture name -> that architecture's options dataclass
    search: SearchConfig = SearchConfig()  # the reach search; not part of any cell id
    sweep: SweepConfig = SweepConfig()  # the learning-rate sweep; not part of any cell id
    lr_table: Mapping[str, Mapping[str, float]] = dataclasses.field(default_factory=dict)  # task -> arch -> lr
    # (the `[lr.<task>]` sections, or the sweep's choice): over the architecture's default, under matrix.lrs

    def lr_for(self, arch: str, task: str) -> float | None:
        """The learning rate the `[lr.<task>]` table gives `arch` on `task`; None: the architecture's own."""
        return self.lr_table.get(task, {}).get(arch)

    def train_for(self, defaults: Mapping[str, Any], lr: float | None = None) -> TrainConfig:
        """The training settings of one cell: an architecture's defaults under the configuration's values, and
        the matrix's learning rate when there is an lr axis."""
        own = {k: v for k, v in defaults.items() if k not in self.train_set}
        if lr is not None:
            own["lr"] = lr
        return dataclasses.replace(self.train, **own) if own else self.train


# --- building sections and options from plain data, with one-line errors ------------------------------------------


def section(cls: type, values: Any, where: str) -> Any:
    """Build the frozen config section or options dataclass `cls` from `values`, refusing unknown keys and
    ill-typed or out-of-range values with one line that names `where.key`."""
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where} must be a section of key = value, got {_typename(values)}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key, value in values.items():
        if key not in fields:
            raise unknown_key(where, str(key), fields)
        if isinstance(value, str) and not value.strip():
            raise ConfigError(f"{where}.{key}: must not be empty (leave the key out for its default)")
    values = _prepared(cls, dict(values), where)
    try:
        return TypeAdapter(cls).validate_python(values)
    except ValidationError as e:
        raise ConfigError(message(e, where)) from None
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{where}: {e}") from None


def _prepared(cls: type, values: dict[str, Any], where: str) -> dict[str, Any]:
    """What plain dataclasses (plugin options) do not check themselves: no booleans for numbers, no fractions for
    integers (`8.0` for an int field is refused, where pydantic would take it), lists from comma-separated text."""
    if cls in (MatrixConfig, ModelConfig, TrainConfig, EvalConfig):
        return values  # a config section: its own validators do this
    hints = typing.get_type_hints(cls)
    for key, value in values.items():
        hint = hints.get(key)
        base = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
        if value is None:
            continue  # `--set key=none`: the dataclass's own validation says whether the key may be unset
        if isinstance(value, bool) and bool not in base and any(t in (int, float) for t in base):
            raise ConfigError(f"{where}.{key}: must be a number, got {str(value).lower()}")
        if isinstance(value, float) and int in base and float not in base:
            raise ConfigError(f"{where}.{key}: must be an integer (it is declared int), got {value!r}")
        if bool in base and not isinstance(value, bool) and str(value).lower() not in ("true", "false"):
            raise ConfigError(f"{where}.{key}: must be true or false, got {value!r}")
        if typing.get_origin(hint) is tuple and isinstance(value, str):
            try:
                values[key] = _items(value)
            except ValueError as e:
                raise ConfigError(f"{where}.{key}: {e}") from None
    return values


def unknown_key(where: str, key: str, allowed: Mapping[str, Any] | list[str], what: str = "key") -> ConfigError:
    """`Unknown key 'train.lrr'. Did you mean 'lr'? Allowed: ...`."""
    names = sorted(allowed)
    close = difflib.get_close_matches(key, names, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    full = f"{where}.{key}" if where else key
    return ConfigError(f"Unknown {what} '{full}'.{hint} Allowed: {', '.join(names) or '(none)'}")


def message(error: ValidationError, where: str) -> str:
    """A pydantic error as one line: `train.max_steps: must be an integer, got 'many'`."""
    e = error.errors(include_url=False)[0]
    loc = ".".join(str(p) for p in e["loc"]
                   if not isinstance(p, int) and "[" not in str(p) and p not in ("str", "int", "float", "bool"))
    key = f"{where}.{loc}" if loc else where
    got = e.get("input")
    ctx = e.get("ctx") or {}
    kind = e["type"]
    was = "; it cannot be unset (none)" if got is None else f", got {got!r}"  # None: `--set key=none`
    # Not pydantic's msg alone ("Input should be a valid integer, unable to parse string..."): it omits the value.
    text = {
        "int_parsing": f"must be an integer{was}", "int_type": f"must be an integer{was}",
        "int_from_float": f"must be an integer{was}", "float_parsing": f"must be a number{was}",
        "float_type": f"must be a number{was}", "finite_number": f"must be a finite number{was}",
        "greater_than_equal": f"must be at least {ctx.get('ge')}{was}",
        "greater_than": f"must be greater than {ctx.get('gt')}" + (" (positive)" if ctx.get("gt") == 0 else "")
                        + was,
        "less_than_equal": f"must be at most {ctx.get('le')}{was}",
        "less_than": f"must be less than {ctx.get('lt')}{was}",
        "literal_error": f"must be one of {ctx.get('expected')}{was}",
        "bool_parsing": f"must be true or false{was}", "bool_type": f"must be true or false{was}",
        "string_type": f"must be text{was}", "too_short": "must not be empty" if not got else
        f"needs at least {ctx.get('min_length')} items", "string_pattern_mismatch": f"must be a name without "
        f"spaces{was}", "tuple_type": f"must be a list{was}", "dict_type": f"must be a section "
        f"of key = value{was}", "missing": "is required",
    }.get(kind)
    if text is None:
        text = str(ctx.get("error", e["msg"])) if kind == "value_error" else e["msg"]
        if got is None and kind != "missing":
            text += was
    return f"{key}: {text}"


def _typename(value: Any) -> str:
    return {dict: "a table", list: "a list", str: "a string", int: "an integer", float: "a number"}.get(
        type(value), type(value).__name__)
