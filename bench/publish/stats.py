"""Intervals for the numbers seqbench publishes, from `scipy.stats`.

- Across seeds (two or more): the mean of the per-seed values and its Student-t 95% interval,
  `mean ± t(0.975, k-1) * s / sqrt(k)` with `s` the sample standard deviation of the k seeds
  (`scipy.stats.t.interval(0.95, k - 1, loc=mean, scale=s / sqrt(k))`), clipped to [0, 1] for accuracies.
- Over examples (one seed): the Wilson score interval for a proportion p observed over n test examples,
  with z = `scipy.stats.norm.ppf(0.975)`. Sequence accuracy is a proportion of examples. Token accuracy is a mean
  of per-example values in [0, 1], whose variance is at most p(1-p)/n, so the same interval over n examples is
  conservative; counting tokens instead would treat the tokens of one example as independent, which they are not.
  The formula takes fractional counts (p * n need not be an integer); for integer counts it equals
  `scipy.stats.binomtest(k, n).proportion_ci(method="wilson")` (tested).
- Near-binary outcomes over seeds (issue 24): the pass count k of n seeds with its exact Clopper-Pearson interval,
  and the mean accuracy with a percentile bootstrap interval over seeds (`scipy.stats.bootstrap`).
- Text scores (0-100, sacreBLEU and chrF per source-length bucket): a percentile bootstrap over seeds; one seed:
  sacreBLEU's own bootstrap over the bucket's sentences, as the record holds it.
- Reach over seeds from search brackets: the median of the seeds' bracket midpoints and an order-statistic
  interval from the brackets' ends, with the coverage it really has.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np
from scipy import stats

LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """A mean and its interval [lo, hi]; `method` says how ("t" over `n` seeds, "wilson" over `n` examples, or
    "none" when there is nothing to draw an interval from)."""

    mean: float
    lo: float
    hi: float
    n: int
    method: str


def _finite(values: Iterable[float | None]) -> np.ndarray:
    xs = np.array([float(v) for v in values if v is not None], dtype=float)
    return xs[np.isfinite(xs)]


def t_interval(values: Iterable[float | None], level: float = LEVEL,
               bounds: tuple[float, float] = (-math.inf, math.inf)) -> Interval | None:
    """Mean over the values and its Student-t interval, clipped to `bounds`; None without values. One value gives
    the value with method "none" (no spread to estimate)."""
    xs = _finite(values)
    if xs.size == 0:
        return None
    mean = float(xs.mean())
    if xs.size == 1:
        return Interval(mean, mean, mean, 1, "none")
    sem = float(xs.std(ddof=1)) / math.sqrt(xs.size)
    if sem == 0.0:
        lo = hi = mean
    else:
        lo, hi = stats.t.interval(level, xs.size - 1, loc=mean, scale=sem)
    return Interval(mean, max(float(lo), bounds[0]), min(float(hi), bounds[1]), int(xs.size), "t")


def wilson(p: float, n: int, level: float = LEVEL) -> Interval:
    """Wilson score interval of a proportion `p` observed over `n` examples (n > 0)."""
    if n <= 0:
        raise ValueError(f"wilson needs n > 0 examples, got {n}")
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    z2n = z * z / n
    centre = (p + z2n / 2.0) / (1.0 + z2n)
    half = z / (1.0 + z2n) * math.sqrt(p * (1.0 - p) / n + z2n / (4.0 * n))
    lo, hi = round(centre - half, 12), round(centre + half, 12)  # 1 - 1e-16 is 1
    return Interval(float(p), max(0.0, lo), min(1.0, hi), int(n), "wilson")


def accuracy_interval(values: Iterable[float | None], examples: int | None) -> Interval | None:
    """The interval of an accuracy: Student t across seeds when there are several values, else Wilson over the
    `examples` of the one value (method "none" when the number of examples is unknown or 0)."""
    xs = _finite(values)
    if xs.size == 0:
        return None
    if xs.size == 1:
        if examples:
            return wilson(float(xs[0]), int(examples))
        return Interval(float(xs[0]), float(xs[0]), float(xs[0]), 1, "none")
    return t_interval(xs, bounds=(0.0, 1.0))


def median(values: Iterable[float | None]) -> float | None:
    """Median of the finite values, or None."""
    xs = _finite(values)
    return float(np.median(xs)) if xs.size else None


# --- Outcomes that are near binary, and reach read from search brackets (issue 24) ------------------------------

def pass_count(k: int, n: int, level: float = LEVEL) -> Interval:
    """The share of `n` seeds that passed (`k`) and its exact (Clopper-Pearson) interval,
    `scipy.stats.binomtest(k, n).proportion_ci(level, method="exact")`: honest for 5 seeds, where a normal
    approximation is not."""
    if not 0 <= k <= n or n <= 0:
        raise ValueError(f"pass_count needs 0 <= k <= n and n > 0, got k={k}, n={n}")
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=level, method="exact")
    return Interval(k / n, float(ci.low), float(ci.high), n, "exact")


def bootstrap_mean(values: Iterable[float | None], level: float = LEVEL, seed: int = 0,
                   resamples: int = 9999, bounds: tuple[float, float] = (0.0, 1.0)) -> Interval | None:
    """The mean over seeds and its percentile bootstrap interval (`scipy.stats.bootstrap`, resampling seeds, a fixed
    generator so a table is rebuilt identically): for bounded, often bimodal accuracies such as 0.06 / 0.92 / 0.05,
    where a Student-t interval runs past [0, 1] and says nothing. One value: method "none". The values are sorted
    first: the interval does not depend on the order in which a table happened to collect the seeds."""
    xs = np.sort(_finite(values))
    if xs.size == 0:
        return None
    mean = float(xs.mean())
    if xs.size == 1 or float(xs.min()) == float(xs.max()):
        return Interval(mean, mean, mean, int(xs.size), "none" if xs.size == 1 else "bootstrap")
    res = stats.bootstrap((xs,), np.mean, confidence_level=level, method="percentile", n_resamples=resamples,
                          rng=np.random.default_rng(seed))
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return Interval(mean, max(lo, bounds[0]), min(hi, bounds[1]), int(xs.size), "bootstrap")


def score_interval(values: Iterable[float | None], own: tuple[float | None, float | None] = (None, None),
                   examples: int | None = None) -> Interval | None:
    """The interval of a text score (0-100, such as sacreBLEU): the mean over seeds with a percentile bootstrap
    over seeds (`bootstrap_mean`) when there are several values; one value: its record's own interval `own` (lo,
    hi: sacreBLEU's bootstrap over the `examples` sentences, method "sentences") where it has one, else none."""
    xs = _finite(values)
    if xs.size == 0:
        return None
    if xs.size > 1:
        return bootstrap_mean(xs, bounds=(0.0, 100.0))
    lo, hi = own
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return Interval(float(xs[0]), float(xs[0]), float(xs[0]), 1, "none")
    return Interval(float(xs[0]), float(lo), float(hi), int(examples or 0), "sentences")


