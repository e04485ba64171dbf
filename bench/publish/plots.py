"""Figures as views over the tidy frame: reach per architecture and task (`reach.png`), accuracy against distance
per task in small multiples (`accuracy-<task>`), gradient reach against distance where the records hold it
(`gradients-<task>`, see `gradients.py`), validation curves (`curves-<task>`, see `curves.py`), and throughput
against sequence length where an architecture ran at several lengths (`throughput-<task>`).

Drawn on `matplotlib.figure.Figure` objects and saved through the Agg (PNG) and SVG canvases: no pyplot, no
display, no global state. Each architecture keeps one colour and marker in every figure; legends sit outside the
axes; every figure says in its caption what its bands or bars are (and draws none where there is no interval).
SVG output carries no date and a fixed id salt, so the same records draw the same file.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import pandas as pd
from matplotlib.figure import Figure

from seqbench.contract.errors import UserError
from seqbench.publish import reach as reach_
from seqbench.publish.bleu_time import bleu_time_figure
from seqbench.publish.curves import curves_figure
from seqbench.publish.drawing import caption, log_axis, num, save, slug, style
from seqbench.publish.gradients import gradient_figure
from seqbench.publish import bleu_length
from seqbench.publish.tables import TaskTable, summary_numbers, task_tables, text_metric_label
from seqbench.publish.views import BIN_METRICS, cells

FORMATS = ("png", "svg")
KINDS = ("accuracy", "gradients", "curves", "throughput", "bleu-time")  # per-task stems: <kind>-<task>; reach.<fmt> for all
SPEEDS = (("throughput.train_tokens_per_s", "training tokens/s"), ("throughput.gen_tokens_per_s",
                                                                   "generation tokens/s"))


def _grid(n: int) -> tuple[int, int]:
    cols = min(4, n)
    return math.ceil(n / cols), cols


def accuracy_figure(t: TaskTable, styles: dict[str, dict]) -> Figure | None:
    """Accuracy against distance, one panel per architecture (the others faint behind it), ticks at every bin,
    the 95% interval as a band where there is one, chance and the reach threshold as lines."""
    acc = t.accuracy.dropna(subset=["mean"])
    if acc.empty:
        return None
    bins = acc.drop_duplicates("x").sort_values("x")
    ticks, labels = list(bins["x"]), list(bins["label"].astype(str))
    rows, cols = _grid(len(t.rows))
    fig = Figure(figsize=(3.2 * cols, 2.6 * rows + 0.6))
    axes = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False).ravel()
    series = {k: g.sort_values("x") for k, g in acc.groupby(["arch", "budget", "distance"], sort=False)}
    grey = False  # whether any panel shows other architectures (not with a single one): the caption says so only then
    for ax, key, label in zip(axes, t.rows, t.labels):
        st = styles[key[1]]
        for other, g in series.items():
            if other[:2] != key[1:]:
                ax.plot(g["x"], g["mean"], color="0.82", linewidth=0.8, zorder=1)
                grey = True
        mine = acc[(acc["arch"] == key[1]) & (acc["budget"] == key[2])]
        for single, g in mine.groupby(mine["distance"].map(lambda d: "-" not in d)):
            parts = [g] if single else [p for _, p in g.groupby("distance")]
            for p in parts:
                p = p.sort_values("x")
                ax.plot(p["x"], p["mean"], color=st["color"], marker=st["marker"], markersize=4,
                        linestyle="-" if single else "--", zorder=3)
                band = p[p["interval"] != "none"]
                if len(band):
                    ax.fill_between(band["x"], band["ci_lo"], band["ci_hi"], color=st["color"], alpha=0.2,
                                    linewidth=0, zorder=2)
        chance = mine["chance"].dropna()
        if len(chance):
            c = float(chance.iloc[0])
            ax.axhline(c, linestyle="--", color="0.4", linewidth=0.8)
            ax.axhline((c + 1) / 2, linestyle=":", color="0.4", linewidth=0.8)
        ax.set_title(label, fontsize="medium", color=st["color"])
        log_axis(ax, "x", ticks, labels)
        ax.tick_params(axis="x", labelrotation=45, labelsize="small")
        ax.set_ylim(*((-3, 105) if t.text else (-0.03, 1.05)))
        ax.grid(True, alpha=0.3)
    for ax in axes[len(t.rows):]:
        ax.set_visible(False)
    where = "distance (translation: source length)" if t.text else "dependency distance"
    name = text_metric_label(t.metric) if t.text else t.metric
    for ax in axes[(rows - 1) * cols:]:
        ax.set_xlabel(where)
    for ax in axes[::cols]:
        ax.set_ylabel(name)
    fig.suptitle(f"{t.task}: {name} against {where}")
    fig.tight_layout()
    band = t.intervals if (acc["interval"] != "none").any() else "no interval (nothing to draw one from)"
    others = "; grey: the other architectures" if grey else ""
    lines = [] if t.text else ["dashed: chance", "dotted: (chance + 1) / 2, the reach threshold"]
    if (~acc["distance"].map(lambda d: "-" not in d)).any():
        lines.append("dashed line with markers: a cell trained on a mixed range, by test bin")
    caption(fig, f"One panel per architecture{others}. Band: {band}."
                 + (f" {'; '.join(lines)[0].upper()}{'; '.join(lines)[1:]}." if lines else ""))
    return fig


def _measured(df: pd.DataFrame, task: str, kind: str) -> tuple[float, float] | None:
    """The shortest and longest distance a task's summary number was read over: the single distances probed
    (brackets), the source-length buckets' midpoints (half-BLEU), or the test bins (test-accuracy reach)."""
    mine = df[df["task"] == task]
    if kind == "half-bleu":
        mids = bleu_length.buckets(mine)["mid"]
    elif kind == "test":
        r = reach_.reach(mine)
        mids = pd.concat([r["shortest"], r["longest"]]) if len(r) else pd.Series(dtype=float)
    else:
        mids = pd.to_numeric(cells(mine)["distance"], errors="coerce")
    mids = pd.to_numeric(mids, errors="coerce").dropna()
    mids = mids[mids > 0]
    return (float(mids.min()), float(mids.max())) if len(mids) else None


