"""The reach search's logic (issue 24): doubling, then bisection on log distance, against fake cells whose pass or
fail is a known step function of distance."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqbench.run.search import Bracket, SearchSettings, bracket, step, trace

S = SearchSettings(start=16, growth=2.0, ratio=1.25, cap=1024, floor=1)


def passes_up_to(reach: int):
    return lambda d: d <= reach


def test_doubles_while_passing_then_bisects_to_the_ratio():
    probes, last = trace(passes_up_to(100), S)
    assert [p.distance for p in probes[:4]] == [16, 32, 64, 128]
    assert [p.passed for p in probes[:4]] == [True, True, True, False]
    assert last.next is None and last.why == "narrow"
    assert last.bracket.lo <= 100 < last.bracket.hi and last.bracket.hi / last.bracket.lo <= 1.25
    assert [p.distance for p in probes[4:]] == [91, 108]  # sqrt(64*128)=90.5, sqrt(91*128)=107.9; 108/91 < 1.25


def test_passing_at_the_cap_ends_censored_above():
    probes, last = trace(lambda d: True, SearchSettings(start=16, cap=300))
    assert [p.distance for p in probes] == [16, 32, 64, 128, 256, 300]
    assert last.why == "cap" and last.bracket == Bracket(300, None) and last.bracket.text == "300+"


def test_failing_at_the_start_goes_down_to_the_floor():
    probes, last = trace(lambda d: False, SearchSettings(start=16, floor=2))
    assert [p.distance for p in probes] == [16, 8, 4, 2]
    assert last.why == "floor" and last.bracket.text == "<2"
    probes, last = trace(passes_up_to(5), SearchSettings(start=16, floor=1))
    assert [p.distance for p in probes[:3]] == [16, 8, 4] and last.bracket.lo <= 5 < last.bracket.hi


def test_integer_distances_end_a_bracket_that_cannot_split():
    probes, last = trace(passes_up_to(3), SearchSettings(start=2, ratio=1.01, cap=64))
    assert last.bracket == Bracket(3, 4) and last.why == "integer"


def test_a_pass_above_the_first_failure_does_not_move_the_bracket():
    assert bracket({16: True, 32: False, 64: True}) == Bracket(16, 32)
    assert bracket({16: False, 8: True, 32: True}) == Bracket(8, 16)


def test_resumes_from_the_probes_a_killed_search_left():
    """The next step is a function of the finished probes: a search killed after any probe continues with the same
    probes as one that never stopped, and trains none twice."""
    whole, last = trace(passes_up_to(150), S)
    for k in range(len(whole)):
        done = {p.distance: p.passed for p in whole[:k]}
        resumed = []
        while (now := step(done, S)).next is not None:
            assert now.next not in done  # a finished probe is never asked for again
            done[now.next] = now.next <= 150
            resumed.append(now.next)
        assert [p.distance for p in whole[k:]] == resumed and now == last


@settings(max_examples=200, deadline=None)
@given(reach=st.integers(1, 3000), start=st.integers(1, 64), ratio=st.sampled_from([1.1, 1.25, 1.5, 2.0]),
       growth=st.sampled_from([1.5, 2.0, 4.0]))
def test_the_bracket_holds_the_true_reach_at_the_precision_asked(reach, start, ratio, growth):
    s = SearchSettings(start=start, growth=growth, ratio=ratio, cap=1024, floor=1)
    probes, last = trace(passes_up_to(reach), s)
    assert len({p.distance for p in probes}) == len(probes) and all(1 <= p.distance <= 1024 for p in probes)
    b = last.bracket
    if reach >= 1024:
        assert last.why == "cap" and b.lo == 1024
    else:
        assert b.lo <= reach < b.hi
        assert b.hi / b.lo <= ratio or b.hi == b.lo + 1


def test_far_fewer_cells_than_a_dense_grid_of_the_same_precision():
    """A factor-1.25 grid from 1 to 1024 holds 32 distances; the search needs about a third of that."""
    grid = sorted({round(1.25 ** i) for i in range(int(math.log(1024, 1.25)) + 1)})
    counts = [len(trace(passes_up_to(r), S)[0]) for r in (3, 20, 100, 300, 700)]
    assert len(grid) >= 25 and max(counts) <= 10


def test_settings_are_checked():
    with pytest.raises(ValueError, match="floor <= start <= cap"):
        SearchSettings(start=512, cap=256)
    with pytest.raises(ValueError, match="above 1"):
        SearchSettings(ratio=1.0)
