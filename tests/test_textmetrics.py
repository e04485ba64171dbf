"""Text metrics as MT papers report them: sacreBLEU and chrF2 against published and hand-computed values, the
lowercased Moses-tokenized BLEU of the Multi30k papers, and references taken from the corpus, not the tokenizer."""

from __future__ import annotations

import math

import pytest

from seqbench.tasks._textmetrics import ChrF, SacreBleu, TokenizedBleu

# The example of sacreBLEU's README (Post 2018): three hypotheses, two reference streams.
README_REFS = [["The dog bit the man.", "It was not unexpected.", "The man bit him first."],
               ["The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."]]
README_SYS = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."]


def score(metric, preds: list[str], refs: list[list[str]]) -> float:
    """refs: one list of references per hypothesis, as the host passes them."""
    metric.update(preds, refs)
    return metric.compute()


def by_hypothesis(streams: list[list[str]]) -> list[list[str]]:
    return [list(r) for r in zip(*streams)]


def test_sacrebleu_and_chrf_reproduce_the_published_example():
    assert score(SacreBleu(), README_SYS, by_hypothesis(README_REFS)) == pytest.approx(48.53, abs=0.005)
    assert score(ChrF(), README_SYS, by_hypothesis(README_REFS)) == pytest.approx(59.73, abs=0.005)


def test_sacrebleu_hand_computed():
    # every n-gram order matches: p1..p4 = 6/7, 5/6, 4/5, 3/4; the hypothesis is longer, so BP = 1
    assert score(SacreBleu(), ["the cat sat on the mat today"], [["the cat sat on the mat"]]) == pytest.approx(
        100 * (6 / 7 * 5 / 6 * 4 / 5 * 3 / 4) ** 0.25, abs=1e-6)
    # all precisions 1, 5 words against 6: BP = exp(1 - 6/5)
    assert score(SacreBleu(), ["the cat sat on the"], [["the cat sat on the mat"]]) == pytest.approx(
        100 * math.exp(1 - 6 / 5), abs=1e-6)
    assert score(SacreBleu(), ["Eine Gruppe von Männern."], [["Eine Gruppe von Männern."]]) == pytest.approx(100)


def test_bleu_is_over_the_corpus_not_a_mean_of_sentences():
    metric = SacreBleu()
    metric.update(["the cat sat on the mat today"], [["the cat sat on the mat"]])
    metric.update(["the cat sat on the"], [["the cat sat on the mat"]])
    # pooled counts: 1-grams 11/12, 2-grams 9/10, 3-grams 7/8, 4-grams 5/6; lengths 12 against 12: BP = 1
    assert metric.compute() == pytest.approx(100 * (11 / 12 * 9 / 10 * 7 / 8 * 5 / 6) ** 0.25, abs=1e-6)


def test_tokenized_lowercased_bleu_ignores_case_and_splits_punctuation():
    hyp, ref = ["Ein Hund läuft durch den Schnee."], [["ein hund läuft durch den schnee ."]]
    assert score(TokenizedBleu("de"), hyp, ref) == pytest.approx(100)
    assert score(SacreBleu(), hyp, ref) < 60  # sacreBLEU keeps case: a different number, named differently


def test_signatures_say_how_the_numbers_were_computed():
    scored = []
    for metric in (SacreBleu(), ChrF(), TokenizedBleu("de")):
        score(metric, ["ein Hund"], [["ein Hund"]])  # a signature counts references: it follows a score
        scored.append(metric.signature())
    assert scored[0].startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:")
    assert scored[1].startswith("nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:")
    assert scored[2].startswith("moses-tok:de|lc|multi-bleu|") and "case:lc" in scored[2] and "tok:none" in scored[2]


def test_unequal_inputs_are_refused():
    with pytest.raises(ValueError, match="2 hypotheses but 1"):
        SacreBleu().update(["a", "b"], [["a"]])
