"""Training and validation curves from the records' own `metrics.val.history`: loss against training step, one
panel per architecture, one line per cell (every seed), coloured by distance setting.

The history holds the validation loss of each validation (and a training loss where the runner recorded one, as
`train_loss`: drawn dashed). No logger files are read: the records are the source.
"""

from __future__ import annotations

import json
import math

import matplotlib
import pandas as pd
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from seqbench.publish.drawing import caption, log_axis
from seqbench.publish.views import cells, row_label, row_order
from seqbench.records.distance import Distance


def history(text: object) -> pd.DataFrame:
    """A record's history (JSON text in the tidy frame) as a frame with a `step` column, or an empty frame."""
    try:
        points = json.loads(text) if isinstance(text, str) else []
    except ValueError:
        points = []
    df = pd.DataFrame([p for p in points if isinstance(p, dict)])
    return df if "step" in df else pd.DataFrame()


def curves_figure(task: str, df: pd.DataFrame, styles: dict[str, dict]) -> Figure | None:
    """Validation (solid) and training (dashed, where recorded) loss against step, per architecture."""
    c = cells(df[(df["task"] == task) & (df["status"] == "ok")])
    if c.empty or "metrics.val.history" not in c:
        return None
    runs = [(r, h) for r, h in ((r, history(r["metrics.val.history"])) for _, r in c.iterrows())
            if "val_loss" in h and len(h)]
    if not runs:
        return None
    rows = [k for k in row_order(c) if any((r["arch"], r["budget"]) == k[1:] for r, _ in runs)]
    mids = {d: math.sqrt(Distance.parse(d).lo * Distance.parse(d).hi) for d in c["distance"].astype(str).unique()}
    norm = LogNorm(vmin=min(mids.values()), vmax=max(max(mids.values()), min(mids.values()) * 1.01))
    cmap = matplotlib.colormaps["viridis"]
    cols = min(4, len(rows))
    nrows = math.ceil(len(rows) / cols)
    fig = Figure(figsize=(3.2 * cols + 0.8, 2.5 * nrows + 0.6))
    axes = fig.subplots(nrows, cols, sharex=True, sharey=True, squeeze=False).ravel()
    with_budget = len({k[2] for k in rows}) > 1
    train = False
    for ax, key in zip(axes, rows):
        for r, h in runs:
            if (r["arch"], r["budget"]) != key[1:]:
                continue
            color = cmap(norm(mids[str(r["distance"])])) if len(mids) > 1 else styles[key[1]]["color"]
            ax.plot(h["step"], h["val_loss"], color=color, linewidth=1, alpha=0.8)
            if "train_loss" in h:
                train = True
                ax.plot(h["step"], h["train_loss"], color=color, linewidth=1, alpha=0.6, linestyle="--")
        ax.set_title(row_label(key, with_budget), fontsize="medium", color=styles[key[1]]["color"])
        log_axis(ax, "y")
        ax.grid(True, alpha=0.3)
    for ax in axes[len(rows):]:
        ax.set_visible(False)
    for ax in axes[(nrows - 1) * cols:]:
        ax.set_xlabel("training step")
    for ax in axes[::cols]:
        ax.set_ylabel("loss")
    fig.suptitle(f"{task}: validation loss during training")
    fig.tight_layout()
    if len(mids) > 1:
        bar = fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), ax=list(axes), shrink=0.8, pad=0.02)
        order = sorted(mids, key=mids.get)
        bar.set_ticks([mids[d] for d in order], labels=order)
        bar.ax.minorticks_off()
        bar.set_label("distance setting")
    if train:
        handles = [Line2D([], [], color="0.3", label="validation loss"),
                   Line2D([], [], color="0.3", linestyle="--", label="training loss")]
        fig.legend(handles=handles, loc="upper right", ncols=2, fontsize="small", frameon=False)
    caption(fig, "One line per cell (each seed and distance setting), from the records' validation history; "
                 "no interval.")
    return fig
