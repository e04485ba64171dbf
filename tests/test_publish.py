"""Publishing: tables, long export, plots, report, merge and their CLI, all as views over saved records."""

from __future__ import annotations

import argparse
import json
import math

import pandas as pd
import pytest

from _records import make_record
from bench import results
from bench.errors import UserError
from bench.longform import long_frame, write_long
from bench.stats import mean_ci, t_quantile
from bench.tables import FORMATS, render, render_all, task_tables

# t(0.975, df) for df = 1..30, from printed tables.
T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def save_all(out, records):
    for r in records:
        results.save(out, r)
    return out


def matrix():
    """lstm: 3 seeds, second bin 0.5/0.6/0.7; transformer: 2 seeds, best everywhere; rnn: 1 ok + 1 diverged;
    gru: oom."""
    recs = [make_record("lstm", seed=s, acc=[0.9, 0.5 + 0.1 * s, 0.3, 0.2], train_tps=1e5 + s) for s in range(3)]
    recs += [make_record("transformer", seed=s, acc=[0.95, 0.9, 0.9, 0.85], train_tps=3e5, peak_mb=2000.0)
             for s in range(2)]
    recs += [make_record("rnn", seed=0, acc=0.1, peak_mb=500.0), make_record("rnn", seed=1, status="diverged")]
    recs += [make_record("gru", seed=0, status="oom")]
    return recs


# --- statistics -------------------------------------------------------------------------------------------------

def test_t_quantile_matches_printed_table_and_limits():
    for df, t in enumerate(T975, start=1):
        assert t_quantile(0.975, df) == pytest.approx(t, abs=6e-4)
    assert t_quantile(0.975, 1) == pytest.approx(math.tan(math.pi * 0.475), rel=1e-9)  # Cauchy, exact
    assert t_quantile(0.975, 100) == pytest.approx(1.98397, abs=1e-4)
    assert t_quantile(0.975, 1e7) == pytest.approx(1.959964, abs=1e-4)  # the normal limit
    assert t_quantile(0.025, 5) == pytest.approx(-2.571, abs=6e-4)


def test_mean_ci_by_hand():
    s = mean_ci([0.5, 0.6, 0.7])
    assert (s.n, s.mean) == (3, pytest.approx(0.6))
    assert s.half == pytest.approx(4.303 * 0.1 / math.sqrt(3), abs=1e-4)  # 0.2484
    one = mean_ci([0.42])
    assert (one.mean, one.half, one.n) == (0.42, None, 1)
    assert mean_ci([]) is None


# --- tables -----------------------------------------------------------------------------------------------------

def by_arch(table):
    return table.text.set_index("arch")


def test_table_rows_columns_ci_and_states():
    (t,) = task_tables(matrix())
    df = by_arch(t)
    assert list(df.index) == ["gru", "lstm", "rnn", "transformer", "chance"]
    assert list(df.columns[:7]) == ["params", "seeds", "10-15", "16-31", "32-63", "64-100", "overall token_acc"]
    assert df.loc["lstm", "16-31"] == "0.600 ± 0.248"  # 0.5, 0.6, 0.7: t(0.975, 2) * 0.1 / sqrt(3)
    assert df.loc["lstm", "10-15"] == "0.900 ± 0.000"
    assert df.loc["lstm", "seeds"] == "3" and df.loc["transformer", "seeds"] == "2"
    assert df.loc["rnn", "10-15"] == "0.100 (n=1)"  # one ok seed: the mean, no interval
    assert df.loc["rnn", "status"] == "1 ok; diverged: seed 1 (10-100)"
    assert (df.loc["gru", ["10-15", "64-100", "overall token_acc", "train tok/s", "peak MB"]] == "oom").all()
    assert df.loc["gru", "status"] == "oom: seed 0 (10-100)"
    assert df.loc["chance", "10-15"] == "0.125" and df.loc["chance", "overall token_acc"] == "0.125"
    assert df.loc["lstm", "train tok/s"] == "100001"  # median of 100000, 100001, 100002
    assert df.loc["transformer", "peak MB"] == "2000"


def test_best_value_per_column_marked():
    (t,) = task_tables(matrix())
    best = t.best.set_index(t.text["arch"])
    assert best.loc["transformer", ["10-15", "16-31", "overall token_acc", "train tok/s"]].all()
    assert not best.loc[["lstm", "rnn", "gru", "chance"], "10-15"].any()
    assert best.loc["rnn", "peak MB"] and not best.loc["transformer", "peak MB"]  # lower memory is better
    assert not best["status"].any() and not best["params"].any()


def test_markdown_format():
    (t,) = task_tables(matrix())
    md = render(t, "markdown")
    lines = md.splitlines()
    assert lines[0].startswith("| arch") and "| 10-15" in lines[0] and "overall seq_acc" in lines[0]
    lstm = next(line for line in lines if line.startswith("| lstm"))
    assert "0.600 ± 0.248" in lstm and "**" not in lstm.split("|")[5]
    assert "**0.950 ± 0.000**" in md and "| chance" in md
    assert "0.100 (n=1)" in md and "oom" in md and "diverged: seed 1" in md
    assert "## copy" in render_all([t], "markdown")


def test_csv_format_marks_best_with_star():
    (t,) = task_tables(matrix())
    df = pd.read_csv(pd.io.common.StringIO(render_all([t], "csv")), dtype=str, keep_default_na=False)
    assert list(df.columns[:4]) == ["task", "metric", "arch", "params"]
    row = df.set_index("arch")
    assert row.loc["transformer", "10-15"] == "0.950 ± 0.000*"
    assert row.loc["lstm", "16-31"] == "0.600 ± 0.248"
    assert row.loc["gru", "overall token_acc"] == "oom"
    assert row.loc["chance", "10-15"] == "0.125"
    assert (df["task"] == "copy").all() and (df["metric"] == "token_acc").all()


