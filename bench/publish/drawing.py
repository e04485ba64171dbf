"""What every figure shares: one colour and marker per architecture, log axes with plain tick labels, captions
under the axes, and saving as PNG or SVG (the same records draw the same file)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter, NullLocator

MARKERS = "osD^vPXph*"  # no "<" or ">": those mean censored below and above in the reach figure


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def style(archs: Sequence[str]) -> dict[str, dict]:
    """One colour and marker per architecture, the same in every figure."""
    colors = matplotlib.colormaps["tab10"].colors
    return {a: {"color": colors[i % 10], "marker": MARKERS[i % len(MARKERS)]} for i, a in enumerate(sorted(archs))}


def save(fig: Figure, out: Path, stem: str, formats: Sequence[str]) -> list[Path]:
    paths = []
    with matplotlib.rc_context({"svg.hashsalt": "seqbench"}):
        for fmt in formats:
            path = out / f"{stem}.{fmt}"
            fig.savefig(path, format=fmt, dpi=110, bbox_inches="tight",
                        metadata={"Date": None} if fmt == "svg" else None)
            paths.append(path)
    return paths


def num(v: float, _pos: object = None) -> str:
    """Tick text: 20, 500, 2k, 1.5M."""
    for scale, unit in ((1e6, "M"), (1e3, "k")):
        if abs(v) >= scale:
            return f"{v / scale:.3g}{unit}"
    return f"{v:.3g}"


def log_axis(ax, which: str = "x", ticks: Sequence[float] | None = None, labels: Sequence[str] | None = None) -> None:
    """A log axis ticked at the given positions (every bin), else at 1, 2, 5 per decade, with plain labels."""
    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    if ticks is not None:
        axis.set_major_locator(FixedLocator(list(ticks)))
        axis.set_major_formatter(FuncFormatter(lambda v, pos: labels[pos] if labels and pos is not None
                                               and pos < len(labels) else num(v)))
        axis.set_minor_locator(NullLocator())
    else:
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(FuncFormatter(num))
    axis.set_minor_formatter(NullFormatter())


def caption(fig: Figure, text: str) -> None:
    fig.text(0.01, -0.01, text, ha="left", va="top", fontsize="small", wrap=True)
