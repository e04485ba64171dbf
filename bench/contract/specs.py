"""What plugins hand to the host: task and architecture specs, the batch layout, the model interfaces.

Read this with `seqbench/contract/hookspecs.py`: the hooks receive a `register` callback that takes the specs below.

Vocabulary: every task has one token space of `vocab_size` ids shared by source and target. Ids 0..3 are
reserved for the host (PAD, BOS, EOS, SEP); a task's own symbols start at `N_SPECIAL`.
"""

from __future__ import annotations

import abc
import dataclasses
import inspect
import typing
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Literal, Mapping, Protocol, runtime_checkable

import torch
from pydantic import ConfigDict
from pydantic.dataclasses import dataclass as pydantic_dataclass
from torch import Tensor, nn

from seqbench.contract import ContractDeprecation
from seqbench.records.distance import Distance, default_edges

PAD, BOS, EOS, SEP = 0, 1, 2, 3
N_SPECIAL = 4
SPECIAL_NAMES = ("<pad>", "<bos>", "<eos>", "<sep>")

Split = Literal["train", "val", "test"]
SPLITS: tuple[Split, ...] = ("train", "val", "test")


def options(cls: type) -> type:
    """Make `cls` a plugin's options class: a frozen dataclass whose fields pydantic checks however it is built,
    from a config file or directly in Python (`AttnOptions(attention="dot")` raises). Cross-field checks go in
    `__post_init__` (raise ValueError). A plain frozen dataclass works too: the host checks it from config."""
    return pydantic_dataclass(frozen=True, config=ConfigDict(extra="forbid"))(cls)


@options
class NoOptions:
    """Options of a plugin that has none."""


@dataclass(frozen=True)
class Batch:
    """A batch of examples, right-padded with PAD."""

    src: Tensor  # (B, S) long
    tgt: Tensor  # (B, T) long, each row ends with EOS before its padding
    distance: Tensor  # (B,) long: the dependency distance of each example, in tokens

    def __post_init__(self) -> None:
        b = self.src.shape[0]
        if self.src.dim() != 2 or self.tgt.dim() != 2 or self.distance.shape != (b,) or self.tgt.shape[0] != b:
            raise ValueError(
                f"Batch shapes must be src (B, S), tgt (B, T), distance (B,); got "
                f"{tuple(self.src.shape)}, {tuple(self.tgt.shape)}, {tuple(self.distance.shape)}"
            )

    def __len__(self) -> int:
        return self.src.shape[0]

    def to(self, device: torch.device | str) -> "Batch":
        return Batch(self.src.to(device), self.tgt.to(device), self.distance.to(device))

    def select(self, index: Tensor) -> "Batch":
        """Rows `index` of this batch, with columns that became all padding trimmed."""
        src, tgt = self.src[index], self.tgt[index]
        s = int((src != PAD).sum(1).max().item()) if len(index) else 0
        t = int((tgt != PAD).sum(1).max().item()) if len(index) else 0
        return Batch(src[:, : max(s, 1)], tgt[:, : max(t, 1)], self.distance[index])


