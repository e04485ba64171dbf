"""Intervals and reach against hand-computed values and against scipy.stats."""

from __future__ import annotations

import dataclasses
import math

import pytest
from scipy import stats

from seqbench.publish.reach import across, seed_reach
from seqbench.publish.stats import accuracy_interval, median, t_interval, wilson

T975_2 = 0.95 * math.sqrt(2 / (4 * 0.975 * 0.025))  # t(0.975, 2) in closed form (df 2): 4.3027


# --- Student t across seeds -------------------------------------------------------------------------------------

def test_t_interval_by_hand_and_against_scipy():
    iv = t_interval([0.5, 0.6, 0.7])
    half = T975_2 * 0.1 / math.sqrt(3)  # sd 0.1 over 3 seeds: 0.248414
    assert (iv.mean, iv.n, iv.method) == (pytest.approx(0.6), 3, "t")
    assert iv.lo == pytest.approx(0.6 - half, abs=1e-12) and iv.hi == pytest.approx(0.6 + half, abs=1e-12)
    assert iv.hi - iv.mean == pytest.approx(0.2484, abs=1e-4)  # the printed-table value
    for values in ([0.1, 0.9], [0.3, 0.31, 0.35, 0.2, 0.5], [12.0, 3.5, 7.25, 1.0, 2.0, 9.0, 4.0]):
        lo, hi = stats.t.interval(0.95, len(values) - 1, loc=stats.tmean(values), scale=stats.sem(values))
        iv = t_interval(values)
        assert abs(iv.lo - lo) < 1e-9 and abs(iv.hi - hi) < 1e-9


def test_t_interval_edges():
    assert t_interval([]) is None and t_interval([None, float("nan")]) is None
    one = t_interval([0.42])
    assert (one.mean, one.lo, one.hi, one.n, one.method) == (0.42, 0.42, 0.42, 1, "none")
    same = t_interval([0.9, 0.9, 0.9])
    assert (same.lo, same.hi, same.method) == (0.9, 0.9, "t")
    clipped = t_interval([0.1, 0.2], bounds=(0.0, 1.0))  # 0.15 ± 12.706 * 0.05: clipped to [0, 1]
    assert (clipped.lo, clipped.hi) == (0.0, pytest.approx(0.15 + 12.7062047 * 0.05, abs=1e-6))


# --- Wilson over examples ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("k, n, lo, hi", [
    # Newcombe (1998), Statistics in Medicine 17:857, table I, method 3 (Wilson score, no continuity correction)
    (81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718),
])
def test_wilson_matches_published_values(k, n, lo, hi):
    iv = wilson(k / n, n)
    assert iv.lo == pytest.approx(lo, abs=1e-4) and iv.hi == pytest.approx(hi, abs=1e-4)
    assert (iv.n, iv.method, iv.mean) == (n, "wilson", k / n)


def test_wilson_by_hand_and_against_scipy():
    z = 1.959963984540054
    centre, half = 0.5, z / (1 + z * z / 10) * math.sqrt(0.25 / 10 + z * z / 400)  # 5 of 10
    iv = wilson(0.5, 10)
    assert iv.lo == pytest.approx(centre - half, abs=1e-12) and iv.hi == pytest.approx(centre + half, abs=1e-12)
    for k, n in ((0, 3), (3, 3), (7, 9), (81, 263), (255, 256), (1, 1000)):
        ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        iv = wilson(k / n, n)
        assert abs(iv.lo - ci.low) < 1e-9 and abs(iv.hi - ci.high) < 1e-9
    with pytest.raises(ValueError):
        wilson(0.5, 0)
    one = stats.binomtest(1, 1).proportion_ci(confidence_level=0.95, method="wilson")  # a single example is enough
    assert abs(wilson(1.0, 1).lo - one.low) < 1e-9 and wilson(1.0, 1).hi == 1.0


