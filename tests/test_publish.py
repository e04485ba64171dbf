"""Publishing: tables, long export, plots, report, merge and their CLI, all as views over saved records."""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
from pathlib import Path

import pandas as pd
import pytest

from _records import edited, make_record
from seqbench.records import store as results
from seqbench.contract.errors import UserError
from seqbench.publish.longform import long_frame, write_long
from seqbench.publish.stats import mean_ci, t_quantile
from seqbench.publish.tables import FORMATS, render, render_all, task_tables

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


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_holds_every_row(fmt):
    text = render_all(task_tables(matrix()), fmt)
    for name in ("gru", "lstm", "rnn", "transformer", "chance", "0.600", "0.248", "diverged", "oom"):
        assert name in text, (fmt, name)


def test_markdown_format():
    (t,) = task_tables(matrix())
    md = render(t, "markdown")
    lines = md.splitlines()
    assert lines[0].startswith("| arch") and "| 10-15" in lines[0] and "overall seq_acc" in lines[0]
    lstm = next(line for line in lines if line.startswith("| lstm"))
    assert "0.600 ± 0.248" in lstm and "**" not in lstm.split("|")[5]
    assert "**0.950 ± 0.000**" in md and "| chance" in md
    assert "0.100 (n=1)" in md and "oom" in md and "diverged: seed 1" in md
    assert "## copy" in render_all([t], "markdown") and "peak MB = process_max_rss" in t.caption


def test_csv_format_marks_best_with_star():
    (t,) = task_tables(matrix())
    df = pd.read_csv(io.StringIO(render_all([t], "csv")), dtype=str, keep_default_na=False)
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
    b = make_record("lstm", seed=0, config={**a.config, "train": {"lr": 0.1, "seed": 0}})
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
    b = edited(b, lambda d: d["config"]["model"].update(params="auto"))
    back = pd.read_parquet(write_long([a, b], tmp_path / "x.parquet"))
    assert sorted(back["config.model.params"].unique()) == ["50000", "auto"]


# --- plots ------------------------------------------------------------------------------------------------------

def test_plots_written_as_png_and_svg(tmp_path, capsys):
    from seqbench.publish.plots import _save, accuracy_figure
    from seqbench.publish.views import by_task

    recs = matrix() + [make_record("lstm", distance=200, seed=s, acc=0.2, src_len=220.0) for s in range(2)]
    save_all(tmp_path / "res", recs)
    assert main(["plot", tmp_path / "res", "--out", tmp_path / "plots", "--format", "png,svg"]) == 0
    paths = [Path(p) for p in capsys.readouterr().out.split()]
    assert sorted(p.name for p in paths) == sorted(f"{k}-copy.{f}" for k in ("accuracy", "throughput", "tradeoff")
                                                   for f in ("png", "svg"))
    for p in paths:
        assert p.parent == tmp_path / "plots" and p.stat().st_size > 1000
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        else:
            text = p.read_text(encoding="utf-8")
            assert text.lstrip().startswith("<?xml") and "<svg" in text
    svg = (tmp_path / "plots" / "accuracy-copy.svg").read_text(encoding="utf-8")
    assert "lstm" in svg and "transformer" in svg and "chance" in svg
    (again,) = _save(accuracy_figure("copy", by_task(recs)["copy"]), tmp_path, "again", ["svg"])
    assert again.read_text(encoding="utf-8") == svg  # the same records draw the same file
    assert main(["plot", tmp_path / "res", "--out", tmp_path / "plots", "--format", "png,jpg"]) == 2
    assert "Unknown plot format 'jpg'" in capsys.readouterr().err


# --- command line -----------------------------------------------------------------------------------------------

