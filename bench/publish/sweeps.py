"""The learning-rate sweep as a view of its records (issue 24, item 4): per (task, architecture, budget) that holds
cells at several rates, each rate's validation score on the cells every rate has (same distance and seed), and the
rate the sweep's rule (`seqbench.run.sweep.choose`) takes. The records alone rebuild it; `sweep.json` beside them
says the same. Test data decides nothing: the scores are validation's (`metrics.val`).
"""

from __future__ import annotations

import math

import pandas as pd

from seqbench.publish.views import ROW, cells, shared, trials
from seqbench.run.sweep import choose, score_name

COLUMNS = ROW + ["lr", "cells", "failed", "val_acc", "best_step", "val_loss", "chosen", "why", "distances"]


def sweep_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (task, arch, budget, lr) of every row that tried several rates; see the module doc."""
    c = cells(df)
    rows = []
    for key, g in c.groupby(ROW, sort=True):
        if g["lr"].nunique() < 2:
            continue
        both = shared(g)
        if both.empty:
            continue
        selects = both["config.eval.select"].dropna().unique() if "config.eval.select" in both else []
        choice = choose(trials(both), score_name(selects[0] if len(selects) == 1 else None))
        where = ", ".join(sorted({str(d) for d in both["distance"]}, key=lambda d: (len(d), d)))
        for s in choice.scores:
            rows.append({**dict(zip(ROW, key)), "lr": s.lr, "cells": s.n, "failed": s.failed,
                         "val_acc": s.val_acc, "best_step": s.best_step, "val_loss": s.val_loss,
                         "chosen": s.lr == choice.lr, "why": choice.why if s.lr == choice.lr else "",
                         "distances": where})
    return pd.DataFrame(rows, columns=COLUMNS)


def _n(v: float, digits: int = 3) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def document_cells(df: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """The sweep for a report: per row and rate, the cells, the mean validation accuracy, the mean step of the best
    validation, the mean validation loss, and the choice."""
    table = sweep_table(df)
    headers = ["task", "arch", "lr", "at", "cells (failed)", "val acc", "best step", "val loss", "chosen"]
    rows = [[r["task"], r["arch"] + ("" if r["budget"] < 0 else f" ({int(r['budget'])})"), f"{r['lr']:g}",
             f"d={r['distances']}", f"{r['cells']} ({r['failed']})", _n(r["val_acc"]), _n(r["best_step"], 0),
             _n(r["val_loss"]), "✓ " + r["why"] if r["chosen"] else ""] for r in table.to_dict("records")]
    return headers, rows


CAPTION = ("Learning rates chosen on validation: per task and architecture, every rate tried on the same cells "
           "(distance, seeds); the rate with the best mean validation score is taken (the cells' `eval.select`: "
           "free-running accuracy, or a text score such as sacreBLEU for translation; `val acc` holds it), then the "
           "earliest best validation, then the lowest validation loss. A choice at the end of the rates tried says "
           "so: the best rate may lie beyond it. Test data decides nothing.")
