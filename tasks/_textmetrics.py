"""Corpus-level text metrics as MT papers report them, through sacreBLEU (Post 2018, "A Call for Clarity in Reporting
BLEU Scores"), with the torchmetrics-like interface the host scores with (`update(preds, targets)`, `compute()`),
plus `signature()`: the sacreBLEU signature that says exactly how the number was computed (it goes in the record).

- `SacreBleu`: BLEU 0-100 on detokenized text, sacreBLEU's defaults (13a tokenization, mixed case, exp smoothing).
- `ChrF`: chrF2 0-100 (Popović 2015), sacreBLEU's defaults (character 6-grams, beta 2).
- `TokenizedBleu`: the BLEU the Multi30k literature reports (multi-bleu.perl style): hypotheses and references
  lowercased and Moses-tokenized (`sacremoses`, the target language's rules, aggressive dash splits), then BLEU on
  those tokens as they are (sacreBLEU with `tokenize="none"`, which computes what multi-bleu.perl does).

Targets are `list[list[str]]`: each hypothesis's references (one or more; every hypothesis the same number).

`interval()` gives a 95% interval by bootstrap resampling of sentences, as sacreBLEU's `--confidence` computes it
(`corpus_score(..., n_bootstrap=1000)`: 1000 resamples, numpy seed 12345 unless SACREBLEU_SEED says otherwise;
sacreBLEU reports the resamples' mean ± half the width between their 2.5th and 97.5th percentiles).
"""

from __future__ import annotations

from typing import Any


class _Corpus:
    """Collects hypotheses and references; scores the whole corpus at `compute`."""

    def __init__(self) -> None:
        self.preds: list[str] = []
        self.targets: list[list[str]] = []

    def update(self, preds: list[str], targets: list[list[str]]) -> None:
        if len(preds) != len(targets):
            raise ValueError(f"{len(preds)} hypotheses but {len(targets)} reference lists")
        self.preds += list(preds)
        self.targets += [list(t) for t in targets]

    def reset(self) -> None:
        self.preds, self.targets = [], []

    def _streams(self) -> list[list[str]]:
        """sacreBLEU's layout: one stream per reference index, each as long as the hypotheses."""
        n = {len(t) for t in self.targets}
        if len(n) > 1:
            raise ValueError(f"every hypothesis needs the same number of references, got {sorted(n)}")
        return [list(refs) for refs in zip(*self.targets)] if self.targets else [[]]

    RESAMPLES = 1000  # sentences resampled for `interval`, sacreBLEU's default for --confidence

    def _scored(self, n_bootstrap: int = 1) -> Any:
        return self.metric.corpus_score(self.preds, self._streams(), n_bootstrap=n_bootstrap)

    def compute(self) -> float:
        return float(self._scored().score)

    def interval(self) -> tuple[float, float] | None:
        """The 95% bootstrap interval over sentences, clipped to 0-100; None for fewer than two sentences."""
        if len(self.preds) < 2:
            return None
        score = self._scored(self.RESAMPLES)
        return max(0.0, float(score._mean - score._ci)), min(100.0, float(score._mean + score._ci))

    def signature(self) -> str:
        return str(self.metric.get_signature())

    metric: Any


class SacreBleu(_Corpus):
    """sacreBLEU's BLEU, 0-100, on detokenized text."""

    def __init__(self) -> None:
        super().__init__()
        from sacrebleu.metrics import BLEU

        self.metric = BLEU()


class ChrF(_Corpus):
    """sacreBLEU's chrF2, 0-100."""

    def __init__(self) -> None:
        super().__init__()
        from sacrebleu.metrics import CHRF

        self.metric = CHRF()


class TokenizedBleu(_Corpus):
    """Lowercased, Moses-tokenized BLEU (multi-bleu.perl style), 0-100: what the Multi30k papers report."""

    def __init__(self, lang: str = "en") -> None:
        super().__init__()
        from sacrebleu.metrics import BLEU
        from sacremoses import MosesTokenizer

        self.lang = lang
        self.metric = BLEU(tokenize="none", lowercase=True, force=True)
        self.moses = MosesTokenizer(lang=lang)

    def _tok(self, text: str) -> str:
        return " ".join(self.moses.tokenize(text.lower(), escape=False, aggressive_dash_splits=True))

    def _scored(self, n_bootstrap: int = 1) -> Any:
        preds = [self._tok(p) for p in self.preds]
        refs = [[self._tok(r) for r in stream] for stream in self._streams()]
        return self.metric.corpus_score(preds, refs, n_bootstrap=n_bootstrap)

    def signature(self) -> str:
        return f"moses-tok:{self.lang}|lc|multi-bleu|{self.metric.get_signature()}"