class Task(abc.ABC):
    """One benchmark task at one distance setting. Plain Python and PyTorch: no Lightning here.

    Subclasses set the attributes in `__init__` and implement `sample` and `decode`.
    """

    vocab_size: int  # size of the shared token space, specials included
    chance: float  # token accuracy of a memoryless guesser on the target content
    max_src_len: int  # longest source this task will ever yield, in tokens
    max_tgt_len: int  # longest target, EOS included

    @abc.abstractmethod
    def sample(self, split: Split, n: int, generator: torch.Generator) -> Batch:
        """`n` examples of `split`, drawn with `generator` only; splits never share an example."""

    @abc.abstractmethod
    def decode(self, ids: list[int]) -> str:
        """Human-readable text of token ids (specials and padding dropped)."""

    def eval_set(self, split: Split, n: int, generator: torch.Generator) -> Batch:
        """The fixed validation or test set; by default `n` fresh samples of that split."""
        return self.sample(split, n, generator)

    def bin_edges(self) -> list[int]:
        """Left edges of the distance bins evaluation reports (a bin runs to the next edge, the last one open).

        Default: one bin for a single distance, powers of two across a range.
        """
        return default_edges(self.distance.lo, self.distance.hi)

    def text_metrics(self) -> dict[str, Callable[[], Any]]:
        """Factories of text metrics with torchmetrics' interface (`update(preds: list[str], targets:
        list[list[str]])`, `compute()`), scored over the whole test set; a metric that also has `signature() -> str`
        (sacreBLEU's) has it recorded beside its score."""
        return {}

    def reference_text(self, ids: list[int]) -> str:
        """The reference text of a target (token ids, as in `Batch.tgt`) that text metrics score against. Default:
        `decode(ids)`; a corpus task returns the original sentence, so that tokenization never alters a reference."""
        return self.decode(ids)

    def binned_text_metrics(self) -> dict[str, Callable[[], Any]]:
        """The text metrics also scored per distance bin (some, like torchmetrics' chrF, cost too much to run
        twice)."""
        return {}

    def alignment_spans(self, batch: Batch) -> Tensor | None:
        """Optional: each example's longest alignment span (B,) long, recorded per bin as `mean_alignment_span`;
        None (the default) when the task has no word alignments."""
        return None

    def distance_from_tokens(self, batch: Batch) -> Tensor | None:
        """Optional: each example's distance (B,) long, recomputed from its tokens alone. The contract suite checks
        it equals `batch.distance`; None (the default) leaves that check out."""
        return None

    def clue_positions(self, batch: Batch) -> Tensor | None:
        """Optional: which source token each answer depends on. (B, T) long, aligned with `batch.tgt`: at target
        position t, the source position of the one token the answer there is read from, or -1 (EOS, padding, an
        answer that depends on no single token). None (the default): the task has no such clues.

        With it, every cell measures gradient reach (`seqbench.host.gradients`): the gradient of an answer's
        loss with respect to the embedding of its clue token, on each example's last answer that has a clue; that
        answer's clue must be `batch.distance` tokens from where it is needed, so that the measure is binned by
        distance like accuracy. The contract suite checks the shape, that clues point at real source tokens, and
        that every example has one."""
        return None

    distance: Distance  # the distance setting this task was built for


@dataclass(frozen=True)
class TaskSpec:
    """A task as registered: its name, its options and how to build it for one distance setting."""

    name: str  # registry name, e.g. "copy"
    description: str  # one line for `seqbench list`
    build: Callable[[Any, Distance], Task]  # (options, distance) -> Task
    options: type = NoOptions  # frozen dataclass of the task's options, validated in __post_init__
    default_distances: tuple[str, ...] = ("10",)  # distance settings used when the config names none
    distance_unit: str = "tokens"  # what a distance counts, for table headers


ArchKind = Literal["seq2seq", "causal_lm", "mixer"]
ARCH_KINDS: tuple[str, ...] = typing.get_args(ArchKind)


@dataclass(frozen=True)
class ModelShape:
    """The sizes a model is built at. Every architecture reads the ones it uses."""

    d_model: int  # width: embedding and hidden size (the host sizes it to a parameter budget)
    n_layers: int  # stacked layers (recurrent layers, Transformer blocks per stack, mixer layers)
    n_heads: int  # attention heads, for architectures that attend (`ArchSpec.uses_heads`)
    dropout: float  # dropout probability inside the model
    max_len: int  # the longest sequence the model will see (source + SEP + target for a causal model)


