"""Gradient reach: the measure against closed forms, the clues of copy and cloze, and the measure in a real cell."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seqbench.cli import main
from seqbench.host.adapt import DecoderOnly
from seqbench.host.gradients import NoSourceEmbedding, clue_gradient_norms
from seqbench.contract.specs import Distance, teacher_input
from seqbench.records import store
from seqbench.run.gradients import INIT, TRAINED, Probe
from seqbench.tasks.cloze import ClozeOptions, ClozeTask
from seqbench.tasks.copy import CopyOptions, CopyTask

from _tiny import determined, tiny_config


def linear(x: torch.Tensor, w: float, lengths: torch.Tensor) -> torch.Tensor:
    """h_t = w h_{t-1} + x_t over x (B, L, D), each row stopping at its length: all states (B, L, D)."""
    h, out = torch.zeros_like(x[:, 0]), []
    for t in range(x.shape[1]):
        h = torch.where((t < lengths)[:, None], w * h + x[:, t], h)
        out.append(h)
    return torch.stack(out, 1)


class LinearEncoder(nn.Module):
    """Encoder-decoder whose only path is the linear recurrence over the source: logits R h_S at every step."""

    def __init__(self, vocab: int, d: int, w: float) -> None:
        super().__init__()
        self.embed, self.readout, self.w = nn.Embedding(vocab, d), nn.Linear(d, vocab, bias=False), w

    def forward(self, src, src_len, tgt_in):
        h = linear(self.embed(src), self.w, src_len)[torch.arange(len(src)), src_len - 1]  # (B, D) = h_S
        return self.readout(h)[:, None].expand(-1, tgt_in.shape[1], -1)


class LinearLM(nn.Module):
    """A language model over the stream: logits R h_t at every position t."""

    def __init__(self, vocab: int, d: int, w: float) -> None:
        super().__init__()
        self.embed, self.readout, self.w = nn.Embedding(vocab, d), nn.Linear(d, vocab, bias=False), w

    def forward(self, x):
        return self.readout(linear(self.embed(x), self.w, torch.full((len(x),), x.shape[1])))


def copy_batch(k: int = 3, distance: str = "1-24", n: int = 48):
    task = CopyTask(CopyOptions(alphabet=6, k=k), Distance.parse(distance))
    return task, task.sample("test", n, torch.Generator().manual_seed(0))


def closed_form(model: nn.Module, batch, readout: torch.Tensor, w: float, steps: torch.Tensor) -> torch.Tensor:
    """|w|^steps ||R^T (softmax(z) - e_y)|| for the answer y_K, with z the model's logits there."""
    src_len = (batch.src != 0).sum(1)
    k = batch.tgt.shape[1] - 1  # the last symbol, before EOS
    with torch.no_grad():
        z = model(batch.src, src_len, teacher_input(batch.tgt))[:, k - 1]  # (B, V)
    dz = torch.softmax(z, -1) - F.one_hot(batch.tgt[:, k - 1], z.shape[-1]).to(z)  # (B, V)
    return abs(w) ** steps.double() * (dz @ readout).norm(dim=-1)


@pytest.mark.parametrize("w", [0.5, 0.9, 1.1])
def test_linear_recurrence_gives_w_to_the_distance(w):
    task, batch = copy_batch()
    torch.manual_seed(0)
    model = LinearEncoder(task.vocab_size, 8, w).double()
    got = clue_gradient_norms(model, batch, task.clue_positions(batch))
    # the clue x_K sits at K-1; h_S is S - 1 - (K - 1) = delay + 1 steps later
    want = closed_form(model, batch, model.readout.weight, w, batch.distance + 1)
    assert torch.allclose(got, want, rtol=1e-10, atol=0)
    assert len(set(batch.distance.tolist())) > 10  # over many distances


def test_linear_recurrence_through_the_decoder_only_stream():
    """The hook finds the source at the start of `source SEP target`: the answer y_K is predicted at stream
    position S + K - 1, S steps after its clue x_K."""
    w = 0.8
    task, batch = copy_batch(k=2)
    torch.manual_seed(1)
    lm = LinearLM(task.vocab_size, 6, w).double()
    got = clue_gradient_norms(DecoderOnly(lm), batch, task.clue_positions(batch))
    src_len = (batch.src != 0).sum(1)
    want = closed_form(DecoderOnly(lm), batch, lm.readout.weight, w, src_len)
    assert torch.allclose(got, want, rtol=1e-10, atol=0)


