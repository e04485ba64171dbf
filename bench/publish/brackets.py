"""Reach read from brackets, decided on validation (issue 24): the view of a reach search's records, and of any
grid's, since a grid is a set of probes too.

Per seed (one `task, arch, budget, lr, seed`), every single-distance record is a probe: it passes when it finished
ok with its best validation free-running accuracy above (chance + 1) / 2, the criterion the search used
(`seqbench.run.searching.passed`); the test split decides nothing. The seed's bracket is (lo, hi): the longest
distance passed below the first failure, and that failure; its width is the precision, stated rather than implied
by a grid. Over seeds: the median of the brackets' geometric midpoints and an order-statistic interval from their
ends, with its real coverage (`seqbench.publish.stats.reach_interval`); a seed that passed at its longest probe
(censored above) or failed at its shortest (censored below) sits at its bound and opens that end.

A failure that sets a bracket's hi while its cell was still improving at its step budget (`stop_reason` budget,
`improving`) is budget-bound: it may be the budget, not memory, that failed there; rows count them.

Orderings: `A < B` only where A's interval ends below B's starts; otherwise "not separated".
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from seqbench.publish.stats import reach_interval
from seqbench.publish.views import ROW, cells, shared, trials
from seqbench.run.sweep import choose

SLOT = ROW + ["lr", "seed"]
COLUMNS = ROW + ["seeds", "median", "lo", "hi", "lo_open", "hi_open", "coverage", "below", "above", "budget_bound",
                 "brackets", "text"]


def _num(df: pd.DataFrame, column: str) -> pd.Series:
    return pd.to_numeric(df[column], errors="coerce") if column in df else pd.Series(math.nan, index=df.index)


def probes(df: pd.DataFrame) -> pd.DataFrame:
    """One row per single-distance record with a validation outcome: the slot, `d`, `passed` and `budget_bound`."""
    c = cells(df)
    c = c[c["single"]].copy()
    c["d"] = pd.to_numeric(c["distance"], errors="coerce")
    acc = _num(c, "metrics.val.best_val_gen_acc")
    ok = c["status"] == "ok"
    c = c[(~ok | acc.notna()) & c["d"].notna()]  # an ok record without a validation outcome cannot decide
    acc, ok = acc.loc[c.index], ok.loc[c.index]
    c["passed"] = ok & (acc > (_num(c, "chance").fillna(0.0) + 1.0) / 2.0)
    reason = c["metrics.val.stop_reason"] if "metrics.val.stop_reason" in c else pd.Series(None, index=c.index)
    still = c["metrics.val.improving"] if "metrics.val.improving" in c else pd.Series(None, index=c.index)
    c["budget_bound"] = ~c["passed"] & (reason == "budget") & (still == True)  # noqa: E712 (None is not True)
    return c[SLOT + ["d", "passed", "budget_bound"]]


def one_rate(p: pd.DataFrame, df: pd.DataFrame) -> pd.DataFrame:
    """The probes of each row at one learning rate: where a row holds several (a learning-rate sweep's cells beside
    its search's probes, or a grid's lr axis), the rate the sweep's rule chooses from the validation of the records
    every rate has (`seqbench.publish.views.shared`), so a rate that was only tried never enters a bracket."""
    if p.empty or p.groupby(ROW)["lr"].nunique().max() <= 1:
        return p
    c = cells(df)
    keep = []
    for key, g in p.groupby(ROW, sort=False):
        if g["lr"].nunique() > 1:
            rec = c[(c[ROW] == pd.Series(key, index=ROW)).all(axis=1)]
            both = shared(rec)
            g = g[g["lr"] == choose(trials(both if len(both) else rec)).lr]
        keep.append(g)
    return pd.concat(keep)


def seed_brackets(df: pd.DataFrame) -> pd.DataFrame:
    """Per seed: lo, hi (None where open), the probes as text (`16✓ 32✓ 64✗ 45✓`), and whether hi is budget-bound."""
    rows = []
    for key, g in one_rate(probes(df), df).groupby(SLOT, sort=True, dropna=False):
        g = g.sort_values("d")
        failed = g[~g["passed"]]
        hi = float(failed["d"].min()) if len(failed) else None
        below = g[g["passed"] & ((g["d"] < hi) if hi is not None else True)]
        lo = float(below["d"].max()) if len(below) else None
        bound = bool(failed[failed["d"] == hi]["budget_bound"].any()) if hi is not None else False
        text = " ".join(f"{int(d)}{'✓' if p else '✗'}" for d, p in zip(g["d"], g["passed"]))
        rows.append({**dict(zip(SLOT, key)), "lo": lo, "hi": hi, "probes": text, "budget_bound": bound})
    return pd.DataFrame(rows, columns=SLOT + ["lo", "hi", "probes", "budget_bound"])


def reach_brackets(df: pd.DataFrame) -> pd.DataFrame:
    """Per row (task, arch, budget): reach over seeds from their brackets, see the module doc."""
    per = seed_brackets(df)
    rows = []
    for key, g in per.groupby(ROW, sort=True):
        pairs = [(None if pd.isna(lo) else lo, None if pd.isna(hi) else hi) for lo, hi in zip(g["lo"], g["hi"])]
        r = reach_interval(pairs)
        if r is None:
            continue
        item: dict[str, Any] = dict(zip(ROW, key))
        item.update(seeds=r.n, median=r.median, lo=r.lo, hi=r.hi, lo_open=r.lo_open, hi_open=r.hi_open,
                    coverage=r.coverage, below=sum(lo is None for lo, _ in pairs),
                    above=sum(hi is None for _, hi in pairs), budget_bound=int(g["budget_bound"].sum()),
                    brackets=", ".join(_bracket(lo, hi) for lo, hi in sorted(pairs, key=_order)))
        item["text"] = text(item)
        rows.append(item)
    return pd.DataFrame(rows, columns=COLUMNS)


def _order(pair: tuple) -> float:
    lo, hi = pair
    return lo if lo is not None else 0.0


def _bracket(lo: float | None, hi: float | None) -> str:
    if hi is None:
        return f"{_n(lo)}+"
    return f"<{_n(hi)}" if lo is None else f"{_n(lo)}-{_n(hi)}"


def _n(v: float) -> str:
    return f"{v:.0f}" if v >= 10 else f"{v:.2g}"


def text(r: dict[str, Any]) -> str:
    """`38 [16-64]`, `256+` (every seed passed at its longest probe), `<2` (every seed failed at its shortest),
    `200 [100-∞]` (an end resting on a censored seed); a `*` marks a reach that rests on a budget-bound failure."""
    star = "*" if r["budget_bound"] else ""
    if r["above"] == r["seeds"]:
        return f"{_n(r['median'])}+"
    if r["below"] == r["seeds"]:
        return f"<{_n(r['median'])}{star}"
    lo = "0" if r["lo_open"] else _n(r["lo"])
    hi = "∞" if r["hi_open"] else _n(r["hi"])
    return f"{_n(r['median'])} [{lo}-{hi}]{star}"


def ordering(table: pd.DataFrame, task: str, a: str, b: str, less: str = "{a} < {b}") -> str:
    """`a < b`, `b < a` (phrased by `less`), or `a ..., b ...: not separated`, on one task: an ordering is stated
    only where one row's interval (columns lo, hi, hi_open, text) ends below the other's start."""
    ra, rb = (table[(table["task"] == task) & (table["arch"] == n)].iloc[0] for n in (a, b))
    if ra["hi"] < rb["lo"] and not ra["hi_open"]:
        return less.format(a=a, b=b)
    if rb["hi"] < ra["lo"] and not rb["hi_open"]:
        return less.format(a=b, b=a)
    return f"{a} {ra['text']}, {b} {rb['text']}: not separated"


def caption(table: pd.DataFrame) -> str:
    cov = sorted({round(c, 4) for c in table["coverage"]}) if len(table) else []
    bound = int(table["budget_bound"].sum()) if len(table) else 0
    return ("Reach from brackets decided on validation: per seed, the longest distance passed (best validation "
            "free-running token accuracy above (chance + 1) / 2) below the first failure, and that failure; over "
            "seeds the median of the brackets' midpoints [an order-statistic interval from the brackets' ends, "
            f"coverage {', '.join(f'{c:.1%}' for c in cov) or 'n/a'}]; x+ = passed at the longest distance probed; "
            f"∞ = an end resting on a seed that never failed; * = rests on a failure still improving at its step "
            f"budget ({bound} such seed{'s' * (bound != 1)}).")


def document_cells(df: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """The bracket table for a report: per task and architecture (and budget), the reach over seeds, each seed's
    bracket, and how many rest on a budget-bound failure."""
    table = reach_brackets(df)
    headers = ["task", "arch", "budget", "seeds", "reach [interval]", "coverage", "brackets per seed", "budget-bound"]
    rows = [[r.task, r.arch, "none" if r.budget < 0 else str(int(r.budget)), str(r.seeds), r.text,
             f"{r.coverage:.1%}" if r.seeds > 1 else "one seed: its bracket", r.brackets, str(r.budget_bound)]
            for r in table.itertuples()]
    return headers, rows
