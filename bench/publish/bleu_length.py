"""BLEU against source length, and the number MT researchers would accept for "how long a sentence it can carry"
(issue 25): the source length at which sacreBLEU falls to half its value on the shortest sentences.

Per seed, each source-length bucket of a cell's test set (`metrics.bins`) with at least `MIN_SENTENCES` sentences is
a point at the bucket's mid length with that bucket's sacreBLEU (a corpus task merges smaller buckets into a
neighbour before it tests, `tasks/translation.py`; a bucket still smaller is left out). Half-BLEU length: walking from the shortest bucket, the first length where BLEU is at most half
the shortest bucket's, interpolated linearly between that bucket and the one before; a seed whose BLEU never falls
that far is censored above (written `x+`, x its longest bucket). Over seeds: the median and an order-statistic
interval, as reach (`seqbench.publish.stats.reach_interval`). Per bucket over seeds: the mean sacreBLEU with a
percentile bootstrap interval over seeds; one seed: sacreBLEU's bootstrap interval over the bucket's sentences.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import pandas as pd

from seqbench.publish.brackets import ordering
from seqbench.publish.stats import reach_interval, score_interval, t_interval
from seqbench.publish.views import ROW
from seqbench.records.schema import TEXT_INTERVAL

MIN_SENTENCES = 50  # a bucket with fewer test sentences is too noisy to score alone (2 sentences were tabulated)
METRIC = "sacrebleu"


def half_length(points: Sequence[tuple[float, float]]) -> tuple[float, bool] | None:
    """(length, censored above) from (mid length, BLEU) points: where BLEU first falls to half the shortest's."""
    pts = sorted((float(x), float(b)) for x, b in points if math.isfinite(x) and math.isfinite(b))
    if len(pts) < 2 or pts[0][1] <= 0:
        return None
    half = pts[0][1] / 2.0
    for (x0, b0), (x1, b1) in zip(pts, pts[1:]):
        if b1 <= half:
            t = (b0 - half) / (b0 - b1)
            return x0 + t * (x1 - x0), False
    return pts[-1][0], True


def buckets(df: pd.DataFrame, metric: str = METRIC) -> pd.DataFrame:
    """Per record and bucket with enough sentences: the row, seed, bucket (lo, hi, mid) and its score and bounds."""
    col = f"bin.{metric}"
    if col not in df:
        return pd.DataFrame(columns=ROW + ["seed", "lo", "hi", "mid", "n", "score", "score_lo", "score_hi"])
    ok = df[(df["status"] == "ok") & pd.to_numeric(df[col], errors="coerce").notna()].copy()
    ok["lo"], ok["hi"] = ok["bin.lo"].astype(int), ok["bin.hi"].astype(int)
    ok["mid"] = (ok["lo"] + ok["hi"]) / 2.0
    ok["n"] = pd.to_numeric(ok["bin.n"], errors="coerce")
    ok["score"] = pd.to_numeric(ok[col], errors="coerce")
    for end, suffix in zip(("lo", "hi"), TEXT_INTERVAL):
        name = f"bin.{metric}{suffix}"
        ok[f"score_{end}"] = pd.to_numeric(ok[name], errors="coerce") if name in ok else math.nan
    return ok[ok["n"] >= MIN_SENTENCES][ROW + ["seed", "lo", "hi", "mid", "n", "score", "score_lo", "score_hi"]]


def half_lengths(df: pd.DataFrame, metric: str = METRIC) -> pd.DataFrame:
    """Per row (task, arch, budget): seeds, median half-BLEU length, its interval and coverage, censored seeds."""
    b = buckets(df, metric)
    rows = []
    for key, g in b.groupby(ROW, sort=True):
        per = [half_length(list(zip(s["mid"], s["score"]))) for _, s in g.groupby("seed")]
        per = [p for p in per if p is not None]
        r = reach_interval([(v, None) if censored else (v, v) for v, censored in per])
        if r is None:
            continue
        above = sum(c for _, c in per)
        if above == len(per):
            text = f"{r.median:.0f}+"
        elif len(per) == 1:
            text = f"{r.median:.0f} (one seed)"
        else:
            text = f"{r.median:.0f} [{r.lo:.0f}-{'∞' if r.hi_open else f'{r.hi:.0f}'}]"
        rows.append({**dict(zip(ROW, key)), "seeds": len(per), "median": r.median, "lo": r.lo, "hi": r.hi,
                     "hi_open": r.hi_open, "coverage": r.coverage, "above": above, "text": text})
    return pd.DataFrame(rows, columns=ROW + ["seeds", "median", "lo", "hi", "hi_open", "coverage", "above", "text"])


