"""RNN encoder-decoders: `seq2seq` (one context vector, no attention) and `seq2seq-attn` (attention).

`seq2seq`: Cho et al. 2014, "Learning Phrase Representations using RNN Encoder-Decoder for Statistical Machine
Translation" (§2.2, App. A), the RNNencdec baseline of Bahdanau et al. 2014; Sutskever et al. 2014 is the LSTM
form. The encoder reads the packed source (padding never enters) and its final hidden state is the context c, the
only path from source to target: the decoder starts from s_0 = tanh(W c), reads [e(y_{i-1}); c] at every step
and predicts y_i from [s_i; e(y_{i-1}); c] through a maxout layer. It never sees encoder outputs per position.

`seq2seq-attn`, default: Bahdanau, Cho & Bengio 2014, "Neural Machine Translation by Jointly Learning to Align and
Translate" (RNNsearch). Bidirectional encoder, annotations h_j = [fwd_j; bwd_j]; s_0 = tanh(W bwd_1) (App. A.2.2);
additive score e_ij = v^T tanh(W s_{i-1} + U h_j) (App. A.1.2) over unpadded source positions, c_i = sum_j a_ij h_j;
y_i predicted from [s_i; e(y_{i-1}); c_i] by a maxout deep output (§3.1, App. A.2.2).
The one change from the paper (default `feed_context=False`): the paper's recurrence is s_i = f(s_{i-1}, y_{i-1},
c_i); here s_i = f(s_{i-1}, y_{i-1}) and c_i reaches the output layer only. The attention query s_{i-1} does not
depend on c_i, so the scores are the paper's, but every s_i comes from one fused RNN pass and attention and output
are batched over target time: no Python loop in training. `feed_context=True` restores the paper's recurrence
exactly, decoding one step at a time in training too (slower).

`seq2seq-attn`, `attention="luong"`: Luong, Pham & Manning 2015, "Effective Approaches to Attention-based Neural
Machine Translation", global attention with the "general" score s_i^T W_a h_j of the current state (§3.1),
h~_i = tanh(W_c [c_i; s_i]), p(y_i) = softmax(W_s h~_i). Without input feeding (§3.3) it is parallel over time.

Both share one embedding table between encoder and decoder (tasks share one token space).
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

import torch
from torch import Tensor, nn

import seqbench
from seqbench.contract.specs import ArchSpec, BuildContext, options

from ._rnn import Bridge, Encoder, Maxout, make_rnn, reorder_state, shared_embedding, top


@options
class Seq2SeqOptions:
    """Options of `seq2seq`."""

    cell: Literal["gru", "lstm"] = "gru"  # Cho 2014 used gated (GRU) units; Sutskever 2014 used LSTMs
    bidirectional: bool = False  # False: RNNencdec's one-way encoder; True: c = [fwd final; bwd final]



@options
class AttnOptions:
    """Options of `seq2seq-attn`."""

    attention: Literal["bahdanau", "luong"] = "bahdanau"  # additive score of s_{i-1}, or "general" score of s_i
    cell: Literal["gru", "lstm"] = "gru"  # recurrent unit of encoder and decoder (Bahdanau: GRU; Luong: LSTM)
    bidirectional: bool = True  # bidirectional encoder, as in Bahdanau 2014
    feed_context: bool = False  # bahdanau only: also feed c_i into the recurrence (the paper's exact form; loops)

    def __post_init__(self) -> None:
        if self.feed_context and self.attention != "bahdanau":
            raise ValueError("feed_context applies to attention='bahdanau' only")


class Seq2Seq(nn.Module):
    """RNN encoder-decoder whose only path from source to target is one fixed-size context vector c."""

    def __init__(self, vocab_size: int, d_model: int, n_layers: int, dropout: float, opts: Seq2SeqOptions) -> None:
        super().__init__()
        d, dc = d_model, d_model * (2 if opts.bidirectional else 1)  # dc: size of the context vector
        self.embed = shared_embedding(vocab_size, d)
        self.encoder = Encoder(self.embed, opts.cell, d, n_layers, dropout, opts.bidirectional)
        self.bridge = Bridge(dc, d, n_layers, opts.cell)
        self.drop = nn.Dropout(dropout)
        self.decoder = make_rnn(opts.cell, d + dc, d, n_layers, dropout)
        self.readout = Maxout(d + d + dc, d, vocab_size, dropout)

    def forward(self, src: Tensor, src_len: Tensor, tgt_in: Tensor) -> Tensor:
        """src (B, S), src_len (B,), tgt_in (B, T) -> logits (B, T, V)."""
        _, c, _ = self.encoder(src, src_len)  # c (B, C)
        emb = self.drop(self.embed(tgt_in))  # (B, T, D)
        cs = c[:, None].expand(-1, emb.shape[1], -1)  # (B, T, C)
        out, _ = self.decoder(torch.cat([emb, cs], -1), self.bridge(c))  # (B, T, H), one fused pass
        return self.readout(out, emb, cs)

    def encode(self, src: Tensor, src_len: Tensor) -> tuple[Any, Tensor]:
        """src (B, S), src_len (B,) -> the decoding state (s_0, c) before the first target token."""
        _, c, _ = self.encoder(src, src_len)
        return self.bridge(c), c

    def step(self, token: Tensor, state: Any) -> tuple[Tensor, Any]:
        """token (B,) -> logits (B, V) for the next token, and the new state."""
        h, c = state
        emb, cs = self.drop(self.embed(token[:, None])), c[:, None]  # (B, 1, D), (B, 1, C)
        out, h = self.decoder(torch.cat([emb, cs], -1), h)  # (B, 1, H)
        return self.readout(out, emb, cs)[:, 0], (h, c)

    def reorder(self, state: Any, index: Tensor) -> Any:
        """Rows `index` (B',) of the state (decoder state, context (B, C)), for beam search."""
        h, c = state
        return reorder_state(h, index), c.index_select(0, index)


class Attention(nn.Module):
    """Attention of decoder states (B, T, H) over source annotations (B, S, E); source padding masked."""

    def __init__(self, kind: str, d_query: int, d_memory: int, d_attn: int) -> None:
        super().__init__()
        self.additive = kind == "bahdanau"
        if self.additive:  # v^T tanh(W s + U h)
            self.key = nn.Linear(d_memory, d_attn, bias=False)  # U
            self.query = nn.Linear(d_query, d_attn)  # W (with the bias of the sum)
            self.v = nn.Linear(d_attn, 1, bias=False)
        else:  # "general": s^T W_a h
            self.key = nn.Linear(d_memory, d_query, bias=False)  # W_a

    def forward(self, query: Tensor, mem: "Memory") -> tuple[Tensor, Tensor]:
        """query (B, T, H) -> context (B, T, E) and the weights a (B, T, S) it averages the annotations with."""
        if self.additive:
            # (B, T, S, A): additive scores cost T*S*A per example in memory, unlike the dot-product forms
            hidden = torch.tanh(self.query(query)[:, :, None] + mem.keys[:, None])
            scores = self.v(hidden).squeeze(-1)  # (B, T, S)
        else:
            scores = query @ mem.keys.transpose(1, 2)  # (B, T, S)
        scores = scores.masked_fill(~mem.mask[:, None], float("-inf"))
        weights = torch.softmax(scores, dim=-1)  # (B, T, S), zero at source padding
        return weights @ mem.annotations, weights  # (B, T, E)


class Memory(NamedTuple):
    """The encoded source, computed once per sequence."""

    annotations: Tensor  # (B, S, E)
    keys: Tensor  # (B, S, A): the source side of the score, projected once
    mask: Tensor  # (B, S) bool: True at real source positions


class AttnSeq2Seq(nn.Module):
    """RNN encoder-decoder with attention: Bahdanau (additive, s_{i-1}) or Luong (general, s_i)."""

    def __init__(self, vocab_size: int, d_model: int, n_layers: int, dropout: float, opts: AttnOptions) -> None:
        super().__init__()
        d, e = d_model, d_model * (2 if opts.bidirectional else 1)  # e: size of an annotation
        self.luong, self.feed = opts.attention == "luong", opts.feed_context
        self.embed = shared_embedding(vocab_size, d)
        self.encoder = Encoder(self.embed, opts.cell, d, n_layers, dropout, opts.bidirectional)
        self.bridge = Bridge(d, d, n_layers, opts.cell)  # from bwd_1 (fwd_S if one-way)
        self.attn = Attention(opts.attention, d, e, d)
        self.drop = nn.Dropout(dropout)
        self.decoder = make_rnn(opts.cell, d + (e if self.feed else 0), d, n_layers, dropout)
        if self.luong:
            self.combine = nn.Linear(e + d, d)  # W_c
            self.out = nn.Linear(d, vocab_size)  # W_s
        else:
            self.readout = Maxout(d + d + e, d, vocab_size, dropout)

    def encode(self, src: Tensor, src_len: Tensor) -> tuple[Any, Memory]:
        """src (B, S), src_len (B,) -> the decoding state before the first target token: the decoder's initial
        state s_0 and the source memory."""
        annotations, _, last = self.encoder(src, src_len)  # (B, S, E), last direction's final state (B, H)
        mask = torch.arange(src.shape[1], device=src.device) < src_len.clamp(min=1)[:, None]  # (B, S)
        return self.bridge(last), Memory(annotations, self.attn.key(annotations), mask)

    def forward(self, src: Tensor, src_len: Tensor, tgt_in: Tensor) -> Tensor:
        """src (B, S), src_len (B,), tgt_in (B, T) -> logits (B, T, V)."""
        return self._decode(src, src_len, tgt_in)[0]

    def attention(self, src: Tensor, src_len: Tensor, tgt_in: Tensor) -> Tensor:
        """The alignment a_ij behind `forward` (Bahdanau 2014, fig. 3): (B, 1, 1, T, S), one attention, one head."""
        return self._decode(src, src_len, tgt_in)[1][:, None, None]

    def _decode(self, src: Tensor, src_len: Tensor, tgt_in: Tensor) -> tuple[Tensor, Tensor]:
        """Teacher-forced logits (B, T, V) and attention weights (B, T, S)."""
        state, mem = self.encode(src, src_len)
        emb = self.drop(self.embed(tgt_in))  # (B, T, D)
        if self.feed:  # c_i enters the recurrence: one step at a time
            steps, weights = [], []
            for t in range(emb.shape[1]):
                logits, state, a = self._step(emb[:, t : t + 1], state, mem)
                steps.append(logits)
                weights.append(a)
            return torch.cat(steps, dim=1), torch.cat(weights, dim=1)  # (B, T, V), (B, T, S)
        out, _ = self.decoder(emb, state)  # (B, T, H): s_1..s_T in one fused pass
        if self.luong:
            query = out  # s_i
        else:
            query = torch.cat([top(state)[:, None], out[:, :-1]], dim=1)  # s_{i-1}: (B, T, H)
        ctx, weights = self.attn(query, mem)
        return self._output(out, emb, ctx), weights

    def step(self, token: Tensor, state: Any) -> tuple[Tensor, Any]:
        """token (B,) -> logits (B, V) for the next token, and the new state."""
        h, mem = state
        logits, h, _ = self._step(self.drop(self.embed(token[:, None])), h, mem)
        return logits[:, 0], (h, mem)

    def reorder(self, state: Any, index: Tensor) -> Any:
        """Rows `index` (B',) of the state (decoder state, source memory), for beam search."""
        h, mem = state
        return reorder_state(h, index), Memory(*(m.index_select(0, index) for m in mem))

    def _step(self, emb: Tensor, h: Any, mem: Memory) -> tuple[Tensor, Any, Tensor]:
        """One decoder step: emb (B, 1, D) -> logits (B, 1, V), new decoder state, attention weights (B, 1, S)."""
        if self.luong:
            out, h = self.decoder(emb, h)  # s_i (B, 1, H)
            ctx, weights = self.attn(out, mem)
        else:
            ctx, weights = self.attn(top(h)[:, None], mem)  # attend with s_{i-1}: (B, 1, E)
            out, h = self.decoder(torch.cat([emb, ctx], -1) if self.feed else emb, h)
        return self._output(out, emb, ctx), h, weights

    def _output(self, s: Tensor, emb: Tensor, ctx: Tensor) -> Tensor:
        """States s (B, T, H), inputs emb (B, T, D), contexts ctx (B, T, E) -> logits (B, T, V)."""
        if self.luong:
            return self.out(self.drop(torch.tanh(self.combine(torch.cat([ctx, s], -1)))))
        return self.readout(s, emb, ctx)


def build_seq2seq(ctx: BuildContext) -> Seq2Seq:
    m = ctx.model
    return Seq2Seq(ctx.vocab_size, m.d_model, m.n_layers, m.dropout, ctx.options)


def build_attn(ctx: BuildContext) -> AttnSeq2Seq:
    m = ctx.model
    return AttnSeq2Seq(ctx.vocab_size, m.d_model, m.n_layers, m.dropout, ctx.options)


@seqbench.hookimpl
def register_architectures(register):
    # lr 1e-2 for both, chosen on validation as for the recurrent LMs (see plugins/recurrent.py)
    register(ArchSpec(name="seq2seq", description="RNN encoder-decoder, one context vector (Cho 2014)",
                      kind="seq2seq", build=build_seq2seq, options=Seq2SeqOptions, train={"lr": 1e-2}))
    register(ArchSpec(name="seq2seq-attn", description="RNN encoder-decoder with attention (Bahdanau 2014)",
                      kind="seq2seq", build=build_attn, options=AttnOptions, train={"lr": 1e-2}))
