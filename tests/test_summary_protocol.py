"""The summary as the reach protocol reads it (issues 24 and 25): reach from validation brackets for records that
carry a validation outcome, only the learning rate the sweep's rule chooses, budget-bound failures marked, and for
a translation task the half-BLEU length instead of a reach from positional accuracy."""

from __future__ import annotations

from _records import edited, make_record
from seqbench.publish.render import summary_cells
from seqbench.publish.tables import prepared, summary_caption, summary_frame


def probe(arch: str, d: int, seed: int, val: float, lr: float = 3e-3, test: float = 0.5, *, budget_bound=False,
          task: str = "copy"):
    """A probe's record: validation accuracy `val`, test accuracy `test` (which must decide nothing)."""
    r = make_record(arch, task, distance=d, seed=seed, acc=test, chance=0.125, val_gen_acc=val,
                    config={"train": {"lr": lr}})

    def fill(data):
        data["metrics"]["val"].update(stop_reason="budget" if budget_bound else "solved", improving=budget_bound)

    return edited(r, fill)


def searched(arch: str, reach: dict[int, int], lr: float = 3e-3, bound: bool = False, task: str = "copy"):
    """The probes of a doubling search per seed: pass up to reach[seed], fail at the first distance above."""
    recs = []
    for seed, last in reach.items():
        d = 16
        while d <= last:
            recs.append(probe(arch, d, seed, 0.99, lr, task=task))
            d *= 2
        recs.append(probe(arch, d, seed, 0.2, lr, budget_bound=bound, task=task))
    return recs


def test_reach_comes_from_the_brackets_on_validation_not_from_test_accuracy():
    records = searched("lstm", {0: 32, 1: 32, 2: 64, 3: 64, 4: 64})  # test accuracy 0.5 everywhere
    row = summary_frame(prepared(records)).set_index("arch").loc["lstm"]
    assert row["copy.kind"] == "brackets"
    assert row["copy.text"] == "91 [32-128]"  # midpoints sqrt(32*64)=45 (2 seeds), sqrt(64*128)=91 (3 seeds)
    assert (row["copy.ci_lo"], row["copy.ci_hi"]) == (32, 128)
    assert "Reach from brackets decided on validation" in summary_caption(prepared(records))


def test_a_swept_rate_that_was_only_tried_never_enters_a_bracket():
    records = searched("gru", {s: 64 for s in range(3)}, lr=1e-2)
    # the sweep's cells at distance 32: 1e-2 passes on both seeds, 1e-3 fails (lower validation accuracy)
    records += [probe("gru", 32, s, 0.3, lr=1e-3) for s in (0, 1)]
    row = summary_frame(prepared(records)).set_index("arch").loc["gru"]
    assert row["copy.text"] == "91+" or row["copy.text"].startswith("91")  # every seed 64-128
    assert row["copy.ci_lo"] == 64  # no "<32" bracket from the 1e-3 cells


def test_budget_bound_failures_are_marked_and_counted():
    records = searched("rnn", {0: 16, 1: 16, 2: 32}, bound=True)
    headers, rows = summary_cells(prepared(records))
    (row,) = rows
    assert row[headers.index("reach copy")].endswith("*")
    assert summary_frame(prepared(records)).iloc[0]["copy.budget_bound"] == 3
    assert "(3 such seeds)" in summary_caption(prepared(records))


def _translation(arch: str, seed: int, bleus: list[float]):
    bins = [(5, 9), (10, 19), (20, 29), (30, 39)]
    r = make_record(arch, "translation", distance="5-39", seed=seed, bins=bins, n=120, val_gen_acc=0.5,
                    overall={"n": 480, "token_acc": 0.9, "seq_acc": 0.5, "sacrebleu": 30.0, "chrf2": 50.0})

    def fill(data):
        data["metrics"]["text_metrics"] = ["chrf2", "sacrebleu"]
        for b, v in zip(data["metrics"]["bins"], bleus):
            b.update(sacrebleu=v, sacrebleu_lo=max(0.0, v - 3), sacrebleu_hi=v + 3)

    return edited(r, fill)


def test_a_translation_task_shows_its_half_bleu_length_never_a_positional_reach():
    records = [_translation("seq2seq", s, [40 + s, 22 + s, 12, 8]) for s in range(5)]
    records += [_translation("transformer", s, [42 + s, 38, 30, 24 - s]) for s in range(5)]
    df = prepared(records)
    headers, rows = summary_cells(df)
    assert "½BLEU len translation" in headers and not any(h == "reach translation" for h in headers)
    table = summary_frame(df).set_index("arch")
    assert table.loc["seq2seq", "translation.kind"] == "half-bleu"
    assert 14 < table.loc["seq2seq", "translation.reach"] < 25 and table.loc["transformer", "translation.reach"] > 25
    assert "½BLEU len = the source length at which sacreBLEU falls to half" in summary_caption(df)


def test_the_report_shows_the_sweep_each_rate_and_the_choice_from_validation():
    from seqbench.publish.sweeps import document_cells, sweep_table
    from seqbench.publish.views import tidy

    records = searched("gru", {s: 64 for s in range(3)}, lr=1e-2)
    records += [probe("gru", 32, s, 0.3, lr=1e-3, test=1.0) for s in (0, 1)]  # test says 1e-3; it must not count
    table = sweep_table(tidy(records))
    assert list(table["lr"]) == [1e-2, 1e-3] and list(table["chosen"]) == [True, False]
    assert list(table["cells"]) == [2, 2] and table.iloc[1]["val_acc"] == 0.3  # seeds 0 and 1 at d=32 only
    headers, rows = document_cells(tidy(records))
    assert rows[0][headers.index("chosen")].startswith("✓ best validation accuracy 0.990")
    assert rows[0][headers.index("at")] == "d=32"
