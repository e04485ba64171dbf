"""The architecture contract, as checks: every architecture, whatever its kind, once the host has adapted it, is a
`Seq2SeqModel` that gives logits of the right shape, never looks at future target tokens or at padding, generates
the same tokens with and without its incremental state, is seeded, learns, and sizes to a parameter budget.

Each check takes an `ArchSubject` and raises AssertionError with a one-line message when the contract is broken.
Models are tiny (d_model 32, two layers) and run on the CPU.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqbench.host.attention import TOLERANCE as ATTENTION_TOLERANCE
from seqbench.host.attention import alignment, row_sums_error
from seqbench.contract.errors import ConfigError
from seqbench.host.beam import beam_search
from seqbench.host.generate import greedy, incremental
from seqbench.host.sizing import build_model, count_params, size_to_budget
from seqbench.contract.specs import BOS, EOS, N_SPECIAL, PAD, ArchSpec, ModelShape, teacher_input
from seqbench.testing.core import NotApplicable, check_list

VOCAB = 14  # 4 specials + 10 symbols
SHAPE = ModelShape(d_model=32, n_layers=2, n_heads=4, dropout=0.0, max_len=128)


@dataclass(frozen=True)
class ArchSubject:
    """One architecture with one set of options, built through the host exactly as a run builds it."""

    name: str
    spec: ArchSpec
    options: dict[str, Any] = field(default_factory=dict)

    def build(self, vocab: int = VOCAB, shape: ModelShape = SHAPE, seed: int = 0) -> nn.Module:
        torch.manual_seed(seed)
        return build_model(self.spec, shape, self.spec.options(**self.options), vocab)


ARCHITECTURE_CHECKS, _check = check_list()


def random_batch(vocab: int, src_lens: list[int], t: int, seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """src (B, max len) right-padded, src_len (B,), tgt_in (B, t) starting with BOS."""
    g = torch.Generator().manual_seed(seed)
    src_len = torch.tensor(src_lens)
    src = torch.randint(N_SPECIAL, vocab, (len(src_lens), max(src_lens)), generator=g)
    src[torch.arange(src.shape[1]) >= src_len[:, None]] = PAD
    tgt_in = torch.randint(N_SPECIAL, vocab, (len(src_lens), t), generator=g)
    tgt_in[:, 0] = BOS
    return src, src_len, tgt_in


def _close(actual: Tensor, expected: Tensor, what: str) -> None:
    diff = (actual - expected).abs().max().item() if actual.numel() else 0.0
    assert actual.shape == expected.shape and diff <= 1e-5, f"{what} (largest difference {diff:.3g})"


@_check
def check_builds(s: ArchSubject) -> None:
    """build returns a torch.nn.Module at the default width, and again on the meta device (as sizing builds it)."""
    model = s.build()
    assert count_params(model) > 0, "the model has no parameters"
    with torch.device("meta"):
        meta = s.build()
    assert count_params(meta) == count_params(model), (
        f"built on the meta device it has {count_params(meta)} parameters, not {count_params(model)}: build must "
        f"create the same parameters on every device")


@_check
def check_output_shapes(s: ArchSubject) -> None:
    """forward gives finite logits (B, T, V) for any vocabulary, batch and lengths."""
    for vocab in (12, 40, 300):
        model = s.build(vocab=vocab).eval()
        for src_lens, t in (([1], 1), ([5, 2, 3], 4), ([9, 9], 12)):
            src, src_len, tgt_in = random_batch(vocab, src_lens, t)
            logits = model(src, src_len, tgt_in)
            want = (len(src_lens), t, vocab)
            assert isinstance(logits, Tensor) and tuple(logits.shape) == want, (
                f"forward returned {tuple(getattr(logits, 'shape', ()))}, expected (batch, target length, "
                f"vocabulary) = {want}")
            assert bool(torch.isfinite(logits).all()), f"forward returned non-finite logits at vocabulary {vocab}"


@_check
def check_causal(s: ArchSubject) -> None:
    """No information flows from future target tokens: logits at position t depend on tgt_in[:, :t+1] only."""
    model = s.build().eval()
    src, src_len, tgt_in = random_batch(VOCAB, [6, 3, 5], 8)
    base = model(src, src_len, tgt_in)
    for k in (1, 4, 7):
        changed = tgt_in.clone()
        changed[:, k:] = N_SPECIAL + (changed[:, k:] - N_SPECIAL + 1) % (VOCAB - N_SPECIAL)  # every later token
        _close(model(src, src_len, changed)[:, :k], base[:, :k],
               f"not causal: changing target tokens from position {k} on changed the logits before position {k}")


@_check
def check_padding(s: ArchSubject) -> None:
    """Padding never changes real positions: extra padding, garbage past src_len, or a row alone."""
    model = s.build().eval()
    src, src_len, tgt_in = random_batch(VOCAB, [7, 2, 5, 4], 6)
    t = tgt_in.shape[1]
    tgt_in[1, 4:] = PAD  # a shorter target in the batch
    base = model(src, src_len, tgt_in)
    wide_src = torch.cat([src, src.new_full((4, 3), PAD)], 1)
    wide_tgt = torch.cat([tgt_in, tgt_in.new_full((4, 2), PAD)], 1)
    _close(model(wide_src, src_len, wide_tgt)[:, :t], base, "extra padding columns changed the logits")
    garbage = wide_src.clone()
    pad = torch.arange(garbage.shape[1]) >= src_len[:, None]
    garbage[pad] = torch.randint(N_SPECIAL, VOCAB, (int(pad.sum()),), generator=torch.Generator().manual_seed(1))
    _close(model(garbage, src_len, tgt_in), base, "tokens past src_len changed the logits: the source is not masked")
    for i in range(4):
        alone = model(src[i : i + 1, : src_len[i]], src_len[i : i + 1], tgt_in[i : i + 1])
        _close(alone[0], base[i], f"row {i} alone gives other logits than in its padded batch")


@_check
def check_incremental_logits(s: ArchSubject) -> None:
    """The incremental state gives the same logits as teacher forcing, step by step (40 steps)."""
    model = s.build().eval()
    inc = incremental(model)
    if inc is None:
        raise NotApplicable("no incremental generation: the host re-runs forward for every token")
    src, src_len, tgt_in = random_batch(VOCAB, [9, 2, 5], 40)
    with torch.no_grad():
        full = model(src, src_len, tgt_in)  # (B, T, V)
        logits, state = inc.start(src, src_len)
        steps = [logits]
        for t in range(1, tgt_in.shape[1]):
            logits, state = inc.step(tgt_in[:, t], state)
            steps.append(logits)
    stepped = torch.stack(steps, 1)
    for t in range(full.shape[1]):
        _close(stepped[:, t], full[:, t], f"incremental logits differ from forward's at target position {t}")


@_check
def check_incremental_greedy(s: ArchSubject) -> None:
    """Greedy generation with the incremental state gives the same tokens as re-running forward (float64)."""
    model = s.build().double().eval()
    if incremental(model) is None:
        raise NotApplicable("no incremental generation: the host re-runs forward for every token")
    src, src_len, _ = random_batch(VOCAB, [8, 1, 5, 3], 1)
    cached, uncached = greedy(model, src, src_len, 12), greedy(model, src, src_len, 12, cache=False)
    assert torch.equal(cached, uncached), "generation with the incremental state chose other tokens than without it"


def _reorderable(model: nn.Module) -> Any:
    inc = incremental(model)
    if inc is None or inc.reorder is None:
        raise NotApplicable("no reorder(state, index): beam search cannot decode it (greedy only)")
    return inc


@_check
def check_reorder(s: ArchSubject) -> None:
    """reorder(state, index) moves the incremental state with its rows: after it, 4 steps of rows `index` give the
    logits those rows give without it (rows permuted, one repeated, one dropped)."""
    model = s.build().eval()
    inc = _reorderable(model)
    src, src_len, tgt_in = random_batch(VOCAB, [9, 2, 5], 5)
    index = torch.tensor([2, 0, 0])  # row 1 dropped, row 0 twice
    with torch.no_grad():
        _, plain = inc.start(src, src_len)
        _, moved = inc.start(src, src_len)
        moved = inc.reorder(moved, index)
        for t in range(1, tgt_in.shape[1]):
            want, plain = inc.step(tgt_in[:, t], plain)
            got, moved = inc.step(tgt_in[index, t], moved)
            _close(got, want[index], f"after reorder, step {t} gives other logits than the rows it was given")


@_check
def check_beam_width_one(s: ArchSubject) -> None:
    """Beam search of width 1 chooses the tokens greedy decoding chooses (float64); width 3 gives the same shape."""
    model = s.build().double().eval()
    _reorderable(model)
    src, src_len, _ = random_batch(VOCAB, [8, 1, 5, 3], 1)
    assert torch.equal(beam_search(model, src, src_len, 12, 1), greedy(model, src, src_len, 12)), (
        "beam search of width 1 chose other tokens than greedy decoding")
    wide = beam_search(model, src, src_len, 12, 3)
    assert wide.shape == (4, 12), f"beam search of width 3 gave shape {tuple(wide.shape)}, expected (4, 12)"


@_check
def check_attention(s: ArchSubject) -> None:
    """Attention weights, where the model exposes them: (batch, layers, heads, T, columns), non-negative rows that
    sum to one, nothing on source padding (cross-attention) or on later positions (self-attention), and asking
    for them leaves forward's logits as they were."""
    model = s.build().eval()
    src, src_len, tgt_in = random_batch(VOCAB, [6, 2, 4], 5)
    with torch.no_grad():
        before = model(src, src_len, tgt_in)
        found = alignment(model, src, src_len, tgt_in)
        if found is None:
            raise NotApplicable("the model exposes no attention weights (no alignment figures)")
        _close(model(src, src_len, tgt_in), before, "forward gives other logits after attention() was called")
    w = found.weights  # (B, layers, heads, T, K)
    assert bool(torch.isfinite(w).all()) and bool((w >= 0).all()), "attention weights must be finite and >= 0"
    err = row_sums_error(w)
    assert err <= ATTENTION_TOLERANCE, f"attention rows must sum to one (a row is {err:.3g} away)"
    cols = torch.arange(w.shape[-1])
    if found.over == "source":
        hidden = cols >= src_len[:, None, None]  # (B, 1, K): source padding
    else:
        hidden = cols > (src_len[:, None] + torch.arange(w.shape[3]))[..., None]  # (B, T, K): later positions
    leak = float(w.masked_select(hidden[:, None, None].expand_as(w)).abs().max()) if bool(hidden.any()) else 0.0
    where = "source padding" if found.over == "source" else "positions after the row's own (not causal)"
    assert leak <= 1e-6, f"attention weight {leak:.3g} on {where}"