@dataclass(frozen=True)
class BuildContext:
    """Everything an architecture's `build` receives: shapes and options, nothing else."""

    model: ModelShape  # the sizes to build at
    options: Any  # the architecture's own options (an instance of `ArchSpec.options`)
    vocab_size: int  # the task's shared token space, specials included
    layer: int | None = None  # kind "mixer": which layer this is, 0 .. model.n_layers - 1; other kinds: None

    @property
    def max_len(self) -> int:
        """Deprecated (contract 1.1; removed in 2.0): `ctx.model.max_len`. Moved there in contract 1.0."""
        warnings.warn("BuildContext.max_len is deprecated since seqbench contract 1.1 and goes in 2.0: read "
                      "ctx.model.max_len (see CHANGELOG.md)", ContractDeprecation, stacklevel=2)
        return self.model.max_len


@dataclass(frozen=True)
class ArchSpec:
    """An architecture as registered.

    `kind` says which interface `build` returns:
    - "seq2seq": a `Seq2SeqModel` (encoder-decoder; sees the source, then decodes the target), optionally an
      `IncrementalSeq2Seq`;
    - "causal_lm": a `CausalLM` over one stream `source SEP target`, optionally an `IncrementalLM`; the host adapts
      it to every task;
    - "mixer": one causal sequence-mixing layer (B, T, D) -> (B, T, D), optionally an `IncrementalMixer`; the host
      calls `build` once per layer (`ctx.layer`) and wraps each in its residual block (`seqbench.host.block`).
    """

    name: str  # registry name: letters, digits, `-` and `_` (it is a key of `[arch.NAME]` in configs)
    description: str  # one line for `seqbench list`
    kind: ArchKind
    build: Callable[[BuildContext], nn.Module]
    options: type = NoOptions  # frozen dataclass of the architecture's options, validated in __post_init__
    width_multiple: int = 1  # d_model is kept a multiple of this when sizing to a parameter budget
    uses_heads: bool = False  # attention with model.n_heads heads: d_model is also kept a multiple of n_heads
    train: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # training defaults this architecture needs,
    # any key of [train], e.g. {"lr": 3e-3}; a configuration that sets the key (train.lr, matrix.lrs) overrides it


# --- model interfaces ------------------------------------------------------------------------------------------
# `forward` is required. The incremental protocols are optional: a model that keeps one generates a token at a
# constant cost (the record says `incremental_generation: true`); otherwise generation re-runs `forward` over the
# whole prefix for every token. Whether a model keeps one is decided in one place, `conforms`, by the methods
# themselves (names and positional parameters), never by a flag or a single method name.


