"""Attention alignments, from any architecture that exposes its weights (`AttendingSeq2Seq` for kind "seq2seq",
`AttendingLM` for kind "causal_lm", in `seqbench.contract.specs`); None for one that does not, which is no error.

An alignment is what Bahdanau et al. 2014 (fig. 3) draw: for each target position, its weights over the columns it
attends. An encoder-decoder's columns are the source (cross-attention); a decoder-only model's are the stream
`source SEP target` it reads, of which the host keeps the rows where the target is predicted (self-attention).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from seqbench.host.adapt import DecoderOnly
from seqbench.contract.checks import ContractError
from seqbench.contract.specs import AttendingLM, AttendingSeq2Seq, conforms

TOLERANCE = 1e-4  # how far a row's sum may be from one (float32 softmax)


@dataclass(frozen=True)
class Alignment:
    """Attention weights of a batch, rows by target position."""

    weights: Tensor  # (B, layers, heads, T, K): row t, target position t's weights over the K columns
    columns: Tensor  # (B, K) the token ids of the columns: the source, or the stream `source SEP target`
    over: str  # "source" (cross-attention of an encoder-decoder) or "stream" (self-attention, decoder-only)


def attends(model: nn.Module) -> bool:
    """Whether the (host-adapted) model exposes attention weights."""
    return conforms(model.lm if isinstance(model, DecoderOnly) else model,
                    AttendingLM if isinstance(model, DecoderOnly) else AttendingSeq2Seq)


@torch.no_grad()
def alignment(model: nn.Module, src: Tensor, src_len: Tensor, tgt_in: Tensor) -> Alignment | None:
    """The teacher-forced pass's attention over src (B, S), tgt_in (B, T), or None when the model exposes none.
    A ContractError when the weights have the wrong shape."""
    if not attends(model):
        return None
    b, t = tgt_in.shape
    if isinstance(model, DecoderOnly):
        stream, idx = model.stream(src, src_len, tgt_in)  # (B, L), (B, T)
        weights = _checked(model.lm.attention(stream), b, stream.shape[1], stream.shape[1], "attention(x)")
        rows = idx[:, None, None, :, None].expand(-1, *weights.shape[1:3], -1, weights.shape[-1])
        return Alignment(weights.gather(3, rows), stream, "stream")  # (B, layers, heads, T, L)
    weights = _checked(model.attention(src, src_len, tgt_in), b, t, src.shape[1], "attention(src, src_len, tgt_in)")
    return Alignment(weights, src, "source")


def _checked(weights: object, b: int, rows: int, cols: int, call: str) -> Tensor:
    ok = (isinstance(weights, Tensor) and weights.dim() == 5 and weights.shape[0] == b
          and tuple(weights.shape[3:]) == (rows, cols) and weights.shape[1] >= 1 and weights.shape[2] >= 1)
    if not ok:
        got = tuple(weights.shape) if isinstance(weights, Tensor) else type(weights).__name__
        raise ContractError("architecture", f"{call} returned {got}, expected (batch, layers, heads, {rows}, {cols})")
    return weights.float()


def row_sums_error(weights: Tensor) -> float:
    """The largest distance of a row's sum from one. weights (..., K) -> float"""
    return float((weights.sum(-1) - 1).abs().max()) if weights.numel() else 0.0