def main(argv):
    """What the seqbench CLI does with these subcommands: run one, a UserError becomes one line and exit 2."""
    from seqbench.publish.cli import add_commands

    parser = argparse.ArgumentParser(prog="seqbench")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args([str(a) for a in argv])
    try:
        return args.func(args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def test_cli_table_formats_metric_and_long_out(tmp_path, capsys):
    save_all(tmp_path / "res", matrix())
    assert main(["table", tmp_path / "res"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("## copy") and "| lstm" in out and "0.600 ± 0.248" in out
    assert main(["table", tmp_path / "res", "--format", "csv", "--metric", "seq_acc",
                 "--long-out", tmp_path / "long.parquet"]) == 0
    captured = capsys.readouterr()
    df = pd.read_csv(io.StringIO(captured.out), dtype=str, keep_default_na=False)
    assert set(df["metric"]) == {"seq_acc"} and df.set_index("arch").loc["lstm", "16-31"] == "0.150 ± 0.062"
    assert "long.parquet" in captured.err and len(pd.read_parquet(tmp_path / "long.parquet")) == 26
    for fmt, marker in (("latex", r"\begin{tabular}"), ("html", "<table")):
        assert main(["table", tmp_path / "res", "--format", fmt]) == 0
        assert marker in capsys.readouterr().out


def test_cli_empty_or_missing_dir_is_a_user_error(tmp_path, capsys):
    (tmp_path / "empty" / "records").mkdir(parents=True)
    for folder in (tmp_path / "empty", tmp_path / "missing"):
        for cmd in (["table", folder], ["report", folder], ["plot", folder, "--out", tmp_path / "p"]):
            assert main(cmd) == 2
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and f"No records were found in {folder}" in err
    assert main(["merge", tmp_path / "missing", "--out", tmp_path / "m"]) == 2
    assert "No records were found" in capsys.readouterr().err


def test_cli_bad_record_file_skipped_with_warning(tmp_path, capsys):
    save_all(tmp_path / "res", matrix())
    (tmp_path / "res" / "records" / "deadbeef.json").write_text('{"schema": 1, "cell_id": "dead', encoding="utf-8")
    assert main(["table", tmp_path / "res", "--format", "csv"]) == 0
    captured = capsys.readouterr()
    warnings = captured.err.splitlines()
    assert len(warnings) == 1 and warnings[0].startswith("warning: skipped") and "deadbeef.json" in warnings[0]
    assert "transformer" in captured.out
    only_bad = tmp_path / "bad"
    (only_bad / "records").mkdir(parents=True)
    (only_bad / "records" / "x.json").write_text("[]", encoding="utf-8")
    assert main(["table", only_bad]) == 2
    assert "1 unreadable files" in capsys.readouterr().err


# --- report -----------------------------------------------------------------------------------------------------

def test_report_holds_tables_plots_environment_config_and_command(tmp_path, capsys):
    env2 = {**make_record().to_dict()["env"], "device": "cuda", "device_name": "NVIDIA H100"}
    recs = matrix() + [make_record("lstm", distance=200, seed=s, acc=0.3, env=env2,
                                   command="seqbench run --profile long --seeds 0,1") for s in range(2)]
    save_all(tmp_path / "res", recs)
    (tmp_path / "res" / "records" / "broken.json").write_text("{", encoding="utf-8")
    assert main(["report", tmp_path / "res"]) == 0
    folder = tmp_path / "res" / "report"
    assert capsys.readouterr().out.split() == [str(folder / "report.md"), str(folder / "report.html")]
    md = (folder / "report.md").read_text(encoding="utf-8")
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert "### copy" in md and "| transformer" in md and "0.600 ± 0.248" in md and "overall token_acc [200]" in md
    assert "![copy: accuracy](accuracy-copy.png)" in md and (folder / "accuracy-copy.png").exists()
    assert "NVIDIA H100" in md and "(2 cells)" in md and "(8 cells)" in md  # every distinct environment
    assert "| config.train.lr" in md and "| seed " in md  # the resolved configuration
    assert "seqbench run --profile long --seeds 0,1" in md  # the command that made the records
    assert "seqbench run --arch gru --task copy --distance 10-100 --seed 0" in md
    assert f"seqbench report {tmp_path / 'res'} --out {folder}" in md  # and the one that rebuilds the report
    assert "broken.json" in md and "(left out)" in md
    assert "[records-long.csv](records-long.csv)" in md
    assert page.startswith("<!doctype html>") and '<img src="accuracy-copy.png"' in page
    assert "<td><strong>0.950 ± 0.000</strong></td>" in page and "<h3>copy</h3>" in page
    assert "seqbench run --profile long --seeds 0,1" in page
    assert len(pd.read_csv(folder / "records-long.csv")) == len(pd.read_parquet(folder / "records-long.parquet"))


# --- merge ------------------------------------------------------------------------------------------------------

def test_merge_two_folders(tmp_path, capsys):
    a, b = matrix()[:4], matrix()[3:]  # the record at index 3 is on both machines
    save_all(tmp_path / "a", a)
    save_all(tmp_path / "b", b)
    (tmp_path / "b" / "records" / "0000.json").write_text("not json", encoding="utf-8")
    assert main(["merge", tmp_path / "a", tmp_path / "b", "--out", tmp_path / "all"]) == 0
    captured = capsys.readouterr()
    assert "8 records written, 1 identical copies kept once" in captured.out and "1 unreadable" in captured.out
    assert "0000.json" in captured.err
    merged = results.load_dir(tmp_path / "all")
    assert sorted(r["cell_id"] for r in merged.dicts()) == sorted(r.cell_id for r in matrix())
    assert not merged.bad
    src = results.record_path(tmp_path / "a", a[0].cell_id).read_bytes()
    assert results.record_path(tmp_path / "all", a[0].cell_id).read_bytes() == src  # copied byte for byte
    assert main(["merge", tmp_path / "a", "--out", tmp_path / "all"]) == 0  # again: nothing new
    assert "0 records written" in capsys.readouterr().out


def test_merge_identical_but_for_launch_time_is_kept_once(tmp_path):
    from seqbench.publish.merge import merge

    rec = make_record()
    later = edited(rec, lambda d: d["times"].update(started="2026-11-24T00:00:00+00:00"))
    save_all(tmp_path / "a", [rec])
    save_all(tmp_path / "b", [later])
    merged = merge([tmp_path / "a", tmp_path / "b"], tmp_path / "out")
    assert (merged.written, merged.kept_once) == ([rec.cell_id], 1)


def test_merge_conflict_refused_and_nothing_written(tmp_path, capsys):
    rec = make_record("lstm", seed=0)
    def change(d):
        d["metrics"]["bins"][0]["token_acc"] = 0.99
        d["throughput"]["train_tokens_per_s"] = 1.0

    other = edited(rec, change)
    save_all(tmp_path / "a", [rec, make_record("rnn")])
    save_all(tmp_path / "b", [other, make_record("gru")])
    assert main(["merge", tmp_path / "a", tmp_path / "b", "--out", tmp_path / "all"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and rec.cell_id in err
    assert str(tmp_path / "a") in err and str(tmp_path / "b") in err and "metrics, throughput differ" in err
    assert not (tmp_path / "all").exists()  # checked everything first: nothing written
    save_all(tmp_path / "all", [other])  # a clash with what the output already holds is refused too
    assert main(["merge", tmp_path / "a", "--out", tmp_path / "all"]) == 2
    assert str(tmp_path / "all") in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "all" / "records").iterdir()] == [f"{rec.cell_id}.json"]