PANEL = {"brackets": "reach (distance)", "test": "reach (distance), from test accuracy",
         "half-bleu": "½BLEU length (source tokens)"}
CAPTIONS = {
    "brackets": "Reach (the summary's): per seed the bracket a search decided on validation free-running accuracy, "
                "point: the median of the seeds' bracket midpoints, bar: the order-statistic interval from the "
                "brackets' ends (an open end runs to the panel's edge); '*': rests on a failure still improving at "
                "its step budget.",
    "half-bleu": "½BLEU length (a translation task's summary number): the source length at which sacreBLEU falls to "
                 "half its value on the shortest bucket, median over seeds, bar: order-statistic interval; no reach "
                 "from positional token accuracy.",
    "test": "Records from before validation decided anything: reach interpolated on test token accuracy, point: "
            "geometric mean over seeds, bar: 95% Student-t interval on log reach.",
}


def reach_figure(df: pd.DataFrame, styles: dict[str, dict]) -> Figure | None:
    """The summary's number per architecture, one panel per task (`tables.summary_numbers`): reach from validation
    brackets, a translation task's half-BLEU length, or, for old records, reach from test accuracy; the interval as
    a bar, '>' where every seed was censored above, '<' where every seed failed at the shortest, the distances not
    measured shaded."""
    numbers = summary_numbers(df)
    if numbers.empty:
        return None
    tasks = sorted(numbers["task"].unique())
    archs = sorted(numbers["arch"].unique(), reverse=True)
    fig = Figure(figsize=(3.4 * len(tasks) + 0.4, 0.42 * len(archs) + 1.9))
    axes = fig.subplots(1, len(tasks), sharey=True, squeeze=False).ravel()
    for ax, task in zip(axes, tasks):
        g = numbers[numbers["task"] == task]
        kind = str(g["kind"].iloc[0])
        span = _measured(df, task, kind) or (float(g["reach"].min()), float(g["reach"].max()))
        left, right = span[0] / 1.6, span[1] * 1.6
        for row in g.itertuples():
            y = archs.index(row.arch)
            st = styles[row.arch]
            text = str(row.text)
            above, below = text.rstrip("*").endswith("+"), text.startswith("<")
            if row.interval != "none" and not (above or below) and pd.notna(row.ci_lo) and pd.notna(row.ci_hi):
                lo = left if row.lo_open is True else max(float(row.ci_lo), left)
                hi = right if row.hi_open is True else min(float(row.ci_hi), right)
                ax.plot([lo, hi], [y, y], color=st["color"], linewidth=2, alpha=0.6)
            marker = ">" if above else "<" if below else st["marker"]
            x = min(max(float(row.reach), left), right)
            ax.plot([x], [y], marker=marker, color=st["color"], markersize=8, linestyle="none")
            if "*" in text:
                ax.annotate("*", (x, y), textcoords="offset points", xytext=(6, 2), color=st["color"])
        ax.axvspan(left, span[0], color="0.9", zorder=0)
        ax.axvspan(span[1], right, color="0.9", zorder=0)
        ax.set_xlim(left, right)
        log_axis(ax, "x")
        ax.set_title(task)
        ax.set_xlabel(f"{PANEL.get(kind, kind)}, measured {num(span[0])} to {num(span[1])}", fontsize="small")
        ax.grid(True, axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(archs)), archs)
    fig.suptitle("The summary's number per architecture and task, with its interval")
    fig.tight_layout()
    kinds = [k for k in CAPTIONS if k in set(numbers["kind"])]
    caption(fig, " ".join(CAPTIONS[k] for k in kinds) + " '>': censored above on every seed (at least the "
                 "longest measured); '<': below it already at the shortest. Shaded: not measured.")
    return fig


