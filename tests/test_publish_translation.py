"""Publishing translation cells: the quality-and-cost table (terminal, Markdown, report) and the figure of BLEU
against training time, from records built here."""

from __future__ import annotations

import pandas as pd
import pytest

from _records import edited, make_record
from seqbench.cli import main
from seqbench.publish.bleu_time import bleu_time_figure, points
from seqbench.publish.plots import style
from seqbench.publish.quality import quality_cells, quality_frame, tasks_with_bleu
from seqbench.publish.tables import prepared
from seqbench.records import store

BLEU = {"transformer": 31.2, "seq2seq-attn": 27.5, "seq2seq": 18.4}
SIG = "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0"


def cell(arch: str):
    b = BLEU[arch]
    rec = make_record(arch, "translation", distance="1-100", bins=[(1, 9), (10, 19), (20, 100)], n=300, chance=0.001,
                      overall={"n": 900, "token_acc": 0.5, "seq_acc": 0.1, "sacrebleu": b, "chrf2": b + 25,
                               "bleu_tok_lc": b + 3},
                      history=[{"step": 500 * i, "val_loss": 4.0 / i, "val_acc": 0.1 * i, "time_s": 600.0 * i,
                                "sacrebleu": b * i / 3} for i in (1, 2, 3)])

    def change(d):
        for k, bin_ in enumerate(d["metrics"]["bins"]):
            bin_["sacrebleu"] = b - (6 if arch == "seq2seq" else 2) * k  # seq2seq falls faster with length
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