def test_a_model_without_a_source_embedding_is_refused_by_name():
    class Lookup(nn.Module):  # tokens looked up with F.embedding on its own parameter: nothing to hook
        def __init__(self, vocab):
            super().__init__()
            self.table = nn.Parameter(torch.randn(vocab, 4))
            self.out = nn.Linear(4, vocab)

        def forward(self, src, src_len, tgt_in):
            return self.out(F.embedding(src, self.table).mean(1, keepdim=True)).expand(-1, tgt_in.shape[1], -1)

    task, batch = copy_batch()
    with pytest.raises(NoSourceEmbedding, match="no nn.Embedding"):
        clue_gradient_norms(Lookup(task.vocab_size), batch, task.clue_positions(batch))


def test_copy_clues_are_the_copied_symbols_and_the_last_is_distance_away():
    task, b = copy_batch(k=4, distance="3-40", n=64)
    clues = task.clue_positions(b)
    has = clues >= 0
    rows = torch.arange(len(b))[:, None].expand_as(clues)
    assert torch.equal(b.src[rows[has], clues[has]], b.tgt[has])  # each answer is its clue's token
    delim = (b.src == 5).long().argmax(1)  # the delimiter, where recall starts
    assert torch.equal(delim - clues[:, 3] - 1, b.distance)  # x_K: `distance` blanks before the delimiter


def test_cloze_clue_is_the_queried_persons_country():
    task = ClozeTask(ClozeOptions(n_people=40, n_countries=6, filler_vocab=30, distractors=2), Distance(8, 40))
    b = task.sample("test", 64, torch.Generator().manual_seed(3))
    clues = task.clue_positions(b)
    country = b.src.gather(1, clues[:, :1])[:, 0]
    assert torch.equal(task.language0 + country - task.country0, b.tgt[:, 0])  # the answer is its language
    assert bool((clues[:, 1] == -1).all())  # EOS reads nothing
    assert torch.equal((b.src != 0).sum(1) - clues[:, 0] - 1, b.distance)


def test_probe_medians_per_bin():
    task, batch = copy_batch(k=3, distance="1-24", n=96)
    bins = [(1, 7), (8, 15), (16, 24)]
    torch.manual_seed(0)
    model = LinearEncoder(task.vocab_size, 8, 0.7)
    probe = Probe(task, [batch], bins, n=30, batch_size=16)
    assert len(probe.examples) == 30  # 10 from each bin
    probe.measure(model, TRAINED)
    rows = probe.into([{"lo": lo, "hi": hi} for lo, hi in bins])
    assert [r["grad_n"] for r in rows] == [10, 10, 10]
    medians = [r[TRAINED] for r in rows]
    assert medians[0] > medians[1] > medians[2] > 0  # 0.7 per step: the nearer bins keep more


def _run(tmp_path, name: str, grad: int) -> dict:
    config = tiny_config(tmp_path / f"{name}.toml", ["gru", "gpt"], "2-9", grad)
    out = tmp_path / name
    assert main(["run", "--config", str(config), "--profile", "none", "--out", str(out), "--no-progress",
                 "--jobs", "0"]) == 0
    return {(r.arch, r.seed): r for r in store.load_dir(out).records}


def test_cells_record_gradient_reach_per_bin_and_train_the_same(tmp_path):
    measured, plain = _run(tmp_path, "measured", 256), _run(tmp_path, "plain", 0)
    for key, r in measured.items():
        bins = [b.extra() for b in r.metrics.bins]
        assert [b["grad_n"] for b in bins] == [32.0] * 3  # bins 2-3, 4-7, 8-9: every test example
        for b in bins:
            assert b[INIT] > 0 and b[TRAINED] > 0
        assert all(not b.extra() for b in plain[key].metrics.bins)  # grad_examples = 0: not measured
        strip = lambda rec: json.dumps([{k: v for k, v in b.items() if not k.startswith("grad")}  # noqa: E731
                                        for b in rec.to_dict()["metrics"]["bins"]])
        assert strip(r) == strip(plain[key])  # measuring changes nothing in training or testing
        assert determined({"val": r.to_dict()["metrics"]["val"]}) == determined({"val": plain[key].to_dict()["metrics"]["val"]})


def test_readme_shows_the_published_gradient_tables():
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    start = readme.index("## Why:")
    section = readme[start:readme.index("\n## ", start + 1)]  # the section, up to the next one
    report = (root / "results" / "quick-cpu-fine" / "report" / "report.md").read_text()
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| arch")]
    assert len(rows) == 14 and all(row in report for row in rows)
