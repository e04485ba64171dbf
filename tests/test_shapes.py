"""The published-shapes views (`seqbench.publish.shapes`, `seqbench shapes`): pure functions on hand-made frames,
the views on tiny real records, the command on result folders nested the way results/shapes writes them."""

from __future__ import annotations

import pandas as pd
import pytest

from seqbench.cli import main
from seqbench.publish import shapes
from seqbench.records import store
from tests._records import make_record


def test_variants_name_only_the_options_that_differ_within_a_task():
    df = pd.DataFrame({
        "task": ["selective-copy", "selective-copy", "selective-copy", "mqar"],
        "arch": ["selective-ssm", "selective-ssm", "gla", "selective-ssm"],
        "config.arch_options.selective": [True, False, None, True],
        "config.arch_options.d_state": [16, 16, None, 16],
    })
    assert list(shapes.variants(df)) == ["selective-ssm (selective=True)", "selective-ssm (selective=False)", "gla",
                                         "selective-ssm"]


def test_percent_gives_the_interval_only_when_it_has_a_width():
    row = {"mean": 0.97, "ci_lo": 0.9, "ci_hi": 0.99, "seeds": 3, "not_ok": 0}
    assert shapes.percent(row) == "97.0 [90.0, 99.0]"
    assert shapes.percent({**row, "ci_lo": 0.97, "ci_hi": 0.97}) == "97.0"
    assert shapes.percent({**row, "not_ok": 1}) == "97.0 [90.0, 99.0], 1 not ok"
    assert shapes.percent({"mean": float("nan"), "ci_lo": 0, "ci_hi": 0, "seeds": 0, "not_ok": 2}) == "not ok (2)"


def _selection_records():
    return [make_record("selective-ssm", "selective-copy", 64, seed, acc=acc, bins=[(64, 64)],
                        config={"arch_options": {"selective": on}})
            for on, accs in ((True, (0.97, 0.99, 0.98)), (False, (0.2, 0.25, 0.15))) for seed, acc in enumerate(accs)]


def test_selection_keeps_on_and_off_apart_with_their_seeds():
    t = shapes.selection(shapes.shape_frame(_selection_records()))
    assert list(t["variant"]) == ["selective-ssm (selective=False)", "selective-ssm (selective=True)"]
    assert list(t["seeds"]) == [3, 3]
    assert t["mean"].round(3).tolist() == [0.2, 0.98]
    assert (t["ci_lo"] < t["mean"]).all() and (t["mean"] < t["ci_hi"]).all()  # Student t over 3 seeds


def test_recall_grid_has_a_row_per_width_and_a_column_per_pair_count():
    records = [make_record(arch, "mqar", 8 * n, 0, acc=acc, bins=[(8 * n, 8 * n)],
                           config={"model": {"d_model": d}, "task_options": {"n_pairs": n}}, params_budget=None)
               for arch in ("gpt", "lstm") for d in (16, 64) for n in (2, 8)
               for acc in [1.0 if arch == "gpt" or d >= 8 * n else 0.1]]
    t = shapes.recall_grid(shapes.shape_frame(records))
    assert len(t) == 8 and set(t["seeds"]) == {1}
    lstm = t[t["variant"] == "lstm"].set_index(["d_model", "n_pairs"])["mean"]
    assert lstm[(16, 2)] == 1.0 and lstm[(16, 8)] == 0.1 and lstm[(64, 8)] == 1.0
    (title, _, headers, body), = shapes.shape_tables(records)
    assert headers == ["variant", "d_model", "2 pairs (d=16)", "8 pairs (d=64)"]
    assert body[2][:3] == ["lstm", "16", "100.0 [94.3, 100.0]"]  # Wilson over the 64 test examples of one seed
    assert body[2][3].startswith("10.0 [")


def test_extrapolation_marks_the_bins_beyond_the_trained_distances():
    bins = [(16, 31), (32, 32), (64, 64), (256, 256)]
    records = [make_record(arch, "induction", "16-32", seed, acc=accs, bins=bins)
               for arch, accs in (("gpt", (1.0, 1.0, 0.3, 0.1)), ("selective-ssm", (1.0, 1.0, 1.0, 1.0)))
               for seed in (0, 1)]
    records.append(make_record("lstm", "induction", "16-32", 0, status="failed"))
    t = shapes.extrapolation(shapes.shape_frame(records))
    gpt = t[t["variant"] == "gpt"]
    assert gpt["lo"].tolist() == [16, 32, 64, 256]
    assert gpt["beyond"].tolist() == [False, False, True, True]
    assert gpt["mean"].round(2).tolist() == [1.0, 1.0, 0.3, 0.1]
    lstm = t[t["variant"] == "lstm"]
    assert lstm["not_ok"].tolist() == [1] and lstm["seeds"].tolist() == [0]  # a failed cell stays visible
    text = shapes.render(records, "text")
    assert "64 *" in text and "256 *" in text and "not ok (1)" in text


def test_shapes_refuses_records_of_no_probe():
    with pytest.raises(Exception, match="No records of a shape probe task"):
        shapes.render([make_record("lstm", "copy", 10)])


def test_the_command_reads_the_probe_folders_below_a_parent(tmp_path, capsys):
    for r in _selection_records():
        on = r.config.arch_options["selective"]
        store.save(tmp_path / "shapes" / "selective-copy" / ("s6" if on else "lti"), r)
    assert main(["shapes", str(tmp_path / "shapes"), "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert "| selective-ssm (selective=False) | 20.0 [" in out and "| selective-ssm (selective=True)  | 98.0 [" in out
    assert main(["shapes", str(tmp_path / "shapes" / "selective-copy" / "s6"), "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "task,variant,distance,mean,ci_lo,ci_hi,seeds,not_ok"
    assert main(["shapes", str(tmp_path / "empty")]) == 2
    assert "No result folder" in capsys.readouterr().err
