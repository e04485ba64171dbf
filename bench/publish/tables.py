"""Summary tables, one per task, as views over records: accuracy per distance bin with a 95% CI over seeds.

Rows: one per architecture (and parameter budget when a task has several), then a chance-level row. Columns:
parameters, seeds, one column per distance bin, overall accuracy (and BLEU/chrF when recorded), median training
and generation tokens/s, peak memory (the largest over seeds), and the row's status. A value is
`mean ± half-width` over the ok seeds (Student t, 95%), or `mean (n=1)`; a cell with no ok record shows the
state of its records (`diverged`, `oom`, `failed`); an empty cell was not run. The best value per column is
bold (markdown, LaTeX, HTML) or followed by `*` (CSV).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import pandas as pd

from seqbench.contract.errors import UserError
from seqbench.publish.stats import Stat, median
from seqbench.publish.views import (METRICS, Row, bin_columns, bin_stat, by_task, chances, overall, overall_stat, settings,
                         throughput)

FORMATS = ("markdown", "csv", "latex", "html")
TEXT_METRICS = ("bleu", "chrf")


@dataclass
class TaskTable:
    """One task's table: display strings, and which cells hold the best value of their column."""

    task: str
    metric: str
    text: pd.DataFrame  # str cells; the last row is the chance row
    best: pd.DataFrame  # bool, same shape
    memory: str = ""  # how peak memory was measured (records' throughput.memory_kind)

    @property
    def caption(self) -> str:
        return (f"{self.task}: {self.metric} per distance bin, mean ± 95% CI over seeds (Student t); "
                "best per column marked; chance = chance-level token accuracy"
                + (f"; peak MB = {self.memory}." if self.memory else "."))


def _stat_text(s: Stat, seeds: int) -> str:
    if s.half is None:
        return f"{s.mean:.3f} (n=1)"
    return f"{s.mean:.3f} ± {s.half:.3f}" + (f" (n={s.n})" if s.n != seeds else "")


def _row_cells(row: Row, cols, totals: dict[str, tuple[str, str]], metric: str, with_budget: bool):
    """(header -> text, header -> (value, higher_is_better)) for one row."""
    seeds = len({r["seed"] for r in row.ok})
    missing = row.state() or "n/a"  # what a numeric cell shows when no ok record measured it
    params = median(r.get("params") for r in (row.ok or row.records))
    text: dict[str, str] = {"arch": row.arch}
    if with_budget:
        text["budget"] = "" if row.budget is None else str(row.budget)
    text["params"] = "" if params is None else f"{params:.0f}"
    text["seeds"] = str(seeds)
    value: dict[str, tuple[float, bool]] = {}
    for c in cols:
        s = bin_stat(row, c, metric)
        at = row.at(c.distance)
        text[c.header] = _stat_text(s, seeds) if s else (row.state(at) or "n/a") if at else ""
        if s:
            value[c.header] = (s.mean, True)
    for header, (key, d) in totals.items():
        s = overall_stat(row.at(d), key)
        text[header] = _stat_text(s, seeds) if s else (row.state(row.at(d)) or "n/a") if row.at(d) else ""
        if s:
            value[header] = (s.mean, True)
    for header, key, agg, higher in (("train tok/s", "train_tokens_per_s", median, True),
                                     ("gen tok/s", "gen_tokens_per_s", median, True),
                                     ("peak MB", "peak_memory_mb", lambda v: max(v, default=None), False)):
        v = agg(throughput(row.records, key))
        text[header] = missing if v is None else f"{v:.0f}"
        if v is not None:
            value[header] = (v, higher)
    text["status"] = row.status()
    return text, value


def _chance_cells(rows: list[Row], cols, totals: dict[str, tuple[str, str]], metric: str) -> dict[str, str]:
    cells = {"arch": "chance"}
    if metric == "token_acc":
        cells.update({c.header: f"{c.chance:.3f}" for c in cols if c.chance is not None})
    chance = chances(rows)
    cells.update({h: f"{chance[d]:.3f}" for h, (key, d) in totals.items() if key == "token_acc" and d in chance})
    return cells


