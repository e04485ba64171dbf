"""Recurrent building blocks shared by the `recurrent` and `seq2seq` plugins (underscore: not a plugin itself)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqbench.contract.specs import PAD

CELLS: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def make_rnn(cell: str, d_in: int, d_hidden: int, n_layers: int, dropout: float, *, bidirectional: bool = False,
             nonlinearity: str = "tanh") -> nn.RNNBase:
    """One fused multi-layer cuDNN/CPU kernel (batch_first), with the initialisation of `init_rnn`."""
    extra = {"nonlinearity": nonlinearity} if cell == "rnn" else {}
    rnn = CELLS[cell](d_in, d_hidden, n_layers, batch_first=True, bidirectional=bidirectional,
                      dropout=dropout if n_layers > 1 else 0.0, **extra)
    init_rnn(rnn, cell)
    return rnn


@torch.no_grad()
def init_rnn(rnn: nn.RNNBase, cell: str) -> None:
    """Orthogonal recurrent matrices per gate (Saxe et al. 2014); LSTM forget-gate bias 1 (Jozefowicz et al. 2015)."""
    for name, p in rnn.named_parameters():
        if p.is_meta:  # sizing builds on the meta device: nothing to initialise
            return
        if name.startswith("weight_hh"):
            for block in p.chunk(GATES[cell], 0):  # (H, H) per gate
                nn.init.orthogonal_(block)
        elif cell == "lstm" and name.startswith("bias"):
            h = p.shape[0] // 4  # gates are ordered i, f, g, o
            p[h : 2 * h] = 1.0 if name.startswith("bias_ih") else 0.0  # the two biases sum to 1


def run_packed(rnn: nn.RNNBase, x: Tensor, lengths: Tensor, state: Any = None) -> tuple[Tensor, Any]:
    """Run `rnn` over right-padded x (B, T, D) so row b stops at lengths[b]: padding never reaches the state.

    Returns outputs (B, T, dirs*H), zero past each length, and the final state (each row's at its own length).
    A length of 0 is read as 1 (the single PAD token, whose embedding is zero).
    """
    packed = pack_padded_sequence(x, lengths.cpu().clamp(min=1), batch_first=True, enforce_sorted=False)
    out, state = rnn(packed, state)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])  # (B, T, dirs*H)
    return out, state


def reorder_state(state: Any, index: Tensor) -> Any:
    """Rows `index` (B',) of an RNN/GRU state (layers, B, H) or an LSTM (h, c) pair: the batch is dimension 1."""
    if isinstance(state, tuple):
        return tuple(s.index_select(1, index) for s in state)
    return state.index_select(1, index)


def top(state: Any) -> Tensor:
    """The last layer's hidden state (B, H) of an RNN/GRU state or an LSTM (h, c) pair (last direction if bi)."""
    h = state[0] if isinstance(state, tuple) else state  # (layers*dirs, B, H)
    return h[-1]


class Encoder(nn.Module):
    """Source encoder: (shared) embedding -> fused, optionally bidirectional RNN over the packed source."""

    def __init__(self, embed: nn.Embedding, cell: str, d_model: int, n_layers: int, dropout: float,
                 bidirectional: bool) -> None:
        super().__init__()
        self.embed = embed
        self.drop = nn.Dropout(dropout)
        self.rnn = make_rnn(cell, d_model, d_model, n_layers, dropout, bidirectional=bidirectional)
        self.dirs = 2 if bidirectional else 1

    def forward(self, src: Tensor, src_len: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """src (B, S), src_len (B,) -> annotations (B, S, dirs*H), last-layer final state of every direction
        concatenated (B, dirs*H), and of the last direction alone (B, H)."""
        out, state = run_packed(self.rnn, self.drop(self.embed(src)), src_len)
        h = state[0] if isinstance(state, tuple) else state  # (layers*dirs, B, H)
        final = torch.cat(list(h[-self.dirs :]), dim=-1)  # (B, dirs*H): [forward at s_len; backward at 1]
        return out, final, h[-1]


class Bridge(nn.Module):
    """Initial decoder state from an encoder summary: s_0 = tanh(W c) for every layer (Cho 2014; Bahdanau 2014)."""

    def __init__(self, d_in: int, d_hidden: int, n_layers: int, cell: str) -> None:
        super().__init__()
        self.proj = nn.Linear(d_in, n_layers * d_hidden)
        self.n_layers, self.d_hidden, self.lstm = n_layers, d_hidden, cell == "lstm"

    def forward(self, c: Tensor) -> Any:
        """c (B, d_in) -> decoder state: h (layers, B, H), or (h, zero cell) for an LSTM."""
        h = torch.tanh(self.proj(c)).view(-1, self.n_layers, self.d_hidden).transpose(0, 1).contiguous()
        return (h, torch.zeros_like(h)) if self.lstm else h


class Maxout(nn.Module):
    """Deep output layer with maxout units (Goodfellow et al. 2013), as in Cho 2014 and Bahdanau 2014 (App. A):
    logits = W_o max-pool-2(U [inputs])."""

    def __init__(self, d_in: int, d_units: int, vocab_size: int, dropout: float) -> None:
        super().__init__()
        self.proj = nn.Linear(d_in, 2 * d_units)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(d_units, vocab_size)

    def forward(self, *parts: Tensor) -> Tensor:
        """parts (B, T, *) concatenated -> logits (B, T, V)."""
        t = self.proj(torch.cat(parts, dim=-1))  # (B, T, 2U)
        t = t.unflatten(-1, (-1, 2)).amax(-1)  # (B, T, U)
        return self.out(self.drop(t))


def shared_embedding(vocab_size: int, d_model: int) -> nn.Embedding:
    """One embedding table for source and target: tasks share one token space (`seqbench.contract.specs`)."""
    return nn.Embedding(vocab_size, d_model, padding_idx=PAD)
