"""Plots per task, as views over records: accuracy vs distance, throughput vs length, accuracy vs throughput.

Figures are drawn on `matplotlib.figure.Figure` objects and saved through the Agg (PNG) and SVG canvases: no
pyplot, no display, no global figure state. Only ok records give points. SVG output carries no date and a fixed
id salt, so re-drawing the same records gives the same file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from seqbench.contract.errors import UserError
from seqbench.publish.stats import median
from seqbench.publish.views import (METRICS, Row, bin_columns, bin_stat, by_task, chances, overall_stat, seq_len, settings,
                         throughput)

FORMATS = ("png", "svg")
KINDS = ("accuracy", "throughput", "tradeoff")  # file stems: <kind>-<task>
SPEEDS = (("train_tokens_per_s", "training tokens/s"), ("gen_tokens_per_s", "generation tokens/s"))


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def _save(fig: Figure, out: Path, stem: str, formats: Sequence[str]) -> list[Path]:
    paths = []
    fig.tight_layout()  # once, for every format (bbox_inches="tight" would lay out again per file)
    with matplotlib.rc_context({"svg.hashsalt": "seqbench"}):
        for fmt in formats:
            path = out / f"{stem}.{fmt}"
            fig.savefig(path, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
            paths.append(path)
    return paths


def _num(v: float, _pos: object = None) -> str:
    """Tick text: 20, 500, 2k, 1.5M (plain text: faster to draw than the default mathtext powers)."""
    for scale, unit in ((1e6, "M"), (1e3, "k")):
        if abs(v) >= scale:
            return f"{v / scale:g}{unit}"
    return f"{v:g}"


def _log(ax, which: str = "x") -> None:
    """Log axis ticked at 1, 2, 5 per decade with plain labels (powers of ten crowd within one decade)."""
    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(_num))
    axis.set_minor_formatter(NullFormatter())


def accuracy_figure(task: str, rows: list[Row], metric: str = "token_acc") -> Figure | None:
    """Accuracy against distance (bin midpoint, log scale): a line and a 95% CI band per row, chance dashed."""
    cols = bin_columns(rows)
    if not cols:
        return None
    with_budget = len({r.budget for r in rows}) > 1
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.add_subplot()
    for row in rows:
        pts = sorted((c.mid, s.mean, s.half or 0.0) for c in cols if (s := bin_stat(row, c, metric)))
        if not pts:
            continue
        xs, ys, hs = zip(*pts)
        (line,) = ax.plot(xs, ys, marker="o", label=row.label(with_budget))
        ax.fill_between(xs, [y - h for y, h in zip(ys, hs)], [y + h for y, h in zip(ys, hs)],
                        color=line.get_color(), alpha=0.2, linewidth=0)
    if metric == "token_acc":
        for i, chance in enumerate(sorted(set(chances(rows).values()))):
            ax.axhline(chance, linestyle="--", color="gray", label="chance" if i == 0 else None)
    _log(ax)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("dependency distance (bin midpoint, tokens)")
    ax.set_ylabel(f"{metric} (mean, 95% CI over seeds)")
    ax.set_title(f"{task}: accuracy vs distance")
    ax.legend(fontsize="small")
    return fig


def throughput_figure(task: str, rows: list[Row]) -> Figure | None:
    """Training and generation tokens/s against mean sequence length (source + target), one line per row."""
    fig = Figure(figsize=(10, 4))
    axes = fig.subplots(1, 2)
    with_budget = len({r.budget for r in rows}) > 1
    drawn = False
    for ax, (key, name) in zip(axes, SPEEDS):
        for row in rows:
            pts = []
            for d in settings([row]):
                ok = [r for r in row.at(d) if r["status"] == "ok"]
                length, speed = median(seq_len(r) for r in ok), median(throughput(ok, key))
                if length is not None and speed is not None:
                    pts.append((length, speed))
            if pts:
                xs, ys = zip(*sorted(pts))
                ax.plot(xs, ys, marker="o", label=row.label(with_budget))
                drawn = True
        _log(ax)
        _log(ax, "y")
        ax.set_xlabel("mean sequence length (source + target, tokens)")
        ax.set_ylabel(f"{name} (median over seeds)")
        ax.set_title(f"{task}: {name}")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
    return fig if drawn else None


def tradeoff_figure(task: str, rows: list[Row], metric: str = "token_acc") -> Figure | None:
    """Overall accuracy (mean over ok cells) against median tokens/s, one point per row, training and generation."""
    fig = Figure(figsize=(10, 4))
    axes = fig.subplots(1, 2)
    with_budget = len({r.budget for r in rows}) > 1
    drawn = False
    for ax, (key, name) in zip(axes, SPEEDS):
        for row in rows:
            acc, speed = overall_stat(row.records, metric), median(throughput(row.records, key))
            if acc is None or speed is None:
                continue
            ax.scatter([speed], [acc.mean], label=row.label(with_budget))
            ax.annotate(row.label(with_budget), (speed, acc.mean), textcoords="offset points", xytext=(4, 4),
                        fontsize="small")
            drawn = True
        _log(ax)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel(f"{name} (median)")
        ax.set_ylabel(f"overall {metric} (mean over ok cells)")
        ax.set_title(f"{task}: accuracy vs {name}")
    return fig if drawn else None


def plot(records: list[dict[str, Any]], out: Path, formats: Sequence[str] = FORMATS,
         metric: str = "token_acc") -> list[Path]:
    """Draw every task's figures into `out` as `<kind>-<task>.<fmt>`; returns the written paths."""
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise UserError(f"Unknown plot format '{','.join(bad)}'. Available: {', '.join(FORMATS)}")
    if metric not in METRICS:
        raise UserError(f"Unknown metric '{metric}'. Available: {', '.join(METRICS)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for task, rows in by_task(records).items():
        for kind, fig in (("accuracy", accuracy_figure(task, rows, metric)),
                          ("throughput", throughput_figure(task, rows)),
                          ("tradeoff", tradeoff_figure(task, rows, metric))):
            if fig is not None:
                paths += _save(fig, out, f"{kind}-{slug(task)}", formats)
    return paths
