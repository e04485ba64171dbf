"""Grid reach (`seqbench.publish.reach`) at its edges: a point exactly at the threshold, seeds at the ends of the
measured range, one seed with and without example counts, and the points a table reads. Each expected value is
worked out by hand from the module's definition (its docstring)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from seqbench.publish import reach as R
from seqbench.publish.stats import t_interval, wilson
from seqbench.publish.views import ROW


def test_a_point_exactly_at_the_threshold_is_where_reach_ends():
    """"Stays above": accuracy equal to the midpoint is not above it, even at the last distance."""
    assert R.seed_reach([1, 2], [1.0, 0.5], [0.5, 0.5]) == R.SeedReach(2.0, "")
    assert R.seed_reach([1, 2, 4], [1.0, 0.75, 0.5], [0.5] * 3) == R.SeedReach(4.0, "")
    assert R.seed_reach([1, 2], [1.0, 0.51], [0.5, 0.5]) == R.SeedReach(2.0, "above")
    assert R.seed_reach([4, 8], [0.5, 1.0], [0.5, 0.5]) == R.SeedReach(4.0, "below")


def test_seeds_that_all_end_at_the_longest_distance_give_a_closed_interval():
    per = [R.SeedReach(64.0)] * 3
    r = R.across(per, 4.0, 64.0)
    assert (r.value, r.lo, r.hi, r.lo_open, r.hi_open, r.method) == (64.0, 64.0, 64.0, False, False, "t")
    assert r.text() == "64 [64-64]"


def test_an_interval_past_the_longest_distance_is_open_and_clipped():
    per = [R.SeedReach(v) for v in (56.0, 60.0, 63.0)]
    raw = 2.0 ** t_interval([math.log2(p.value) for p in per]).hi
    assert 64.0 < raw < 128.0  # past the range, by less than a factor 2
    r = R.across(per, 4.0, 64.0)
    assert r.hi == 64.0 and r.hi_open and not r.lo_open and r.text().endswith("-64+]")
    low = R.across([R.SeedReach(v) for v in (4.2, 4.5, 4.1)], 4.0, 64.0)
    assert low.lo == 4.0 and low.lo_open and low.text().startswith("4.3 [<4-")


def test_across_needs_seeds():
    with pytest.raises(ValueError, match="^reach across seeds needs at least one seed$"):
        R.across([], 4.0, 64.0)


def _curve(accs, n, xs=(4.0, 8.0, 16.0), mid=0.5):
    return pd.DataFrame({"x": list(xs), "acc": list(accs), "mid": [mid] * len(xs), "n": list(n)})


def test_one_seed_without_example_counts_has_no_interval():
    for n in ([None, 100, 100], [100, 0, 100]):
        r = R.one_seed(_curve([0.9, 0.7, 0.3], n), 4.0, 16.0)
        assert (r.lo, r.hi, r.seeds, r.method, r.below, r.above) == (r.value, r.value, 1, "none", 0, 0)
        assert r.text() == f"{r.value:.0f}"
    below = R.one_seed(_curve([0.2, 0.1, 0.1], [None] * 3), 4.0, 16.0)
    above = R.one_seed(_curve([0.9, 0.9, 0.9], [None] * 3), 4.0, 16.0)
    assert (below.below, below.above, below.text()) == (1, 0, "<4")
    assert (above.below, above.above, above.text()) == (0, 1, "16+")


def test_one_seed_takes_its_interval_from_the_wilson_bounds_of_each_point():
    accs, n = [0.9, 0.6, 0.3], [40, 40, 40]
    r = R.one_seed(_curve(accs, n), 4.0, 16.0)
    lo = R.seed_reach([4, 8, 16], [wilson(a, 40).lo for a in accs], [0.5] * 3)
    hi = R.seed_reach([4, 8, 16], [wilson(a, 40).hi for a in accs], [0.5] * 3)
    assert (r.value, r.lo, r.hi) == (R.seed_reach([4, 8, 16], accs, [0.5] * 3).value, lo.value, hi.value)
    assert (r.method, r.seeds, r.below, r.above, r.lo_open, r.hi_open) == ("wilson", 1, 0, 0, False, False)
    one = R.one_seed(_curve(accs, [1, 1, 1]), 4.0, 16.0)  # one example a bin is still a count
    assert one.method == "wilson" and one.lo_open and one.hi_open  # with one example the bounds span [0, 1]
    edge = R.one_seed(_curve([0.55, 0.3, 0.2], [40] * 3), 4.0, 16.0)  # the lower bound is below m at 4
    assert edge.lo_open and not edge.hi_open and edge.below == 0 and edge.text().startswith(f"{edge.value:.1f} [<4-")
    top = R.one_seed(_curve([0.9, 0.8, 0.45], [40] * 3), 4.0, 16.0)  # its upper bound stays above m to 16
    assert top.hi_open and not top.lo_open and top.above == 0 and top.text().endswith("-16+]")
    never = R.one_seed(_curve([0.2, 0.1, 0.1], [40] * 3), 4.0, 16.0)
    always = R.one_seed(_curve([0.9, 0.9, 0.9], [40] * 3), 4.0, 16.0)
    assert (never.method, never.below, never.above, never.text()) == ("wilson", 1, 0, "<4")
    assert (always.method, always.below, always.above, always.text()) == ("wilson", 0, 1, "16+")


def _frame(rows):
    base = {k: "x" for k in ROW}
    return pd.DataFrame([{**base, "single": True, "seed": 0, "n": 10, **r} for r in rows])


def test_points_read_ok_cells_with_bins_and_chance_only():
    df = _frame([
        {"status": "ok", "bin.lo": 4, "chance": 0.0, "x": 4.0, "bin.token_acc": 0.9, "bin.n": 10},
        {"status": "ok", "bin.lo": 4, "chance": 0.0, "x": 4.0, "bin.token_acc": 0.7, "bin.n": 30},
        {"status": "diverged", "bin.lo": 8, "chance": 0.0, "x": 8.0, "bin.token_acc": 0.1, "bin.n": 10},
        {"status": "ok", "bin.lo": None, "chance": 0.0, "x": 16.0, "bin.token_acc": 0.1, "bin.n": 10},
        {"status": "ok", "bin.lo": 32, "chance": None, "x": 32.0, "bin.token_acc": 0.1, "bin.n": 10},
    ])
    pts = R.points(df)
    assert pts["x"].tolist() == [4.0]
    assert pts.iloc[0][["acc", "mid", "n"]].tolist() == [pytest.approx(0.8), 0.5, 40]
    empty = R.points(df[df["status"] != "ok"])
    assert empty.empty and list(empty.columns) == ROW + ["seed", "x", "acc", "mid", "n"]


def _cells(arch, accs_by_seed, xs=(4, 8, 16)):
    from _records import make_record

    return [make_record(arch, distance=str(x), bins=[(x, x)], seed=s, acc=a, n=40)
            for s, accs in accs_by_seed.items() for x, a in zip(xs, accs)]


def test_the_reach_table_has_one_row_per_architecture_with_its_seeds_and_censoring():
    from _records import make_record
    from seqbench.publish.views import tidy

    lstm = {0: [0.9, 0.7, 0.3], 1: [0.95, 0.8, 0.2], 2: [0.9, 0.9, 0.9]}  # seed 2 never falls: censored above
    mixed = make_record("lstm", distance="4-16", bins=[(4, 8), (9, 16)], seed=0, acc=[0.1, 0.1])  # left out: the
    # row has one-distance cells
    table = R.reach(tidy(_cells("lstm", lstm) + [mixed] + _cells("gru", {0: [0.9, 0.6, 0.2]})))
    assert table["arch"].tolist() == ["gru", "lstm"]
    mid = (0.125 + 1) / 2  # make_record's chance
    per = [R.seed_reach([4, 8, 16], accs, [mid] * 3) for accs in lstm.values()]
    expected = R.across(per, 4.0, 16.0)
    row = table[table["arch"] == "lstm"].iloc[0]
    assert (row["reach"], row["ci_lo"], row["ci_hi"]) == pytest.approx((expected.value, expected.lo, expected.hi))
    assert (row["seeds"], row["below"], row["above"], row["shortest"], row["longest"]) == (3, 0, 1, 4.0, 16.0)
    assert (row["interval"], row["lo_open"], row["hi_open"], row["text"]) == ("t", expected.lo_open, expected.hi_open,
                                                                            expected.text())
    one = table[table["arch"] == "gru"].iloc[0]
    alone = R.one_seed(_curve([0.9, 0.6, 0.2], [40] * 3, xs=(4.0, 8.0, 16.0), mid=mid), 4.0, 16.0)
    assert (one["reach"], one["ci_lo"], one["ci_hi"]) == pytest.approx((alone.value, alone.lo, alone.hi))
    assert (one["seeds"], one["interval"], one["text"]) == (1, "wilson", alone.text())


def test_each_row_is_read_over_its_own_distances():
    from seqbench.publish.views import tidy

    table = R.reach(tidy(_cells("rnn", {0: [0.9, 0.6, 0.2]}, xs=(4, 8, 16))
                         + [c for c in _cells("gru", {0: [0.9, 0.6, 0.2]}) if c.distance != "4"]))
    assert table["arch"].tolist() == ["gru", "rnn"] and table["shortest"].tolist() == [8.0, 4.0]


def test_the_caption_says_what_each_kind_of_interval_in_the_table_is():
    from seqbench.publish.views import tidy

    head = ("reach = the longest distance at which token accuracy stays above (chance + 1) / 2, interpolated on log "
            "distance, per seed")
    tail = ("x+ = above x at every distance measured (x the longest), <x = not above it at the shortest; ≥ = some "
            "seeds never fell (a lower bound).")
    seeds = "over seeds: geometric mean [95% Student-t interval on log2 reach]"
    one = "one seed: [reach of the 95% Wilson accuracy bounds over each bin's test examples]"
    both = R.reach(tidy(_cells("lstm", {0: [0.9, 0.7, 0.3], 1: [0.9, 0.6, 0.3]}) + _cells("gru", {0: [0.9, 0.6, 0.2]})))
    assert R.caption(both) == "; ".join([head, seeds, one, tail])
    assert R.caption(both[both["arch"] == "gru"]) == "; ".join([head, one, tail])
    assert R.caption(both[both["arch"] == "lstm"]) == "; ".join([head, seeds, tail])
    assert R.caption(both[:0]) == "; ".join([head, tail])
    from _records import make_record

    none = R.reach(tidy([make_record("lstm", status="diverged")]))  # no ok cell: no row, the same columns
    assert none.empty and list(none.columns) == list(both.columns)
