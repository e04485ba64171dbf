"""Dependency distance: a setting (one value or a range), its bins, and their labels. Parsed and formatted here only.

Plain Python, no torch and nothing else of seqbench, so records, tables and tests use it cheaply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SETTING = re.compile(r"\s*(-?\d+)\s*(?:-\s*(-?\d+)\s*)?")


@dataclass(frozen=True, order=True)
class Distance:
    """A dependency-distance setting: one value (`lo == hi`, one cell per distance) or an inclusive range trained on
    mixed distances."""

    lo: int
    hi: int

    def __post_init__(self) -> None:
        if isinstance(self.lo, bool) or isinstance(self.hi, bool):
            raise ValueError("distance must be an integer or 'low-high', got a boolean")
        if self.lo < 1:
            raise ValueError(f"distance must be at least 1, got {self.lo}")
        if self.hi < self.lo:
            raise ValueError(f"distance range {self.lo}-{self.hi} is empty: write it low-high")

    @classmethod
    def parse(cls, text: str | int) -> "Distance":
        """`100` -> Distance(100, 100); `"10-100"` -> Distance(10, 100)."""
        if isinstance(text, bool):
            raise ValueError(f"distance must be an integer or 'low-high', got {text!r}")
        if isinstance(text, int):
            return cls(text, text)
        m = _SETTING.fullmatch(str(text))
        if not m:
            raise ValueError(f"distance must be an integer or 'low-high' (e.g. 100 or 10-100), got {text!r}")
        lo = int(m.group(1))
        return cls(lo, int(m.group(2)) if m.group(2) else lo)

    @property
    def label(self) -> str:
        return label(self.lo, self.hi)

    @property
    def single(self) -> bool:
        """One distance (one cell per distance), not a mixed range."""
        return self.lo == self.hi


def label(lo: int, hi: int) -> str:
    """The text of an inclusive span of distances: `16`, or `16-31`."""
    return str(lo) if lo == hi else f"{lo}-{hi}"


def sort_key(text: str) -> tuple:
    """Order distance settings by (lo, hi); a setting that does not parse goes last, by its text."""
    try:
        d = Distance.parse(text)
    except ValueError:
        return (float("inf"), float("inf"), str(text))
    return (d.lo, d.hi, str(text))


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
