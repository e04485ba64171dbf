"""The tidy frame (`seqbench.publish.views`) that every table and plot reads: its derived columns, the refusal to
pool two configurations as seeds, and the group-bys, checked value by value on small record sets."""

from __future__ import annotations

import math

import pytest

from _records import edited, make_record
from seqbench.contract.errors import UserError
from seqbench.publish import views as V


def test_tidy_derives_budget_lr_single_and_the_bins_geometric_midpoint():
    sized = make_record("lstm", distance="4-16", bins=[(4, 9), (10, 16)], lr=0.003, params_budget=50000)
    wide = make_record("gru", distance="8", bins=[(8, 8)], params_budget=None)  # no budget, no recorded lr
    wide = edited(wide, lambda d: d.update(lr=None) or d["config"]["train"].update(lr=0.01))
    bare = edited(make_record("rnn", distance="8", bins=[(8, 8)]),
                  lambda d: d.update(lr=None) or d["config"]["train"].update(lr=None))
    df = V.tidy([sized, wide, bare])
    by = {a: g for a, g in df.groupby("arch")}
    assert by["lstm"]["budget"].tolist() == [50000, 50000] and by["gru"]["budget"].tolist() == [V.NO_BUDGET]
    assert V.row_label(("copy", "gru", V.NO_BUDGET), True) == "gru (none)"
    assert by["lstm"]["lr"].tolist() == [0.003] * 2 and by["gru"]["lr"].tolist() == [0.01]  # recorded, configured
    assert by["rnn"]["lr"].tolist() == [0.0]  # neither: 0, "not recorded"
    assert by["lstm"]["single"].tolist() == [False, False] and by["gru"]["single"].tolist() == [True]
    assert by["lstm"]["x"].tolist() == pytest.approx([math.sqrt(4 * 9), math.sqrt(10 * 16)])
    assert by["gru"]["x"].tolist() == [8.0]


def test_two_configurations_at_one_position_and_seed_are_refused_naming_both():
    a = make_record("lstm", seed=3, lr=0.01)
    b = make_record("lstm", seed=3, lr=0.01, config={"eval": {"n_test": 1}})
    c = make_record("lstm", seed=4, lr=0.01)
    assert a.cell_id != b.cell_id
    with pytest.raises(UserError) as e:
        V.tidy([a, c, b])
    text = str(e.value)
    assert f"Cells {a.cell_id} and {b.cell_id} are both lstm on copy at distance 10-100, seed 3" in text
    assert "budget 50000, lr 0.01" in text and "Publish them from separate folders" in text
    assert len(V.tidy([a, c])) == 2 * len(V.tidy([a]))  # different seeds pool fine
    assert set(V.tidy([a, make_record("lstm", seed=3, lr=0.003)])["lr"]) == {0.01, 0.003}  # so do other rates


def test_the_budget_of_a_row_reads_none_or_the_number():
    df = V.tidy([make_record("lstm", params_budget=None), make_record("gru", params_budget=20000)])
    assert sorted(V.row_label(k, True) for k in V.row_order(df)) == ["gru (20000)", "lstm (none)"]
    assert [V.row_label(k, False) for k in V.row_order(df)] == ["gru", "lstm"]
    tiny = V.tidy([make_record("lstm", params_budget=None), make_record("lstm", params_budget=1)])
    assert [V.row_label(k, True) for k in V.row_order(tiny)] == ["lstm (none)", "lstm (1)"]  # no budget is no
    # number a budget can be


def test_states_and_status_text_name_what_is_not_ok():
    recs = [make_record("lstm", seed=s, status=st) for s, st in ((0, "ok"), (1, "diverged"), (2, "oom"))]
    recs += [make_record("gru", seed=s, status="diverged") for s in range(5)]
    df = V.tidy(recs)
    assert V.states(df) == {("copy", "gru", 50000, "10-100"): "diverged"}
    assert V.status_text(df[df["arch"] == "lstm"]) == "1 ok; diverged: seed 1 (10-100); oom: seed 2 (10-100)"
    assert V.status_text(df[df["arch"] == "gru"]) == ("diverged: seed 0 (10-100), seed 1 (10-100), seed 2 (10-100) "
                                                      "and 2 more")
    assert V.status_text(V.tidy([make_record("rnn")])) == "ok"