def test_accuracy_interval_picks_t_for_seeds_and_wilson_for_one():
    assert accuracy_interval([0.5, 0.6, 0.7], 100).method == "t"
    assert accuracy_interval([0.8], 64) == wilson(0.8, 64)
    assert accuracy_interval([0.8], None).method == "none" and accuracy_interval([0.8], None).n == 1
    near_one, near_zero = accuracy_interval([0.99, 1.0, 0.97], 100), accuracy_interval([0.0, 0.02, 0.05], 100)
    assert near_one.hi == 1.0 and near_one.lo < 0.99  # the t interval reaches past 1: an accuracy is clipped to [0, 1]
    assert near_zero.lo == 0.0 and near_zero.hi > 0.05
    with pytest.raises(dataclasses.FrozenInstanceError):
        near_one.hi = 2.0  # intervals are values
    assert accuracy_interval([], 5) is None
    assert median([3.0, None, 1.0, 2.0]) == 2.0 and median([]) is None


# --- reach ------------------------------------------------------------------------------------------------------

X = [2, 4, 8, 16]


def test_reach_monotone_interpolates_on_log_distance():
    r = seed_reach(X, [1.0, 0.9, 0.3, 0.1], [0.5] * 4)  # 0.4 above at 4, 0.2 below at 8
    assert r.censored == "" and r.value == pytest.approx(2 ** (2 + 0.4 / 0.6))  # 6.35


def test_reach_non_monotone_is_the_first_fall():
    r = seed_reach(X, [1.0, 0.2, 0.9, 1.0], [0.5] * 4)  # falls between 2 and 4, recovers later
    assert r.censored == "" and r.value == pytest.approx(2 ** (1 + 0.5 / 0.8))


def test_reach_never_above_and_always_above_are_censored():
    assert seed_reach(X, [0.1, 0.1, 0.9, 0.1], [0.5] * 4) == type(seed_reach(X, [0.1] * 4, [0.5] * 4))(2.0, "below")
    assert seed_reach(X, [0.5, 0.9, 0.9, 0.9], [0.5] * 4).censored == "below"  # at the midpoint is not above
    assert seed_reach(X, [1.0, 0.9, 0.6, 0.51], [0.5] * 4) == seed_reach([16, 2, 8, 4], [0.51, 1, 0.6, 0.9], [0.5] * 4)
    assert seed_reach(X, [1.0, 0.9, 0.6, 0.51], [0.5] * 4).censored == "above"
    assert seed_reach(X, [1.0, 0.9, 0.6, 0.51], [0.5] * 4).value == 16


def test_reach_threshold_is_per_point_and_order_free():
    # chance 0.125 -> midpoint 0.5625: 0.6 is above, 0.55 is not
    r = seed_reach([8, 2, 4], [0.55, 1.0, 0.6], [0.5625] * 3)
    assert r.value == pytest.approx(2 ** (2 + 0.0375 / 0.05))
    assert seed_reach([], [], []) is None


def test_reach_skips_points_it_cannot_place_and_a_point_at_the_midpoint_is_the_fall():
    """Distances at or below 0 and non-finite accuracies are left out (no log of 0, no NaN in the interpolation);
    a point exactly at its midpoint is where the curve falls."""
    mids = [0.5] * 3
    assert seed_reach([0, 4, 8], [0.0, 1.0, 0.0], mids).value == pytest.approx(math.sqrt(4 * 8))  # not "below 0"
    assert seed_reach([1, 2, 4], [0.0, 1.0, 0.0], mids) == seed_reach([1], [0.0], [0.5])  # 1 is a distance
    assert seed_reach([1, 2, 4], [0.0, 1.0, 0.0], mids).censored == "below"
    assert seed_reach([2, 4, 8], [1.0, math.nan, 0.0], mids).value == pytest.approx(4.0)  # 2 to 8, halfway in log
    assert seed_reach([2, 4, 8], [1.0, 0.5, 0.0], mids).value == pytest.approx(4.0)  # at the midpoint at 4


def test_reach_values_are_frozen_and_closed_unless_said():
    from seqbench.publish.reach import Reach, SeedReach

    r = Reach(8.0, 8.0, 8.0, 1, 0, 0, 2.0, 32.0, "none")
    assert r.lo_open is False and r.hi_open is False
    for obj, field in ((r, "value"), (SeedReach(3.0), "value")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, field, 1.0)