@_check
def check_seeded(s: ArchSubject) -> None:
    """The same seed gives the same weights; another seed, other weights."""
    a, b, c = (s.build(seed=seed).state_dict() for seed in (3, 3, 4))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), "the same seed gave other weights"
    assert not all(torch.equal(a[k], c[k]) for k in a), "another seed gave the same weights"


def copy_batch(n: int = 8, seed: int = 0) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """n copy examples of 3-6 symbols: src (n, S), src_len (n,), tgt = src EOS (n, S+1), tgt_in = BOS tgt[:-1]."""
    g = torch.Generator().manual_seed(seed)
    src_len = torch.randint(3, 7, (n,), generator=g)
    s = int(src_len.max())
    src = torch.randint(N_SPECIAL, VOCAB, (n, s), generator=g)
    src[torch.arange(s) >= src_len[:, None]] = PAD
    tgt = torch.full((n, s + 1), PAD)
    tgt[:, :s] = src
    tgt[torch.arange(n), src_len] = EOS
    return src, src_len, tgt, teacher_input(tgt)


@_check
def check_learns(s: ArchSubject) -> None:
    """It overfits 8 copy examples in 150 Adam steps and then generates them, with and without its state."""
    src, src_len, tgt, tgt_in = copy_batch()
    model = s.build()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        loss = F.cross_entropy(model(src, src_len, tgt_in).flatten(0, 1), tgt.flatten(), ignore_index=PAD)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    assert loss.item() < 0.05, f"did not fit 8 copy examples in 150 steps: loss {loss.item():.3f}"
    model.eval()
    out = greedy(model, src, src_len, tgt.shape[1])
    assert torch.equal(out, tgt), "fitted, but greedy generation does not give the targets"
    assert torch.equal(greedy(model, src, src_len, tgt.shape[1], cache=False), out), (
        "generation with the incremental state differs from generation without it")


