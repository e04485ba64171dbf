"""Tables as views over the tidy frame: the summary (architectures by tasks), and per task the accuracy by
distance and the details (parameters, speed, memory, status).

Rows are architectures (and parameter budgets when a task has several); accuracy columns are distance bins,
sorted by distance: a one-distance cell gives one column, a mixed-range cell one column per bin plus one
`overall` column for its whole test set. Every accuracy is a mean with its 95% interval (see
`seqbench.publish.stats`): Student t over seeds where a row has several, Wilson over the bin's test examples where
it has one. Only the learning rate chosen on validation is shown (`views.choose_lr`). `seqbench.publish.render`
turns these numeric tables into text, Markdown, LaTeX, HTML and CSV.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from seqbench.contract.errors import UserError
from seqbench.publish import bleu_length, brackets
from seqbench.publish import reach as reach_
from seqbench.publish.stats import median
from seqbench.records.distance import sort_key
from seqbench.records.schema import MEMORY_KINDS, TEXT_METRICS
from seqbench.publish.views import (BIN_METRICS, METRICS, ROW, accuracy, cells, choose_lr, overall, row_label,
                                    row_order, states, status_text, tidy)
from seqbench.run.sweep import score_name

MEMORY_HEADERS = {"cuda_max_allocated": "CUDA peak MB", "cell_process_peak_rss": "cell RSS MB",
                  "process_max_rss": "process RSS MB"}  # `throughput.memory_kind` -> column header
MEMORY = {kind: (MEMORY_HEADERS[kind], what) for kind, what in MEMORY_KINDS.items()}  # -> (header, what it measured)


def text_metric_label(name: str) -> str:
    """How tables name a text metric: the schema's name for a built-in one (`sacreBLEU`), else its own."""
    return TEXT_METRICS.get(name, name)


def text_metrics(df: pd.DataFrame) -> list[str]:
    """The text metrics the ok records of `df` say their task reports (`metrics.text_metrics`): the schema's
    built-in ones in their declared order, then any other."""
    if "metrics.text_metrics" not in df:
        return []
    ok = cells(df[df["status"] == "ok"])
    names: dict[str, None] = {}
    for listed in ok["metrics.text_metrics"].dropna():
        names.update(dict.fromkeys(json.loads(listed) if isinstance(listed, str) else listed))
    order = list(TEXT_METRICS)
    return sorted(names, key=lambda m: (order.index(m) if m in order else len(order), m))


@dataclass(frozen=True)
class Column:
    """One accuracy column: a distance bin of one distance setting, or a range setting's whole test set."""

    header: str
    distance: str
    lo: int | None  # None: the overall column of a range setting
    chance: float | None


@dataclass
class TaskTable:
    """One task's numbers: accuracy per row and column, the row details, and how to read them."""

    task: str
    metric: str
    rows: list[tuple]  # (task, arch, budget)
    labels: list[str]
    columns: list[Column]
    values: dict[tuple[int, int], Any]  # (row, column) -> stats.Interval-like row of the accuracy frame
    cell_state: dict[tuple[int, int], str]  # (row, column) -> state of records that are not ok
    seeds: list[int]
    lrs: list[str]  # the chosen lr per row ("" when one lr was tried)
    details: pd.DataFrame  # numeric, one row per table row
    accuracy: pd.DataFrame  # the numeric accuracy frame of this task (tidy)
    overall: pd.DataFrame  # per range setting: the whole test set's accuracy (numeric)
    memory: list[str] = field(default_factory=list)  # memory kinds of the rows
    texts: list[str] = field(default_factory=list)  # the text metrics' columns in `details`, as tables name them

    select: str | None = None  # what validation chose the checkpoint and any learning rate on (`eval.select`)

    @property
    def text(self) -> bool:
        """Whether the body shows a text score (sacreBLEU, 0-100) rather than an accuracy."""
        return self.metric not in METRICS

    @property
    def intervals(self) -> str:
        """Which intervals the cells hold, with the counts behind them."""
        acc = self.accuracy
        parts = []
        for method, what in (("t", "95% Student-t interval over {} seeds"),
                             ("bootstrap", "95% percentile bootstrap over {} seeds"),
                             ("wilson", "one seed: 95% Wilson interval over the bin's n = {} test examples"),
                             ("sentences", "one seed: sacreBLEU's 95% bootstrap over the bin's {} sentences")):
            rows = acc[acc["interval"] == method]
            if len(rows):
                parts.append(what.format(_span(int(rows["n"].min()), int(rows["n"].max()))))
        if (acc["interval"] == "none").any():
            parts.append("one seed: no interval where its record holds none" if self.text else
                         "no interval where one seed did not record its number of examples")
        return "; ".join(parts) if parts else "no values"

    @property
    def caption(self) -> str:
        lr = (f"; lr chosen per distance on {score_name(self.select)} (ties: the earliest best step)" if any(self.lrs)
              else "")
        if self.text:
            return (f"{self.task}: {text_metric_label(self.metric)} (0-100) by distance bin (for translation the "
                    f"source length in tokens), mean [{self.intervals}]{lr}.")
        return (f"{self.task}: {self.metric} by dependency distance, mean [{self.intervals}]{lr}; "
                "chance = chance-level token accuracy.")


