"""Contract tests over every registered architecture: the checks that ship as `seqbench.testing` (what
`seqbench check-plugin` runs), parametrized over the registry, then what is particular to the built-ins and to
the host (its block, its incremental protocols).

A new plugin is tested the moment it registers. Two third-party-style mixers (GRU mixers, one with incremental
state and one without, registered with `seqbench.contract.registry.load(plugins=...)`) run through the same checks.
"""

from __future__ import annotations

import types
from dataclasses import dataclass

import pytest
import torch
from torch import Tensor, nn

import seqbench
from seqbench.contract import registry
from seqbench.host.adapt import DecoderOnly, IncrementalMixerLM, MixerLM
from seqbench.contract.errors import ConfigError
from seqbench.host.generate import incremental, is_incremental
from seqbench.host.block import HOST_BLOCK, HostBlock
from seqbench.host.sizing import build_model
from seqbench.contract.specs import N_SPECIAL, ArchSpec, BuildContext, ModelShape
from seqbench.run.config import section as build_options
from seqbench.testing.arch_checks import ARCHITECTURE_CHECKS, VOCAB, ArchSubject, random_batch

BUILTINS = {"rnn", "lstm", "gru", "seq2seq", "seq2seq-attn", "transformer", "gpt", "selective-ssm", "gla", "mlstm"}


# --- third-party-style plugins: one "mixer" layer, stacked by the host -----------------------------------------


@dataclass(frozen=True)
class GRUMixerOptions:
    """Options of the example mixer."""

    hidden_mult: int = 1  # GRU hidden size as a multiple of d_model

    def __post_init__(self) -> None:
        if self.hidden_mult < 1:
            raise ValueError(f"hidden_mult must be at least 1, got {self.hidden_mult}")


class GRUMixer(nn.Module):
    """Causal sequence mixer (B, T, D) -> (B, T, D): a one-layer GRU and a projection back to D."""

    def __init__(self, d: int, mult: int) -> None:
        super().__init__()
        self.rnn = nn.GRU(d, mult * d, batch_first=True)
        self.proj = nn.Linear(mult * d, d)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(self.rnn(x)[0])


