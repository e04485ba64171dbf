"""Build any registered architecture as a `Seq2SeqModel`, and size its width to a parameter budget.

Fair comparison (Long Range Arena's rule): at `--params N` each architecture's `d_model` is chosen so that its
parameter count lands within 10% of N; the record keeps the actual count.

What the budget counts, the same for every family: the parameters that do not grow with the vocabulary, i.e. the
model less its token embeddings, output head and anything else per token type (as scaling studies count
"non-embedding" parameters). Measured, not guessed per architecture: a model built with one more token type has
exactly the per-token parameters more, so body = count(V) - V * (count(V + 1) - count(V)). A Transformer that ties
its input and output embeddings and an LSTM that does not are sized on the same body, and a task with a larger
vocabulary (cloze) no longer shrinks the width a budget buys.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
from torch import nn

from seqbench.host.adapt import DecoderOnly, mixer_lm
from seqbench.contract.checks import ContractError
from seqbench.contract.errors import ConfigError
from seqbench.contract.specs import ArchSpec, BuildContext, ModelShape

TOLERANCE = 0.10  # parameter counts within 10% of the budget
MAX_WIDTH = 8192


def build_model(spec: ArchSpec, shape: ModelShape, options: Any, vocab_size: int) -> nn.Module:
    """The architecture as a `Seq2SeqModel` (decoder-only kinds wrapped by `DecoderOnly`; a mixer built once per
    layer and wrapped in the host's blocks)."""
    ctx = BuildContext(model=shape, options=options, vocab_size=vocab_size)
    if spec.kind == "mixer":
        mixers = [_module(spec, spec.build(dataclasses.replace(ctx, layer=i))) for i in range(shape.n_layers)]
        return DecoderOnly(mixer_lm(mixers, shape.d_model, vocab_size, shape.dropout))
    model = _module(spec, spec.build(ctx))
    if spec.kind == "seq2seq":
        return model
    if spec.kind == "causal_lm":
        return DecoderOnly(model)
    raise ConfigError(f"architecture '{spec.name}' has kind {spec.kind!r}; allowed: seq2seq, causal_lm, mixer")


def _module(spec: ArchSpec, built: Any) -> nn.Module:
    if not isinstance(built, nn.Module):
        raise ContractError("architecture", f"build() of '{spec.name}' returned {type(built).__name__}, "
                                            f"not a torch.nn.Module")
    return built


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def params_at(spec: ArchSpec, shape: ModelShape, options: Any, vocab_size: int, width: int) -> int:
    """Parameter count at `d_model = width`, built on the meta device (no memory, no time)."""
    with torch.device("meta"):
        return count_params(build_model(spec, dataclasses.replace(shape, d_model=width), options, vocab_size))


def body_params(spec: ArchSpec, shape: ModelShape, options: Any, vocab_size: int, width: int | None = None) -> int:
    """Parameters that do not grow with the vocabulary, at `d_model = width` (default the shape's): what a budget
    counts (see the module doc)."""
    width = shape.d_model if width is None else width
    total = params_at(spec, shape, options, vocab_size, width)
    per_token = params_at(spec, shape, options, vocab_size + 1, width) - total
    return total - vocab_size * per_token


def size_to_budget(spec: ArchSpec, shape: ModelShape, options: Any, vocab_size: int,
                   budget: int) -> tuple[ModelShape, int]:
    """The `ModelShape` whose width puts the body count (`body_params`) closest to `budget`, and that count. For an
    attention
    architecture whose width steps (multiples of n_heads) jump over the 10% window, fewer heads are tried
    (halving down to 1) and the record keeps the n_heads used. Fails if no width lands within 10%.

    Every width tried is a build on the meta device: `build` runs about log2(MAX_WIDTH) + 3 times per model and budget here
    (n_layers times each for a mixer). See `seqbench.contract.hookspecs` for what a plugin may do then."""
    heads = shape.n_heads
    while True:
        try:
            return _size_with(spec, dataclasses.replace(shape, n_heads=heads), options, vocab_size, budget)
        except _Missed as missed:
            if not spec.uses_heads or heads == 1:
                raise ConfigError(str(missed)) from None
            heads = max(1, heads // 2)


class _Missed(ValueError):
    """No width lands within 10% of the budget."""


def _size_with(spec: ArchSpec, shape: ModelShape, options: Any, vocab_size: int,
               budget: int) -> tuple[ModelShape, int]:
    step = math.lcm(max(1, spec.width_multiple), shape.n_heads if spec.uses_heads else 1)
    widths_tried: dict[int, int] = {}

    def count(units: int) -> int:
        if units not in widths_tried:
            widths_tried[units] = body_params(spec, shape, options, vocab_size, units * step)
        return widths_tried[units]

    lo, hi = 1, max(1, MAX_WIDTH // step)
    if count(lo) > budget * (1 + TOLERANCE):
        raise ConfigError(
            f"parameter budget {budget} is too small for '{spec.name}': its smallest width (d_model={step}) "
            f"already has {count(lo)} parameters besides its embeddings and head with "
            f"n_layers={shape.n_layers}; use a budget of at least {int(count(lo) / (1 + TOLERANCE)) + 1}"
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
    return dataclasses.replace(shape, d_model=best * step), actual
