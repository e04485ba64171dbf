"""Validation BLEU against training time, one line per cell, coloured by architecture: which model reaches which
quality after how many seconds, the equal-cost view of the `multi30k` profile.

Read from the records' `metrics.val.history`: every validation that decoded part of the validation set
(`eval.val_generate`) holds its `sacrebleu` and `time_s`, the wall-clock seconds since training started
(validations included, as `train.max_time` counts them). A task none of whose records has such points gets no
figure.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from seqbench.publish.curves import history
from seqbench.publish.drawing import caption
from seqbench.publish.views import cells

METRIC = "sacrebleu"


def points(df: pd.DataFrame, task: str) -> list[tuple[pd.Series, pd.DataFrame]]:
    """(cell row, its validation points with `time_s` and BLEU) for the ok cells of `task` that have some."""
    c = cells(df[(df["task"] == task) & (df["status"] == "ok")])
    if c.empty or "metrics.val.history" not in c:
        return []
    out = []
    for _, r in c.iterrows():
        h = history(r["metrics.val.history"])
        if METRIC in h and "time_s" in h:
            h = h.dropna(subset=[METRIC, "time_s"])
            if len(h):
                out.append((r, h.sort_values("time_s")))
    return out


def bleu_time_figure(task: str, df: pd.DataFrame, styles: dict[str, dict]) -> Figure | None:
    """sacreBLEU on the validation set against minutes of training, one line per cell."""
    runs = points(df, task)
    if not runs:
        return None
    fig = Figure(figsize=(7.5, 4.2))
    ax = fig.subplots()
    seen: dict[str, Line2D] = {}
    for r, h in runs:
        st = styles[r["arch"]]
        (line,) = ax.plot(h["time_s"] / 60, h[METRIC], color=st["color"], marker=st["marker"], markersize=3,
                          linewidth=1.2)
        seen.setdefault(r["arch"], line)
    ax.set_xlabel("training time (minutes, wall clock, validation included)")
    ax.set_ylabel("validation sacreBLEU")
    ax.set_ylim(bottom=0)
    ax.set_xlim(left=0)
    ax.grid(True, alpha=0.3)
    ax.set_title(f"{task}: validation BLEU against training time")
    fig.tight_layout()
    fig.legend(list(seen.values()), list(seen), loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize="small",
               frameon=False)
    caption(fig, "One line per cell (each seed), one point per validation: sacreBLEU of greedy decoding of the "
                 "first eval.val_generate validation sentences; no interval.")
    return fig
