"""The numeric tables of `seqbench.publish.tables` as text: a compact terminal form (at most 120 columns, each
accuracy on one line and its interval on the next), Markdown, LaTeX and HTML (mean [lo, hi] in one cell, the
highest mean per column in bold), and CSV that holds numbers only (mean, ci_lo, ci_hi, n in their own columns).
"""

from __future__ import annotations

import html
import math
from typing import Any, Sequence

import pandas as pd

from seqbench.contract.errors import UserError
from seqbench.publish.grids import document_table, grid, latex_escape, wrap
from seqbench.publish.quality import rendered
from seqbench.publish.tables import (MEMORY, TaskTable, prepared, summary_caption, summary_frame, summary_headers,
                                     task_tables)

FORMATS = ("text", "markdown", "csv", "latex", "html")


def _acc(r: Any, digits: int = 3) -> tuple[str, str]:
    """(mean, interval) of a value row of the accuracy frame, as text; interval "" when there is none."""
    if r is None or pd.isna(r.mean):
        return "", ""
    if r.interval == "none":
        return f"{r.mean:.{digits}f}", ""
    return f"{r.mean:.{digits}f}", f"{r.ci_lo:.{digits}f}, {r.ci_hi:.{digits}f}"


def _count(v: Any) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.0f}"


def accuracy_cells(t: TaskTable, digits: int = 3) -> tuple[list[str], list[list[tuple[str, str]]], list[list[bool]]]:
    """Headers, per row the (mean, interval) text of each column, and which cells hold their column's best mean;
    a text score (0-100) with one decimal and no chance row."""
    digits = 1 if t.text else digits
    with_lr = any(t.lrs)
    headers = ["arch", "seeds"] + (["lr"] if with_lr else []) + [c.header for c in t.columns]
    lead = 3 if with_lr else 2
    body, best = [], []
    for i, label in enumerate(t.labels):
        row = [(label, ""), (str(t.seeds[i]), "")] + ([(t.lrs[i], "")] if with_lr else [])
        for j in range(len(t.columns)):
            mean, iv = _acc(t.values.get((i, j)), digits)
            row.append((mean, iv) if mean else (t.cell_state.get((i, j), ""), ""))
        body.append(row)
        best.append([False] * len(headers))
    for j in range(len(t.columns)):
        means = {i: t.values[i, j].mean for i in range(len(t.labels)) if (i, j) in t.values
                 and not pd.isna(t.values[i, j].mean)}
        if len(means) >= 2:
            top = max(means.values())
            for i, m in means.items():
                best[i][lead + j] = m == top
    if t.text:
        return headers, body, best
    chance = [("chance", ""), ("", "")] + ([("", "")] if with_lr else [])
    chance += [(f"{c.chance:.3f}" if c.chance is not None and t.metric == "token_acc" else "", "") for c in t.columns]
    return headers, body + [chance], best + [[False] * len(headers)]


def details_cells(t: TaskTable) -> tuple[list[str], list[list[str]]]:
    """Parameters, seeds, chosen lr, median tokens/s, peak memory (named by what it measured), text metrics, status."""
    d = t.details
    kinds = set(t.memory)
    memory = MEMORY[next(iter(kinds))][0] if len(kinds) == 1 and next(iter(kinds)) in MEMORY else "peak MB"
    texts = t.texts
    headers = ["arch", "params", "seeds"] + (["lr"] if any(t.lrs) else []) + ["train tok/s", "gen tok/s", memory]
    headers += texts + ["status"]
    rows = []
    for i, label in enumerate(t.labels):
        r = d.iloc[i]
        row = [label, _count(r["params"]), str(t.seeds[i])] + ([t.lrs[i]] if any(t.lrs) else [])
        row += [_count(r["train tok/s"]), _count(r["gen tok/s"]), _count(r["peak MB"])]
        row += ["" if pd.isna(r.get(m)) else f"{r[m]:.1f}" for m in texts] + [r["status"]]
        rows.append(row)
    return headers, rows


def details_caption(t: TaskTable) -> str:
    memory = "; ".join(f"{MEMORY[k][0] if k in MEMORY else k}: {MEMORY[k][1] if k in MEMORY else k}"
                       for k in t.memory)
    text = ", ".join(t.texts)
    return (f"{t.task}: parameters, seeds, median training and generation tokens/s over ok cells, largest peak "
            f"memory over ok cells ({memory or 'not recorded'})" + (f", mean {text} over ok cells" if text else "")
            + ", and the state of every cell.")


