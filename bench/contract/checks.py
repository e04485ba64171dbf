"""Checks that plugins keep the contract, so a wrong type or shape is reported by plugin name, not as a crash
deep inside the core."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import torch
from torch import Tensor

from seqbench.contract.specs import ARCH_KINDS, EOS, ArchSpec, Batch, Distance, Task, TaskSpec

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")  # a key of [arch.NAME] / [task.NAME] and of --set paths
RESERVED_TASK_NAMES = ("distance",)  # task.distance is the setting for every task


class ContractError(Exception):
    """A plugin returned something the contract does not allow. `kind` is "architecture" or "task"."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def check_batch(batch: Any, task: Any, split: str, n: int) -> Batch:
    """A task's `sample`/`eval_set` result: a Batch of n long tensors inside the vocabulary, targets with EOS."""
    where = f"{type(task).__name__}.sample('{split}', {n})"
    if not isinstance(batch, Batch):
        raise ContractError("task", f"{where} returned {type(batch).__name__}, not a seqbench.contract.specs.Batch")
    for name in ("src", "tgt", "distance"):
        value = getattr(batch, name)
        if not isinstance(value, Tensor) or value.dtype != torch.long:
            raise ContractError("task", f"{where}: {name} must be a long tensor, got {_describe(value)}")
    if len(batch) != n and split == "train":
        raise ContractError("task", f"{where} returned {len(batch)} examples, not {n}")
    if len(batch) == 0:
        return batch
    lo = int(min(batch.src.min(), batch.tgt.min()))
    hi = int(max(batch.src.max(), batch.tgt.max()))
    if lo < 0 or hi >= task.vocab_size:
        raise ContractError("task", f"{where}: token ids must be in [0, {task.vocab_size}), found {lo}..{hi}")
    if not bool((batch.tgt == EOS).any(1).all()):
        raise ContractError("task", f"{where}: every target row must end with EOS ({EOS})")
    if int(batch.distance.min()) < 1:
        raise ContractError("task", f"{where}: distances must be at least 1, found {int(batch.distance.min())}")
    return batch


def check_spec(spec: ArchSpec | TaskSpec) -> str | None:
    """What is wrong with a spec handed to `register`, or None: checked when it registers, so that `seqbench
    plugins` shows the truth and no run finds out later."""
    kind = "architecture" if isinstance(spec, ArchSpec) else "task"
    name = spec.name
    if not isinstance(name, str) or not NAME.match(name):
        return (f"{kind} name {name!r} refused: use letters, digits, '-' and '_', starting with a letter or digit "
                f"(it is a configuration key, [{'arch' if kind == 'architecture' else 'task'}.NAME])")
    if kind == "task" and name in RESERVED_TASK_NAMES:
        return f"task name {name!r} refused: task.{name} is a setting for every task"
    if not isinstance(spec.description, str):
        return f"{kind} '{name}': description must be a string, got {type(spec.description).__name__}"
    if not callable(spec.build):
        return f"{kind} '{name}': build must be callable, got {type(spec.build).__name__}"
    if isinstance(spec, ArchSpec):
        if spec.kind not in ARCH_KINDS:
            return f"architecture '{name}': kind {spec.kind!r} is not one of {', '.join(ARCH_KINDS)}"
        if not isinstance(spec.width_multiple, int) or isinstance(spec.width_multiple, bool) or spec.width_multiple < 1:
            return f"architecture '{name}': width_multiple must be a positive integer, got {spec.width_multiple!r}"
    else:
        settings = spec.default_distances
        for setting in settings if isinstance(settings, (tuple, list)) and settings else [None]:
            try:
                Distance.parse(setting)
            except (ValueError, TypeError):
                return (f"task '{name}': default_distances must be a tuple of distance settings like '10' or "
                        f"'10-100', got {spec.default_distances!r}")
    return _check_options(kind, name, spec.options)


def _check_options(kind: str, name: str, options: Any) -> str | None:
    if not (isinstance(options, type) and dataclasses.is_dataclass(options)):
        return (f"{kind} '{name}': options must be a dataclass class (e.g. seqbench.contract.specs.NoOptions), "
                f"got {options!r}")
    try:
        options()
    except Exception as e:  # noqa: BLE001 - any failure here is the plugin's
        return f"{kind} '{name}': its options must build with their defaults; {options.__name__}() raised {e!r}"
    return None


def check_task(task: Any, name: str) -> Task:
    """A task's `build` result: a `Task` with the attributes the host reads before sampling."""
    if not isinstance(task, Task):
        raise ContractError("task", f"build() of '{name}' returned {type(task).__name__}, "
                                    f"not a seqbench.contract.specs.Task")
    for attr, kinds in (("vocab_size", int), ("chance", (int, float)), ("max_src_len", int), ("max_tgt_len", int)):
        value = getattr(task, attr, None)
        if not isinstance(value, kinds) or isinstance(value, bool):
            raise ContractError("task", f"task '{name}': {attr} must be set to a number in __init__, got {value!r}")
    return task


def check_logits(logits: Any, b: int, t: int, v: int) -> Tensor:
    """An architecture's forward result: logits of shape (B, T, V)."""
    if not isinstance(logits, Tensor) or tuple(logits.shape) != (b, t, v) or not logits.is_floating_point():
        raise ContractError("architecture", f"forward returned {_describe(logits)}, expected float logits of "
                                            f"shape ({b}, {t}, {v}) = (batch, target length, vocabulary)")
    return logits


def check_mixed(y: Any, x: Tensor, method: str = "forward") -> Tensor:
    """A mixer's output, right after its `forward` (or `prefill`, `step`) returns: a tensor of its input's shape,
    (B, T, D) (or (B, D) for `step`). Checked there so that a wrong shape is blamed on the plugin, not reported as
    a size mismatch deep in the host's residual block."""
    if isinstance(y, Tensor) and y.shape == x.shape:
        return y
    want = "(batch, time, d_model)" if x.dim() == 3 else "(batch, d_model)"
    hint = ""
    if isinstance(y, Tensor) and y.dim() == x.dim() == 3 and y.shape[0] == x.shape[0]:
        if y.shape[1] == x.shape[2] and y.shape[2] == x.shape[1] and x.shape[1] != x.shape[2]:
            hint = "; time and features are swapped: transpose back after a Conv1d, .transpose(1, 2)"
        elif y.shape[1] == x.shape[1]:
            hint = f"; the last dimension must stay d_model={x.shape[2]} (project it back, e.g. nn.Linear)"
    raise ContractError("architecture", f"the mixer's {method} returned {_describe(y)}, expected the shape of its "
                                        f"input {tuple(x.shape)} = {want}{hint}")


def check_lm_logits(logits: Any, stream: Tensor) -> Tensor:
    """A causal language model's forward result over the stream (B, L): float logits (B, L, V)."""
    if not (isinstance(logits, Tensor) and logits.dim() == 3 and logits.shape[:2] == stream.shape
            and logits.is_floating_point()):
        b, length = stream.shape
        raise ContractError("architecture", f"the language model's forward returned {_describe(logits)}, expected "
                                            f"float logits of shape ({b}, {length}, vocabulary) = (batch, stream "
                                            f"length, vocabulary)")
    return logits


def _describe(x: Any) -> str:
    if isinstance(x, Tensor):
        return f"a {x.dtype} tensor of shape {tuple(x.shape)}"
    return type(x).__name__
