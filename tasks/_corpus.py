"""Parallel corpora for the translation task: find, read, check, tokenize and encode them.

Layout of `data_dir`, one of (or a Hugging Face `datasets` folder or hub name, read by `_hf.py`):
- parallel text: `train.SRC` / `train.TGT`, `VAL.SRC` / `VAL.TGT`, `TEST.SRC` / `TEST.TGT`, each optionally `.gz`,
  one sentence per line, line i of one file translating line i of the other (Multi30k's layout);
- TSV: `train.tsv`, `VAL.tsv`, `TEST.tsv` (optionally `.gz`), one `source<TAB>target` pair per line.
VAL is `val_prefix` ("val"); TEST is `test_prefix`, or else the one `test*` prefix present. TSV is used when
`train.tsv[.gz]` exists. Lines are split on "\\n" only (never on other Unicode line breaks, which would shift
one side against the other); whitespace runs become one space.

Bad data stops the run with a one-line `UserError` (a missing file, unequal line counts, bytes that are not UTF-8,
a TSV row without exactly two fields); pairs with an empty side or more than `max_len` tokens on either side are
counted, skipped, and reported in one stderr line per split. The tokenizer learns from the training split only.
Loaded corpora are cached in memory per process; nothing is written to disk.
"""

from __future__ import annotations

import collections
import gzip
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from seqbench.contract.errors import UserError, plural
from seqbench.contract.specs import EOS, N_SPECIAL, PAD, SPECIAL_NAMES, SPLITS

from . import _hf

UNK = N_SPECIAL  # id of the unknown token, right after the host's specials
UNK_NAME = "<unk>"
_CACHE: dict[Any, "Corpus"] = {}


