"""BLEU against source length (issue 25): sentence-bootstrap intervals from sacreBLEU, buckets merged until they
hold enough sentences, and the half-BLEU length over seeds."""

from __future__ import annotations

import pytest
import torch
from sacrebleu.metrics import BLEU

from _records import edited, make_record
from seqbench.publish.bleu_length import by_length, faster, half_length, half_lengths, retention
from seqbench.publish.tables import prepared
from seqbench.tasks._textmetrics import SacreBleu
from seqbench.tasks.translation import merged_edges

HYPS = ["the cat sat on the mat", "a dog runs", "he saw the bird", "it is cold today", "we eat bread", "go home"]
REFS = ["the cat sat on the mat", "a dog is running", "he saw a bird", "it is cold", "we eat the bread", "go home"]


def test_a_buckets_bleu_is_sacrebleus_corpus_score_on_its_sentences_with_its_bootstrap_interval():
    m = SacreBleu()
    m.update(HYPS, [[r] for r in REFS])
    assert m.compute() == pytest.approx(BLEU().corpus_score(HYPS, [REFS]).score)
    again = BLEU().corpus_score(HYPS, [REFS], n_bootstrap=1000)
    lo, hi = m.interval()
    assert (lo, hi) == pytest.approx((again._mean - again._ci, again._mean + again._ci))
    assert 0.0 <= lo < m.compute() < hi <= 100.0
    one = SacreBleu()
    one.update(HYPS[:1], [REFS[:1]])
    assert one.interval() is None


def test_small_buckets_merge_into_a_neighbour():
    lengths = torch.tensor([3] * 83 + [12] * 748 + [25] * 150 + [33] * 22 + [45] * 2)  # Multi30k test, roughly
    assert merged_edges([1, 10, 20, 30, 40], lengths, 49) == [1, 10, 20]  # 30-39 and 40-49 join 20-29
    assert merged_edges([1, 10, 20], torch.tensor([3] * 10 + [12] * 100 + [25] * 60), 29) == [1, 20]
    assert merged_edges([5], lengths, 49) == [5]


def test_half_length_interpolates_and_censors():
    assert half_length([(7.5, 40.0), (15, 30.0), (25, 10.0)]) == pytest.approx((15 + 10 * 10 / 20, False))
    assert half_length([(7.5, 40.0), (15, 35.0)]) == (15, True)  # never halves: censored at the longest bucket
    assert half_length([(7.5, 0.0), (15, 0.0)]) is None


def _record(arch: str, seed: int, bleus: list[float], n: int = 120):
    bins = [(5, 9), (10, 19), (20, 29), (30, 39)]
    r = make_record(arch, "translation", distance="5-39", seed=seed, bins=bins, n=n)

    def fill(data):
        for b, v in zip(data["metrics"]["bins"], bleus):
            b.update(sacrebleu=v, sacrebleu_lo=max(0.0, v - 3), sacrebleu_hi=v + 3)

    return edited(r, fill)


def test_half_bleu_length_over_seeds_and_which_falls_faster():
    records = [_record("seq2seq", s, [40 + s, 22 + s, 12, 8]) for s in range(5)]
    records += [_record("seq2seq-attn", s, [42 + s, 38, 30, 24 - s]) for s in range(5)]
    table = half_lengths(prepared(records))
    s2s = table[table["arch"] == "seq2seq"].iloc[0]
    assert s2s["seeds"] == 5 and s2s["coverage"] == 0.9375 and 14 < s2s["median"] < 25
    attn = table[table["arch"] == "seq2seq-attn"].iloc[0]
    assert attn["median"] > 25
    assert faster(table, "translation", "seq2seq", "seq2seq-attn") == "seq2seq halves sooner than seq2seq-attn"
    buckets = by_length(prepared(records))
    first = buckets[(buckets["arch"] == "seq2seq") & (buckets["lo"] == 5)].iloc[0]
    assert first["mean"] == pytest.approx(42) and first["interval"] == "bootstrap over seeds"
    one = by_length(prepared(records[:1]))
    assert one.iloc[0]["interval"] == "bootstrap over sentences" and one.iloc[0]["ci_lo"] == pytest.approx(37)


def test_buckets_with_too_few_sentences_are_left_out():
    records = [_record("seq2seq", 0, [40, 22, 12, 8], n=20)]
    assert half_lengths(prepared(records)).empty and by_length(prepared(records)).empty


def test_the_fraction_of_bleu_kept_on_the_longest_sources_reads_a_fall_that_never_halves():
    """Both rows are censored for the half-BLEU length (neither halves), yet one falls with length and one does
    not: the fraction kept, per seed, then mean [Student t] over seeds, tells them apart, and claims say so."""
    from seqbench.publish.claims import markdown

    records = [_record("seq2seq", s, [80 + s, 74, 70, 64 - s]) for s in range(5)]
    records += [_record("seq2seq-attn", s, [100.0, 100.0, 99.8, 99.6 + 0.1 * s]) for s in range(5)]
    table = retention(prepared(records))
    s2s = table[table["arch"] == "seq2seq"].iloc[0]
    fractions = [(64 - s) / (80 + s) for s in range(5)]
    assert s2s["seeds"] == 5 and s2s["mean"] == pytest.approx(sum(fractions) / 5)
    assert (s2s["shortest"], s2s["longest"]) == ("5-9", "30-39") and s2s["lo"] < s2s["mean"] < s2s["hi"]
    attn = table[table["arch"] == "seq2seq-attn"].iloc[0]
    assert attn["mean"] == pytest.approx(0.998, abs=1e-3) and s2s["hi"] < attn["lo"]
    assert set(half_lengths(prepared(records))["text"]) == {"34+"}  # the half-BLEU length says nothing here
    text = markdown(records, "t")
    assert "sacreBLEU on 30-39-token sources as a fraction of its sacreBLEU on 5-9" in text
    assert "seq2seq < seq2seq-attn: 0.76 [0.71, 0.80] against 1.00 [1.00, 1.00]" in text
    one = retention(prepared(records[:1]))
    assert one.iloc[0]["method"] == "none" and one.iloc[0]["seeds"] == 1
