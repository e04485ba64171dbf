"""The learning-rate sweep's decision: which of the rates tried an (architecture, task, budget) trains with.

Each rate trains the same cell (one distance, the sweep's seeds); the decision reads each cell's validation only
(`Trial` carries nothing of the test split), so test data cannot choose a rate by construction. Rates are ranked by

1. how many of their cells failed (diverged or crashed): fewer first;
2. the mean validation score over seeds at each cell's tested checkpoint (`eval.select`: the free-running token
   accuracy the tables report, `best_val_gen_acc`, or a text metric such as validation BLEU): higher first;
3. the mean step of that best validation: earlier first (among rates that all solve the task, the one that learns
   it fastest); records without a validation accuracy (before schema 3) skip this and go by loss;
4. the mean best validation loss: lower first;
5. the rate itself: lower first, so the decision is a pure function of the records.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class Trial:
    """One sweep cell as the decision sees it."""

    lr: float
    ok: bool  # the cell finished ok
    val_acc: float | None  # its validation score at the tested checkpoint (eval.select; higher is better)
    best_step: int | None  # the step of that validation
    val_loss: float | None  # its best validation loss


@dataclass(frozen=True)
class Score:
    """A rate's trials summarised in the order they are ranked."""

    lr: float
    n: int  # cells (seeds)
    failed: int
    val_acc: float  # mean over the ok cells (nan when none)
    best_step: float  # mean over the ok cells (nan when none)
    val_loss: float  # mean over the ok cells (nan when none)

    def key(self) -> tuple:
        nan_last = lambda x, sign=1: (math.isnan(x), sign * x if not math.isnan(x) else 0.0)  # noqa: E731
        step = self.best_step if not math.isnan(self.val_acc) else math.nan  # without an accuracy: by loss
        return (self.failed, *nan_last(self.val_acc, -1), *nan_last(step), *nan_last(self.val_loss), self.lr)


@dataclass(frozen=True)
class Choice:
    """The rate chosen, why, and every rate's score (best first)."""

    lr: float
    why: str
    scores: tuple[Score, ...]


def _mean(values: list[float | int | None]) -> float:
    vals = [float(v) for v in values if v is not None]
    return statistics.fmean(vals) if vals else math.nan


def score(lr: float, trials: Sequence[Trial]) -> Score:
    ok = [t for t in trials if t.ok]  # a finished cell without a validation accuracy (before schema 3) is no failure
    return Score(lr, len(trials), len(trials) - len(ok), _mean([t.val_acc for t in ok]),
                 _mean([t.best_step for t in ok]), _mean([t.val_loss for t in ok]))


def score_name(select: str | None) -> str:
    """How a choice names its score: `eval.select`'s metric on validation ("validation accuracy" for the
    free-running accuracy, e.g. "validation sacrebleu" for BLEU)."""
    return "validation accuracy" if select in (None, "val_gen_acc") else f"validation {select}"


def choose(trials: Sequence[Trial], name: str = "validation accuracy") -> Choice:
    """The rate to train with, from every trial of one (architecture, task, budget); `name`: what the trials'
    score is (`score_name`). Raises ValueError on none."""
    if not trials:
        raise ValueError("no sweep trial to choose a learning rate from")
    rates = sorted({t.lr for t in trials})
    scores = sorted((score(lr, [t for t in trials if t.lr == lr]) for lr in rates), key=Score.key)
    best = scores[0]
    if math.isnan(best.val_acc):
        return Choice(best.lr, "every rate failed: the lowest", tuple(scores))
    tied = [s for s in scores[1:] if s.failed == best.failed and s.val_acc == best.val_acc]
    why = f"best {name} {best.val_acc:.3f} (mean of {best.n - best.failed})"
    if tied:
        why += f", tied with {', '.join(f'{s.lr:g}' for s in tied)}: the earliest best (step {best.best_step:.0f})"
    elif len(rates) > 2 and best.lr in (rates[0], rates[-1]):  # three rates or more: an end is no interior
        why += (f"; the {'largest' if best.lr == rates[-1] else 'smallest'} rate tried: the best may lie beyond it "
                f"(add a {'larger' if best.lr == rates[-1] else 'smaller'} rate to sweep.lrs; the cells tried are reused)")
    return Choice(best.lr, why, tuple(scores))