@dataclass(frozen=True)
class Encoded:
    """One split, encoded and right-padded."""

    src: Tensor  # (N, S) long
    tgt: Tensor  # (N, T) long, EOS after each target
    src_len: Tensor  # (N,) source tokens
    tgt_len: Tensor  # (N,) target tokens, EOS included
    tgt_text: tuple[str, ...] = ()  # (N,) each target as read (whitespace runs made one space): the reference

    def take(self, index: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Rows `index`, trimmed to their longest source and target. -> src (n, S'), tgt (n, T'), src_len (n,)."""
        s, t = int(self.src_len[index].max()), int(self.tgt_len[index].max())
        return self.src[index, :s], self.tgt[index, :t], self.src_len[index]


@dataclass(frozen=True)
class Corpus:
    """A tokenized parallel corpus: the tokenizer and the three encoded splits."""

    tokenizer: Any  # _Bpe or _Words
    splits: dict[str, Encoded]
    files: dict[str, tuple[Path, ...]]  # split -> the file(s) it was read from

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode([i for i in ids if i >= N_SPECIAL])

    def reference(self, ids: list[int]) -> str:
        """The original text of an encoded validation or test target (`decode` where none matches)."""
        if self._references is None:
            refs: dict[tuple[int, ...], str] = {}
            for split in ("val", "test"):
                enc = self.splits[split]
                for row, text in zip(enc.tgt.tolist(), enc.tgt_text):
                    refs.setdefault(_key(row), text)
            object.__setattr__(self, "_references", refs)
        return self._references.get(_key(ids), self.decode(ids))

    _references: dict[tuple[int, ...], str] | None = field(default=None, repr=False, compare=False)


def _key(ids: list[int]) -> tuple[int, ...]:
    """Token ids up to (without) the first EOS or PAD."""
    out = []
    for i in ids:
        if i in (EOS, PAD):
            break
        out.append(i)
    return tuple(out)


class _Bpe:
    """Byte-pair encoding (HF `tokenizers`), joint over source and target, whitespace kept as a marker."""

    def __init__(self, texts: list[str], vocab_size: int) -> None:
        from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

        tok = Tokenizer(models.BPE(unk_token=UNK_NAME))
        tok.normalizer = normalizers.NFC()
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Metaspace(), pre_tokenizers.Punctuation()])
        tok.decoder = decoders.Metaspace()
        specials = [*SPECIAL_NAMES, UNK_NAME]  # ids 0..4, in this order
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False)
        tok.train_from_iterator(texts, trainer=trainer)
        assert [tok.token_to_id(s) for s in specials] == list(range(len(specials)))
        self.tok, self.vocab_size = tok, tok.get_vocab_size()

    def encode(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.tok.encode_batch(texts, add_special_tokens=False)]

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode(ids, skip_special_tokens=False)

    def vocab(self) -> dict[str, int]:
        return self.tok.get_vocab()


class _Words:
    """Words and punctuation marks; types seen fewer than `min_freq` times in training become <unk>."""

    PATTERN = re.compile(r"\w+|[^\w\s]")

    def __init__(self, texts: list[str], vocab_size: int, min_freq: int) -> None:
        counts = collections.Counter(w for t in texts for w in self.PATTERN.findall(t))
        kept = [w for w, c in counts.most_common(vocab_size - N_SPECIAL - 1) if c >= min_freq]
        self.itos = [*SPECIAL_NAMES, UNK_NAME, *kept]
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        self.vocab_size = len(self.itos)

    def encode(self, texts: list[str]) -> list[list[int]]:
        return [[self.stoi.get(w, UNK) for w in self.PATTERN.findall(t)] for t in texts]

    def decode(self, ids: list[int]) -> str:
        text = " ".join(self.itos[i] for i in ids)
        return re.sub(r"([(\[{]) ", r"\1", re.sub(r" ([.,!?;:%)\]}'])", r"\1", text))

    def vocab(self) -> dict[str, int]:
        return dict(self.stoi)


def load(data_dir: str | None, src_lang: str, tgt_lang: str, val_prefix: str, test_prefix: str | None,
         tokenizer: str, vocab_size: int, min_freq: int, max_len: int, hf_dataset: str | None = None,
         hf_config: str | None = None) -> Corpus:
    """Find, read, check, tokenize and encode a corpus (cached per process): text or TSV files in `data_dir`, a
    `datasets` folder saved there, or the hub dataset `hf_dataset` (`_hf.py`)."""
    root = Path(data_dir).expanduser() if data_dir else None
    saved = root is not None and _hf.is_saved(root)
    if root is not None and not saved:
        files = find_files(root, src_lang, tgt_lang, val_prefix, test_prefix)
        stamp: tuple = tuple((str(p.resolve()), p.stat().st_mtime_ns, p.stat().st_size)
                             for ps in files.values() for p in ps)
    else:
        stamp = (str(root.resolve()) if root else None, _hf.stamp(root, hf_dataset, hf_config), src_lang, tgt_lang,
                 val_prefix, test_prefix)
    key = (stamp, tokenizer, vocab_size, min_freq, max_len)
    if key not in _CACHE:
        if root is not None and not saved:
            read = {split: read_pairs(paths) for split, paths in files.items()}
        else:
            read, files = _hf.read(root, hf_dataset, hf_config, src_lang, tgt_lang, val_prefix, test_prefix)
        pairs = {split: _drop_empty(split, p) for split, p in read.items()}
        train_text = [s for _, s, _ in pairs["train"]] + [t for _, _, t in pairs["train"]]
        tok = _Bpe(train_text, vocab_size) if tokenizer == "bpe" else _Words(train_text, vocab_size, min_freq)
        splits = {split: _encode(split, p, tok, max_len) for split, p in pairs.items()}
        _CACHE[key] = Corpus(tok, splits, files)
    return _CACHE[key]


def find_files(root: Path, src: str, tgt: str, val: str, test: str | None) -> dict[str, tuple[Path, ...]]:
    """The file(s) of each split: (source, target) for parallel text, (tsv,) for TSV."""
    if not root.is_dir():
        raise UserError(f"translation: data_dir {root} is not a directory")
    tsv = any((root / n).is_file() for n in ("train.tsv", "train.tsv.gz"))
    suffixes = ("tsv",) if tsv else (src, tgt)
    if test is None:
        pattern = re.compile(rf"(test[^.]*)\.{re.escape(suffixes[0])}(\.gz)?")
        found = sorted({m.group(1) for p in root.iterdir() if (m := pattern.fullmatch(p.name))})
        if len(found) != 1:
            what = f"several: {', '.join(found)}" if found else f"none in {_listing(root)}"
            raise UserError(
                f"translation: expected one test set test*.{suffixes[0]}[.gz] in {root}, found {what}; "
                "name it with task.translation.test_prefix"
            )
        test = found[0]
    prefixes = dict(zip(SPLITS, ("train", val, test)))
    return {split: tuple(_one(root, prefix, s) for s in suffixes) for split, prefix in prefixes.items()}


def _one(root: Path, prefix: str, suffix: str) -> Path:
    names = [f"{prefix}.{suffix}", f"{prefix}.{suffix}.gz"]
    present = [root / n for n in names if (root / n).is_file()]
    if not present:
        raise UserError(f"translation: missing {names[0]} (or {names[1]}) in {root}; found {_listing(root)}")
    if len(present) > 1:
        raise UserError(f"translation: both {names[0]} and {names[1]} are in {root}; keep one")
    return present[0]


def _listing(root: Path) -> str:
    names = sorted(p.name for p in root.iterdir())
    return ", ".join(names[:12]) + (", ..." if len(names) > 12 else "") if names else "no files"


def read_lines(path: Path) -> list[str]:
    """The raw lines of a plain or gzip UTF-8 text file, without "\\r"; a trailing newline adds no line."""
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as f:
            data = f.read()
    except OSError as e:  # includes gzip.BadGzipFile
        raise UserError(f"translation: cannot read {path}: {e}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise UserError(
            f"translation: {path} line {line} is not valid UTF-8 (byte 0x{data[e.start]:02x}); re-encode it as UTF-8"
        ) from None
    lines = text.removeprefix("\ufeff").split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def read_pairs(paths: tuple[Path, ...]) -> list[tuple[int, str, str]]:
    """(line number, source, target) of every line of a split's file(s), whitespace runs made one space."""
    if len(paths) == 2:
        src, tgt = read_lines(paths[0]), read_lines(paths[1])
        if len(src) != len(tgt):
            raise UserError(
                f"translation: {paths[0]} has {len(src)} lines but {paths[1]} has {len(tgt)}; "
                "line i of one must translate line i of the other"
            )
        return [(i + 1, _norm(s), _norm(t)) for i, (s, t) in enumerate(zip(src, tgt))]
    pairs = []
    for i, line in enumerate(read_lines(paths[0]), 1):
        fields = line.split("\t")
        if not line.strip():
            pairs.append((i, "", ""))
        elif len(fields) != 2:
            raise UserError(
                f"translation: {paths[0]} line {i} has {len(fields)} tab-separated fields; expected 2 (source, target)"
            )
        else:
            pairs.append((i, _norm(fields[0]), _norm(fields[1])))
    return pairs


def _norm(text: str) -> str:
    return " ".join(text.split())


def _drop_empty(split: str, pairs: list[tuple[int, str, str]]) -> list[tuple[int, str, str]]:
    kept = [p for p in pairs if p[1] and p[2]]
    if len(kept) < len(pairs):
        first = next(i for i, s, t in pairs if not (s and t))
        n = len(pairs) - len(kept)
        print(f"translation: {split}: skipped {plural(n, 'pair')} with an empty side (first at line {first}); "
              f"{len(kept)} of {len(pairs)} left", file=sys.stderr)
    if not kept:
        raise UserError(f"translation: the {split} split has no pair with text on both sides")
    return kept


def _encode(split: str, pairs: list[tuple[int, str, str]], tok: Any, max_len: int) -> Encoded:
    src_ids, tgt_ids = tok.encode([s for _, s, _ in pairs]), tok.encode([t for _, _, t in pairs])
    keep = [i for i, (s, t) in enumerate(zip(src_ids, tgt_ids)) if len(s) <= max_len and len(t) <= max_len]
    if len(keep) < len(pairs):
        n = len(pairs) - len(keep)
        print(f"translation: {split}: skipped {plural(n, 'pair')} longer than max_len={max_len} tokens on "
              f"either side; {len(keep)} of {len(pairs)} left", file=sys.stderr)
    if not keep:
        raise UserError(f"translation: every {split} pair is longer than max_len={max_len} tokens")
    src = [src_ids[i] for i in keep]
    tgt = [tgt_ids[i] + [EOS] for i in keep]
    (s, s_len), (t, t_len) = _pad(src), _pad(tgt)
    return Encoded(s, t, s_len, t_len, tuple(pairs[i][2] for i in keep))


def _pad(seqs: list[list[int]]) -> tuple[Tensor, Tensor]:
    """Right-pad id lists into one tensor without a Python loop over tokens. -> (N, L) long, lengths (N,)."""
    lengths = torch.tensor([len(s) for s in seqs])
    flat = torch.tensor([i for s in seqs for i in s], dtype=torch.long)
    rows = torch.repeat_interleave(torch.arange(len(seqs)), lengths)
    cols = torch.arange(len(flat)) - torch.repeat_interleave(lengths.cumsum(0) - lengths, lengths)
    out = torch.full((len(seqs), int(lengths.max())), PAD, dtype=torch.long)
    out[rows, cols] = flat
    return out, lengths