@_check
def check_sizing(s: ArchSubject) -> None:
    """Sized to 20k, 50k and 200k parameters besides its embeddings and head it lands within 10%, the meta-device
    count is the real one, and what it adds per token type does not change with the vocabulary (the budget's body
    count relies on it: `seqbench.host.sizing.body_params`); a budget below its smallest width is refused."""
    spec, options = s.spec, s.spec.options(**s.options)
    shape = dataclasses.replace(SHAPE, d_model=64, max_len=64)
    for budget in (20_000, 50_000, 200_000):
        sized, count = size_to_budget(spec, shape, options, VOCAB, budget)
        assert abs(count - budget) <= 0.1 * budget, f"sized to {count} parameters for a budget of {budget}"
        totals = [count_params(build_model(spec, sized, options, VOCAB + k)) for k in range(3)]
        per_token = totals[1] - totals[0]
        assert totals[2] - totals[1] == per_token, (
            f"parameters per token type change with the vocabulary ({per_token} then {totals[2] - totals[1]}): "
            "the budget cannot tell the body from the embeddings")
        real = totals[0] - VOCAB * per_token
        assert real == count, f"at d_model={sized.d_model} the meta device counts {count} parameters, the CPU {real}"
        if spec.uses_heads:
            assert sized.d_model % sized.n_heads == 0, f"d_model {sized.d_model} is not a multiple of n_heads"
    try:
        size_to_budget(spec, shape, options, VOCAB, 1)
    except ConfigError as e:
        assert "too small" in str(e), f"a budget of 10 parameters was refused for another reason: {e}"
    else:
        raise AssertionError("a budget of 1 parameter was accepted")
