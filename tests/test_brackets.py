"""Reach from brackets decided on validation (issue 24): the publishing view over probe records."""

from __future__ import annotations

import math

import pytest

from _records import edited, make_record
from seqbench.publish.brackets import caption, ordering, reach_brackets, seed_brackets
from seqbench.publish.tables import prepared


def probe(arch: str, seed: int, d: int, val: float, *, test: float = 0.5, reason: str = "solved",
          improving: bool = False, status: str = "ok"):
    """A record at distance `d` whose best validation free-running accuracy is `val` (chance 0.2: passes above
    0.6) and whose test accuracy is `test`."""
    r = make_record(arch, "copy", distance=d, seed=seed, acc=test, chance=0.2, status=status)
    return edited(r, lambda data: data["metrics"]["val"].update(best_val_gen_acc=val, stop_reason=reason,
                                                                 improving=improving))


def search(arch: str, seed: int, reach: int, ds=(16, 32, 64, 45, 54), **kw):
    return [probe(arch, seed, d, 0.95 if d <= reach else 0.3, **kw) for d in ds]


def test_brackets_per_seed_and_reach_over_seeds_with_its_coverage():
    records = [r for s, reach in enumerate((40, 50, 60, 20, 33)) for r in search("lstm", s, reach)]
    per = seed_brackets(prepared(records))
    assert list(zip(per["lo"], per["hi"])) == [(32, 45), (45, 54), (54, 64), (16, 32), (32, 45)]
    assert per["probes"].iloc[0] == "16✓ 32✓ 45✗ 54✗ 64✗"
    (row,) = reach_brackets(prepared(records)).to_dict("records")
    assert row["median"] == pytest.approx(math.sqrt(32 * 45)) and (row["lo"], row["hi"]) == (16, 64)
    assert row["coverage"] == 0.9375 and row["seeds"] == 5 and row["text"] == "38 [16-64]"
    assert "93.8%" in caption(reach_brackets(prepared(records)))


def test_the_test_split_decides_nothing():
    """The same validation outcomes with the opposite test accuracies give the same brackets."""
    a = [r for s in (0, 1, 2) for r in search("gru", s, 40, test=0.0)]
    b = [r for s in (0, 1, 2) for r in search("gru", s, 40, test=1.0)]
    assert reach_brackets(prepared(a)).equals(reach_brackets(prepared(b)))


def test_censored_seeds_open_their_end_and_a_budget_bound_failure_is_marked():
    capped = [r for s in (0, 1, 2) for r in search("transformer", s, 10**6, ds=(16, 32, 64, 128, 256))]
    (row,) = reach_brackets(prepared(capped)).to_dict("records")
    assert row["above"] == 3 and row["text"] == "256+"
    mixed = search("lstm", 0, 10**6, ds=(16, 32, 64)) + search("lstm", 1, 40) + search("lstm", 2, 50)
    (row,) = reach_brackets(prepared(mixed)).to_dict("records")
    assert row["hi_open"] and row["text"].endswith("-∞]")
    bound = [probe("rnn", 0, 16, 0.9), probe("rnn", 0, 32, 0.3, reason="budget", improving=True)]
    (row,) = reach_brackets(prepared(bound)).to_dict("records")
    assert row["budget_bound"] == 1 and row["text"].endswith("*")
    plateaued = [probe("rnn", 0, 16, 0.9), probe("rnn", 0, 32, 0.3, reason="plateau")]
    assert reach_brackets(prepared(plateaued))["budget_bound"].iloc[0] == 0


def test_a_failed_cell_fails_its_probe_and_orderings_need_separated_intervals():
    records = [probe("rnn", s, 16, 0.9) for s in (0, 1, 2)] + [probe("rnn", s, 32, 0.2, status="diverged")
                                                               for s in (0, 1, 2)]
    records += [r for s in (0, 1, 2) for r in search("lstm", s, 100, ds=(16, 32, 64, 128, 90, 108))]
    records += [r for s in (0, 1, 2) for r in search("gru", s, 110, ds=(16, 32, 64, 128, 90, 108))]
    table = reach_brackets(prepared(records))
    rnn = table[table["arch"] == "rnn"].iloc[0]
    assert (rnn["lo"], rnn["hi"]) == (16, 32)
    assert ordering(table, "copy", "rnn", "lstm") == "rnn < lstm"
    assert ordering(table, "copy", "lstm", "gru").endswith("not separated")


def test_the_reach_figure_draws_the_summarys_numbers_from_validation_never_test_accuracy():
    """The figure shows what the summary says: the brackets' median and interval, '>' for a row censored above on
    every seed; the same validation with opposite test accuracies draws the same figure."""
    from seqbench.publish.drawing import style
    from seqbench.publish.plots import reach_figure
    from seqbench.publish.tables import summary_numbers

    def drawn(test: float) -> list[tuple]:
        records = [r for s, reach in enumerate((40, 50, 60, 20, 33)) for r in search("lstm", s, reach, test=test)]
        records += [r for s in range(5) for r in search("gru", s, 100, test=test)]  # passes at every probe
        df = prepared(records)
        fig = reach_figure(df, style(df["arch"].unique()))
        ax = fig.axes[0]
        return [(tuple(line.get_xdata()), tuple(line.get_ydata()), line.get_marker()) for line in ax.lines], df

    lines, df = drawn(0.0)
    assert lines == drawn(1.0)[0]
    numbers = summary_numbers(df).set_index("arch")
    lstm_bar, lstm_point, gru_point = lines[1], lines[2], lines[0]  # y: gru 0, lstm 1 (sorted, reversed)
    assert lstm_bar[0] == pytest.approx((16.0, 64.0)) and lstm_point[0] == pytest.approx((numbers.loc["lstm", "reach"],))
    assert gru_point[2] == ">" and gru_point[0] == pytest.approx((numbers.loc["gru", "reach"],))
    assert "validation" in fig_caption(df) and "test token accuracy" not in fig_caption(df)


def fig_caption(df) -> str:
    from seqbench.publish.drawing import style
    from seqbench.publish.plots import reach_figure

    fig = reach_figure(df, style(df["arch"].unique()))
    return " ".join(t.get_text() for t in fig.texts)