def _span(lo: int, hi: int) -> str:
    return str(lo) if lo == hi else f"{lo} to {hi}"


def prepared(records: list[Any]) -> pd.DataFrame:
    """The tidy frame of `records` with only the learning rate chosen on validation."""
    return choose_lr(tidy(records))


def _columns(acc: pd.DataFrame, df: pd.DataFrame) -> list[Column]:
    # In distance order: a search probes each row at distances of its own, so the order in which rows first show
    # them is no order.
    found = acc.drop_duplicates(["distance", "lo"])
    keys = [(lo, sort_key(str(d))) for lo, d in zip(found["lo"], found["distance"])]
    found = found.iloc[sorted(range(len(found)), key=keys.__getitem__)]
    twice = found["label"].duplicated(keep=False)
    cols = [Column(f"{r.label} [{r.distance}]" if dup else str(r.label), str(r.distance), int(r.lo),
                   None if pd.isna(r.chance) else float(r.chance))
            for r, dup in zip(found.itertuples(), twice)]
    ranges = [d for d in df.loc[~df["single"], "distance"].astype(str).unique()]
    ranges = [d for d in ranges if (acc["distance"] == d).any()]
    chance = df.drop_duplicates("distance").set_index("distance")["chance"]
    for d in ranges:
        header = "overall" if len(ranges) == 1 else f"overall [{d}]"
        cols.append(Column(header, d, None, None if pd.isna(chance.get(d)) else float(chance[d])))
    return cols


def _select(df: pd.DataFrame, key: tuple) -> pd.DataFrame:
    """The rows of `df` of one table row (task, arch, budget)."""
    return df[(df["task"] == key[0]) & (df["arch"] == key[1]) & (df["budget"] == key[2])]


def _series(df: pd.DataFrame, column: str) -> pd.Series:
    return pd.to_numeric(df[column], errors="coerce") if column in df else pd.Series(dtype=float)


def _details(df: pd.DataFrame, rows: list[tuple]) -> pd.DataFrame:
    """Per row: median params and tokens/s, the largest peak memory and its kind, the mean of each text metric (named
    as `text_metric_label` names it), and the status of its records."""
    texts = text_metrics(df)
    out = []
    for key in rows:
        g = _select(df, key)
        ok = cells(g[g["status"] == "ok"])
        peak = _series(ok, "throughput.peak_memory_mb").dropna()
        item = {"params": median(_series(cells(g) if ok.empty else ok, "params")),
                "train tok/s": median(_series(ok, "throughput.train_tokens_per_s")),
                "gen tok/s": median(_series(ok, "throughput.gen_tokens_per_s")),
                "peak MB": float(peak.max()) if len(peak) else None,
                "memory": ", ".join(sorted(ok["throughput.memory_kind"].dropna().astype(str).unique()))
                if "throughput.memory_kind" in ok else "",
                "status": status_text(g)}
        for m in texts:
            if _series(ok, f"metrics.overall.{m}").notna().any():
                item[text_metric_label(m)] = float(_series(ok, f"metrics.overall.{m}").mean())
        out.append(item)
    return pd.DataFrame(out)


def _lr_text(acc: pd.DataFrame) -> str:
    """The chosen lr(s) of a row when more than one was tried at some distance, else ""."""
    if acc.empty or (acc["lrs"].fillna(1) <= 1).all():
        return ""
    return "/".join(f"{v:g}" for v in sorted(acc["lr"].dropna().unique()))