@dataclass(frozen=True)
class ReachInterval:
    """Reach over seeds from their search brackets: the median and an order-statistic interval for it, with the
    coverage that interval really has (for 5 seeds the widest one covers 93.75%, not 95%). Ends that rest on a
    censored seed are open: `lo_open` (a seed failed at the shortest distance) or `hi_open` (one passed at the cap)."""

    median: float
    lo: float
    hi: float
    n: int
    coverage: float
    lo_open: bool
    hi_open: bool


def order_statistic_ranks(n: int, level: float = LEVEL) -> tuple[int, float]:
    """(k, coverage): the interval [x_(k), x_(n+1-k)] (1-based order statistics) for the median of n values with the
    largest k whose coverage 1 - 2 * P(Binomial(n, 1/2) < k) is at least `level`; k = 1 (the range) when none is,
    with its coverage."""
    k, coverage = 1, 1 - 2 * float(stats.binom.cdf(0, n, 0.5))
    for j in range(2, (n + 1) // 2 + 1):
        c = 1 - 2 * float(stats.binom.cdf(j - 1, n, 0.5))
        if c < level:
            break
        k, coverage = j, c
    return k, coverage


def reach_interval(brackets: Iterable[tuple[float | None, float | None]], level: float = LEVEL) -> ReachInterval | None:
    """Reach over seeds from each seed's bracket (lo passed, hi failed; lo None: failed at the shortest distance,
    hi None: passed at the cap). A seed's reach is its bracket's geometric midpoint; the median over seeds is taken
    of those, its interval from the order statistics of the seeds' lower ends (lo) and upper ends (hi), so the
    interval holds both the spread over seeds and each bracket's width. A censored seed sits at its bound and makes
    the interval's end on its side open; it is never averaged in as if measured."""
    pairs = [(lo, hi) for lo, hi in brackets if lo is not None or hi is not None]
    if not pairs:
        return None
    n = len(pairs)
    mids = sorted(math.sqrt(lo * hi) if lo is not None and hi is not None else (lo if hi is None else hi)
                  for lo, hi in pairs)
    lows = sorted(0.0 if lo is None else float(lo) for lo, _ in pairs)
    highs = sorted(math.inf if hi is None else float(hi) for _, hi in pairs)
    k, coverage = order_statistic_ranks(n, level)
    lo_end, hi_end = lows[k - 1], highs[n - k]
    mid = float(np.median(mids))
    return ReachInterval(mid, lo_end, hi_end, n, coverage, lo_end == 0.0, math.isinf(hi_end))