def test_accuracy_per_bin_is_the_ok_seeds_mean_with_its_interval():
    from seqbench.publish.stats import accuracy_interval

    recs = [make_record("lstm", distance="4-16", bins=[(4, 9), (10, 16)], seed=s, acc=a, n=50)
            for s, a in ((0, [0.9, 0.5]), (1, [0.8, 0.3]), (2, [0.7, 0.4]))]
    recs.append(make_record("lstm", distance="4-16", seed=3, status="diverged"))  # no bins: not a seed here
    table = V.accuracy(V.tidy(recs))
    assert table["label"].tolist() == ["4-9", "10-16"] and table["lo"].tolist() == [4, 10]
    assert table["hi"].tolist() == [9, 16] and table["x"].tolist() == pytest.approx([6.0, math.sqrt(160)])
    assert table["seeds"].tolist() == [3, 3] and table["chance"].tolist() == [0.125, 0.125]
    first = accuracy_interval([0.9, 0.8, 0.7], 50)
    assert table.iloc[0][["mean", "ci_lo", "ci_hi"]].tolist() == pytest.approx([first.mean, first.lo, first.hi])
    assert table.iloc[0]["interval"] == "t" and table.iloc[0]["n"] == 3
    seq = V.accuracy(V.tidy(recs), "seq_acc")  # make_record's seq_acc is a quarter of the token accuracy
    assert seq["mean"].tolist() == pytest.approx([0.2, 0.1]) and seq["chance"].isna().all()
    one = V.accuracy(V.tidy(recs[:1]))
    assert one.iloc[0]["interval"] == "wilson" and one.iloc[0]["n"] == 50
    with pytest.raises(UserError) as e:
        V.accuracy(V.tidy(recs), "bleu")
    assert str(e.value) == "Unknown metric 'bleu'. Available: token_acc, seq_acc, sacrebleu, chrf2, bleu_tok_lc"
    assert V.accuracy(V.tidy(recs[3:])).empty


def test_choose_lr_keeps_the_rate_validation_picks_and_counts_the_rates_tried():
    recs = [make_record("lstm", seed=s, lr=lr, val_gen_acc=score)
            for s in (0, 1) for lr, score in ((0.001, 0.4), (0.01, 0.9), (0.1, 0.2))]
    recs += [make_record("gru", seed=0, lr=0.003, val_gen_acc=0.5)]
    chosen = V.cells(V.choose_lr(V.tidy(recs)))
    assert sorted(zip(chosen["arch"], chosen["lr"], chosen["lrs"])) == [("gru", 0.003, 1), ("lstm", 0.01, 3),
                                                                         ("lstm", 0.01, 3)]
    assert V.choose_lr(V.tidy(recs)[:0]).empty and "lrs" in V.choose_lr(V.tidy(recs)[:0])


def test_choose_lr_compares_rates_on_the_seeds_every_rate_has():
    """A sweep's seed 0 at three rates beside the chosen rate's five seeds: the rates are compared on seed 0 (as the
    sweep chose), not one seed's score against five seeds' mean, which would favour the rate tried once."""
    recs = [make_record("lstm", seed=0, lr=lr, val_gen_acc=score) for lr, score in ((0.001, 0.80), (0.003, 0.95))]
    recs += [make_record("lstm", seed=s, lr=0.01, val_gen_acc=score)
             for s, score in enumerate((1.0, 0.9, 0.85, 0.9, 0.8))]  # seed 0 the best; the mean 0.89 below 0.95
    chosen = V.cells(V.choose_lr(V.tidy(recs)))
    assert sorted(chosen["seed"]) == [0, 1, 2, 3, 4] and set(chosen["lr"]) == {0.01}
    assert set(V.shared(V.cells(V.tidy(recs)))["seed"]) == {0}


def test_a_record_without_a_free_running_score_is_a_trial_without_one():
    trial = V.trials(V.cells(V.tidy([make_record("lstm", lr=0.01, val_gen_acc=None)])))[0]
    assert (trial.lr, trial.ok, trial.val_acc, trial.val_loss) == (0.01, True, None, 1.2)


def test_overall_is_the_ok_seeds_mean_of_an_accuracy_or_a_text_score():
    from seqbench.publish.stats import accuracy_interval

    recs = [make_record("lstm", seed=s, overall={"n": 40, "tokens": 200, "token_acc": a, "seq_acc": a / 2})
            for s, a in ((0, 0.9), (1, 0.7), (2, 0.8))]
    recs.append(make_record("lstm", seed=3, status="failed"))  # not ok: not a seed
    table = V.overall(V.tidy(recs), "token_acc")
    assert list(table.columns) == V.POSITION + ["mean", "ci_lo", "ci_hi", "n", "interval"]
    iv = accuracy_interval([0.9, 0.7, 0.8], 40)
    assert table.iloc[0][["mean", "ci_lo", "ci_hi"]].tolist() == pytest.approx([iv.mean, iv.lo, iv.hi])
    assert (table.iloc[0]["n"], table.iloc[0]["interval"]) == (3, "t") and len(table) == 1
    one = V.overall(V.tidy(recs[:1]), "seq_acc")  # one seed of an accuracy: Wilson over the 40 test examples
    assert (one.iloc[0]["n"], one.iloc[0]["interval"], one.iloc[0]["mean"]) == (40, "wilson", pytest.approx(0.45))
    assert 0 < one.iloc[0]["ci_lo"] < 0.45 < one.iloc[0]["ci_hi"] < 1


