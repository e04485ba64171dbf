"""Build any registered architecture as a `Seq2SeqModel`, and size its width to a parameter budget.

Fair comparison (Long Range Arena's rule): at `--params N` each architecture's `d_model` is chosen so that its
parameter count lands within 10% of N; the record keeps the actual count.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
from torch import nn

from seqbench.contract.adapt import DecoderOnly, MixerLM
from seqbench.run.config import ModelConfig
from seqbench.contract.errors import ConfigError
from seqbench.contract.specs import ArchSpec, BuildContext

TOLERANCE = 0.10  # parameter counts within 10% of the budget
MAX_WIDTH = 8192


def build_model(spec: ArchSpec, model: ModelConfig, options: Any, vocab_size: int, max_len: int) -> nn.Module:
    """The architecture as a `Seq2SeqModel` (decoder-only kinds wrapped by `DecoderOnly`)."""
    ctx = BuildContext(model=model, options=options, vocab_size=vocab_size, max_len=max_len)
    if spec.kind == "seq2seq":
        return spec.build(ctx)
    if spec.kind == "causal_lm":
        return DecoderOnly(spec.build(ctx))
    if spec.kind == "mixer":
        lm = MixerLM(lambda: spec.build(ctx), model.d_model, model.n_layers, vocab_size, model.dropout)
        return DecoderOnly(lm)
    raise ConfigError(f"architecture '{spec.name}' has kind {spec.kind!r}; allowed: seq2seq, causal_lm, mixer")


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def params_at(spec: ArchSpec, model: ModelConfig, options: Any, vocab_size: int, max_len: int, width: int) -> int:
    """Parameter count at `d_model = width`, built on the meta device (no memory, no time)."""
    with torch.device("meta"):
        return count_params(build_model(spec, dataclasses.replace(model, d_model=width), options, vocab_size, max_len))


def size_to_budget(
    spec: ArchSpec, model: ModelConfig, options: Any, vocab_size: int, max_len: int, budget: int
) -> tuple[ModelConfig, int]:
    """The `ModelConfig` whose width puts the count closest to `budget`, and that count. For an attention
    architecture whose width steps (multiples of n_heads) jump over the 10% window, fewer heads are tried
    (halving down to 1) and the record keeps the n_heads used. Fails if no width lands within 10%."""
    heads = model.n_heads
    while True:
        try:
            return _size_with(spec, dataclasses.replace(model, n_heads=heads), options, vocab_size, max_len, budget)
        except _Missed as missed:
            if not spec.uses_heads or heads == 1:
                raise ConfigError(str(missed)) from None
            heads = max(1, heads // 2)


class _Missed(ValueError):
    """No width lands within 10% of the budget."""


def _size_with(spec: ArchSpec, model: ModelConfig, options: Any, vocab_size: int, max_len: int,
               budget: int) -> tuple[ModelConfig, int]:
    step = math.lcm(max(1, spec.width_multiple), model.n_heads if spec.uses_heads else 1)
    widths_tried: dict[int, int] = {}

    def count(units: int) -> int:
        if units not in widths_tried:
            widths_tried[units] = params_at(spec, model, options, vocab_size, max_len, units * step)
        return widths_tried[units]

    lo, hi = 1, max(1, MAX_WIDTH // step)
    if count(lo) > budget * (1 + TOLERANCE):
        raise ConfigError(
            f"parameter budget {budget} is too small for '{spec.name}': its smallest width (d_model={step}) "
            f"already has {count(lo)} parameters with this task's vocabulary ({vocab_size}) and "
            f"n_layers={model.n_layers}; use a budget of at least {int(count(lo) / (1 + TOLERANCE)) + 1}"
        )
    while lo < hi:  # smallest width whose count reaches the budget
        mid = (lo + hi) // 2
        if count(mid) < budget:
            lo = mid + 1
        else:
            hi = mid
    best = min((u for u in (lo - 1, lo) if u >= 1), key=lambda u: abs(count(u) - budget))
    actual = count(best)
    if abs(actual - budget) > TOLERANCE * budget:
        raise _Missed(
            f"cannot size '{spec.name}' to {budget} parameters within 10%: the nearest widths give "
            f"{count(max(1, lo - 1))} and {count(lo)}; change the budget or model.n_layers"
        )
    return dataclasses.replace(model, d_model=best * step), actual