def throughput_figure(task: str, df: pd.DataFrame, styles: dict[str, dict]) -> Figure | None:
    """Tokens/s against mean sequence length (source + target) for the architectures that ran at two or more
    lengths: one point per distance setting (median over seeds); none when no architecture did."""
    c = cells(df[(df["task"] == task) & (df["status"] == "ok")]).copy()
    if c.empty or "throughput.mean_src_len" not in c:
        return None
    c["length"] = pd.to_numeric(c["throughput.mean_src_len"], errors="coerce") + pd.to_numeric(
        c["throughput.mean_tgt_len"], errors="coerce")
    pts = c.groupby(["arch", "budget", "distance"]).agg(
        length=("length", "median"), **{k.split(".")[1]: (k, "median") for k, _ in SPEEDS if k in c}).reset_index()
    pts = pts.dropna(subset=["length"])
    several = pts.groupby(["arch", "budget"])["length"].transform("nunique") >= 2
    pts = pts[several]
    if pts.empty:
        return None
    fig = Figure(figsize=(10, 3.8))
    axes = fig.subplots(1, 2)
    for ax, (key, name) in zip(axes, SPEEDS):
        col = key.split(".")[1]
        for (arch, budget), g in pts.groupby(["arch", "budget"]):
            g = g.sort_values("length")
            st = styles[arch]
            ax.plot(g["length"], g[col], marker=st["marker"], color=st["color"],
                    label=arch if budget < 0 or pts["budget"].nunique() == 1 else f"{arch} ({budget})")
        log_axis(ax, "x")
        log_axis(ax, "y")
        ax.set_xlabel("mean sequence length (source + target, tokens)")
        ax.set_ylabel(f"{name}")
        ax.set_title(f"{task}: {name}")
        ax.grid(True, alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.tight_layout()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize="small", frameon=False)
    caption(fig, "One point per distance setting: the median over seeds of each cell's median tokens/s (after "
                 "warm-up). No interval is drawn.")
    return fig


def figures(df: pd.DataFrame, metric: str | None = None) -> list[tuple[str, Figure]]:
    """(file stem, figure) for every figure the prepared tidy frame gives."""
    styles = style(df["arch"].unique())
    out: list[tuple[str, Figure]] = []
    fig = reach_figure(df, styles)
    if fig is not None:
        out.append(("reach", fig))
    for t in task_tables(df, metric):
        for kind, fig in (("accuracy", accuracy_figure(t, styles)),
                          ("gradients", gradient_figure(t.task, df, styles)),
                          ("curves", curves_figure(t.task, df, styles)),
                          ("throughput", throughput_figure(t.task, df, styles)),
                          ("bleu-time", bleu_time_figure(t.task, df, styles))):
            if fig is not None:
                out.append((f"{kind}-{slug(t.task)}", fig))
    return out


def check_formats(formats: Sequence[str], metric: str | None) -> None:
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise UserError(f"Unknown plot format '{','.join(bad)}'. Available: {', '.join(FORMATS)}")
    if metric is not None and metric not in BIN_METRICS:
        raise UserError(f"Unknown metric '{metric}'. Available: {', '.join(BIN_METRICS)}")


def plot(df: pd.DataFrame, out: Path, formats: Sequence[str] = FORMATS, metric: str | None = None) -> list[Path]:
    """Draw every figure into the folder `out` as `<stem>.<fmt>`; returns the written paths."""
    check_formats(formats, metric)
    paths: list[Path] = []
    for stem, fig in figures(df, metric):
        paths += save(fig, Path(out), stem, formats)
    return paths
