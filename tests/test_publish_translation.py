"""Publishing translation cells: the quality-and-cost table (terminal, Markdown, report) and the figure of BLEU
against training time, from records built here."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from _records import edited, make_record
from seqbench.cli import main
from seqbench.publish.bleu_time import bleu_time_figure, points
from seqbench.publish.plots import style
from seqbench.publish.quality import quality_cells, quality_frame, tasks_with_bleu
from seqbench.publish.bleu_length import by_length
from seqbench.publish.render import accuracy_cells
from seqbench.publish.tables import prepared, task_tables
from seqbench.records import store

BLEU = {"transformer": 31.2, "seq2seq-attn": 27.5, "seq2seq": 18.4}
SIG = "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0"


def cell(arch: str, seed: int = 0, shift: float = 0.0):
    b = BLEU[arch] + shift
    rec = make_record(arch, "translation", distance="1-100", bins=[(1, 9), (10, 19), (20, 100)], n=300, chance=0.001,
                      seed=seed,
                      overall={"n": 900, "token_acc": 0.5, "seq_acc": 0.1, "sacrebleu": b, "chrf2": b + 25,
                               "bleu_tok_lc": b + 3},
                      history=[{"step": 500 * i, "val_loss": 4.0 / i, "val_acc": 0.1 * i, "time_s": 600.0 * i,
                                "sacrebleu": b * i / 3} for i in (1, 2, 3)])

    def change(d):
        for k, bin_ in enumerate(d["metrics"]["bins"]):
            bin_["sacrebleu"] = b - (6 if arch == "seq2seq" else 2) * k  # seq2seq falls faster with length
            bin_["sacrebleu_lo"], bin_["sacrebleu_hi"] = bin_["sacrebleu"] - 1.5, bin_["sacrebleu"] + 1.0
        d["metrics"]["text_metrics"] = ["bleu_tok_lc", "chrf2", "sacrebleu"]
        d["metrics"]["text_signatures"] = {"sacrebleu": SIG}
        d["metrics"]["decoding"] = "greedy"
        d["metrics"]["val"]["stopped"] = "time"
        d["throughput"].update(train_flops=1.5e15 if arch == "transformer" else 2.5e15, train_steps=7000,
                               flops_per_token=1e8, train_tokens=1.5e7)
        d["times"]["train_s"] = 1800.4

    return edited(rec, change)


@pytest.fixture
def records():
    return [cell(a) for a in BLEU] + [make_record("lstm", "copy", distance=10)]


def test_quality_frame_holds_scores_bins_and_costs(records):
    df = prepared(records)
    assert tasks_with_bleu(df) == ["translation"]
    q = quality_frame(df, "translation").set_index("arch")
    assert q.loc["transformer", "sacreBLEU"] == pytest.approx(31.2) and q.loc["seq2seq", "BLEU tok lc"] == 21.4
    assert q.loc["seq2seq-attn", "chrF2"] == pytest.approx(52.5)
    assert list(q.loc["seq2seq", ["BLEU 1-9", "BLEU 10-19", "BLEU 20-100"]]) == pytest.approx([18.4, 12.4, 6.4])
    assert q.loc["transformer", "train FLOPs"] == 1.5e15 and q.loc["transformer", "stopped"] == "time"
    headers, rows = quality_cells(df, "translation")
    assert headers[:6] == ["arch", "seeds", "params", "sacreBLEU", "BLEU tok lc", "chrF2"]
    assert rows[0][0] == "seq2seq" and "1.50e+15" in rows[2] and "1800" in rows[2]


def test_terminal_markdown_and_report_show_the_table_and_the_figure(records, tmp_path, capsys):
    res = tmp_path / "res"
    for r in records:
        store.save(res, r)
    assert main(["table", str(res)]) == 0
    out = " ".join(capsys.readouterr().out.split())  # captions wrap at 120 columns
    assert "translation: quality and cost" in out and "sacreBLEU signature: " + SIG in out
    assert main(["table", str(res), "--format", "markdown"]) == 0
    assert "| transformer" in capsys.readouterr().out
    assert main(["report", str(res), "--out", str(tmp_path / "rep")]) == 0
    report = (tmp_path / "rep" / "report.md").read_text()
    assert "quality and cost" in report and "![translation: bleu](bleu-time-translation.png)" in report
    assert (tmp_path / "rep" / "bleu-time-translation.png").stat().st_size > 10_000


def test_bleu_time_figure_draws_one_line_per_cell(records):
    df = prepared(records)
    runs = points(df, "translation")
    assert sorted(r["arch"] for r, _ in runs) == sorted(BLEU)
    fig = bleu_time_figure("translation", df, style(df["arch"].unique()))
    ax = fig.axes[0]
    assert len(ax.lines) == 3 and ax.get_xlabel().startswith("training time (minutes")
    top = max(ax.lines, key=lambda line: line.get_ydata()[-1])
    assert list(top.get_xdata()) == [10.0, 20.0, 30.0] and top.get_ydata()[-1] == pytest.approx(31.2)
    assert bleu_time_figure("copy", df, style(df["arch"].unique())) is None  # no BLEU in its history


def test_records_without_bleu_give_no_quality_table():
    df = prepared([make_record("lstm", "copy", distance=10)])
    assert tasks_with_bleu(df) == [] and quality_frame(pd.concat([df]), "copy")["sacreBLEU"].isna().all()


def test_a_translation_tables_body_is_sacrebleu_by_source_length_not_positional_accuracy(records, tmp_path, capsys):
    """Issue 25: one seed, each bin's sacreBLEU with the record's own bootstrap over its sentences; no chance row;
    `--metric token_acc` still shows positional token accuracy when asked, and copy keeps its accuracy."""
    tables = {t.task: t for t in task_tables(prepared(records))}
    t = tables["translation"]
    assert t.metric == "sacrebleu" and tables["copy"].metric == "token_acc"
    seq2seq = t.accuracy[t.accuracy["arch"] == "seq2seq"].sort_values("lo")
    assert list(seq2seq["mean"]) == pytest.approx([18.4, 12.4, 6.4])
    assert list(seq2seq["ci_lo"]) == pytest.approx([16.9, 10.9, 4.9]) and set(seq2seq["interval"]) == {"sentences"}
    assert "sacreBLEU (0-100)" in t.caption and "bootstrap over the bin's 300 sentences" in t.caption
    headers, body, _ = accuracy_cells(t)
    assert body[-1][0][0] != "chance" and body[0][headers.index("1-9")] == ("18.4", "16.9, 19.4")
    res = tmp_path / "res"
    for r in records:
        store.save(res, r)
    assert main(["table", str(res), "--format", "csv"]) == 0
    csv = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert set(csv.loc[csv["task"] == "translation", "metric"]) == {"sacrebleu"}
    assert set(csv.loc[csv["task"] == "copy", "metric"]) == {"token_acc"}
    assert main(["table", str(res), "--metric", "token_acc"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "translation: token_acc by dependency distance" in out and "chance = chance-level" in out


def test_over_seeds_a_bins_sacrebleu_is_the_mean_with_a_bootstrap_over_seeds_as_bleu_by_length_gives_it():
    seeds = [cell(arch, seed, shift) for arch in BLEU for seed, shift in enumerate((0.0, 3.0, -2.0, 5.0, 1.0))]
    df = prepared(seeds)
    t = task_tables(df)[0]
    got = t.accuracy.set_index(["arch", "lo"])
    want = by_length(df).set_index(["arch", "lo"])
    for key in want.index:
        assert got.loc[key, "mean"] == pytest.approx(want.loc[key, "mean"])
        assert (got.loc[key, "ci_lo"], got.loc[key, "ci_hi"]) == pytest.approx(
            (want.loc[key, "ci_lo"], want.loc[key, "ci_hi"]))
    assert got.loc[("transformer", 1), "mean"] == pytest.approx(31.2 + 7.0 / 5)
    assert set(t.accuracy["interval"]) == {"bootstrap"} and "bootstrap over 5 seeds" in t.caption
    whole = t.overall.set_index("arch")
    assert whole.loc["seq2seq", "mean"] == pytest.approx(18.4 + 7.0 / 5) and whole.loc["seq2seq", "n"] == 5


def test_a_translation_tasks_accuracy_figure_plots_sacrebleu_by_source_length(records):
    from seqbench.publish.plots import accuracy_figure

    df = prepared(records)
    tables = {t.task: t for t in task_tables(df)}
    fig = accuracy_figure(tables["translation"], style(df["arch"].unique()))
    ax = fig.axes[0]
    assert ax.get_ylabel() == "sacreBLEU" and ax.get_ylim()[1] == 105
    assert "source length" in ax.get_xlabel() or "source length" in fig.axes[-1].get_xlabel()
    assert "chance" not in " ".join(t.get_text() for t in fig.texts)  # no chance line for a text score
    copy = accuracy_figure(tables["copy"], style(df["arch"].unique()))
    assert copy.axes[0].get_ylabel() == "token_acc" and copy.axes[0].get_ylim()[1] == 1.05
