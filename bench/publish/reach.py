"""Reach: the longest dependency distance at which an architecture's token accuracy stays above the midpoint
between chance and perfect. The one number the claims are about.

Per seed. The points are the seed's ok cells: one per distance when the row trained one cell per distance (its
mixed-range cells are then left out), else the bins of its mixed-range cells; a point sits at its bin's
geometric midpoint x (the distance itself for a one-distance cell), and points at one x are averaged. The
threshold at a point is m = (chance + 1) / 2 with the record's chance. Walking from the shortest distance, reach
is where accuracy first falls to m or below, interpolated linearly in log x between the last point above and the
first point not above: "stays above" means above at every distance up to it, so a later recovery does not extend
it. Censoring: a seed not above m at its shortest distance has reach below that distance (censored below,
written `<x`); a seed above m at every distance has reach at least its longest (censored above, written `x+`).

Over seeds. Two or more seeds: the geometric mean of the per-seed reaches and the Student-t 95% interval of the
mean of log2 reach, back-transformed; a censored seed enters at its bound, so with seeds censored above the
estimate is a lower bound (written `≥`), with seeds censored below an upper bound (`≤`). One seed: the interval
is the reach of the Wilson 95% lower and upper accuracy bounds at each point (over the bin's test examples).
Interval ends are clipped to the measured range [shortest, longest]; an end that reaches past it, or comes from a
censored seed, is written open (`<shortest`, `longest+`). All seeds censored above: `≥longest`, no interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import pandas as pd

from seqbench.publish.stats import t_interval, wilson
from seqbench.publish.views import ROW


@dataclass(frozen=True)
class SeedReach:
    """One seed's reach: the value, or its bound when `censored` is "below" or "above"."""

    value: float
    censored: str = ""


def seed_reach(xs: Sequence[float], accs: Sequence[float], mids: Sequence[float]) -> SeedReach | None:
    """Reach of one curve: points at distances `xs` (any order) with accuracies `accs` and thresholds `mids`."""
    pts = sorted((float(x), float(a) - float(m)) for x, a, m in zip(xs, accs, mids)
                 if all(map(math.isfinite, (x, a, m))) and x > 0)
    if not pts:
        return None
    if pts[0][1] <= 0:
        return SeedReach(pts[0][0], "below")
    for (x0, m0), (x1, m1) in zip(pts, pts[1:]):
        if m1 <= 0:
            t = m0 / (m0 - m1)
            return SeedReach(float(math.exp(math.log(x0) + t * (math.log(x1) - math.log(x0)))))
    return SeedReach(pts[-1][0], "above")


@dataclass(frozen=True)
class Reach:
    """Reach over seeds: estimate, 95% interval, and the censoring behind them."""

    value: float
    lo: float
    hi: float
    seeds: int
    below: int  # seeds censored below the shortest distance
    above: int  # seeds censored above the longest distance
    shortest: float
    longest: float
    method: str  # "t" over seeds, "wilson" over examples (one seed), "none"
    lo_open: bool = False  # the interval reaches below the shortest distance
    hi_open: bool = False  # the interval reaches past the longest distance

    def text(self) -> str:
        """`23 [16-33]`, `≥187 [48-256+]`, `256+`, `<2`."""
        if self.above == self.seeds:
            return f"{_num(self.longest)}+"
        if self.below == self.seeds:
            return f"<{_num(self.shortest)}"
        mark = "≥" if self.above and not self.below else "≤" if self.below and not self.above else ""
        mark = "~" if self.above and self.below else mark
        if self.method == "none":
            return f"{mark}{_num(self.value)}"
        lo = f"<{_num(self.shortest)}" if self.lo_open else _num(self.lo)
        hi = f"{_num(self.longest)}+" if self.hi_open else _num(self.hi)
        return f"{mark}{_num(self.value)} [{lo}-{hi}]"


def _num(v: float) -> str:
    return f"{v:.2g}" if v < 10 else f"{v:.0f}"


def _curve(g: pd.DataFrame, column: str) -> SeedReach | None:
    return seed_reach(g["x"], g[column], g["mid"])


