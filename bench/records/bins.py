"""Distance bins: the default edges (powers of two across a range) and edges turned into inclusive bins.

Plain Python, no torch, so tables and tests can use it cheaply.
"""

from __future__ import annotations


def default_edges(lo: int, hi: int) -> list[int]:
    """Left edges: one bin for a single distance, else `lo` then every power of two in (lo, hi]."""
    edges = [lo]
    p = 1
    while p <= lo:
        p *= 2
    while p <= hi:
        edges.append(p)
        p *= 2
    return edges


def edges_to_bins(edges: list[int], hi: int) -> list[tuple[int, int]]:
    """Left edges -> inclusive (lo, hi) bins; the last bin closes at `hi`."""
    bins = [(lo, nxt - 1) for lo, nxt in zip(edges, edges[1:])]
    return bins + [(edges[-1], max(hi, edges[-1]))]
