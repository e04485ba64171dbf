"""What the reach search saved against a fixed grid (issue 24, item 7), read from records with known probes."""

from __future__ import annotations

import math

import pytest

from _records import make_record
from seqbench.publish import search_cost as S
from seqbench.publish.views import tidy


def probe(arch: str, seed: int, d: int, passed: bool, task: str = "copy"):
    """A single-distance cell whose validation passes (0.9) or fails (0.2) against chance 0.125."""
    return make_record(arch, task, distance=d, bins=[(d, d)], seed=seed, val_gen_acc=0.9 if passed else 0.2,
                       chance=0.125)


@pytest.mark.parametrize("lo, hi, factor, n", [(16, 1024, 2.0, 7), (8, 32, 4.0, 2), (2, 32, 4.0, 3), (1, 32, 4.0, 4),
                                               (16, 20, 1.25, 2), (16, 16, 2.0, 1), (1, 4, 1.25, 4)])
def test_grid_points_are_the_distinct_integer_distances_of_a_geometric_grid(lo, hi, factor, n):
    assert S.grid_points(lo, hi, factor) == n  # (1, 4, 1.25): 1, 1.25, 1.56, 1.95, 2.44, 3.05, 3.81 -> 1, 2, 3, 4


def test_the_cost_counts_every_probe_against_grids_over_each_rows_span():
    recs = []
    for seed, steps in ((0, [(16, True), (32, True), (64, False), (45, True), (54, False)]),  # 45-54: 1.2
                        (1, [(16, True), (32, False), (23, True), (27, False)])):  # 23-27: 1.17
        recs += [probe("lstm", seed, d, ok) for d, ok in steps]
    recs += [probe("gru", s, d, True) for s in (0, 1, 2) for d in (16, 32)]  # censored above at 32
    table, r = S.search_cost(tidy(recs))
    assert r == pytest.approx(54 / 45)
    rows = {a: t for a, t in zip(table["arch"], table.to_dict("records"))}
    assert (rows["lstm"]["seeds"], rows["lstm"]["probes"], rows["lstm"]["shortest"], rows["lstm"]["longest"]) == \
        (2, 9, 16, 64)
    assert rows["lstm"]["grid"] == 2 * S.grid_points(16, 64, 54 / 45) and rows["lstm"]["grid2"] == 2 * 3
    assert (rows["gru"]["probes"], rows["gru"]["grid"], rows["gru"]["grid2"]) == (6, 3 * S.grid_points(16, 32, 1.2),
                                                                                6)
    text = S.summary(tidy(recs))
    assert text.startswith("15 cells trained at single distances for 5 seeds of 2 rows")
    assert f"against {int(table['grid'].sum())} for a grid of the same precision (neighbours a factor 1.2 apart" in text
    assert f"and {int(table['grid2'].sum())} for a factor-2 grid" in text


def test_without_a_located_seed_there_is_no_grid_at_the_same_precision_and_without_probes_no_cost():
    censored = [probe("gpt", s, d, True) for s in (0, 1) for d in (16, 32)]
    table, r = S.search_cost(tidy(censored))
    assert r is None and math.isnan(table["grid"].iloc[0]) and table["grid2"].iloc[0] == 4
    assert "no grid of the same precision (no seed is located)" in S.summary(tidy(censored))
    headers, rows = S.document_cells(tidy(censored))
    assert headers[-2:] == ["grid, same precision", "factor-2 grid"] and rows[0][-2:] == ["n/a", "4"]
    ranged = [make_record("lstm", distance="4-16", bins=[(4, 9), (10, 16)])]  # a grid cell over a range: no probe
    assert S.summary(tidy(ranged)) is None and S.search_cost(tidy(ranged))[0].empty