def test_reach_across_seeds_is_geometric_with_t_on_log2():
    from seqbench.publish.reach import SeedReach

    r = across([SeedReach(4.0), SeedReach(8.0), SeedReach(16.0)], 2.0, 256.0)
    assert r.value == pytest.approx(8.0) and r.method == "t"
    half = T975_2 * 1.0 / math.sqrt(3)  # log2 reach 2, 3, 4: sd 1
    assert r.hi == pytest.approx(2 ** (3 + half)) and not r.hi_open  # 44.8
    assert 2 ** (3 - half) < 2.0 and r.lo == 2.0 and r.lo_open  # 1.43: below the shortest distance measured
    assert r.text() == "8 [<2-45]"
    inside = across([SeedReach(4.0), SeedReach(8.0), SeedReach(16.0)], 1.0, 256.0)
    assert inside.lo == pytest.approx(2 ** (3 - half)) and inside.text() == "8 [1.4-45]"
    censored = across([SeedReach(256.0, "above"), SeedReach(256.0, "above"), SeedReach(64.0)], 2.0, 256.0)
    assert censored.value == pytest.approx(2 ** (22 / 3)) and censored.hi == 256.0 and censored.hi_open
    assert censored.text().startswith("≥161 [") and censored.text().endswith("-256+]")
    assert across([SeedReach(256.0, "above")] * 3, 2.0, 256.0).text() == "256+"
    assert across([SeedReach(2.0, "below")] * 2, 2.0, 256.0).text() == "<2"
    wide = across([SeedReach(2.5), SeedReach(200.0)], 2.0, 256.0)  # the t interval reaches past both ends
    assert wide.lo == 2.0 and wide.hi == 256.0 and wide.lo_open and wide.hi_open
    assert wide.text().endswith("[<2-256+]")


def test_reach_text_marks_which_way_seeds_were_censored():
    from seqbench.publish.reach import SeedReach

    low = across([SeedReach(2.0, "below"), SeedReach(8.0), SeedReach(16.0)], 2.0, 256.0)
    assert low.below == 1 and low.above == 0 and low.text().startswith("≤") and low.lo_open  # an upper bound
    mixed = across([SeedReach(2.0, "below"), SeedReach(256.0, "above"), SeedReach(16.0)], 2.0, 256.0)
    assert mixed.text().startswith("~") and mixed.lo_open and mixed.hi_open  # censored both ways: neither bound
    one = across([SeedReach(8.0)], 2.0, 256.0)
    assert (one.method, one.text(), one.lo_open, one.hi_open) == ("none", "8", False, False)  # no interval to show
    assert across([SeedReach(12.4)], 2.0, 256.0).text() == "12"  # two significant figures below 10, whole above
    assert across([SeedReach(3.25)], 2.0, 256.0).text() == "3.2"


# --- near-binary outcomes and reach from brackets (issue 24) ----------------------------------------------------

def test_pass_count_is_scipys_exact_binomial_interval():
    from seqbench.publish.stats import pass_count

    for k, n in ((0, 5), (3, 5), (5, 5), (7, 20)):
        iv = pass_count(k, n)
        ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
        assert (iv.mean, iv.lo, iv.hi, iv.n, iv.method) == (k / n, ci.low, ci.high, n, "exact")
    assert pass_count(5, 5).hi == 1.0 and pass_count(0, 5).lo == 0.0
    assert pass_count(3, 5).lo == pytest.approx(0.1466328, abs=1e-6)  # Clopper-Pearson, 3 of 5
    with pytest.raises(ValueError):
        pass_count(6, 5)


def test_bootstrap_mean_is_reproducible_bounded_and_holds_the_mean():
    from seqbench.publish.stats import bootstrap_mean

    bimodal = [0.059, 0.922, 0.047]  # the GRU cloze 64 seeds of the issue
    a, b = bootstrap_mean(bimodal), bootstrap_mean(bimodal)
    assert a == b and a.method == "bootstrap" and 0.0 <= a.lo < a.mean < a.hi <= 1.0
    assert a.lo == pytest.approx(0.047) and a.hi == pytest.approx(0.922)  # resampling 3 seeds: the extremes
    t = t_interval(bimodal)
    assert t.lo < 0 and t.hi > 1  # what Student t says of the same seeds: nothing
    assert bootstrap_mean([0.5]).method == "none" and bootstrap_mean([]) is None


def test_order_statistic_ranks_have_the_coverage_they_claim():
    from seqbench.publish.stats import order_statistic_ranks

    for n in range(1, 30):
        k, coverage = order_statistic_ranks(n)
        exact = 1 - 2 * sum(math.comb(n, j) for j in range(k)) / 2 ** n  # P(x_(k) <= median <= x_(n+1-k))
        assert coverage == pytest.approx(exact)
        if n >= 6:
            assert coverage >= 0.95 and 1 - 2 * sum(math.comb(n, j) for j in range(k + 1)) / 2 ** n < 0.95
    assert order_statistic_ranks(5) == (1, 0.9375)  # 5 seeds: the range, which covers 93.75%


