"""Recurrent language models `rnn`, `lstm` and `gru`: embedding -> n_layers of one fused recurrent kernel -> final
LayerNorm -> head.

- rnn: Elman 1990, "Finding Structure in Time": h_t = tanh(W x_t + U h_{t-1} + b).
- lstm: Hochreiter & Schmidhuber 1997, "Long Short-Term Memory", with the forget gate of Gers et al. 2000
  (PyTorch's `nn.LSTM`).
- gru: Cho et al. 2014, "Learning Phrase Representations using RNN Encoder-Decoder for Statistical Machine
  Translation" (`nn.GRU`).

Each is a `CausalLM` over the stream `source SEP target` (kind "causal_lm"; `seqbench.host.adapt.DecoderOnly` does the
rest). Training runs the fused kernel over the whole sequence, never a Python loop over time; generation packs the
prompts so each row's state stops at its own length, then carries that state, so every new token costs the same.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Literal

from torch import Tensor, nn

import seqbench
from seqbench.contract.specs import ArchSpec, BuildContext, NoOptions, options

from ._rnn import make_rnn, reorder_state, run_packed, shared_embedding, top


@options
class RNNOptions:
    """Options of `rnn`."""

    nonlinearity: Literal["tanh", "relu"] = "tanh"  # Elman's tanh; relu gives the IRNN-style cell (Le et al. 2015)



class RecurrentLM(nn.Module):
    """Embedding -> fused multi-layer RNN, LSTM or GRU -> final LayerNorm -> linear head, with incremental
    prefill/step.

    The final norm (as the Transformer models have) keeps the head from reading the raw state's scale: without it,
    on cloze the LSTM learned the target marginal (half EOS, half a spread over languages) through a saturated,
    input-independent top state and answered EOS to every query (token accuracy 0.000).
    """

    def __init__(self, cell: str, vocab_size: int, d_model: int, n_layers: int, dropout: float,
                 nonlinearity: str = "tanh") -> None:
        super().__init__()
        self.embed = shared_embedding(vocab_size, d_model)
        self.drop = nn.Dropout(dropout)
        self.rnn = make_rnn(cell, d_model, d_model, n_layers, dropout, nonlinearity=nonlinearity)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size)

    def forward(self, x: Tensor) -> Tensor:
        """x (B, L) -> logits (B, L, V); position t sees x[:, :t+1] only."""
        h, _ = self.rnn(self.drop(self.embed(x)))  # (B, L, D)
        return self.head(self.drop(self.norm(h)))

    def prefill(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Any]:
        """Right-padded prompts x (B, L), lengths (B,) -> logits (B, V) at position lengths-1, and the state."""
        _, state = run_packed(self.rnn, self.drop(self.embed(x)), lengths)  # each row stops at its own length
        return self.head(self.drop(self.norm(top(state)))), state

    def step(self, token: Tensor, state: Any) -> tuple[Tensor, Any]:
        """token (B,) -> logits (B, V) for the next token, and the new state; constant cost per token."""
        h, state = self.rnn(self.drop(self.embed(token[:, None])), state)  # (B, 1, D)
        return self.head(self.drop(self.norm(h[:, 0]))), state

    def reorder(self, state: Any, index: Tensor) -> Any:
        """Rows `index` (B',) of the state, for beam search."""
        return reorder_state(state, index)


def build(cell: str, ctx: BuildContext) -> RecurrentLM:
    """The `cell` language model at the sizes of `ctx`."""
    m = ctx.model
    nonlinearity = ctx.options.nonlinearity if cell == "rnn" else "tanh"
    return RecurrentLM(cell, ctx.vocab_size, m.d_model, m.n_layers, m.dropout, nonlinearity)


# Peak learning rates, chosen on validation: of 1e-3, 3e-3 and 1e-2, the one with the lowest mean best validation
# loss over a pilot (copy at delays 2 and 32, cloze at distances 4 and 32; 40k parameters, 1000 steps, 2-core CPU;
# the numbers are in the README's results section). A configuration's train.lr or matrix.lrs overrides them.
TRAIN = {"rnn": {"lr": 3e-3}, "lstm": {"lr": 1e-3}, "gru": {"lr": 1e-2}}


@seqbench.hookimpl
def register_architectures(register):
    register(ArchSpec(name="rnn", description="Elman RNN (tanh) language model, fused multi-layer kernel",
                      kind="causal_lm", build=partial(build, "rnn"), options=RNNOptions, train=TRAIN["rnn"]))
    register(ArchSpec(name="lstm", description="LSTM language model (Hochreiter & Schmidhuber 1997)",
                      kind="causal_lm", build=partial(build, "lstm"), options=NoOptions, train=TRAIN["lstm"]))
    register(ArchSpec(name="gru", description="GRU language model (Cho et al. 2014)",
                      kind="causal_lm", build=partial(build, "gru"), options=NoOptions, train=TRAIN["gru"]))
