"""What the reach search saved (issue 24, item 7): the cells it trained against the cells a fixed grid, decided
before any result, would train to reach the same precision. A view of the records, like every table.

Per row (task, architecture, budget), at the learning rate its brackets use (`seqbench.publish.brackets.one_rate`):
the single-distance cells trained (every probe of every seed) and the span of distances they probed. A grid cannot
adapt to a seed, so it trains every seed at every distance of the span, neighbours a factor `r` apart: `r` is the
widest bracket (hi / lo) any seed of the results ended with, the precision the search reached; and a factor-2 grid
over the same span. Distances are integers: grid points that round to the same distance count once.
"""

from __future__ import annotations

import math

import pandas as pd

from seqbench.publish.brackets import one_rate, probes, seed_brackets
from seqbench.publish.views import ROW

COLUMNS = ROW + ["seeds", "probes", "shortest", "longest", "grid", "grid2"]
CAPTION = ("Per row at the learning rate its brackets use: the cells trained at single distances, the span of "
           "distances probed, and the cells a grid fixed in advance would train for the same precision and for "
           "factor 2 (a cell another row or a learning-rate sweep shares is counted where it is used).")


def grid_points(lo: float, hi: float, factor: float) -> int:
    """Integer distances of a geometric grid from `lo` to `hi` (both in), neighbours `factor` apart."""
    points, d = {round(hi)}, float(lo)
    while d < hi * (1 - 1e-9):
        points.add(round(d))
        d *= factor
    return len(points)


def precision(df: pd.DataFrame) -> float | None:
    """The widest located bracket's hi / lo over every seed of the records; None when no seed is located."""
    b = seed_brackets(df)
    located = b[b["lo"].notna() & b["hi"].notna()]
    return float((located["hi"] / located["lo"]).max()) if len(located) else None


def search_cost(df: pd.DataFrame) -> tuple[pd.DataFrame, float | None]:
    """Per row: seeds, cells trained, the span probed, and the cells of a grid at the same precision (`grid`) and of
    a factor-2 grid (`grid2`); and the precision `r` (None: no located bracket, so no grid count at `r`)."""
    r = precision(df)
    p = one_rate(probes(df), df)
    rows = []
    for key, g in p.groupby(ROW, sort=True):
        seeds, lo, hi = g["seed"].nunique(), float(g["d"].min()), float(g["d"].max())
        rows.append({**dict(zip(ROW, key)), "seeds": seeds, "probes": len(g), "shortest": int(lo),
                     "longest": int(hi), "grid": seeds * grid_points(lo, hi, r) if r else math.nan,
                     "grid2": seeds * grid_points(lo, hi, 2.0)})
    return pd.DataFrame(rows, columns=COLUMNS), r


def summary(df: pd.DataFrame) -> str | None:
    """One sentence with the totals, or None when the records hold no single-distance cell."""
    table, r = search_cost(df)
    if table.empty:
        return None
    at = (f"{int(table['grid'].sum())} for a grid of the same precision (neighbours a factor {r:.3g} apart, the "
          f"widest bracket any seed ended with)" if r else "no grid of the same precision (no seed is located)")
    return (f"{int(table['probes'].sum())} cells trained at single distances for {int(table['seeds'].sum())} seeds "
            f"of {len(table)} rows (task, architecture, budget), against {at} and {int(table['grid2'].sum())} for "
            f"a factor-2 grid, each grid training every seed at every distance from its row's shortest to its "
            f"longest probe")


def document_cells(df: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """The search's cost for a report: per row, the cells trained against the two grids."""
    table, _ = search_cost(df)
    headers = ["task", "arch", "budget", "seeds", "cells trained", "span", "grid, same precision", "factor-2 grid"]
    rows = [[t.task, t.arch, "none" if t.budget < 0 else str(int(t.budget)), str(t.seeds), str(t.probes),
             f"{t.shortest}-{t.longest}", "n/a" if math.isnan(t.grid) else str(int(t.grid)), str(int(t.grid2))]
            for t in table.itertuples()]
    return headers, rows