def test_latex_format():
    (t,) = task_tables(matrix())
    tex = render(t, "latex")
    assert r"\begin{tabular}" in tex and r"\toprule" in tex and r"\caption{copy: token\_acc" in tex
    assert r"\textbf{0.950 $\pm$ 0.000}" in tex
    assert r"lstm & 49876 & 3 & 0.900 $\pm$ 0.000 & 0.600 $\pm$ 0.248" in tex
    assert "overall token\\_acc" in tex and "chance &" in tex and "±" not in tex


def test_html_format():
    (t,) = task_tables(matrix())
    page = render(t, "html")
    assert "<th>16-31</th>" in page and "<td>0.600 ± 0.248</td>" in page
    assert "<td><strong>0.950 ± 0.000</strong></td>" in page and "<td>chance</td>" in page
    assert "<td>oom</td>" in page


def test_seq_acc_metric_and_budgets_and_text_metrics():
    recs = [make_record("lstm", task="translate", distance=20, seed=s, acc=0.8, seq_acc=0.1 * (s + 1),
                        params_budget=b, overall={"n": 64, "token_acc": 0.8, "seq_acc": 0.2, "bleu": 0.3 + b / 1e6,
                                                  "chrf": 0.5}) for s in range(2) for b in (10000, 50000)]
    (t,) = task_tables(recs, metric="seq_acc")
    df = t.text
    assert list(df["budget"]) == ["10000", "50000", ""]
    assert list(df["20"][:2]) == ["0.150 ± 0.635"] * 2  # 0.1, 0.2: 12.706 * 0.0707 / 1.414
    assert df["20"].iloc[2] == ""  # chance is a token-level number; not shown for sequence accuracy
    assert "overall bleu" in df.columns and "overall chrf" in df.columns
    assert list(t.best["overall bleu"]) == [False, True, False]
    with pytest.raises(UserError, match="Available: token_acc, seq_acc"):
        task_tables(recs, metric="bleu")


def test_several_distance_settings_contribute_columns():
    recs = [make_record("lstm", distance=d, seed=s, acc=a) for d, a in ((100, 0.4), (500, 0.13), (200, 0.2))
            for s in range(2)]
    (t,) = task_tables(recs)
    assert [c for c in t.text.columns if c[0].isdigit()] == ["100", "200", "500"]
    assert "overall token_acc [500]" in t.text.columns
    assert t.text.loc[0, "500"] == "0.130 ± 0.000"


def test_same_position_with_different_configs_is_refused():
    a = make_record("lstm", seed=0)
    b = make_record("lstm", seed=0, config={**a["config"], "train": {"lr": 0.1, "seed": 0}})
    with pytest.raises(UserError, match="pool them"):
        task_tables([a, b])


# --- long format ------------------------------------------------------------------------------------------------

def test_long_format_round_trips_csv_and_parquet(tmp_path):
    recs = matrix()
    df = long_frame(recs)
    assert len(df) == 3 * 4 + 2 * 4 + 4 + 1 + 1  # one row per bin; one row for each cell without bins
    assert {"config.train.lr", "env.torch", "throughput.train_tokens_per_s", "bin.label", "command"} <= set(df)
    for suffix in ("csv", "parquet"):
        path = write_long(recs, tmp_path / f"long.{suffix}")
        back = pd.read_csv(path) if suffix == "csv" else pd.read_parquet(path)
        assert back.shape == df.shape and list(back.columns) == list(df.columns)
        lstm = back[(back["arch"] == "lstm") & (back["bin.label"] == "16-31")].sort_values("seed")
        assert list(lstm["bin.token_acc"]) == pytest.approx([0.5, 0.6, 0.7])
        gru = back[back["arch"] == "gru"]
        assert list(gru["status"]) == ["oom"] and gru["bin.label"].isna().all()
    with pytest.raises(UserError, match=".csv or .parquet"):
        write_long(recs, tmp_path / "long.xlsx")


def test_long_format_mixed_types_become_text(tmp_path):
    a, b = make_record("lstm", seed=0), make_record("lstm", seed=1)
    b["config"]["model"]["params"] = "auto"
    back = pd.read_parquet(write_long([a, b], tmp_path / "x.parquet"))
    assert sorted(back["config.model.params"].unique()) == ["50000", "auto"]


# --- plots ------------------------------------------------------------------------------------------------------

def test_plots_written_as_png_and_svg(tmp_path):
    from bench.plots import plot

    recs = matrix() + [make_record("lstm", distance=200, seed=s, acc=0.2, src_len=220.0) for s in range(2)]
    paths = plot(recs, tmp_path / "plots")
    names = sorted(p.name for p in paths)
    assert names == sorted(f"{k}-copy.{f}" for k in ("accuracy", "throughput", "tradeoff") for f in ("png", "svg"))
    for p in paths:
        assert p.exists() and p.stat().st_size > 1000
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        else:
            text = p.read_text(encoding="utf-8")
            assert text.lstrip().startswith("<?xml") and "<svg" in text
    svg = (tmp_path / "plots" / "accuracy-copy.svg").read_text()
    assert "lstm" in svg and "transformer" in svg and "chance" in svg
    again = plot(recs, tmp_path / "again", formats=["svg"])  # the same records draw the same file
    assert [p.read_bytes() for p in again if p.name == "accuracy-copy.svg"] == [svg.encode()]
    with pytest.raises(UserError, match="Available: png, svg"):
        plot(recs, tmp_path, formats=["pdf"])
