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