def shown_metric(df: pd.DataFrame, wanted: str | None = None) -> str:
    """What one task's table shows per bin: `wanted` where its records hold it, else the task's first text metric
    that they score per bin (sacreBLEU for translation: positional token accuracy is no headline figure there),
    else token accuracy."""
    have = lambda m: f"bin.{m}" in df and pd.to_numeric(df[f"bin.{m}"], errors="coerce").notna().any()  # noqa: E731
    if wanted is not None and (wanted in METRICS or have(wanted)):
        return wanted
    return next((m for m in text_metrics(df) if m in BIN_METRICS and have(m)), "token_acc")


def select_score(df: pd.DataFrame) -> str | None:
    """The one `eval.select` of the records, None where they name none or several."""
    found = df["config.eval.select"].dropna().unique() if "config.eval.select" in df else []
    return str(found[0]) if len(found) == 1 else None


def task_table(df: pd.DataFrame, task: str, metric: str | None = None) -> TaskTable:
    """One task's table from the prepared tidy frame; `metric` None: the one `shown_metric` picks."""
    df = df[df["task"] == task]
    metric = shown_metric(df, metric)
    acc = accuracy(df, metric)
    rows = row_order(df)
    index = {k: i for i, k in enumerate(rows)}
    cols = _columns(acc, df)
    values: dict[tuple[int, int], Any] = {}
    for r in acc.itertuples():
        j = next(j for j, c in enumerate(cols) if c.distance == r.distance and c.lo == r.lo)
        values[index[(r.task, r.arch, r.budget)], j] = r
    whole = overall(df, metric)
    whole = whole[whole["distance"].isin([c.distance for c in cols if c.lo is None])]
    for r in whole.itertuples():
        for j, c in enumerate(cols):
            if c.lo is None and c.distance == r.distance:
                values[index[(r.task, r.arch, r.budget)], j] = r
    cell_state: dict[tuple[int, int], str] = {}
    for (t, a, b, d), state in states(df).items():
        for j, c in enumerate(cols):
            if c.distance == str(d):
                cell_state[index[(t, a, b)], j] = state
    ok = cells(df[df["status"] == "ok"])
    seeds = [int(_select(ok, k)["seed"].nunique()) for k in rows]
    lrs = [_lr_text(_select(acc, k)) for k in rows]
    details = _details(df, rows)
    kinds = sorted({m for ms in details["memory"] for m in ms.split(", ") if m}) if len(details) else []
    with_budget = len({k[2] for k in rows}) > 1
    texts = [text_metric_label(m) for m in text_metrics(df) if text_metric_label(m) in details]
    return TaskTable(task, metric, rows, [row_label(k, with_budget) for k in rows], cols, values, cell_state, seeds,
                     lrs, details, acc, whole, kinds, texts, select_score(df))


def task_tables(records: list[Any] | pd.DataFrame, metric: str | None = None) -> list[TaskTable]:
    """One table per task, tasks in name order; `metric` None: each task's own (`shown_metric`), else `metric`
    wherever a task's records hold it."""
    if metric is not None and metric not in BIN_METRICS:
        raise UserError(f"Unknown metric '{metric}'. Available: {', '.join(BIN_METRICS)}")
    df = records if isinstance(records, pd.DataFrame) else prepared(records)
    return [task_table(df, task, metric) for task in sorted(df["task"].unique())]


SUMMARY_COLUMNS = ("reach", "ci_lo", "ci_hi", "below", "above", "lo_open", "hi_open", "interval", "text",
                   "budget_bound", "coverage", "kind")


def _text_tasks(df: pd.DataFrame) -> set[str]:
    """Tasks scored by text metrics (translation): their summary number is the half-BLEU length, never a reach from
    positional token accuracy."""
    if "metrics.text_metrics" not in df:
        return set()
    return {task for task, g in df.groupby("task") if text_metrics(g)}