def test_overall_of_a_text_score_gets_no_wilson_interval_and_an_absent_score_no_rows():
    bleu = [make_record("seq2seq", task="translation", distance="5-12", bins=[(5, 12)], seed=s,
                        overall={"n": 16, "tokens": 80, "token_acc": 0.5, "seq_acc": 0.1, "sacrebleu": b,
                                 "sacrebleu_lo": None, "sacrebleu_hi": None, "chrf2": 40.0})
            for s, b in ((0, 20.0), (1, 22.0))]
    two = V.overall(V.tidy(bleu), "sacrebleu")
    assert (two.iloc[0]["mean"], two.iloc[0]["n"], two.iloc[0]["interval"]) == (21.0, 2, "bootstrap")
    # resampling two seeds gives means 20, 21, 22 with chances 1/4, 1/2, 1/4: the 2.5th and 97.5th percentiles are
    # the seeds themselves (a BLEU is not clipped to [0, 1])
    assert two.iloc[0][["ci_lo", "ci_hi"]].tolist() == [20.0, 22.0]
    one = V.overall(V.tidy(bleu[:1]), "sacrebleu")  # a BLEU is no fraction of the 16 sentences: no Wilson
    assert one.iloc[0][["mean", "ci_lo", "ci_hi", "n", "interval"]].tolist() == [20.0, 20.0, 20.0, 1, "none"]
    own = edited(bleu[0], lambda d: d["metrics"]["overall"].update(sacrebleu_lo=17.5, sacrebleu_hi=23.0))
    one = V.overall(V.tidy([own]), "sacrebleu")  # one seed with sacreBLEU's bootstrap over its 16 sentences
    assert one.iloc[0][["mean", "ci_lo", "ci_hi", "n", "interval"]].tolist() == [20.0, 17.5, 23.0, 16, "sentences"]
    missing = V.overall(V.tidy([edited(bleu[0], lambda d: d["metrics"]["overall"].update(chrf2=None))]), "chrf2")
    assert missing.iloc[0][["n", "interval"]].tolist() == [0, "none"] and math.isnan(missing.iloc[0]["mean"])
    for empty in (V.overall(V.tidy(bleu), "meteor"), V.overall(V.tidy([make_record("lstm", status="oom")]),
                                                                "token_acc")):
        assert empty.empty and list(empty.columns) == V.POSITION + ["mean", "ci_lo", "ci_hi", "n", "interval"]


def test_accuracy_rows_are_sorted_by_bin_then_distance_setting_and_numbered_from_0():
    recs = [make_record("lstm", distance=d, bins=b, seed=0) for d, b in (("8", [(8, 8)]), ("2-8", [(2, 4), (5, 8)]),
                                                                         ("4-8", [(4, 8)]), ("2", [(2, 2)]))]
    table = V.accuracy(V.tidy(recs[::-1]))
    assert list(zip(table["distance"], table["lo"], table["hi"])) == [("2", 2, 2), ("2-8", 2, 4), ("4-8", 4, 8),
                                                                     ("2-8", 5, 8), ("8", 8, 8)]
    assert list(table.index) == list(range(5)) and "index" not in table
    assert str(table["hi"].dtype) == "int64" and str(table["lo"].dtype) == "int64"
    assert table["lrs"].tolist() == [1] * 5  # rates tried per position, counted when choose_lr did not
    chosen = V.accuracy(V.choose_lr(V.tidy(recs)))
    assert chosen["lrs"].tolist() == [1] * 5


def test_a_missing_score_reads_as_none_not_as_nan():
    assert V._opt(None) is None and V._opt(math.nan) is None and V._opt(0.25) == 0.25
    recs = [make_record("lstm", seed=0, lr=0.01, val_gen_acc=None), make_record("lstm", seed=1, lr=0.01,
                                                                               val_gen_acc=0.5)]
    scores = sorted((t.val_acc for t in V.trials(V.cells(V.tidy(recs)))), key=lambda v: v is not None)
    assert scores == [None, 0.5]  # the frame holds NaN beside a number: the trial has no score, not NaN


def test_status_text_lists_up_to_three_states_before_counting_the_rest():
    recs = [make_record("gru", seed=s, status="diverged") for s in range(3)]
    assert V.status_text(V.tidy(recs)) == "diverged: seed 0 (10-100), seed 1 (10-100), seed 2 (10-100)"
    mixed = [make_record("gru", seed=0, status="oom"), make_record("gru", seed=1, status="diverged")]
    assert V.states(V.tidy(mixed)) == {("copy", "gru", 50000, "10-100"): "diverged, oom"}