def retention(df: pd.DataFrame, metric: str = METRIC) -> pd.DataFrame:
    """Per row: sacreBLEU on the longest bucket as a fraction of the shortest's, per seed, then the mean over seeds
    and its Student-t interval (one seed: the value, no interval). It reads a fall with length where BLEU never
    halves (a censored half-BLEU length says only `x+`): 1.0 is no fall, 0.5 a halving. `shortest` and `longest`
    name the buckets (each seed's own; the same on one test set)."""
    b = buckets(df, metric)
    cols = ROW + ["seeds", "mean", "lo", "hi", "method", "shortest", "longest"]
    rows = []
    for key, g in b.groupby(ROW, sort=True):
        fractions, ends = [], None
        for _, s in g.groupby("seed"):
            s = s.sort_values("lo")
            first, last = s.iloc[0], s.iloc[-1]
            if len(s) < 2 or not first["score"] > 0:
                continue
            fractions.append(float(last["score"] / first["score"]))
            ends = ends or (f"{int(first['lo'])}-{int(first['hi'])}", f"{int(last['lo'])}-{int(last['hi'])}")
        iv = t_interval(fractions, bounds=(0.0, math.inf))
        if iv is None:
            continue
        rows.append({**dict(zip(ROW, key)), "seeds": iv.n, "mean": iv.mean, "lo": iv.lo, "hi": iv.hi,
                     "method": iv.method, "shortest": ends[0], "longest": ends[1]})
    return pd.DataFrame(rows, columns=cols)


def by_length(df: pd.DataFrame, metric: str = METRIC) -> pd.DataFrame:
    """Per row and bucket: mean score over seeds and its interval (bootstrap over seeds; one seed: over
    sentences), the seeds and the sentences per seed."""
    b = buckets(df, metric)
    rows: list[dict[str, Any]] = []
    for key, g in b.groupby(ROW + ["lo", "hi"], sort=True):
        own = (float(g["score_lo"].iloc[0]), float(g["score_hi"].iloc[0]))  # one seed's bootstrap over sentences
        iv = score_interval(g["score"], own, int(g["n"].max()))
        lo, hi = (iv.lo, iv.hi) if iv.method != "none" else (math.nan, math.nan)
        how = "bootstrap over seeds" if iv.method == "bootstrap" else "bootstrap over sentences"
        rows.append({**dict(zip(ROW + ["lo", "hi"], key)), "seeds": g["seed"].nunique(),
                     "sentences": int(g["n"].max()), "mean": iv.mean, "ci_lo": lo, "ci_hi": hi, "interval": how})
    return pd.DataFrame(rows, columns=ROW + ["lo", "hi", "seeds", "sentences", "mean", "ci_lo", "ci_hi", "interval"])


def faster(table: pd.DataFrame, task: str, a: str, b: str) -> str:
    """Whether a's BLEU halves at shorter sources than b's, separated by the intervals, or "not separated"."""
    return ordering(table, task, a, b, less="{a} halves sooner than {b}")


def document_cells(df: pd.DataFrame, task: str) -> tuple[list[str], list[list[str]]]:
    """sacreBLEU by source length for a report: per architecture (and budget) the mean per bucket [interval], and
    the half-BLEU length over seeds."""
    d = df[df["task"] == task]
    buckets_ = by_length(d)
    halves = half_lengths(d)
    spans = sorted({(int(lo), int(hi)) for lo, hi in zip(buckets_["lo"], buckets_["hi"])})
    headers = ["arch", "budget", "seeds"] + [f"BLEU {lo}-{hi}" for lo, hi in spans] + ["half-BLEU length"]
    rows = []
    for key, g in buckets_.groupby(["arch", "budget"], sort=True):
        cells = []
        for lo, hi in spans:
            b = g[(g["lo"] == lo) & (g["hi"] == hi)]
            cells.append("" if b.empty else _bleu(b.iloc[0]))
        h = halves[(halves["arch"] == key[0]) & (halves["budget"] == key[1])]
        rows.append([key[0], "none" if key[1] < 0 else str(int(key[1])), str(int(g["seeds"].max()))] + cells
                    + [h["text"].iloc[0] if len(h) else "n/a (fewer than two buckets)"])
    return headers, rows


def _bleu(b: Any) -> str:
    if pd.isna(b["ci_lo"]) or pd.isna(b["ci_hi"]):
        return f"{b['mean']:.1f}"
    return f"{b['mean']:.1f} [{b['ci_lo']:.1f}, {b['ci_hi']:.1f}]"


def caption(df: pd.DataFrame, task: str) -> str:
    return (f"{task}: sacreBLEU by source length, per bucket of at least {MIN_SENTENCES} test sentences: the mean "
            "over seeds [95% percentile bootstrap over seeds; one seed: sacreBLEU's bootstrap over the bucket's "
            "sentences where the record has it]; half-BLEU length: the source length at which sacreBLEU falls to "
            "half its value on the shortest bucket, interpolated between buckets, median over seeds [order-statistic "
            "interval]; x+ = it never fell that far.")
