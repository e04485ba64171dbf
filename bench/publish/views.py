"""The tidy frame that every table and plot derives from, and the group-bys over it.

`tidy(records)` is the long format of `longform.long_frame` (one row per record x distance bin) plus a few derived
columns: `budget` (the parameter budget, NO_BUDGET for none), `lr` (the record's learning rate, else its configured one),
`single` (the cell trained at one distance, not a mixed range) and `x` (the bin's geometric midpoint, the distance
a point is drawn at). Rows are (task, arch, budget); a cell position is a row at one distance setting.

The learning rate is chosen on validation only, by the sweep's own rule (`seqbench.run.sweep.choose`, on the seeds
every rate shares): per cell position, the lr whose seeds have the highest mean validation score at their tested
checkpoint (the cells' `eval.select`: free-running accuracy, what the tables report, or a text score such as
sacreBLEU), ties going to the earliest mean best step, then the lower mean validation loss (records written before
`val_gen_acc` existed: the loss alone); an lr where a seed did not finish loses to one where every seed did.
`choose_lr` keeps that lr's records, and the tables name it. With one lr nothing changes.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd

from seqbench.contract.errors import UserError
from seqbench.publish.longform import long_frame
from seqbench.publish.stats import Interval, accuracy_interval, score_interval
from seqbench.records.distance import Distance, sort_key
from seqbench.records.schema import ACCURACIES, TEXT_INTERVAL, TEXT_METRICS
from seqbench.run.sweep import Trial, choose

METRICS = ACCURACIES  # the accuracies a table or plot can show, as the record schema declares them
BIN_METRICS = ACCURACIES + tuple(TEXT_METRICS)  # what a table's body can show per bin: those and the text scores
ROW = ["task", "arch", "budget"]
NO_BUDGET = -1  # `budget` of a record sized by width, not by a parameter budget
POSITION = ROW + ["distance"]


def tidy(records: list[Any]) -> pd.DataFrame:
    """The long frame with `budget`, `lr`, `single` and `x`; refuses two records of one cell position and seed."""
    df = long_frame(records)
    df["budget"] = pd.to_numeric(df["params_budget"], errors="coerce").fillna(NO_BUDGET).astype(int)
    configured = pd.to_numeric(df.get("config.train.lr", pd.Series(np.nan, index=df.index)), errors="coerce")
    df["lr"] = pd.to_numeric(df["lr"], errors="coerce").fillna(configured).fillna(0.0)  # 0: not recorded
    parsed = df["distance"].map(lambda d: Distance.parse(str(d)))
    df["single"] = parsed.map(lambda d: d.single).astype(bool)
    lo, hi = pd.to_numeric(df["bin.lo"], errors="coerce"), pd.to_numeric(df["bin.hi"], errors="coerce")
    df["x"] = np.sqrt(lo * hi)
    _refuse_pooling(df)
    return df


def _refuse_pooling(df: pd.DataFrame) -> None:
    cells = df.drop_duplicates("cell_id")
    key = POSITION + ["lr", "seed"]
    twice = cells[cells.duplicated(key, keep=False)]
    if len(twice):
        a, b = twice.iloc[0], twice[twice["cell_id"] != twice.iloc[0]["cell_id"]].iloc[0]
        raise UserError(
            f"Cells {a['cell_id']} and {b['cell_id']} are both {a['arch']} on {a['task']} at distance "
            f"{a['distance']}, seed {a['seed']}, budget {_budget_text(a['budget'])}, lr {a['lr']:g}, but differ in "
            "configuration; a table would pool them as seeds. Publish them from separate folders.")


def _budget_text(budget: Any) -> str:
    return "none" if budget == NO_BUDGET else str(int(budget))


def cells(df: pd.DataFrame) -> pd.DataFrame:
    """One row per record (its first bin row)."""
    return df.drop_duplicates("cell_id")


def shared(g: pd.DataFrame) -> pd.DataFrame:
    """The records of `g` (one row per record) at the (distance, seed) pairs that every rate of `g` has."""
    rates = g["lr"].nunique()
    has = g.groupby(["distance", "seed"])["lr"].nunique()
    keys = set(has[has == rates].index)
    return g[[(d, s) in keys for d, s in zip(g["distance"], g["seed"])]]


def choose_lr(df: pd.DataFrame) -> pd.DataFrame:
    """The records of the lr chosen on validation per cell position, by the learning-rate sweep's own rule
    (`seqbench.run.sweep.choose`: fewest failed cells, best mean validation score, earliest best, lowest validation
    loss) on the seeds every rate has there (`shared`: a sweep's seed 0 at three rates beside the chosen rate's five
    seeds compares seed 0 with seed 0), so a table never shows another rate than the sweep took; a column `lrs`
    says how many were tried."""
    if df.empty:
        return df.assign(lrs=pd.Series(dtype=int))
    c = cells(df)
    chosen = []
    for key, g in c.groupby(POSITION, sort=False, dropna=False):
        both = shared(g)  # rates compared on the seeds every rate has, not a rate's 5 seeds against another's 1
        chosen.append((*key, choose(trials(both if len(both) else g)).lr))
    picked = pd.DataFrame(chosen, columns=POSITION + ["lr"])
    tried = c.groupby(POSITION, dropna=False)["lr"].nunique().rename("lrs").reset_index()
    return df.merge(picked, on=POSITION + ["lr"], how="inner").merge(tried, on=POSITION, how="left")


def trials(g: pd.DataFrame) -> list[Trial]:
    """The records of `g` (one row each) as the sweep's decision sees them: the same `Trial` that
    `seqbench.run.sweeping.trial` builds from a record, scored by the cell's own `eval.select` at its tested
    checkpoint (records from before `eval.select`: the free-running accuracy)."""
    out = []
    for r in g.to_dict("records"):
        select, score = r.get("config.eval.select"), _opt(r.get("metrics.val.best_val_gen_acc"))
        if isinstance(select, str) and select != "val_gen_acc":
            history = r.get("metrics.val.history")  # the long frame keeps it as JSON text
            history = json.loads(history) if isinstance(history, str) else history
            at = [p for p in (history if isinstance(history, list) else [])
                  if p.get("step") == r.get("metrics.val.best_step")]
            score = _opt(at[0].get(select)) if at else None
        out.append(Trial(float(r["lr"]), r["status"] == "ok", score, _opt(r.get("metrics.val.best_step")),
                         _opt(r.get("metrics.val.best_val_loss"))))
    return out


def _opt(v: Any) -> float | None:
    return None if v is None or pd.isna(v) else float(v)


def row_order(df: pd.DataFrame) -> list[tuple]:
    """The (task, arch, budget) rows, sorted by task, architecture, then budget (none first)."""
    keys = cells(df)[ROW].drop_duplicates()
    return sorted(tuple(k) for k in keys.itertuples(index=False))


def row_label(key: tuple, with_budget: bool) -> str:
    return f"{key[1]} ({_budget_text(key[2])})" if with_budget else key[1]


def accuracy(df: pd.DataFrame, metric: str = "token_acc") -> pd.DataFrame:
    """Per cell position and bin: the bin's span and label, the ok seeds, the mean and its 95% interval.

    Columns: task, arch, budget, distance, lo, hi, label, x, seeds, mean, ci_lo, ci_hi, n, interval, chance, lr,
    lrs. `n` counts what the interval is over: seeds ("t") or test examples ("wilson"). The last bin of a range
    closes at the largest distance a seed's test set held, so `hi` is the widest over seeds. A text score
    (`sacrebleu`, 0-100) gets a percentile bootstrap over seeds ("bootstrap"), one seed the record's own bootstrap
    over the bin's sentences ("sentences"; `seqbench.publish.stats.score_interval`).
    """
    if metric not in BIN_METRICS:
        raise UserError(f"Unknown metric '{metric}'. Available: {', '.join(BIN_METRICS)}")
    ok = df[(df["status"] == "ok") & df["bin.lo"].notna()].copy()
    cols = ["task", "arch", "budget", "distance", "lo", "hi", "label", "x", "seeds", "mean", "ci_lo", "ci_hi", "n",
            "interval", "chance", "lr", "lrs"]
    if ok.empty:
        return pd.DataFrame(columns=cols)
    ok["lo"] = ok["bin.lo"].astype(int)
    ok["value"] = _numbers(ok, f"bin.{metric}")
    for end, suffix in zip(("own_lo", "own_hi"), TEXT_INTERVAL):  # a text score's own interval (one seed)
        ok[end] = _numbers(ok, f"bin.{metric}{suffix}")
    ok = ok.sort_values("bin.hi")
    g = ok.groupby(POSITION + ["lo"], sort=False)
    agg = g.agg(hi=("bin.hi", "max"), label=("bin.label", "last"), values=("value", list),
                examples=("bin.n", "max"), seeds=("seed", "nunique"), chance=("chance", "first"),
                own_lo=("own_lo", "first"), own_hi=("own_hi", "first"),
                lr=("lr", "first"), lrs=("lrs", "first") if "lrs" in ok else ("lr", "nunique")).reset_index()
    agg["hi"] = agg["hi"].astype(int)
    agg["x"] = np.sqrt(agg["lo"] * agg["hi"])
    _put_intervals(agg, _intervals(agg, metric))
    if metric != "token_acc":
        agg["chance"] = math.nan  # chance is a token-level number
    agg["dkey"] = agg["distance"].map(sort_key)
    agg = agg.sort_values(["task", "arch", "lo", "hi", "dkey"], kind="stable")
    return agg[cols].reset_index(drop=True)


def _numbers(df: pd.DataFrame, column: str) -> pd.Series:
    """`df[column]` as numbers, NaN where the frame has no such column."""
    return pd.to_numeric(df[column], errors="coerce") if column in df else pd.Series(math.nan, index=df.index)


def overall(df: pd.DataFrame, key: str) -> pd.DataFrame:
    """Per cell position: mean and interval over ok seeds of `metrics.overall[key]` (an accuracy, or a text metric
    such as sacrebleu), as `accuracy` gives them per bin: an accuracy's Wilson interval over the test examples for
    one seed, a text score's bootstrap over seeds, or over the sentences for one seed."""
    column = f"metrics.overall.{key}"
    c = cells(df)
    c = c[(c["status"] == "ok")]
    if column not in c or c.empty:
        return pd.DataFrame(columns=POSITION + ["mean", "ci_lo", "ci_hi", "n", "interval"])
    c = c.assign(value=pd.to_numeric(c[column], errors="coerce"), own_lo=_numbers(c, column + TEXT_INTERVAL[0]),
                 own_hi=_numbers(c, column + TEXT_INTERVAL[1]))
    g = c.groupby(POSITION).agg(values=("value", list), examples=("metrics.overall.n", "max"),
                                own_lo=("own_lo", "first"), own_hi=("own_hi", "first"))
    g = g.reset_index()
    _put_intervals(g, _intervals(g, key))
    return g.drop(columns=["values", "examples", "own_lo", "own_hi"])