class IncrementalGRUMixer(GRUMixer):
    """The same mixer with the host's `IncrementalMixer` protocol: its state is the GRU's hidden state."""

    def prefill(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        out, _ = self.rnn(x)  # (B, L, H): a one-layer GRU's output is its state
        return self.proj(out), out[torch.arange(x.shape[0]), lengths - 1][None].contiguous()  # (1, B, H)

    def step(self, x: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        out, state = self.rnn(x[:, None], state)  # (B, 1, H)
        return self.proj(out[:, 0]), state


def _register_examples(register):
    register(ArchSpec(name="example-gru-mixer", description="example third-party mixer", kind="mixer",
                      build=lambda ctx: GRUMixer(ctx.model.d_model, ctx.options.hidden_mult),
                      options=GRUMixerOptions))
    register(ArchSpec(name="example-incremental-mixer", description="example mixer with state", kind="mixer",
                      build=lambda ctx: IncrementalGRUMixer(ctx.model.d_model, ctx.options.hidden_mult),
                      options=GRUMixerOptions))


EXAMPLE_PLUGIN = types.ModuleType("seqbench_example_plugin")
EXAMPLE_PLUGIN.register_architectures = seqbench.hookimpl(_register_examples)

REGISTRY = registry.load(plugins=[("example", EXAMPLE_PLUGIN)])
ARCHS = sorted(REGISTRY.archs)
VARIANTS = [  # non-default options of the built-ins, run through the same contract
    ("rnn", {"nonlinearity": "relu"}),
    ("seq2seq", {"cell": "lstm", "bidirectional": True}),
    ("seq2seq-attn", {"attention": "luong"}),
    ("seq2seq-attn", {"attention": "luong", "cell": "lstm", "bidirectional": False}),
    ("seq2seq-attn", {"cell": "lstm", "bidirectional": False}),
    ("seq2seq-attn", {"feed_context": True}),
    ("transformer", {"positions": "learned", "norm": "post"}),
    ("gpt", {"positions": "learned", "norm": "post"}),
    ("selective-ssm", {"selective": False, "dt_rank": 2}),
]
CASES = [(name, {}) for name in ARCHS] + [v for v in VARIANTS if v[0] in REGISTRY.archs]
CASE_IDS = [name + "".join(f"[{k}={v}]" for k, v in opts.items()) for name, opts in CASES]
FAST = [c for c in ARCHITECTURE_CHECKS if c.name != "learns"]  # `learns` once per architecture, not per variant


def make(name: str, options: dict | None = None, vocab: int = VOCAB, d_model: int = 32, max_len: int = 128,
         seed: int = 0) -> nn.Module:
    """The architecture as a `Seq2SeqModel`, built through the registry with validated options."""
    spec = REGISTRY.arch(name)
    opts = build_options(spec.options, options or {}, f"arch.{name}")
    torch.manual_seed(seed)
    return build_model(spec, ModelShape(d_model, 2, 4, 0.0, max_len), opts, vocab)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models run fastest, and steadiest on a shared machine, on one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def run(check, name: str, options: dict) -> None:
    from seqbench.testing.core import NotApplicable

    try:
        check.run(ArchSubject(name, REGISTRY.arch(name), options))
    except NotApplicable as e:
        pytest.skip(str(e))


# --- the registry ---------------------------------------------------------------------------------------------


def test_builtins_and_example_plugins_are_registered():
    assert BUILTINS <= set(REGISTRY.archs)
    info = next(p for p in REGISTRY.plugins if p.name == "example")
    assert (info.source, info.status) == ("api", "ok")
    assert info.provides == ["architecture:example-gru-mixer", "architecture:example-incremental-mixer"]
    for name in BUILTINS:
        assert REGISTRY.owner[("architecture", name)].source == "builtin"


def test_every_plugin_loaded():
    """A plugin that failed to load would leave no tests below: that is a failure here, not an empty pass."""
    assert all(info.status == "ok" for info in REGISTRY.plugins), [(i.name, i.errors) for i in REGISTRY.plugins]


# --- the shipped contract, for every architecture and option variant ------------------------------------------


@pytest.mark.parametrize("check", FAST, ids=[c.name for c in FAST])
@pytest.mark.parametrize("name,options", CASES, ids=CASE_IDS)
def test_contract(name, options, check):
    run(check, name, options)


@pytest.mark.parametrize("name", ARCHS)
def test_learns(name):
    run(next(c for c in ARCHITECTURE_CHECKS if c.name == "learns"), name, {})


def test_incremental_protocols_are_recognised_for_every_builtin():
    assert {n for n in BUILTINS if is_incremental(make(n))} == BUILTINS
    assert isinstance(make("example-incremental-mixer").lm, IncrementalMixerLM)
    plain = make("example-gru-mixer")
    assert type(plain.lm) is MixerLM and not is_incremental(plain)


class Stepper(nn.Module):
    """A seq2seq model with methods that happen to be called `encode` and `step` but are not the protocol's."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.steps = 0

    def forward(self, src: Tensor, src_len: Tensor, tgt_in: Tensor) -> Tensor:
        return torch.zeros(*tgt_in.shape, VOCAB)

    def step(self) -> None:  # e.g. a schedule's step: no token, no state
        self.steps += 1

    def encode(self, text: str) -> list[int]:  # e.g. a tokenizer's
        return [ord(c) for c in text]


class LMWithStep(nn.Module):
    """A causal LM with a `step(token, state)` but no `prefill`: not incremental either."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.zeros(*x.shape, VOCAB)

    def step(self, token: Tensor, state: object) -> tuple[Tensor, object]:
        return torch.zeros(token.shape[0], VOCAB), state


def test_a_model_with_an_unrelated_step_method_is_not_incremental():
    assert not is_incremental(Stepper()) and incremental(Stepper()) is None
    assert not is_incremental(DecoderOnly(LMWithStep()))
    src, src_len, _ = random_batch(VOCAB, [3, 2], 1)
    from seqbench.host.generate import greedy

    assert greedy(Stepper(), src, src_len, 4).shape == (2, 4)  # generated by re-running forward, not via step()


# --- the host block -------------------------------------------------------------------------------------------


def test_gpt_and_a_third_party_mixer_at_the_same_width_have_the_same_feed_forward():
    gpt, mixer = make("gpt", d_model=32), make("example-gru-mixer", d_model=32)
    gpt_blocks = [m for m in gpt.modules() if isinstance(m, HostBlock)]
    mixer_blocks = [m for m in mixer.modules() if isinstance(m, HostBlock)]
    assert len(gpt_blocks) == len(mixer_blocks) == 2
    a, b = gpt_blocks[0], mixer_blocks[0]
    assert [type(m) for m in a.ffn] == [type(m) for m in b.ffn] == [nn.Linear, nn.ReLU, nn.Linear]
    assert [p.shape for p in a.ffn.parameters()] == [p.shape for p in b.ffn.parameters()]
    assert a.pre and b.pre and type(a.drop) is type(b.drop) and len(a.norms) == len(b.norms) == 2
    b.ffn.load_state_dict(a.ffn.state_dict())
    x = torch.randn(2, 5, 32)
    torch.testing.assert_close(a.feed_forward(x), b.feed_forward(x))  # the same sublayer, residual and norm included
    assert HOST_BLOCK["ffn"] == "Linear(d, 4d) -> ReLU -> Linear(4d, d)"


def test_mixer_build_gets_its_layer_index_and_shape():
    seen: list[BuildContext] = []

    def build(ctx: BuildContext) -> nn.Module:
        seen.append(ctx)
        return GRUMixer(ctx.model.d_model, 1)

    spec = ArchSpec("probe", "records its contexts", "mixer", build)
    build_model(spec, ModelShape(16, 3, 2, 0.1, 40), GRUMixerOptions(), 12)
    assert [c.layer for c in seen] == [0, 1, 2]
    assert {(c.model, c.vocab_size) for c in seen} == {(ModelShape(16, 3, 2, 0.1, 40), 12)}
    seen.clear()
    build_model(ArchSpec("whole", "x", "causal_lm", lambda ctx: seen.append(ctx) or LMWithStep()),
                ModelShape(16, 3, 2, 0.1, 40), GRUMixerOptions(), 12)
    assert [c.layer for c in seen] == [None]  # whole models are built once, with no layer index


# --- options of the built-ins ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ARCHS)
def test_default_options_build(name):
    spec = REGISTRY.arch(name)
    assert build_options(spec.options, {}, f"arch.{name}") == spec.options()


BAD_OPTIONS = [
    ("rnn", {"nonlinearity": "sigmoid"}),
    ("lstm", {"cell": "gru"}),  # lstm has no options
    ("seq2seq", {"cell": "rnn"}),
    ("seq2seq", {"bidirectional": "sometimes"}),
    ("seq2seq-attn", {"attention": "dot"}),
    ("seq2seq-attn", {"attention": "luong", "feed_context": True}),
    ("seq2seq-attn", {"atention": "luong"}),
    ("transformer", {"positions": "rotary"}),
    ("gpt", {"norm": "sandwich"}),
    ("example-gru-mixer", {"hidden_mult": 0}),
]


@pytest.mark.parametrize("name,options", BAD_OPTIONS, ids=[f"{n}-{'-'.join(o)}" for n, o in BAD_OPTIONS])
def test_bad_options_are_refused(name, options):
    spec = REGISTRY.arch(name)
    with pytest.raises(ConfigError):
        build_options(spec.options, options, f"arch.{name}")
    with pytest.raises((ValueError, TypeError)):  # also when built directly in Python
        spec.options(**options)


@pytest.mark.parametrize("name", ["gpt", "transformer"])
def test_learned_positions_refuse_sequences_past_max_len(name):
    model = make(name, {"positions": "learned"}, max_len=10).eval()
    src, src_len, tgt_in = random_batch(VOCAB, [6, 4], 4)  # gpt stream: 6 + 4 = 10 fits
    model(src, src_len, tgt_in)
    too_long = 5 if name == "gpt" else 11  # gpt: 6 + 5 = 11; transformer: a target of 11
    _, _, tgt_long = random_batch(VOCAB, [6, 4], too_long)
    with pytest.raises(ValueError, match="max_len=10"):
        model(src, src_len, tgt_long)
    with torch.no_grad(), pytest.raises(ValueError, match="max_len=10"):  # and while generating
        inc = incremental(model)
        _, state = inc.start(src, src_len)
        for _ in range(12):
            _, state = inc.step(torch.full((2,), N_SPECIAL), state)
