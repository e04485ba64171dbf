"""Contract tests over every registered architecture, through the registry and `seqbench.contract.sizing.build_model`.

A new plugin is tested the moment it registers. A third-party-style example (a GRU "mixer", registered with
`seqbench.contract.registry.load(plugins=...)`) runs through the same checks, as a plugin author's would.
"""

from __future__ import annotations

import types
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

import seqbench
from seqbench.contract import registry
from seqbench.contract.adapt import DecoderOnly
from seqbench.run.config import build as build_options
from seqbench.contract.errors import ConfigError
from seqbench.contract.generate import greedy, incremental, is_incremental
from seqbench.contract.sizing import build_model, count_params, size_to_budget
from seqbench.contract.specs import BOS, EOS, N_SPECIAL, PAD, ArchSpec, ModelShape

BUILTINS = {"rnn", "lstm", "gru", "seq2seq", "seq2seq-attn", "transformer", "gpt"}
COPY_VOCAB = 14  # 4 specials + 10 symbols
SHAPE = ModelShape(d_model=64, n_layers=2, n_heads=4, dropout=0.0, max_len=64)


# --- a third-party-style plugin: one "mixer" layer, stacked by the host -----------------------------------------


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


def _register_example(register):
    register(ArchSpec(name="example-gru-mixer", description="example third-party mixer", kind="mixer",
                      build=lambda ctx: GRUMixer(ctx.model.d_model, ctx.options.hidden_mult),
                      options=GRUMixerOptions))


EXAMPLE_PLUGIN = types.ModuleType("seqbench_example_plugin")
EXAMPLE_PLUGIN.register_architectures = seqbench.hookimpl(_register_example)

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
]
CASES = [(name, {}) for name in ARCHS] + [v for v in VARIANTS if v[0] in REGISTRY.archs]
CASE_IDS = [name + "".join(f"[{k}={v}]" for k, v in opts.items()) for name, opts in CASES]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models run fastest, and steadiest on a shared machine, on one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make(name: str, options: dict | None = None, vocab: int = COPY_VOCAB, d_model: int = 32, max_len: int = 128,
         seed: int = 0) -> nn.Module:
    """The architecture as a `Seq2SeqModel`, built through the registry with validated options."""
    spec = REGISTRY.arch(name)
    opts = build_options(spec.options, options or {}, f"arch.{name}")
    torch.manual_seed(seed)
    return build_model(spec, ModelShape(d_model, 2, 4, 0.0, max_len), opts, vocab)