def _intervals(g: pd.DataFrame, metric: str) -> list[Interval | None]:
    """Per row of `g` (columns values, examples, own_lo, own_hi): an accuracy's interval (a fraction of the test
    examples: Student t over seeds, Wilson for one), or a text score's (0-100, no fraction: bootstrap over seeds,
    its record's own interval for one)."""
    examples = [e if pd.notna(e) else None for e in g["examples"]]
    if metric in ACCURACIES:
        return [accuracy_interval(v, e) for v, e in zip(g["values"], examples)]
    return [score_interval(v, (_opt(lo), _opt(hi)), e)
            for v, lo, hi, e in zip(g["values"], g["own_lo"], g["own_hi"], examples)]


def _put_intervals(frame: pd.DataFrame, ivs: list[Interval | None]) -> None:
    """Columns mean, ci_lo, ci_hi, n and interval (the method) of `frame`, one interval per row (None: none)."""
    frame["mean"] = [i.mean if i else math.nan for i in ivs]
    frame["ci_lo"] = [i.lo if i else math.nan for i in ivs]
    frame["ci_hi"] = [i.hi if i else math.nan for i in ivs]
    frame["n"] = [i.n if i else 0 for i in ivs]
    frame["interval"] = [i.method if i else "none" for i in ivs]


def states(df: pd.DataFrame) -> dict[tuple, str]:
    """Per cell position whose records are all not ok: their states, e.g. `diverged` or `diverged, oom`."""
    c = cells(df)
    out: dict[tuple, str] = {}
    for key, g in c.groupby(POSITION):
        if not (g["status"] == "ok").any():
            out[tuple(key)] = ", ".join(sorted(set(g["status"])))
    return out


def status_text(g: pd.DataFrame, most: int = 3) -> str:
    """A row's records: `ok`, or the ok count and each other state with its first seeds and settings."""
    c = cells(g)
    bad = c[c["status"] != "ok"]
    if bad.empty:
        return "ok"
    parts = [f"{int((c['status'] == 'ok').sum())} ok"] if (c["status"] == "ok").any() else []
    for state, b in bad.groupby("status"):
        where = [f"seed {s} ({d})" for s, d in zip(b["seed"], b["distance"])]
        more = f" and {len(where) - most} more" if len(where) > most else ""
        parts.append(f"{state}: {', '.join(where[:most])}{more}")
    return "; ".join(parts)
