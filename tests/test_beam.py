"""Beam search (`seqbench.host.beam`): greedy at width 1, better sequences than greedy where greedy is
myopic, and the reorder check catching a state that does not follow its rows."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from seqbench.host.beam import beam_search, can_beam, decode
from seqbench.host.generate import greedy
from seqbench.contract.registry import Registry
from seqbench.contract.specs import BOS, EOS, PAD, ArchSpec
from seqbench.testing.arch_checks import ARCHITECTURE_CHECKS, ArchSubject
from seqbench.testing.core import run_checks

A, B = 4, 5  # two symbols after the host's specials


class Chain(nn.Module):
    """A fixed Markov chain over tokens, as an incremental encoder-decoder: the next token depends on the last.
    From BOS: a 0.5, b 0.4, EOS 0.1. After a: a 0.4, b 0.3, EOS 0.3. After b: EOS 0.9, a 0.05, b 0.05.
    Greedy takes a, a, a, ... (p 0.5 * 0.4^n); the likeliest sentence is `b EOS` (0.36)."""

    def __init__(self, reorder_ok: bool = True) -> None:
        super().__init__()
        p = torch.full((6, 6), 1e-9)
        p[BOS, A], p[BOS, B], p[BOS, EOS] = 0.5, 0.4, 0.1
        p[A, A], p[A, B], p[A, EOS] = 0.4, 0.3, 0.3
        p[B, EOS], p[B, A], p[B, B] = 0.9, 0.05, 0.05
        p[EOS, PAD] = p[PAD, PAD] = 1.0
        self.register_buffer("logits", (p / p.sum(1, keepdim=True)).log())
        self.reorder_ok = reorder_ok

    def forward(self, src: Tensor, src_len: Tensor, tgt_in: Tensor) -> Tensor:
        return self.logits[tgt_in]  # (B, T, V)

    def encode(self, src: Tensor, src_len: Tensor) -> Tensor:
        return torch.zeros(src.shape[0], dtype=torch.long)  # (B,): steps taken, a state with rows

    def step(self, token: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        return self.logits[token], state + 1

    def reorder(self, state: Tensor, index: Tensor) -> Tensor:
        return state.index_select(0, index) if self.reorder_ok else state


def src(n: int = 2) -> tuple[Tensor, Tensor]:
    return torch.full((n, 3), A), torch.full((n,), 3)


def test_width_one_is_greedy_and_a_wider_beam_finds_the_likelier_sentence():
    model = Chain()
    s, s_len = src()
    assert torch.equal(beam_search(model, s, s_len, 6, 1), greedy(model, s, s_len, 6))
    assert greedy(model, s, s_len, 6)[0].tolist() == [A] * 6  # myopic: never ends
    best = beam_search(model, s, s_len, 6, 2, length_penalty=0.0)
    assert best.tolist() == [[B, EOS, PAD, PAD, PAD, PAD]] * 2  # p = 0.36, above every other sentence
    assert torch.equal(decode(model, s, s_len, 6, 2, 0.0), best)


def test_width_above_the_vocabulary_and_every_row_alike():
    model = Chain()
    s, s_len = src(3)
    out = beam_search(model, s, s_len, 4, 50, length_penalty=0.0)  # 50 hypotheses asked, 6 tokens exist
    assert out.shape == (3, 4) and out[:, :2].tolist() == [[B, EOS]] * 3


def test_the_length_penalty_ranks_the_final_hypotheses():
    model = Chain()
    s, s_len = src(1)
    # width 4, 3 steps: finalists `b EOS` (p .36, 2 tokens), `a EOS` (.15, 2), `a b EOS` (.135, 3), `a a a` (.08, 3).
    # Ranked by log p alone, `b EOS`; by log p / ((5 + length) / 6) ** 10, `a b EOS`: -2.00 / 17.8 = -0.113 beats
    # -1.02 / 4.67 = -0.219 (b EOS) and -2.53 / 17.8 = -0.142 (a a a).
    assert beam_search(model, s, s_len, 3, 4, length_penalty=0.0)[0].tolist() == [B, EOS, PAD]
    assert beam_search(model, s, s_len, 3, 4, length_penalty=10.0)[0].tolist() == [A, B, EOS]


def test_without_reorder_there_is_no_beam_search():
    class NoReorder(Chain):
        reorder = None  # type: ignore[assignment]

    model = NoReorder()
    assert not can_beam(model) and can_beam(Chain())
    with pytest.raises(ValueError, match="reorder"):
        beam_search(model, *src(), 4, 2)


def test_the_contract_check_catches_a_reorder_that_moves_nothing(write_plugin):
    from seqbench.contract import registry

    plugin = write_plugin("bad_reorder", """
        import torch
        import seqbench
        from seqbench.contract.specs import ArchSpec
        from seqbench.plugins.recurrent import RecurrentLM

        class Stuck(RecurrentLM):
            def reorder(self, state, index):  # forgets to move the rows
                return state

        @seqbench.hookimpl
        def register_architectures(register):
            register(ArchSpec(name="stuck", description="an LSTM whose reorder moves nothing", kind="causal_lm",
                              build=lambda ctx: Stuck("lstm", ctx.vocab_size, ctx.model.d_model,
                                                      ctx.model.n_layers, 0.0)))
    """)
    reg = registry.load([str(plugin)], entry_points=False)
    checks = [c for c in ARCHITECTURE_CHECKS if c.name in ("reorder", "beam-width-one")]
    outcomes = {o.check.name: o for o in run_checks(ArchSubject("stuck", reg.arch("stuck")), checks)}
    assert outcomes["reorder"].status == "failed" and "after reorder, step 1" in outcomes["reorder"].message
    good = {o.check.name: o.status for o in run_checks(ArchSubject("lstm", reg.arch("lstm")), checks)}
    assert good == {"reorder": "passed", "beam-width-one": "passed"}
