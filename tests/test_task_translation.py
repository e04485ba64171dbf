"""The translation task: synthetic language pair, alignment spans, splits, and real corpora from local files."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import torch

from seqbench.contract import registry
from seqbench.run.config import section as build_options
from seqbench.contract.errors import ConfigError, UserError
from seqbench.contract.specs import EOS, PAD, Distance, Task
from seqbench.tasks import translation
from seqbench.tasks._grammar import NOUNS, Grammar

MULTI30K = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "multi30k"
WORKED_SRC = "the big dogs that saw some cat chased the birds"
WORKED_TGT = "THE.m.pl DOGS BIG -m.pl THAT.m.pl SOME.f.sg CAT SAW.pl THE.n.pl BIRDS CHASED.pl"


def make(distance: str = "5-60", **options) -> Task:
    """The task built the way the host builds it: registry, validated options, distance."""
    spec = registry.load(entry_points=False).task("translation")
    return spec.build(build_options(spec.options, options, "task.translation"), Distance.parse(distance))


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def words(task, ids: torch.Tensor) -> str:
    return task.decode(ids.tolist())


# ---------------------------------------------------------------- synthetic language


def reference(grammar: Grammar, sentence: str) -> tuple[str, int]:
    """A plain recursive parser and translator, to check the vectorized one against. -> target, longest span."""
    w = sentence.split()
    nouns = NOUNS.split()

    def feats(noun: str) -> tuple[str, str]:
        plural = noun not in nouns
        return "mfn"[nouns.index(noun[:-1] if plural else noun) % 3], "pl" if plural else "sg"

    def parse(i: int) -> tuple[dict, int]:  # NP = DET ADJ* NOUN (that VERB NP)?
        np = {"det": i, "adjs": []}
        i += 1
        while grammar.category[grammar.encode(w[i])] == 4:
            np["adjs"].append(i)
            i += 1
        np["noun"], i = i, i + 1
        if i < len(w) and w[i] == "that":
            np["that"], np["verb"] = i, i + 1
            np["rel"], i = parse(i + 2)
        return np, i

    def emit(np: dict) -> list[tuple[str, int | None]]:
        g, n = feats(w[np["noun"]])
        out = [(f"{w[np['det']].upper()}.{g}.{n}", np["det"]), (w[np["noun"]].upper(), np["noun"])]
        for a in np["adjs"]:
            out += [(w[a].upper(), a), (f"-{g}.{n}", None)]
        if "rel" in np:
            out += [(f"THAT.{g}.{n}", np["that"])] + emit(np["rel"]) + [(f"{w[np['verb']].upper()}.{n}", np["verb"])]
        return out

    subj, i = parse(0)
    obj, end = parse(i + 1)
    assert end == len(w)
    out = emit(subj) + emit(obj) + [(f"{w[i].upper()}.{feats(w[subj['noun']])[1]}", i)]
    span = max(abs(s - t) for t, (_, s) in enumerate(out) if s is not None)
    return " ".join(t for t, _ in out), span


def test_worked_example_of_the_docstring():
    assert WORKED_SRC in translation.__doc__ and WORKED_TGT in translation.__doc__
    task = make("5-60")
    src = task.grammar.encode(WORKED_SRC)[None]  # (1, 10)
    tgt, span = task.grammar.translate(src)
    assert words(task, tgt[0]) == WORKED_TGT and tgt[0, -1] == EOS
    assert span.tolist() == [3]  # saw 4 -> 7, chased 7 -> 10
    assert int((src != PAD).sum()) == 10  # the distance the docstring states


def test_reordering_rules_on_the_worked_example():
    t = WORKED_TGT.split()
    assert t[-1] == "CHASED.pl"  # verb-final, agreeing with the plural subject nine words back
    assert t[1:4] == ["DOGS", "BIG", "-m.pl"]  # adjective after its noun, suffix agreeing in gender and number
    assert t[4] == "THAT.m.pl" and t[7] == "SAW.pl"  # relative clause verb-final, verb agreeing with its antecedent
    assert t[5] == "SOME.f.sg" and t[8] == "THE.n.pl"  # determiners agree with their nouns (cat: f, bird: n)


def test_alignment_span_hand_checked():
    task = make("5-60")
    # the0 dog1 chased2 the3 big4 old5 cat6 -> THE0 DOG1 THE2 CAT3 BIG4 -5 OLD6 -7 CHASED8: chased 2 -> 8
    tgt, span = task.grammar.translate(task.grammar.encode("the dog chased the big old cat")[None])
    assert words(task, tgt[0]) == "THE.m.sg DOG THE.f.sg CAT BIG -f.sg OLD -f.sg CHASED.sg"
    assert span.tolist() == [6]


def test_vectorized_translator_matches_reference():
    task = make("5-40")
    batch = task.sample("train", 300, gen(1))
    spans = task.alignment_spans(batch)
    for i in range(len(batch)):
        want, want_span = reference(task.grammar, words(task, batch.src[i]))
        assert words(task, batch.tgt[i]) == want
        assert int(spans[i]) == want_span


@pytest.mark.parametrize("distance", ["5", "17", "60", "5-60"])
def test_distance_is_source_length(distance):
    task = make(distance)
    d = Distance.parse(distance)
    b = task.sample("train", 200, gen(2))
    assert torch.equal(b.distance, (b.src != PAD).sum(1))
    assert int(b.distance.min()) >= d.lo and int(b.distance.max()) <= d.hi
    assert b.src.shape[1] <= task.max_src_len and b.tgt.shape[1] <= task.max_tgt_len
    n_tgt = (b.tgt != PAD).sum(1)
    assert (b.tgt.gather(1, n_tgt[:, None] - 1) == EOS).all()  # EOS last, no padding inside
    if d.lo == d.hi:
        assert (b.distance == d.lo).all()


def test_every_length_exists_with_two_adjectives():
    task = make("5-40", max_adjectives=2)
    b = task.sample("train", 2000, gen(3))
    assert set(b.distance.tolist()) == set(range(5, 41))


def test_drawn_sentences_have_exactly_the_drawn_length():
    grammar = make("5-60").grammar
    src, length = grammar.draw(20000, 5, 60, gen(6))  # (20000, 60), (20000,)
    assert torch.equal((src != PAD).sum(1), length)
    assert (src[:, 0] != PAD).all() and ((src[:, 1:] != PAD) <= (src[:, :-1] != PAD)).all()  # no inner padding


def test_deterministic_from_generator():
    a, b, c = (make("5-60").sample("val", 64, gen(s)) for s in (7, 7, 8))
    assert torch.equal(a.src, b.src) and torch.equal(a.tgt, b.tgt) and torch.equal(a.distance, b.distance)
    assert not torch.equal(a.src[:, : c.src.shape[1]], c.src[:, : a.src.shape[1]])
    g = gen(7)
    first, second = make("5-60").sample("val", 64, g), make("5-60").sample("val", 64, g)
    assert not torch.equal(first.distance, second.distance)  # the generator advances


def test_splits_are_disjoint():
    task = make("5", n_nouns=3, n_adjectives=1, n_verbs=1)  # 2*6*1*2*6 = 144 sentences of 5 tokens
    seen = {s: {words(task, r) for r in task.sample(s, 2000, gen(4)).src} for s in ("train", "val", "test")}
    assert not seen["train"] & seen["test"] and not seen["train"] & seen["val"] and not seen["val"] & seen["test"]
    assert len(seen["train"]) > 80 and seen["val"] and seen["test"]
    assert len(seen["train"] | seen["val"] | seen["test"]) <= 144


def test_alignment_spans_survive_select():
    task = make("5-60")
    b = task.sample("test", 32, gen(5))
    index = torch.tensor([3, 0, 7])
    assert torch.equal(task.alignment_spans(b.select(index)), task.alignment_spans(b)[index])
    assert (task.alignment_spans(b) < b.distance + 20).all() and (task.alignment_spans(b) >= 0).all()


def test_chance_bins_and_metrics():
    task = make("5-60")
    assert task.chance == pytest.approx(1 / 72)  # 12 det + 6 rel + 24 noun + 8 adj + 6 suffix + 16 verb forms
    assert task.bin_edges() == [5, 10, 20, 30, 40, 50]
    assert make("17").bin_edges() == [17]
    m = task.text_metrics()
    assert set(m) == {"sacrebleu", "chrf2"} and set(task.binned_text_metrics()) == set(m)
    bleu, chrf = m["sacrebleu"](), m["chrf2"]()
    bleu.update(["the cat sat on the mat"], [["the cat sat on the mat"]])
    chrf.update(["the cat sat on the mat"], [["a dog lay on a rug"]])
    assert bleu.compute() == pytest.approx(100.0) and chrf.compute() < 50  # 0-100, as papers report them


@pytest.mark.parametrize(
    "options, message",
    [
        ({"n_nouns": 2}, "n_nouns must be 3..1000"),
        ({"max_adjectives": 1}, "max_adjectives must be 2..8"),
        ({"tokenizer": "word"}, "tokenizer: these options need data_dir"),
        ({"data_dir": "/x", "n_verbs": 3}, "n_verbs: these options shape the synthetic language only"),
        ({"vocab_size": 10, "data_dir": "/x"}, "vocab_size must be at least 32"),
        ({"tokenizer": "chars"}, "must be one of 'bpe' or 'word'"),
    ],
)
def test_options_are_validated(options, message):
    with pytest.raises(ConfigError, match=message):
        make("10", **options)


def test_too_short_distance_is_refused():
    with pytest.raises(UserError, match="at least 5 tokens"):
        make("3-20")


# ---------------------------------------------------------------- corpora from local files

ANIMALS = "dog cat bird horse cow goat duck wolf owl lion".split()
TIERE = "Hund Katze Vogel Pferd Kuh Ziege Ente Wolf Eule Löwe".split()


def lines(n: int, start: int = 0) -> tuple[list[str], list[str]]:
    """`n` sentence pairs of 7 to 10 words, numbered from `start`."""
    ids = range(start, start + n)
    en = [f"the {'very ' * (i % 4)}big {ANIMALS[i % 10]} sees {i % 7 + 1} {ANIMALS[i * 3 % 10]}s." for i in ids]
    de = [f"der {'sehr ' * (i % 4)}große {TIERE[i % 10]} sieht {i % 7 + 1} {TIERE[i * 3 % 10]}." for i in ids]
    return en, de


def write(root: Path, name: str, text_lines: list[str], gz: bool = False) -> Path:
    data = ("\n".join(text_lines) + "\n").encode("utf-8")
    path = root / (name + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def corpus(root: Path, gz: bool = False, test: str = "test", n: int = 60) -> Path:
    for split, size, start in (("train", n, 0), ("val", 12, 500), (test, 10, 700)):
        en, de = lines(size, start)
        write(root, f"{split}.en", en, gz)
        write(root, f"{split}.de", de, gz)
    return root


@pytest.mark.parametrize("tokenizer", ["bpe", "word"])
def test_corpus_loads_samples_and_decodes(tmp_path, tokenizer):
    task = make("1-100", data_dir=str(corpus(tmp_path)), tokenizer=tokenizer, vocab_size=200, min_freq=1)
    assert {s: len(r) for s, r in task.rows.items()} == {"train": 60, "val": 12, "test": 10}
    val = task.eval_set("val", 5, gen(0))
    assert torch.equal(val.src, task.eval_set("val", 5, gen(9)).src)  # fixed, generator unused
    assert task.decode(val.src[0].tolist()) == lines(1, 500)[0][0]
    assert task.decode(val.tgt[0].tolist()) == lines(1, 500)[1][0]
    b1, b2 = task.sample("train", 16, gen(1)), task.sample("train", 16, gen(1))
    assert torch.equal(b1.src, b2.src) and torch.equal(b1.distance, (b1.src != PAD).sum(1))
    assert (b1.tgt.gather(1, (b1.tgt != PAD).sum(1, keepdim=True) - 1) == EOS).all()
    assert task.alignment_spans(b1) is None and set(task.text_metrics()) == {"sacrebleu", "chrf2", "bleu_tok_lc"}


def test_gzip_and_plain_give_the_same_corpus(tmp_path):
    (tmp_path / "plain").mkdir(), (tmp_path / "gz").mkdir()
    plain = make("1-100", data_dir=str(corpus(tmp_path / "plain")))
    zipped = make("1-100", data_dir=str(corpus(tmp_path / "gz", gz=True)))
    assert torch.equal(plain.eval_set("test", 10, gen()).src, zipped.eval_set("test", 10, gen()).src)


def test_tokenizer_learns_from_train_only(tmp_path):
    root = corpus(tmp_path)
    en, de = lines(12, 500)
    write(root, "val.en", [s + " Ωmega zzqqxx" for s in en])
    task = make("1-100", data_dir=str(root), vocab_size=300)
    assert not any("Ω" in t or "zzqq" in t for t in task.corpus.tokenizer.vocab())
    assert 4 in task.eval_set("val", 1, gen()).src[0].tolist()  # <unk>
    write(root, "val.de", [s + " Ωmega" for s in de])  # a target the tokenizer cannot spell
    translation._corpus._CACHE.clear()
    again = make("1-100", data_dir=str(root), vocab_size=300)
    tgt = again.eval_set("val", 1, gen()).tgt[0].tolist()
    assert "<unk>" in again.decode(tgt) and again.reference_text(tgt) == de[0] + " Ωmega"  # scored against this
    assert "▁dog" in task.corpus.tokenizer.vocab()  # a training word is learnt whole
    translation._corpus._CACHE.clear()  # train again: BPE training is deterministic
    assert make("1-100", data_dir=str(root), vocab_size=300).corpus.tokenizer.vocab() == task.corpus.tokenizer.vocab()
    word = make("1-100", data_dir=str(root), tokenizer="word", min_freq=1)
    assert "zzqqxx" not in word.corpus.tokenizer.vocab() and "dog" in word.corpus.tokenizer.vocab()


def test_missing_file(tmp_path):
    (corpus(tmp_path) / "val.de").unlink()
    with pytest.raises(UserError, match=r"missing val\.de \(or val\.de\.gz\) in .*found .*val\.en"):
        make("1-100", data_dir=str(tmp_path))
    with pytest.raises(UserError, match="is not a directory"):
        make("1-100", data_dir=str(tmp_path / "nowhere"))


def test_unequal_line_counts(tmp_path):
    root = corpus(tmp_path)
    write(root, "train.de", lines(59)[1])
    with pytest.raises(UserError, match=r"train\.en has 60 lines but .*train\.de has 59; line i of one"):
        make("1-100", data_dir=str(root))


def test_empty_line_is_counted_and_skipped(tmp_path, capsys):
    root = corpus(tmp_path)
    en, de = lines(60)
    en[2] = "   "
    write(root, "train.en", en)
    task = make("1-100", data_dir=str(root))
    assert "train: skipped 1 pair with an empty side (first at line 3); 59 of 60 left" in capsys.readouterr().err
    assert len(task.rows["train"]) == 59


def test_non_utf8_bytes(tmp_path):
    root = corpus(tmp_path)
    (root / "train.de").write_bytes(b"der Hund .\nder \xff Hund .\n")
    with pytest.raises(UserError, match=r"train\.de line 2 is not valid UTF-8 \(byte 0xff\)"):
        make("1-100", data_dir=str(root))


def test_overlong_pairs_are_counted_and_skipped(tmp_path, capsys):
    root = corpus(tmp_path)
    en, de = lines(60)
    en[5] = " ".join(["dog"] * 40)
    write(root, "train.en", en)
    task = make("1-100", data_dir=str(root), tokenizer="word", min_freq=1, max_len=20)
    err = capsys.readouterr().err
    assert "train: skipped 1 pair longer than max_len=20 tokens on either side; 59 of 60 left" in err
    assert task.max_src_len <= 20


def test_tsv_corpus_and_malformed_row(tmp_path):
    for split, start in (("train", 0), ("val", 500), ("test", 700)):
        en, de = lines(20, start)
        write(tmp_path, f"{split}.tsv", [f"{s}\t{t}" for s, t in zip(en, de)])
    task = make("1-100", data_dir=str(tmp_path), tokenizer="word", min_freq=1)
    assert task.decode(task.eval_set("test", 1, gen()).tgt[0].tolist()) == lines(1, 700)[1][0]
    en, de = lines(20)
    rows = [f"{s}\t{t}" for s, t in zip(en, de)]
    rows[3] = rows[3] + "\textra"
    write(tmp_path, "train.tsv", rows)
    with pytest.raises(UserError, match=r"train\.tsv line 4 has 3 tab-separated fields; expected 2"):
        make("1-100", data_dir=str(tmp_path), tokenizer="word", min_freq=1)


def test_test_prefix_is_detected_or_named(tmp_path):
    root = corpus(tmp_path, test="test_2016_flickr")
    assert len(make("1-100", data_dir=str(root)).rows["test"]) == 10
    en, de = lines(4, 900)
    write(root, "test_2017.en", en)
    write(root, "test_2017.de", de)
    with pytest.raises(UserError, match="found several: test_2016_flickr, test_2017; name it with"):
        make("1-100", data_dir=str(root))
    assert len(make("1-100", data_dir=str(root), test_prefix="test_2017").rows["test"]) == 4


def test_distance_filters_source_lengths(tmp_path, capsys):
    task = make("8-9", data_dir=str(corpus(tmp_path)), tokenizer="word", min_freq=1)
    b = task.sample("train", 50, gen())
    assert set(b.distance.tolist()) == {8, 9}  # "the very big dog sees 3 cats." is 8 word tokens
    assert "train: 30 of 60 pairs have a source of 8-9 tokens" in capsys.readouterr().err
    with pytest.raises(UserError, match="no train pair has a source of 50-60 tokens"):
        make("50-60", data_dir=str(tmp_path), tokenizer="word", min_freq=1)


# ---------------------------------------------------------------- Multi30k, when the shared data is present


@pytest.fixture(scope="module")
def multi30k():
    if not MULTI30K.is_dir():
        pytest.skip(f"no Multi30k at {MULTI30K}")
    return make("1-1000", data_dir=str(MULTI30K))


def test_multi30k_counts_and_round_trip(multi30k):
    assert {s: len(r) for s, r in multi30k.rows.items()} == {"train": 29000, "val": 1014, "test": 1000}
    for split, prefix in (("val", "val"), ("test", "test_2016_flickr")):
        en = gzip.open(MULTI30K / f"{prefix}.en.gz", "rt", encoding="utf-8").read().split("\n")[:50]
        de = gzip.open(MULTI30K / f"{prefix}.de.gz", "rt", encoding="utf-8").read().split("\n")[:50]
        b = multi30k.eval_set(split, 50, gen())
        assert [multi30k.decode(r.tolist()) for r in b.src] == [" ".join(s.split()) for s in en]
        refs = [[" ".join(s.split())] for s in de]
        assert [multi30k.reference_text(r.tolist()) for r in b.tgt] == [r[0] for r in refs]
        bleu = multi30k.text_metrics()["sacrebleu"]()
        bleu.update([multi30k.decode(r.tolist()) for r in b.tgt], refs)
        assert bleu.compute() == pytest.approx(100.0)  # BPE round-trips these sentences exactly
    assert multi30k.vocab_size == 8000 and multi30k.max_src_len < 100