def across(per_seed: list[SeedReach], shortest: float, longest: float) -> Reach:
    """Geometric mean and log-scale Student-t interval over seeds (censored seeds at their bound)."""
    if not per_seed:
        raise ValueError("reach across seeds needs at least one seed")
    below = sum(r.censored == "below" for r in per_seed)
    above = sum(r.censored == "above" for r in per_seed)
    iv = t_interval([math.log2(r.value) for r in per_seed])  # every seed's reach is a positive distance
    value, lo, hi = 2.0 ** iv.mean, 2.0 ** iv.lo, 2.0 ** iv.hi
    return Reach(value, max(lo, shortest), min(hi, longest), len(per_seed), below, above, shortest, longest,
                 iv.method, lo_open=bool(below) or lo < shortest * (1 - 1e-9),
                 hi_open=bool(above) or hi > longest * (1 + 1e-9))


def one_seed(g: pd.DataFrame, shortest: float, longest: float) -> Reach | None:
    """One seed: reach of its curve, and the reaches of its Wilson lower and upper accuracy bounds."""
    r = _curve(g, "acc")
    if r is None:
        return None
    if g["n"].isna().any() or (g["n"] <= 0).any():
        return Reach(r.value, r.value, r.value, 1, int(r.censored == "below"), int(r.censored == "above"),
                     shortest, longest, "none")
    bounds = [wilson(a, int(n)) for a, n in zip(g["acc"], g["n"])]
    low = _curve(g.assign(acc_lo=[b.lo for b in bounds]), "acc_lo")
    high = _curve(g.assign(acc_hi=[b.hi for b in bounds]), "acc_hi")
    return Reach(r.value, low.value, high.value, 1, int(r.censored == "below"), int(r.censored == "above"),
                 shortest, longest, "wilson", lo_open=low.censored == "below", hi_open=high.censored == "above")


def points(df: pd.DataFrame) -> pd.DataFrame:
    """Per (row, seed, x): token accuracy, threshold and examples, from the ok records (see the module doc)."""
    ok = df[(df["status"] == "ok") & df["bin.lo"].notna() & df["chance"].notna()].copy()
    if ok.empty:
        return pd.DataFrame(columns=ROW + ["seed", "x", "acc", "mid", "n"])
    has_single = ok.groupby(ROW)["single"].transform("any")
    ok = ok[ok["single"] | ~has_single]
    ok["acc"] = pd.to_numeric(ok["bin.token_acc"], errors="coerce")
    ok["mid"] = (pd.to_numeric(ok["chance"], errors="coerce") + 1.0) / 2.0
    ok["n"] = pd.to_numeric(ok["bin.n"], errors="coerce")
    return ok.groupby(ROW + ["seed", "x"]).agg(acc=("acc", "mean"), mid=("mid", "mean"),
                                                             n=("n", "sum")).reset_index()


def reach(df: pd.DataFrame) -> pd.DataFrame:
    """Per row (task, arch, budget): reach, ci_lo, ci_hi, seeds, below, above, shortest, longest, interval, text."""
    pts = points(df)
    rows = []
    for key, g in pts.groupby(ROW):
        shortest, longest = float(g["x"].min()), float(g["x"].max())
        seeds = [s for _, s in g.groupby("seed")]
        if len(seeds) == 1:
            r = one_seed(seeds[0], shortest, longest)
        else:
            per = [p for s in seeds if (p := _curve(s, "acc")) is not None]
            r = across(per, shortest, longest) if per else None
        if r is None:
            continue
        rows.append({**dict(zip(ROW, key)), "reach": r.value, "ci_lo": r.lo, "ci_hi": r.hi, "seeds": r.seeds,
                     "below": r.below, "above": r.above, "shortest": shortest, "longest": longest,
                     "lo_open": r.lo_open, "hi_open": r.hi_open, "interval": r.method, "text": r.text()})
    cols = ROW + ["reach", "ci_lo", "ci_hi", "seeds", "below", "above", "shortest", "longest", "lo_open",
                  "hi_open", "interval", "text"]
    return pd.DataFrame(rows, columns=cols)


def caption(table: pd.DataFrame) -> str:
    """What the reach numbers are, in one sentence per kind of interval present."""
    kinds = set(table["interval"]) if len(table) else set()
    parts = ["reach = the longest distance at which token accuracy stays above (chance + 1) / 2, interpolated on "
             "log distance, per seed"]
    if "t" in kinds:
        parts.append("over seeds: geometric mean [95% Student-t interval on log2 reach]")
    if "wilson" in kinds:
        parts.append("one seed: [reach of the 95% Wilson accuracy bounds over each bin's test examples]")
    parts.append("x+ = above x at every distance measured (x the longest), <x = not above it at the shortest; "
                 "≥ = some seeds never fell (a lower bound)")
    return "; ".join(parts) + "."