@runtime_checkable
class Seq2SeqModel(Protocol):
    """Encoder-decoder interface (kind "seq2seq"; the host adapts the other kinds to it)."""

    def forward(self, src: Tensor, src_len: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher-forced logits. src (B, S), src_len (B,), tgt_in (B, T) = BOS y1..y_{T-1} -> (B, T, V).

        Position t of the output may depend on tgt_in[:, :t+1] only, and never on source padding.
        """
        ...


@runtime_checkable
class IncrementalSeq2Seq(Protocol):
    """Incremental generation of an encoder-decoder. The host calls `encode` once, then `step(BOS)`, then `step`
    with each token it chose; `step`'s logits equal `forward`'s at the same position. Beam search also needs
    `reorder(state, index)` (`Reorderable`)."""

    def encode(self, src: Tensor, src_len: Tensor) -> Any:
        """src (B, S), src_len (B,) -> the decoding state before the first target token (anything the model likes)."""
        ...

    def step(self, token: Tensor, state: Any) -> tuple[Tensor, Any]:
        """token (B,) -> logits (B, V) for the next token, and the new state."""
        ...


@runtime_checkable
class Reorderable(Protocol):
    """Optional beside `IncrementalSeq2Seq`, `IncrementalLM` or `IncrementalMixer`: what beam search needs. The
    host keeps `width` hypotheses per example as rows of one state, and after every step picks which rows go on;
    `reorder` moves the state along with them. A model without it is decoded greedily only."""

    def reorder(self, state: Any, index: Tensor) -> Any:
        """index (B',) long -> the state whose row i is row index[i] of `state` (rows may repeat; B' may differ
        from B, e.g. B * width when the host first expands each example into its beam). Returns the new state,
        which may share nothing with the old one (the host never uses the old one again)."""
        ...


@runtime_checkable
class CausalLM(Protocol):
    """Decoder-only interface over one right-padded stream (kind "causal_lm")."""

    def forward(self, x: Tensor) -> Tensor:
        """x (B, L) -> logits (B, L, V); position t depends on x[:, :t+1] only."""
        ...


@runtime_checkable
class IncrementalLM(Protocol):
    """Incremental generation of a decoder-only model. The host calls `prefill` on the prompts `source SEP`,
    then `step` with each token it chose. Beam search also needs `reorder(state, index)` (`Reorderable`)."""

    def prefill(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Any]:
        """Right-padded prompts x (B, L), lengths (B,) -> logits (B, V) at position lengths-1, and the state."""
        ...

    def step(self, token: Tensor, state: Any) -> tuple[Tensor, Any]:
        """token (B,) -> logits (B, V) for the next position of every row, and the new state."""
        ...


@runtime_checkable
class IncrementalMixer(Protocol):
    """Incremental form of a sequence mixer (kind "mixer"): a state in, a state out."""

    def prefill(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Any]:
        """Right-padded x (B, L, D), lengths (B,) -> the same output as `forward(x)` (B, L, D), and each row's
        state after its position lengths-1 (what `step` needs to continue that row)."""
        ...

    def step(self, x: Tensor, state: Any) -> tuple[Tensor, Any]:
        """x (B, D): the next position of every row -> output (B, D) as `forward` gives there, and the new state."""
        ...


# --- attention, optional ----------------------------------------------------------------------------------------
# An architecture that attends may say where: the host draws alignment matrices from it (`seqbench attention`,
# the report). The weights must be the ones `forward` uses on the same inputs, in eval mode. Without the method
# the host draws no alignment and nothing else changes. Mixers (kind "mixer") have no such method yet.


@runtime_checkable
class AttendingSeq2Seq(Protocol):
    """Cross-attention weights of an encoder-decoder (kind "seq2seq")."""

    def attention(self, src: Tensor, src_len: Tensor, tgt_in: Tensor) -> Tensor:
        """The teacher-forced pass's cross-attention: (B, layers, heads, T, S), how much target position t reads
        source position s. Every row (over s) is non-negative, sums to one, and is zero at source padding
        (s >= src_len). A single attention (Bahdanau's) has layers = heads = 1."""
        ...


@runtime_checkable
class AttendingLM(Protocol):
    """Self-attention weights of a decoder-only model (kind "causal_lm")."""

    def attention(self, x: Tensor) -> Tensor:
        """x (B, L) -> (B, layers, heads, L, L): row t is position t's weights over positions 0..L-1, non-negative,
        zero after t (causal), summing to one."""
        ...


def conforms(obj: Any, protocol: type) -> bool:
    """Whether `obj` keeps `protocol`: every method the protocol declares is there and takes the protocol's
    positional parameters. The one check the host makes: an unrelated method that happens to be called `step`
    does not make a model incremental."""
    for name, declared in vars(protocol).items():
        if name.startswith("_") or not inspect.isfunction(declared):
            continue
        method = getattr(obj, name, None)
        if not callable(method):
            return False
        n = len(inspect.signature(declared).parameters) - 1  # without self
        try:
            inspect.signature(method).bind(*range(n))
        except (TypeError, ValueError):
            return False
    return True


def teacher_input(tgt: Tensor) -> Tensor:
    """BOS y1 .. y_{T-1}: the `tgt_in` that `forward` gets: the target shifted right. (B, T) -> (B, T)"""
    return torch.cat([torch.full_like(tgt[:, :1], BOS), tgt[:, :-1]], dim=1).masked_fill(tgt == PAD, PAD)