def summary_cells(df: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """The summary table: architecture, seeds, reach per task, median params and tokens/s."""
    s = summary_frame(df)
    tasks = sorted(df["task"].unique())
    with_budget = s["budget"].nunique(dropna=False) > 1 if len(s) else False
    named = summary_headers(df)
    headers = ["arch", "seeds"] + [named[t] for t in tasks] + ["params", "train tok/s", "gen tok/s"]
    rows = []
    for r in s.to_dict("records"):
        label = f"{r['arch']} ({'none' if pd.isna(r['budget']) else int(r['budget'])})" if with_budget else r["arch"]
        rows.append([label, str(r["seeds"])] + [r[f"{t}.text"] or "n/a" for t in tasks]
                    + [_count(r["params"]), _count(r["train tok/s"]), _count(r["gen tok/s"])])
    return headers, rows


# --- the terminal form ------------------------------------------------------------------------------------------

def _text_acc(t: TaskTable) -> str:
    headers, body, _ = accuracy_cells(t, digits=2)  # a text score keeps its one decimal
    body = [[(m, iv.replace(", ", "-")) for m, iv in row] for row in body]
    return f"{wrap(t.caption + ' Each value over its interval.')}\n\n{grid(headers, body)}"


def summary_text(df: pd.DataFrame) -> str:
    headers, rows = summary_cells(df)
    return f"{wrap(summary_caption(df))}\n\n{grid(headers, rows)}"


# --- documents --------------------------------------------------------------------------------------------------

def accuracy_document(t: TaskTable, fmt: str) -> str:
    headers, body, best = accuracy_cells(t)
    rows = [[f"{m} [{iv}]" if iv else m for m, iv in row] for row in body]
    return document_table(headers, rows, fmt, best, t.caption)


def details_document(t: TaskTable, fmt: str) -> str:
    headers, rows = details_cells(t)
    return document_table(headers, rows, fmt, caption=details_caption(t))


def summary_document(df: pd.DataFrame, fmt: str) -> str:
    headers, rows = summary_cells(df)
    return document_table(headers, rows, fmt, caption=summary_caption(df))


# --- numbers ----------------------------------------------------------------------------------------------------

CSV_COLUMNS = ["task", "metric", "arch", "budget", "lr", "lrs", "distance", "bin", "lo", "hi", "seeds", "mean",
               "ci_lo", "ci_hi", "n", "interval", "chance"]


def numbers(tables: Sequence[TaskTable]) -> pd.DataFrame:
    """Every value shown, as numbers: one row per (row, column); n counts seeds ("t", "bootstrap"), examples
    ("wilson") or sentences ("sentences"); `metric` says what each row's value is."""
    out = []
    for t in tables:
        acc = t.accuracy.rename(columns={"label": "bin"})
        whole = t.overall.assign(bin="overall", lo=t.overall["distance"].map(lambda d: int(d.split("-")[0])),
                                 hi=t.overall["distance"].map(lambda d: int(d.split("-")[-1])))
        both = pd.concat([acc, whole.reindex(columns=acc.columns)], ignore_index=True).assign(metric=t.metric)
        out.append(both.assign(budget=both["budget"].where(both["budget"] >= 0)))
    if not out:
        return pd.DataFrame(columns=CSV_COLUMNS)
    return pd.concat(out, ignore_index=True)[CSV_COLUMNS]


def render_all(tables: Sequence[TaskTable], fmt: str, df: pd.DataFrame | None = None) -> str:
    """The summary (when the prepared frame `df` is given) and every task's tables, in one text."""
    if fmt not in FORMATS:
        raise UserError(f"Unknown table format '{fmt}'. Available: {', '.join(FORMATS)}")
    if fmt == "csv":
        return numbers(tables).to_csv(index=False)
    parts = []
    if fmt == "text":
        if df is not None:
            parts.append(summary_text(df))
        for t in tables:
            parts.append(f"== {t.task} ==\n{_text_acc(t)}\n{wrap(details_caption(t))}\n\n"
                         f"{grid(*details_cells(t))}")
        parts += rendered(df, fmt) if df is not None else []
        return "\n".join(parts)
    heading = {"markdown": lambda s: f"## {s}\n", "html": lambda s: f"<h2>{html.escape(s)}</h2>",
               "latex": lambda s: rf"\section*{{{latex_escape(s)}}}"}[fmt]
    para = {"markdown": lambda s: f"{s}\n", "html": lambda s: f"<p>{html.escape(s)}</p>", "latex": lambda s: ""}[fmt]
    if df is not None:
        parts += [heading("summary"), para(summary_caption(df)), summary_document(df, fmt) + "\n"]
    for t in tables:
        parts += [heading(t.task), para(t.caption), accuracy_document(t, fmt) + "\n",
                  para(details_caption(t)), details_document(t, fmt) + "\n"]
    parts += [table + "\n" for table in rendered(df, fmt)] if df is not None else []
    return "\n".join(p for p in parts if p)


def terminal(records: list[Any]) -> str:
    """The summary first, then every task's tables, compact for a terminal: what a run prints when it ends."""
    df = prepared(records)
    return render_all(task_tables(df), "text", df=df)
