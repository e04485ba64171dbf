"""The reach search: where one (architecture, task, seed, budget, learning rate) stops passing, found by probing
distances instead of reading a fixed grid.

Start at `start`; while the probe passes, multiply the distance by `growth` (up to `cap`); once one fails, bisect
on log distance between the last pass below it and the first failure, until the bracket is narrow (hi / lo at
most `ratio`) or integer distances cannot split it. A probe that fails at `start` is followed downwards (divided by
`growth`) to the task's shortest distance.

Every probe is an ordinary cell (its record, its content-addressed id): the search holds no state of its own. Its
next step is a pure function of the probes finished so far, so a search killed at any moment resumes where its
records leave it, a finished probe is never trained again, and a later search with other settings reuses every
probe it shares. Pass or fail is read from the validation split only (`Probe` carries nothing else): test accuracy
cannot decide anything here by construction.

The bracket is read as the reach "between lo and hi": lo passed, hi failed, every probe below lo passed. A pass above
the first failure (a noisy seed) is kept in the record of the search but does not move the bracket: reach is where
accuracy first falls, as `seqbench.publish.reach` defines it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Mapping

Why = Literal["narrow", "integer", "cap", "floor"]  # narrow: hi/lo <= ratio; integer: no integer splits it;
# cap: passed at the cap (reach censored above); floor: failed at the shortest distance (censored below)


@dataclass(frozen=True)
class SearchSettings:
    """How one search probes: where it starts, how it grows and narrows, and its limits."""

    start: int = 16  # the first distance probed
    growth: float = 2.0  # factor between probes while they pass (and downwards while they fail)
    ratio: float = 1.25  # stop once the bracket's hi / lo is at most this
    cap: int = 256  # the longest distance probed: passing there ends the search, censored above
    floor: int = 1  # the shortest distance the task allows: failing there ends the search, censored below

    def __post_init__(self) -> None:
        if not 1 <= self.floor <= self.start <= self.cap:
            raise ValueError(f"need floor <= start <= cap, got {self.floor}, {self.start}, {self.cap}")
        if self.growth <= 1 or self.ratio <= 1:
            raise ValueError(f"growth and ratio must be above 1, got {self.growth} and {self.ratio}")


@dataclass(frozen=True)
class Probe:
    """One finished probe as the search sees it: the distance and whether validation passed there. A cell that did
    not finish ok (diverged, failed) counts as a failure at its distance."""

    distance: int
    passed: bool


@dataclass(frozen=True)
class Bracket:
    """Where a search stands: the longest distance passed below the first failure (`lo`, None when none) and that
    failure (`hi`, None when none)."""

    lo: int | None
    hi: int | None

    @property
    def text(self) -> str:
        """`32-45`, `<8` (failed at the shortest probed), `256+` (passed at the longest)."""
        if self.hi is None:
            return f"{self.lo}+" if self.lo is not None else "?"
        return f"<{self.hi}" if self.lo is None else f"{self.lo}-{self.hi}"


@dataclass(frozen=True)
class Step:
    """The search's next move: a distance to probe, or done with the reason."""

    bracket: Bracket
    next: int | None  # the distance to probe next; None when done
    why: Why | None = None  # why it is done


def bracket(probes: Mapping[int, bool]) -> Bracket:
    """The bracket of finished probes (distance -> passed)."""
    failed = [d for d, ok in probes.items() if not ok]
    hi = min(failed) if failed else None
    below = [d for d, ok in probes.items() if ok and (hi is None or d < hi)]
    return Bracket(max(below) if below else None, hi)


def step(probes: Mapping[int, bool], s: SearchSettings) -> Step:
    """What to do after `probes` (distance -> passed): the next distance, or done and why."""
    b = bracket(probes)
    if b.lo is None and b.hi is None:
        return Step(b, s.start)
    if b.hi is None:  # passed everywhere so far: grow, up to the cap
        if b.lo >= s.cap:
            return Step(b, None, "cap")
        return Step(b, min(s.cap, _grow(b.lo, s.growth)))
    if b.lo is None:  # failed everywhere so far: go down, to the floor
        if b.hi <= s.floor:
            return Step(b, None, "floor")
        return Step(b, max(s.floor, _shrink(b.hi, s.growth)))
    if b.hi / b.lo <= s.ratio:
        return Step(b, None, "narrow")
    mid = round(math.sqrt(b.lo * b.hi))  # the geometric midpoint: bisection on log distance
    mid = min(max(mid, b.lo + 1), b.hi - 1)
    if not b.lo < mid < b.hi:
        return Step(b, None, "integer")
    return Step(b, mid)


def _grow(d: int, growth: float) -> int:
    return max(d + 1, round(d * growth))


def _shrink(d: int, growth: float) -> int:
    return min(d - 1, round(d / growth))


def trace(passes, s: SearchSettings, most: int = 64) -> tuple[list[Probe], Step]:
    """The whole search against `passes(distance) -> bool`: its probes in order and its last step. What the driver
    does round by round, in one call (for tests and for costing a search)."""
    probes: dict[int, bool] = {}
    order: list[Probe] = []
    for _ in range(most):
        now = step(probes, s)
        if now.next is None:
            return order, now
        probes[now.next] = bool(passes(now.next))
        order.append(Probe(now.next, probes[now.next]))
    raise RuntimeError(f"the search did not end within {most} probes")