def summary_numbers(df: pd.DataFrame) -> pd.DataFrame:
    """Per (task, arch, budget), the number the summary shows and where it comes from (`kind`):

    - "brackets": reach from the seeds' brackets decided on validation (`seqbench.publish.brackets`), for records
      that carry a validation free-running accuracy (a reach search's probes, or a grid's cells);
    - "half-bleu": for a task scored by text metrics, the source length at which sacreBLEU halves
      (`seqbench.publish.bleu_length`);
    - "test": records from before validation decided anything (schema 2): reach interpolated on test accuracy
      (`seqbench.publish.reach`), kept so that old results still read.
    """
    text_tasks = _text_tasks(df)
    parts = []
    br = brackets.reach_brackets(df[~df["task"].isin(text_tasks)])
    acc = pd.to_numeric(df.get("metrics.val.best_val_gen_acc", pd.Series(math.nan, index=df.index)), errors="coerce")
    validated = set(map(tuple, cells(df[(df["status"] == "ok") & acc.notna()])[ROW].itertuples(index=False)))
    br = br[[tuple(k) in validated for k in br[ROW].itertuples(index=False)]] if len(br) else br
    if len(br):
        parts.append(br.assign(reach=br["median"], ci_lo=br["lo"], ci_hi=br["hi"], interval="order statistic",
                               kind="brackets"))
    done = set(map(tuple, br[ROW].itertuples(index=False))) if len(br) else set()
    old = reach_.reach(df[~df["task"].isin(text_tasks)])
    if len(old):
        old = old[[tuple(k) not in done for k in old[ROW].itertuples(index=False)]]
        parts.append(old.assign(budget_bound=0, coverage=math.nan, kind="test"))
    hl = bleu_length.half_lengths(df[df["task"].isin(text_tasks)]) if text_tasks else pd.DataFrame()
    if len(hl):
        parts.append(hl.assign(reach=hl["median"], ci_lo=hl["lo"], ci_hi=hl["hi"], below=0, lo_open=False,
                               interval="order statistic", budget_bound=0, kind="half-bleu"))
    cols = ROW + list(SUMMARY_COLUMNS)
    return pd.concat([p[cols] for p in parts], ignore_index=True) if parts else pd.DataFrame(columns=cols)


def summary_frame(records: list[Any] | pd.DataFrame) -> pd.DataFrame:
    """Architectures by tasks, numeric: per (arch, budget) the summary number per task (`summary_numbers`: reach
    from validation brackets, or the half-BLEU length of a text task) with its interval, the seeds, and the median
    parameters and training and generation tokens/s over the architecture's ok cells."""
    df = records if isinstance(records, pd.DataFrame) else prepared(records)
    r = summary_numbers(df)
    ok = cells(df[df["status"] == "ok"])
    rows = []
    for (arch, budget), g in ok.groupby(["arch", "budget"], sort=True):
        item: dict[str, Any] = {"arch": arch, "budget": budget if budget >= 0 else math.nan,
                                "seeds": int(g["seed"].nunique())}
        mine = r[(r["arch"] == arch) & (r["budget"] == budget)]
        for task in sorted(df["task"].unique()):
            hit = mine[mine["task"] == task]
            for col in SUMMARY_COLUMNS:
                item[f"{task}.{col}"] = hit[col].iloc[0] if len(hit) else (math.nan if col not in ("text", "kind")
                                                                            else "")
        item["params"] = median(g["params"])
        item["train tok/s"] = median(g.get("throughput.train_tokens_per_s", pd.Series(dtype=float)))
        item["gen tok/s"] = median(g.get("throughput.gen_tokens_per_s", pd.Series(dtype=float)))
        rows.append(item)
    return pd.DataFrame(rows)


def summary_headers(df: pd.DataFrame) -> dict[str, str]:
    """Task -> the summary's column header: `reach copy`, or `½BLEU len translation` for a text task."""
    text_tasks = _text_tasks(df)
    return {t: f"½BLEU len {t}" if t in text_tasks else f"reach {t}" for t in sorted(df["task"].unique())}


def summary_caption(records: list[Any] | pd.DataFrame) -> str:
    df = records if isinstance(records, pd.DataFrame) else prepared(records)
    numbers = summary_numbers(df)
    kinds = set(numbers["kind"]) if len(numbers) else set()
    parts = []
    if "brackets" in kinds:
        parts.append(brackets.caption(numbers[numbers["kind"] == "brackets"]))
    if "test" in kinds:
        before = "Records from before validation decided anything: " if "brackets" in kinds else ""
        tested = set(numbers.loc[numbers["kind"] == "test", "task"])
        parts.append(before + reach_.caption(reach_.reach(df[df["task"].isin(tested)])))
    if "half-bleu" in kinds:
        parts.append("½BLEU len = the source length at which sacreBLEU falls to half its value on the shortest "
                     "bucket, median over seeds [order-statistic interval]; x+ = it never fell that far (no reach "
                     "from positional token accuracy for a translation task).")
    return ("Summary: " + " ".join(parts or ["no reach could be read from these records."])
            + " Parameters and tokens/s: medians over the architecture's ok cells (every task and distance).")
