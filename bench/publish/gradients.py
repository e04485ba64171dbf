"""Gradient reach as views over the tidy frame: the gradient norm at the clue's embedding against distance, at
initialisation and after training (`gradients-<task>` figures), and its decay per token as a table.

Decay per token: the slope b of log10(median gradient norm) = a + b x distance, fitted by least squares over every
ok cell and distance bin of an architecture (seeds pooled; x = the bin's middle), with a 95% Student-t interval on
b (n - 2 degrees of freedom, `scipy.stats.linregress`). Shown as the factor 10^b by which the gradient shrinks per
token: 1 is flat, 0.9 loses 10% per token. Bengio et al. 1994 and Pascanu et al. 2013 predict a factor below one
for a vanilla RNN, closer to one with gates, and one for attention. Norms that are not positive (a gradient that
underflowed to zero) cannot be drawn on a log axis or fitted: they are left out and counted.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from seqbench.publish.drawing import caption
from seqbench.publish.stats import LEVEL

KEYS = (("grad_norm_init", "at initialisation"), ("grad_norm_trained", "after training"))
COLUMNS = ["task", "arch", "budget", "when", "cells", "points", "dropped", "distances", "slope", "slope_lo",
           "slope_hi", "factor", "factor_lo", "factor_hi"]
MIN_POINTS = 3  # a slope with an interval needs n - 2 >= 1 degrees of freedom


def points(df: pd.DataFrame) -> pd.DataFrame:
    """One row per ok cell, bin and measure: task, arch, budget, distance, seed, x (the bin's middle), when
    (grad_norm_init or grad_norm_trained), value."""
    have = [k for k, _ in KEYS if f"bin.{k}" in df]
    ok = df[(df["status"] == "ok") & df["bin.lo"].notna()]
    if not have or ok.empty:
        return pd.DataFrame(columns=["task", "arch", "budget", "distance", "seed", "cell_id", "x", "when", "value"])
    ok = ok.assign(x=(pd.to_numeric(ok["bin.lo"]) + pd.to_numeric(ok["bin.hi"])) / 2)
    long = ok.melt(id_vars=["task", "arch", "budget", "distance", "seed", "cell_id", "x"],
                   value_vars=[f"bin.{k}" for k in have], var_name="when", value_name="value")
    long["when"] = long["when"].str.removeprefix("bin.")
    long["value"] = pd.to_numeric(long["value"], errors="coerce")
    return long.dropna(subset=["value"]).reset_index(drop=True)


def decay(df: pd.DataFrame) -> pd.DataFrame:
    """Per task, architecture, budget and measure: the fitted slope of log10 norm per token and its interval,
    and the same as a factor per token (10^slope)."""
    p = points(df)
    rows = []
    for (task, arch, budget, when), g in p.groupby(["task", "arch", "budget", "when"], sort=True):
        good = g[g["value"] > 0]
        row = {"task": task, "arch": arch, "budget": budget, "when": when, "cells": g["cell_id"].nunique(),
               "points": len(good), "dropped": len(g) - len(good), "distances": good["x"].nunique()}
        slope = lo = hi = math.nan
        if len(good) >= MIN_POINTS and good["x"].nunique() >= 2:
            fit = stats.linregress(good["x"].astype(float), np.log10(good["value"].astype(float)))
            half = stats.t.ppf(0.5 + LEVEL / 2, len(good) - 2) * fit.stderr
            slope, lo, hi = fit.slope, fit.slope - half, fit.slope + half
        row.update(slope=slope, slope_lo=lo, slope_hi=hi, factor=10**slope, factor_lo=10**lo, factor_hi=10**hi)
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def decay_cells(df: pd.DataFrame, task: str) -> tuple[list[str], list[list[str]]] | None:
    """The decay table of one task as text: architecture, then per measure the factor per token [95% interval]
    and the cells it is fitted over; None when the task has no gradient reach."""
    d = decay(df)
    d = d[d["task"] == task]
    if d.empty:
        return None
    whens = [(k, name) for k, name in KEYS if (d["when"] == k).any()]
    headers = ["arch"] + [f"factor per token {name}" for _, name in whens] + ["cells"]
    body = []
    for (arch, budget), g in d.groupby(["arch", "budget"], sort=True):
        row = [arch]
        for k, _ in whens:
            r = g[g["when"] == k]
            row.append(_factor(r.iloc[0]) if len(r) else "")
        dropped = int(g["dropped"].sum())
        row.append(f"{int(g['cells'].max())}" + (f" ({dropped} zero norms left out)" if dropped else ""))
        body.append(row)
    return headers, body


def _factor(r: pd.Series) -> str:
    if pd.isna(r["factor"]):
        return f"n/a ({_why_no_fit(r)})"
    if pd.isna(r["factor_lo"]):
        return f"{r['factor']:.3f}"
    return f"{r['factor']:.3f} [{r['factor_lo']:.3f}, {r['factor_hi']:.3f}]"


def _why_no_fit(r: pd.Series) -> str:
    """Why no slope was fitted: too few points with a positive norm, or all at one distance."""
    points, dropped = int(r["points"]), int(r["dropped"])
    if points == 0:
        return f"all {dropped} norms are zero" if dropped else "no norms measured"
    if points < MIN_POINTS:
        zero = f", {dropped} zero" if dropped else ""
        return f"{points} point{'s' * (points != 1)}{zero}: a fit needs {MIN_POINTS}"
    return "one distance bin: a slope needs two"


DECAY_CAPTION = ("{task}: how the gradient at the clue's embedding shrinks per token of distance: 10^b for the "
                 "least-squares slope b of log10(median gradient norm) against distance over every ok cell and "
                 "bin (seeds pooled), with its 95% Student-t interval. 1 is flat; below 1 it decays geometrically.")


def gradient_figure(task: str, df: pd.DataFrame, styles: dict[str, dict]) -> Figure | None:
    """Median gradient norm at the clue against distance on a log axis, one line per architecture (the median over
    seeds per distance bin, each seed's point faint), at initialisation and after training side by side."""
    p = points(df)
    p = p[(p["task"] == task) & (p["value"] > 0)]
    if p.empty:
        return None
    whens = [(k, name) for k, name in KEYS if (p["when"] == k).any()]
    fig = Figure(figsize=(5.0 * len(whens) + 1.6, 3.8))
    axes = fig.subplots(1, len(whens), sharey=True, squeeze=False).ravel()
    for ax, (key, name) in zip(axes, whens):
        mine = p[p["when"] == key]
        for (arch, budget), g in mine.groupby(["arch", "budget"], sort=True):
            st = styles[arch]
            ax.scatter(g["x"], g["value"], color=st["color"], marker=st["marker"], s=10, alpha=0.35, linewidths=0)
            line = 10 ** np.log10(g["value"]).groupby(g["x"]).median().sort_index()  # the median on the log axis
            ax.plot(line.index, line.values, color=st["color"], marker=st["marker"], markersize=4,
                    label=arch if mine["budget"].nunique() == 1 else f"{arch} ({budget})")
        ax.set_yscale("log")
        ax.set_xlabel("dependency distance (tokens)")
        ax.set_title(f"{task}: {name}")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("gradient norm at the clue's embedding")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.tight_layout()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize="small", frameon=False)
    caption(fig, "Each cell's median over its measured test examples of ||d loss(answer) / d embedding(clue)||; "
                 "faint points: single cells (seeds); lines: the median over seeds of the log norm. Log scale: a "
                 "geometric decay is a straight line. No interval is drawn; the decay table gives one.")
    return fig