def test_order_statistic_ranks_are_the_widest_k_at_every_level():
    """Brute force over every k up to the median's rank, at levels down to 0.01 (where k reaches the median's own
    rank for an even n: coverage C(n, n/2) / 2^n, 0.14 at n = 30), and at a level equal to a coverage (5 seeds,
    k = 2: 1 - 2 * 6/32 = 0.625), which that k still meets."""
    from seqbench.publish.stats import order_statistic_ranks

    def coverage(n: int, k: int) -> float:
        return 1 - 2 * sum(math.comb(n, j) for j in range(k)) / 2 ** n

    for n in range(1, 31):
        for level in (0.01, 0.3, 0.5, 0.8, 0.95, 0.99):
            meets = [k for k in range(1, (n + 1) // 2 + 1) if coverage(n, k) >= level - 1e-12]
            k = max(meets) if meets else 1
            assert order_statistic_ranks(n, level) == (k, pytest.approx(coverage(n, k))), (n, level)
    assert order_statistic_ranks(5, 0.625) == (2, 0.625)


def test_interval_errors_name_what_is_wrong():
    from seqbench.publish.stats import ReachInterval, pass_count, reach_interval

    with pytest.raises(ValueError, match=r"^wilson needs n > 0 examples, got 0$"):
        wilson(0.5, 0)
    for k, n in ((0, 0), (6, 5), (-1, 5)):
        with pytest.raises(ValueError, match=rf"^pass_count needs 0 <= k <= n and n > 0, got k={k}, n={n}$"):
            pass_count(k, n)
    one = pass_count(1, 1)  # one seed is a count too
    assert (one.mean, one.lo, one.hi, one.n) == (1.0, pytest.approx(0.025), 1.0, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        reach_interval([(8, 16)]).median = 3.0  # type: ignore[misc]
    assert dataclasses.is_dataclass(ReachInterval)


def test_bootstrap_mean_is_scipys_with_its_stated_settings():
    """The defaults the docstring states (seed 0, 9999 resamples, percentile) against scipy called directly; two
    distinct seeds get an interval, equal seeds a zero-width one."""
    import numpy as np

    from seqbench.publish.stats import bootstrap_mean

    xs = [0.03, 0.11, 0.17, 0.29, 0.31, 0.47, 0.52, 0.68, 0.71, 0.86, 0.93, 0.97]  # 12 seeds: another seed or
    # resample count moves the percentiles (with 5 values their resampled means sit on a coarse grid that hid it)
    want = stats.bootstrap((np.array(xs),), np.mean, confidence_level=0.95, method="percentile", n_resamples=9999,
                           rng=np.random.default_rng(0)).confidence_interval
    got = bootstrap_mean(xs)
    assert (got.lo, got.hi, got.n, got.method) == (want.low, want.high, 12, "bootstrap")
    two = bootstrap_mean([0.2, 0.8])
    assert two.lo < two.mean < two.hi and two.method == "bootstrap"
    assert bootstrap_mean([0.5, 0.5, 0.5]) == stats_interval(0.5, 0.5, 0.5, 3, "bootstrap")


def stats_interval(*fields):
    from seqbench.publish.stats import Interval

    return Interval(*fields)


def test_reach_interval_from_brackets_with_censored_seeds():
    from seqbench.publish.stats import reach_interval

    r = reach_interval([(32, 45), (45, 64), (32, 40), (40, 45), (16, 23)])
    assert r.median == pytest.approx(math.sqrt(32 * 45)) and (r.lo, r.hi) == (16, 64) and r.n == 5
    assert not r.lo_open and not r.hi_open and r.coverage == 0.9375
    capped = reach_interval([(256, None)] * 3 + [(100, 128), (128, 160)])
    assert capped.hi_open and capped.median == 256 and capped.lo == 100
    below = reach_interval([(None, 2), (2, 3), (3, 4)])
    assert below.lo_open and below.lo == 0.0 and below.median == pytest.approx(math.sqrt(6))
    assert reach_interval([]) is None
