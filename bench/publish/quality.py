"""Translation quality and cost, one row per architecture: the table the `multi30k` profile prints.

For every task whose records carry sacreBLEU (`metrics.overall.sacrebleu`): per (task, architecture, budget) the
parameters, sacreBLEU, the lowercased tokenized BLEU of the Multi30k papers, chrF2 (all 0-100, on the whole test
set), sacreBLEU per source-length bin, median training and generation tokens/s, training FLOPs (measured per token,
times the tokens trained on), optimizer steps, training seconds and why training stopped. With several seeds, each
number is the mean over the ok ones (medians for tokens/s). Read from the prepared tidy frame
(`seqbench.publish.tables.prepared`).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from seqbench.publish.grids import document_table, grid, wrap
from seqbench.publish.views import cells, row_label, row_order
from seqbench.records.distance import sort_key
from seqbench.records.schema import TEXT_METRICS

SCORES = tuple((name, TEXT_METRICS[name]) for name in ("sacrebleu", "bleu_tok_lc", "chrf2"))  # (field, header)
COSTS = (("throughput.train_tokens_per_s", "train tok/s", "median"), ("throughput.gen_tokens_per_s", "gen tok/s",
         "median"), ("throughput.train_flops", "train FLOPs", "mean"), ("throughput.train_steps", "steps", "mean"),
         ("times.train_s", "train s", "mean"))


def _num(df: pd.DataFrame, column: str) -> pd.Series:
    return pd.to_numeric(df[column], errors="coerce") if column in df else pd.Series(dtype=float)


def tasks_with_bleu(df: pd.DataFrame) -> list[str]:
    """Tasks whose ok records hold sacreBLEU."""
    if "metrics.overall.sacrebleu" not in df:
        return []
    ok = df[(df["status"] == "ok") & _num(df, "metrics.overall.sacrebleu").notna()]
    return sorted(ok["task"].unique())


def quality_frame(df: pd.DataFrame, task: str) -> pd.DataFrame:
    """Numeric: one row per (arch, budget) of `task`; columns named as the table shows them, bins as `BLEU lo-hi`."""
    t = df[df["task"] == task]
    ok = t[t["status"] == "ok"]
    bins = sorted(ok["bin.label"].dropna().astype(str).unique(), key=sort_key) if "bin.sacrebleu" in ok else []
    rows = []
    keys = row_order(t)
    with_budget = len({k[2] for k in keys}) > 1
    for key in keys:
        mine = ok[(ok["arch"] == key[1]) & (ok["budget"] == key[2])]
        one = cells(mine)
        item: dict[str, Any] = {"arch": row_label(key, with_budget), "seeds": int(one["seed"].nunique()),
                                "params": _num(one, "params").median()}
        for name, header in SCORES:
            item[header] = _num(one, f"metrics.overall.{name}").mean()
        for b in bins:
            item[f"BLEU {b}"] = _num(mine[mine["bin.label"].astype(str) == b], "bin.sacrebleu").mean()
        for column, header, how in COSTS:
            values = _num(one, column)
            item[header] = values.median() if how == "median" else values.mean()
        stopped = one.get("metrics.val.stopped", pd.Series(dtype=object)).dropna().astype(str).unique()
        item["stopped"] = ", ".join(sorted(stopped)) or "max_steps"
        rows.append(item)
    return pd.DataFrame(rows)


def _text(value: Any, header: str) -> str:
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if header == "train FLOPs":
        return f"{value:.2e}"
    if header in ("params", "train tok/s", "gen tok/s", "steps", "train s", "seeds"):
        return f"{value:.0f}"
    return f"{value:.1f}"


def quality_cells(df: pd.DataFrame, task: str) -> tuple[list[str], list[list[str]]]:
    """Headers and display strings of the quality-and-cost table of `task`."""
    q = quality_frame(df, task)
    headers = list(q.columns)
    return headers, [[_text(v, h) for v, h in zip(row, headers)] for row in q.itertuples(index=False)]


def caption(df: pd.DataFrame, task: str) -> str:
    ok = cells(df[(df["task"] == task) & (df["status"] == "ok")])
    decoding = sorted(ok.get("metrics.decoding", pd.Series(dtype=object)).dropna().astype(str).unique())
    sigs = sorted(ok.get("metrics.text_signatures.sacrebleu", pd.Series(dtype=object)).dropna().astype(str).unique())
    n = sorted(_num(ok, "metrics.overall.n").dropna().astype(int).unique())
    return (f"{task}: quality and cost. sacreBLEU, lowercased Moses-tokenized BLEU (multi-bleu style, as the "
            f"Multi30k papers report) and chrF2, 0-100, over the {'/'.join(map(str, n)) or '?'} test sentences, "
            f"decoded {' / '.join(decoding) or 'greedily'}; BLEU lo-hi: sacreBLEU of the sentences whose source has "
            "lo-hi tokens; tokens/s: medians after warm-up (real tokens); train FLOPs: measured per token "
            "(FlopCounterMode) times the tokens trained on; train s: wall-clock seconds of training, validation "
            "included; stopped: why training ended (time: train.max_time)."
            + (f" sacreBLEU signature: {'; '.join(sigs)}." if sigs else ""))


def rendered(df: pd.DataFrame, fmt: str) -> list[str]:
    """The quality-and-cost table of every task with BLEU, as text (`grid`) or a document format, with captions."""
    out = []
    for task in tasks_with_bleu(df):
        headers, rows = quality_cells(df, task)
        if fmt == "text":
            out.append(f"{wrap(caption(df, task))}\n\n{grid(headers, rows)}")
        else:
            out.append(document_table(headers, rows, fmt, caption=caption(df, task)))
    return out