def random_batch(vocab: int, src_lens: list[int], t: int, seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """src (B, max len) right-padded, src_len (B,), tgt_in (B, t) starting with BOS."""
    g = torch.Generator().manual_seed(seed)
    src_len = torch.tensor(src_lens)
    src = torch.randint(N_SPECIAL, vocab, (len(src_lens), max(src_lens)), generator=g)
    src[torch.arange(src.shape[1]) >= src_len[:, None]] = PAD
    tgt_in = torch.randint(N_SPECIAL, vocab, (len(src_lens), t), generator=g)
    tgt_in[:, 0] = BOS
    return src, src_len, tgt_in


def greedy_uncached(model: nn.Module, src: Tensor, src_len: Tensor, max_len: int) -> Tensor:
    """`greedy` forced onto the path that re-runs the whole prefix for every token."""
    return greedy(model, src, src_len, max_len, cache=False)


# --- registry ------------------------------------------------------------------------------------------------


def test_builtins_and_example_plugin_are_registered():
    assert BUILTINS <= set(REGISTRY.archs)
    info = next(p for p in REGISTRY.plugins if p.name == "example")
    assert (info.source, info.status, info.provides) == ("api", "ok", ["architecture:example-gru-mixer"])
    for name in BUILTINS:
        assert REGISTRY.owner[("architecture", name)].source == "builtin"


# --- the Seq2SeqModel contract, for every architecture and option variant ------------------------------------


@pytest.mark.parametrize("name,options", CASES, ids=CASE_IDS)
def test_output_shapes(name, options):
    for vocab in (12, 40, 300):
        model = make(name, options, vocab=vocab).eval()
        for src_lens, t in (([1], 1), ([5, 2, 3], 4), ([9, 9], 12)):
            src, src_len, tgt_in = random_batch(vocab, src_lens, t)
            logits = model(src, src_len, tgt_in)
            assert logits.shape == (len(src_lens), t, vocab)
            assert torch.isfinite(logits).all()


@pytest.mark.parametrize("name,options", CASES, ids=CASE_IDS)
def test_no_information_from_future_target_tokens(name, options):
    model = make(name, options).eval()
    src, src_len, tgt_in = random_batch(COPY_VOCAB, [6, 3, 5], 8)
    base = model(src, src_len, tgt_in)
    for k in (1, 4, 7):
        changed = tgt_in.clone()
        changed[:, k:] = N_SPECIAL + (changed[:, k:] - N_SPECIAL + 1) % (COPY_VOCAB - N_SPECIAL)  # every later token
        torch.testing.assert_close(model(src, src_len, changed)[:, :k], base[:, :k], atol=1e-5, rtol=0)


@pytest.mark.parametrize("name,options", CASES, ids=CASE_IDS)
def test_padding_never_changes_real_positions(name, options):
    model = make(name, options).eval()
    src, src_len, tgt_in = random_batch(COPY_VOCAB, [7, 2, 5, 4], 6)
    t = tgt_in.shape[1]
    tgt_in[1, 4:] = PAD  # a shorter target in the batch
    base = model(src, src_len, tgt_in)

    wide_src = torch.cat([src, src.new_full((4, 3), PAD)], 1)  # extra source padding columns
    wide_tgt = torch.cat([tgt_in, tgt_in.new_full((4, 2), PAD)], 1)  # extra target padding columns
    torch.testing.assert_close(model(wide_src, src_len, wide_tgt)[:, :t], base, atol=1e-5, rtol=0)

    garbage = wide_src.clone()  # whatever sits past src_len must not matter either
    pad = torch.arange(garbage.shape[1]) >= src_len[:, None]
    garbage[pad] = torch.randint(N_SPECIAL, COPY_VOCAB, (int(pad.sum()),), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(model(garbage, src_len, tgt_in), base, atol=1e-5, rtol=0)

    for i in range(4):  # each row alone, without the padding its batch-mates forced on it
        alone = model(src[i : i + 1, : src_len[i]], src_len[i : i + 1], tgt_in[i : i + 1])
        torch.testing.assert_close(alone[0], base[i], atol=1e-5, rtol=0)


@pytest.mark.parametrize("name,options", CASES, ids=CASE_IDS)
def test_incremental_logits_match_teacher_forcing(name, options):
    model = make(name, options).eval()
    if not is_incremental(model):
        pytest.skip(f"{name} offers no begin/step: generation re-runs forward")
    src, src_len, tgt_in = random_batch(COPY_VOCAB, [9, 2, 5], 40)  # 40 steps: key-value caches grow twice
    with torch.no_grad():
        full = model(src, src_len, tgt_in)  # (B, T, V)
        inc = incremental(model)
        logits, state = inc.start(src, src_len)
        steps = [logits]
        for t in range(1, tgt_in.shape[1]):
            logits, state = inc.step(tgt_in[:, t], state)
            steps.append(logits)
    torch.testing.assert_close(torch.stack(steps, 1), full, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name,options", CASES, ids=CASE_IDS)
def test_cached_greedy_equals_uncached(name, options):
    model = make(name, options).double().eval()  # float64: no near-ties for argmax to break differently
    src, src_len, _ = random_batch(COPY_VOCAB, [8, 1, 5, 3], 1)
    cached = greedy(model, src, src_len, 12)
    assert cached.shape == (4, 12)
    assert torch.equal(cached, greedy_uncached(model, src, src_len, 12))


@pytest.mark.parametrize("name,options", CASES, ids=CASE_IDS)
def test_same_seed_same_weights(name, options):
    a, b, c = make(name, options, seed=3), make(name, options, seed=3), make(name, options, seed=4)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


# --- learning: every architecture overfits a tiny copy batch ----------------------------------------------------


def copy_batch(n: int = 8, seed: int = 0) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """n copy examples of 3-6 symbols: src (n, S), src_len (n,), tgt = src EOS (n, S+1), tgt_in = BOS tgt[:-1]."""
    g = torch.Generator().manual_seed(seed)
    src_len = torch.randint(3, 7, (n,), generator=g)
    s = int(src_len.max())
    src = torch.randint(N_SPECIAL, COPY_VOCAB, (n, s), generator=g)
    src[torch.arange(s) >= src_len[:, None]] = PAD
    tgt = torch.full((n, s + 1), PAD)
    tgt[:, :s] = src
    tgt[torch.arange(n), src_len] = EOS
    tgt_in = torch.cat([torch.full((n, 1), BOS), tgt[:, :-1]], 1).masked_fill(tgt == PAD, PAD)
    return src, src_len, tgt, tgt_in


@pytest.mark.parametrize("name", ARCHS)
def test_overfits_tiny_batch(name):
    src, src_len, tgt, tgt_in = copy_batch()
    model = make(name, d_model=32)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):  # every built-in gets below 0.05 within 90 steps (d_model=32, seed 0)
        logits = model(src, src_len, tgt_in)
        loss = F.cross_entropy(logits.flatten(0, 1), tgt.flatten(), ignore_index=PAD)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    assert loss.item() < 0.05, f"{name} did not fit 8 copy examples: loss {loss.item():.3f}"
    model.eval()
    out = greedy(model, src, src_len, tgt.shape[1])
    assert torch.equal(out, tgt)  # the trained model generates its targets...
    assert torch.equal(greedy_uncached(model, src, src_len, tgt.shape[1]), out)  # ...cached or not


# --- sizing --------------------------------------------------------------------------------------------------


BUDGET_CASES = [(name, budget) for name in ARCHS for budget in (20_000, 50_000, 200_000)]


@pytest.mark.parametrize("name,budget", BUDGET_CASES)
def test_size_to_budget_lands_within_ten_percent(name, budget):
    spec = REGISTRY.arch(name)
    config, count = size_to_budget(spec, SHAPE, spec.options(), COPY_VOCAB, budget)
    assert abs(count - budget) <= 0.1 * budget
    assert count_params(build_model(spec, config, spec.options(), COPY_VOCAB)) == count  # meta count is real
    if spec.uses_heads:
        assert config.d_model % config.n_heads == 0 and config.n_heads <= SHAPE.n_heads


@pytest.mark.parametrize("name", ARCHS)
def test_too_small_budget_is_refused(name):
    spec = REGISTRY.arch(name)
    with pytest.raises(ConfigError, match="too small"):
        size_to_budget(spec, SHAPE, spec.options(), COPY_VOCAB, 10)  # below any width-1 model


# --- options -------------------------------------------------------------------------------------------------


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
    src, src_len, tgt_in = random_batch(COPY_VOCAB, [6, 4], 4)  # gpt stream: 6 + 4 = 10 fits
    model(src, src_len, tgt_in)
    too_long = 5 if name == "gpt" else 11  # gpt: 6 + 5 = 11; transformer: a target of 11
    _, _, tgt_long = random_batch(COPY_VOCAB, [6, 4], too_long)
    with pytest.raises(ValueError, match="max_len=10"):
        model(src, src_len, tgt_long)
    with torch.no_grad(), pytest.raises(ValueError, match="max_len=10"):  # and while generating
        inc = incremental(model)
        _, state = inc.start(src, src_len)
        for _ in range(12):
            _, state = inc.step(torch.full((2,), N_SPECIAL), state)