def task_table(task: str, rows: list[Row], metric: str = "token_acc") -> TaskTable:
    """The table of one task's rows."""
    cols = bin_columns(rows)
    with_budget = len({r.budget for r in rows}) > 1
    keys = list(METRICS) + [k for k in TEXT_METRICS
                            if any(overall(r).get(k) is not None
                                   for row in rows for r in row.ok)]
    dists = settings(rows)
    totals = {f"overall {k}" + (f" [{d}]" if len(dists) > 1 else ""): (k, d) for k in keys for d in dists}
    texts, values = zip(*(_row_cells(row, cols, totals, metric, with_budget) for row in rows))
    headers = list(texts[0])
    text = pd.DataFrame([*texts, _chance_cells(rows, cols, totals, metric)], columns=headers).fillna("")
    best = pd.DataFrame(False, index=text.index, columns=headers)
    for h in headers:
        scored = [(i, v[h][0] if v[h][1] else -v[h][0]) for i, v in enumerate(values) if h in v]
        if len(scored) >= 2:
            top = max(s for _, s in scored)
            for i, s in scored:
                best.loc[i, h] = s == top
    memory = sorted({r["throughput"]["memory_kind"] for row in rows for r in row.ok
                     if (r.get("throughput") or {}).get("memory_kind")})
    return TaskTable(task, metric, text, best, ", ".join(memory))


def task_tables(records: list[dict[str, Any]], metric: str = "token_acc") -> list[TaskTable]:
    """One table per task, tasks in name order."""
    if metric not in METRICS:
        raise UserError(f"Unknown metric '{metric}'. Available: {', '.join(METRICS)}")
    return [task_table(task, rows, metric) for task, rows in by_task(records).items()]


_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
          "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "±": r"$\pm$"}


def _latex(s: str) -> str:
    return "".join(_LATEX.get(ch, ch) for ch in s)


_MARK = {  # format -> (escape, mark the best)
    "markdown": (lambda s: s.replace("|", r"\|"), lambda s: f"**{s}**"),
    "csv": (lambda s: s, lambda s: f"{s}*"),
    "latex": (_latex, lambda s: rf"\textbf{{{s}}}"),
    "html": (html.escape, lambda s: f"<strong>{s}</strong>"),
}


def shown(table: TaskTable, fmt: str) -> pd.DataFrame:
    """The table's cells and headers escaped for `fmt`, best values marked."""
    if fmt not in FORMATS:
        raise UserError(f"Unknown table format '{fmt}'. Available: {', '.join(FORMATS)}")
    esc, mark = _MARK[fmt]
    df = table.text.map(esc)
    df = df.mask(table.best & (df != ""), df.map(mark))
    return df.rename(columns=esc)


def frame(df: pd.DataFrame, fmt: str, caption: str | None = None) -> str:
    """A frame of display strings, already escaped for `fmt`, as markdown, csv, latex or html."""
    if fmt == "markdown":
        return df.to_markdown(index=False, disable_numparse=True)
    if fmt == "csv":
        return df.to_csv(index=False)
    if fmt == "latex":
        return df.style.hide(axis="index").to_latex(hrules=True, caption=caption, position_float="centering")
    return df.to_html(index=False, escape=False, border=0, classes="seqbench")


def escaped(df: pd.DataFrame, fmt: str) -> pd.DataFrame:
    """Cells and headers of a frame of strings escaped for `fmt`."""
    esc = _MARK[fmt][0]
    return df.astype(str).map(esc).rename(columns=lambda c: esc(str(c)))


def render(table: TaskTable, fmt: str) -> str:
    """One task's table as markdown, csv, latex or html."""
    return frame(shown(table, fmt), fmt, _latex(table.caption) if fmt == "latex" else None)


def render_all(tables: list[TaskTable], fmt: str) -> str:
    """Every task's table in one text: headed sections, or for CSV one table with `task` and `metric` columns."""
    if not tables:
        return ""
    if fmt == "csv":
        frames = [shown(t, fmt).assign(task=t.task, metric=t.metric) for t in tables]
        df = pd.concat(frames, ignore_index=True).fillna("")
        return df[["task", "metric"] + [c for c in df.columns if c not in ("task", "metric")]].to_csv(index=False)
    parts = []
    for t in tables:
        if fmt == "markdown":
            parts.append(f"## {t.task}\n\n{t.caption}\n\n{render(t, fmt)}\n")
        elif fmt == "html":
            parts.append(f"<h2>{html.escape(t.task)}</h2>\n<p>{html.escape(t.caption)}</p>\n{render(t, fmt)}\n")
        else:
            parts.append(render(t, fmt))
    return "\n".join(parts)
