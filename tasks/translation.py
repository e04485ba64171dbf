"""Translation: accuracy against sentence length, on a synthetic reordering language pair or a real parallel corpus.

Synthetic (default): an English-like SVO source and a verb-final target (see `_grammar.py`). Worked example, the
sentence the tests check (distance 10: the source has 10 tokens; longest alignment span 3, `saw` 4 -> 7 and
`chased` 7 -> 10; `CHASED.pl` agrees with `dogs`, nine words back in the target):

    src:  the big dogs that saw some cat chased the birds
    tgt:  THE.m.pl DOGS BIG -m.pl THAT.m.pl SOME.f.sg CAT SAW.pl THE.n.pl BIRDS CHASED.pl <eos>
    distance: 10

Real (`data_dir` or `hf_dataset` set): parallel files or a Hugging Face dataset read by `_corpus.py`, tokenized
by BPE or words learned on the training split, e.g. the first Multi30k validation pair `A group of men are
loading cotton onto a truck` -> `Eine Gruppe von Männern lädt Baumwolle auf einen Lastwagen` (distance: its number
of source BPE tokens). Scored with sacreBLEU, chrF2 and, for a corpus, the lowercased tokenized BLEU of the
Multi30k papers (`_textmetrics.py`), against each sentence as the corpus has it.

Distance = source length in tokens (the source carries no BOS/EOS), as Bahdanau et al. 2014 (fig. 2) bin BLEU
by sentence length. A distance setting lo-hi draws synthetic lengths uniformly in lo..hi, and keeps only real
pairs whose source length is in lo..hi. Bins are 10 tokens wide: edges lo, then each multiple of 10 above lo and
below hi. The synthetic task also reports each example's longest alignment span, `alignment_spans(batch)`.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import fields
from typing import Any, Callable, Literal

import torch
from torch import Tensor

import seqbench
from seqbench.contract.errors import UserError
from seqbench.contract.specs import N_SPECIAL, PAD, Batch, Distance, Split, Task, TaskSpec, options
from seqbench.contract.splits import draw_in_split

from . import _corpus
from ._grammar import MIN_LEN, Grammar, split_key
from ._textmetrics import ChrF, SacreBleu, TokenizedBleu

SYNTHETIC_ONLY = ("n_nouns", "n_adjectives", "n_verbs", "max_adjectives")
CORPUS_ONLY = ("src_lang", "tgt_lang", "val_prefix", "test_prefix", "tokenizer", "vocab_size", "min_freq", "max_len",
               "hf_config")


@options
class TranslationOptions:
    """Options of the translation task. The first four shape the synthetic language; the rest need `data_dir`."""

    n_nouns: int = 12  # noun lexemes (gender = index mod 3; singular and plural forms)
    n_adjectives: int = 8  # adjective lexemes
    n_verbs: int = 8  # transitive verb lexemes (target forms agree with the subject's number)
    max_adjectives: int = 3  # most adjectives on one noun; 2 or more, so that every length from 5 up exists
    data_dir: str | None = None  # folder of a parallel corpus: text or TSV files, or a `datasets` save_to_disk
    # folder (relative to the working dir); unset (and no hf_dataset): the synthetic language
    hf_dataset: str | None = None  # instead of data_dir: a dataset on the Hugging Face hub, e.g. "wmt14"
    # (pip install 'seqbench[hf]'; downloads on first use)
    hf_config: str | None = None  # its configuration, e.g. "de-en"
    src_lang: str = "en"  # file suffix of the source side (train.en, val.en, ...)
    tgt_lang: str = "de"  # file suffix of the target side
    val_prefix: str = "val"  # validation files: val.en / val.de (or val.tsv)
    test_prefix: str | None = None  # test files; unset: the one test* prefix present (Multi30k: test_2016_flickr)
    tokenizer: Literal["bpe", "word"] = "bpe"  # bpe: HF tokenizers BPE; word: words and punctuation
    vocab_size: int = 8000  # token types, specials and <unk> included (BPE target size; word: most frequent kept)
    min_freq: int = 2  # word tokenizer: words seen fewer times in training become <unk>
    max_len: int = 100  # pairs with more tokens on either side (EOS not counted) are skipped, counted on stderr

    def __post_init__(self) -> None:
        checks = [
            (3 <= self.n_nouns <= 1000, "n_nouns", f"must be 3..1000 (a noun per gender), got {self.n_nouns}"),
            (1 <= self.n_adjectives <= 1000, "n_adjectives", f"must be 1..1000, got {self.n_adjectives}"),
            (1 <= self.n_verbs <= 1000, "n_verbs", f"must be 1..1000, got {self.n_verbs}"),
            (2 <= self.max_adjectives <= 8, "max_adjectives", f"must be 2..8, got {self.max_adjectives}"),
            (self.src_lang != self.tgt_lang, "tgt_lang", f"must differ from src_lang, both are {self.src_lang!r}"),
            (self.vocab_size >= 32, "vocab_size", f"must be at least 32, got {self.vocab_size}"),
            (self.min_freq >= 1, "min_freq", f"must be at least 1, got {self.min_freq}"),
            (self.max_len >= 1, "max_len", f"must be at least 1, got {self.max_len}"),
        ]
        for ok, name, message in checks:
            if not ok:
                raise ValueError(f"{name} {message}")
        if self.data_dir and self.hf_dataset:
            raise ValueError("hf_dataset: give either data_dir or hf_dataset, not both")
        defaults = {f.name: f.default for f in fields(self)}
        corpus = self.data_dir or self.hf_dataset
        wrong = [n for n in (SYNTHETIC_ONLY if corpus else CORPUS_ONLY) if getattr(self, n) != defaults[n]]
        if wrong:
            what = "shape the synthetic language only: unset data_dir" if corpus else "need data_dir: set it"
            raise ValueError(f"{', '.join(wrong)}: these options {what} or leave them at their defaults")


MIN_BUCKET = 50  # test sentences a corpus's length bucket needs to be scored alone; fewer: merged into a neighbour


def _bin_edges(distance: Distance) -> list[int]:
    return [distance.lo] + [m for m in range(10, distance.hi, 10) if m > distance.lo]


def merged_edges(edges: list[int], lengths: Tensor, hi: int, least: int = MIN_BUCKET) -> list[int]:
    """Bucket edges with every bucket holding at least `least` of `lengths` (source lengths of the test sentences):
    a smaller bucket is merged into its shorter neighbour (the shortest bucket into the next), until none is small
    or one bucket is left. `edges` start each bucket; the last bucket runs to `hi`."""
    edges = list(edges)
    while len(edges) > 1:
        bounds = edges + [hi + 1]
        counts = [int(((lengths >= a) & (lengths < b)).sum()) for a, b in zip(bounds, bounds[1:])]
        small = [i for i, c in enumerate(counts) if c < least]
        if not small:
            break
        i = small[0]
        del edges[i if i > 0 else 1]  # bucket i joins the one before it (the first joins the second)
    return edges


class _Translation(Task):
    """What both translation tasks score beyond accuracy, over the test set and per length bin (Bahdanau et al.
    2014, fig. 2): sacreBLEU and chrF2 (0-100, with their signatures; `_textmetrics.py`)."""

    def distance_from_tokens(self, batch: Batch) -> Tensor:
        """The source length in tokens. -> (B,)"""
        return (batch.src != PAD).sum(1)

    def text_metrics(self) -> dict[str, Callable[[], Any]]:
        return {"sacrebleu": SacreBleu, "chrf2": ChrF}

    def binned_text_metrics(self) -> dict[str, Callable[[], Any]]:
        return self.text_metrics()


class SyntheticTranslation(_Translation):
    """The synthetic language pair at one distance setting (source length in tokens)."""

    def __init__(self, options: TranslationOptions, distance: Distance) -> None:
        if distance.lo < MIN_LEN:
            raise UserError(
                f"translation: synthetic sentences have at least {MIN_LEN} tokens ('the dog saw some cat'); "
                f"got distance {distance.label}"
            )
        self.grammar = Grammar(options.n_nouns, options.n_adjectives, options.n_verbs, options.max_adjectives)
        self.distance = distance
        self.vocab_size = self.grammar.vocab_size
        self.chance = 1.0 / self.grammar.n_target_types  # uniform guess over target content word types
        self.max_src_len = distance.hi
        self.max_tgt_len = self.grammar.max_tgt_len(distance.lo, distance.hi)

    def sample(self, split: Split, n: int, generator: torch.Generator) -> Batch:
        drawn: list[Tensor] = []

        def draw(m: int, g: torch.Generator) -> tuple[Tensor, Tensor]:  # -> key (m, 2), row number (m,)
            src, _ = self.grammar.draw(m, self.distance.lo, self.distance.hi, g)  # (m, hi)
            first = sum(len(d) for d in drawn)
            drawn.append(src)
            return split_key(src), torch.arange(first, first + m)

        # only the small key and row numbers pass the split filter's boolean-mask indexing, which goes multi-threaded
        # from about 4000 elements and then costs milliseconds on a busy CPU (index_select here: microseconds)
        _, rows = draw_in_split(draw, split, n, generator)
        src = torch.cat(drawn).index_select(0, rows)  # (n, hi)
        length = (src != PAD).sum(1)  # (n,)
        src = src[:, : int(length.max()) if n else 1]  # (n, S)
        tgt, _ = self.grammar.translate(src)  # (n, T)
        return Batch(src, tgt, length)

    def alignment_spans(self, batch: Batch) -> Tensor:
        """Longest |source position - target position| over the aligned word pairs of each example. -> (B,) long.

        Recomputed from `batch.src` alone (the target is a function of the source), so it works on any batch this
        task made, after `select` or `to` too.
        """
        return self.grammar.translate(batch.src.cpu())[1].to(batch.src.device)

    def decode(self, ids: list[int]) -> str:
        return " ".join(self.grammar.words[i] for i in ids if i >= N_SPECIAL)

    def bin_edges(self) -> list[int]:
        return _bin_edges(self.distance)


class CorpusTranslation(_Translation):
    """A parallel corpus from local files, pairs filtered to source lengths in the distance setting."""

    def __init__(self, options: TranslationOptions, distance: Distance) -> None:
        names = ("data_dir", "src_lang", "tgt_lang", "val_prefix", "test_prefix", "tokenizer", "vocab_size",
                 "min_freq", "max_len", "hf_dataset", "hf_config")
        self.corpus = _corpus.load(*(getattr(options, n) for n in names))
        self.tgt_lang = options.tgt_lang
        self.distance = distance
        self.rows: dict[str, Tensor] = {}  # split -> (N,) indices of the pairs inside the distance setting
        for split, enc in self.corpus.splits.items():
            inside = (enc.src_len >= distance.lo) & (enc.src_len <= distance.hi)
            self.rows[split] = inside.nonzero().squeeze(1)
            if len(self.rows[split]) == 0:
                raise UserError(
                    f"translation: no {split} pair has a source of {distance.label} tokens "
                    f"(lengths run {int(enc.src_len.min())}..{int(enc.src_len.max())})"
                )
            if len(self.rows[split]) < len(enc.src_len):
                print(f"translation: {split}: {len(self.rows[split])} of {len(enc.src_len)} pairs have a source of "
                      f"{distance.label} tokens", file=sys.stderr)
        splits = self.corpus.splits
        self.vocab_size = self.corpus.vocab_size
        types = splits["train"].tgt[self.rows["train"]].unique()
        self.chance = 1.0 / int((types >= N_SPECIAL).sum())  # uniform guess over target types seen in training
        self.max_src_len = max(int(splits[s].src_len[r].max()) for s, r in self.rows.items())
        self.max_tgt_len = max(int(splits[s].tgt_len[r].max()) for s, r in self.rows.items())

    def sample(self, split: Split, n: int, generator: torch.Generator) -> Batch:
        rows = self.rows[split]
        pick = rows[torch.randint(len(rows), (n,), generator=generator)]  # (n,) with replacement
        return Batch(*self.corpus.splits[split].take(pick))

    def eval_set(self, split: Split, n: int, generator: torch.Generator) -> Batch:
        """The first `n` pairs of the split inside the distance setting (all of them if fewer), in file order."""
        return Batch(*self.corpus.splits[split].take(self.rows[split][:n]))

    def decode(self, ids: list[int]) -> str:
        return self.corpus.decode(ids)

    def bin_edges(self) -> list[int]:
        """10-token buckets, each merged into a neighbour while it holds fewer than `MIN_BUCKET` test sentences."""
        lengths = self.corpus.splits["test"].src_len[self.rows["test"]]
        return merged_edges(_bin_edges(self.distance), lengths, self.distance.hi)

    def reference_text(self, ids: list[int]) -> str:
        """The target sentence as the corpus has it (not a round trip through the tokenizer)."""
        return self.corpus.reference(ids)

    def text_metrics(self) -> dict[str, Callable[[], Any]]:
        """sacreBLEU, chrF2, and the lowercased Moses-tokenized BLEU that the Multi30k papers report."""
        return {**super().text_metrics(), "bleu_tok_lc": functools.partial(TokenizedBleu, self.tgt_lang)}


def build(options: TranslationOptions, distance: Distance) -> Task:
    """The synthetic task, or the corpus task when `data_dir` or `hf_dataset` is set."""
    cls = CorpusTranslation if options.data_dir or options.hf_dataset else SyntheticTranslation
    return cls(options, distance)


@seqbench.hookimpl
def register_tasks(register: Callable[[TaskSpec], None]) -> None:
    register(
        TaskSpec(
            name="translation",
            description="translate into a synthetic verb-final language, or a local corpus; distance = source length",
            build=build,
            options=TranslationOptions,
            default_distances=("5-60",),
            distance_unit="source tokens",
        )
    )
