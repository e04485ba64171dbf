"""Publishing through the real command line (`seqbench.cli.main`): tables, numeric CSV, long export, plots, report,
merge, destinations; all as views over records saved through the schema."""

from __future__ import annotations

import copy
import io
import os
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from _records import edited, make_record
from seqbench.cli import main
from seqbench.publish.longform import long_frame, write_long
from seqbench.publish.render import terminal
from seqbench.publish.tables import task_tables
from seqbench.records import store
from seqbench.records.schema import Record, describe

DISTANCES = (2, 4, 8, 16, 32, 64, 128, 256)


def save_all(out: Path, records) -> Path:
    for r in records:
        store.save(out, r)
    return out


def curve(arch: str, accs, seeds=(0, 1, 2), task="copy", **kw):
    """One-cell-per-distance records of one architecture: accuracy `accs[i] + 0.01 * seed` at DISTANCES[i]."""
    return [make_record(arch, task, distance=d, seed=s, acc=min(1.0, a + 0.01 * s), src_len=10.0 + d, **kw)
            for s in seeds for d, a in zip(DISTANCES, accs)]


def matrix():
    """rnn falls first, lstm later, transformer never; one diverged lstm cell; a translation mixed-range row."""
    recs = curve("rnn", [1.0, 0.9, 0.3, 0.12, 0.12, 0.12, 0.12, 0.12])
    recs += [r for r in curve("lstm", [1.0, 1.0, 1.0, 0.95, 0.8, 0.3, 0.12, 0.12]) if (r.distance, r.seed) != ("256", 2)]
    recs.append(make_record("lstm", distance=256, seed=2, status="diverged"))
    recs += curve("transformer", [1.0] * 8, train_tps=3e5)
    recs += [make_record(a, "translation", distance="5-20", seed=0, acc=[0.9, 0.5] if a == "rnn" else [0.95, 0.9],
                         bins=[(5, 9), (10, 20)], n=100, chance=0.02,
                         overall={"n": 200, "token_acc": 0.7, "seq_acc": 0.1, "sacrebleu": 40.0, "chrf2": 60.0})
             for a in ("rnn", "transformer")]
    return recs


@pytest.fixture
def res(tmp_path):
    return save_all(tmp_path / "res", matrix())


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


# --- the table command ------------------------------------------------------------------------------------------

def test_table_prints_the_summary_first_then_compact_tables_within_120_columns(res, capsys):
    code, out, err = run(capsys, "table", res)
    assert code == 0 and err == ""
    assert out.startswith("Summary: reach = the longest distance")
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 120
    head = next(i for i, line in enumerate(lines) if line.startswith("arch "))
    assert lines[head].split() == ["arch", "seeds", "reach", "copy", "½BLEU", "len", "translation", "params",
                                   "train", "tok/s", "gen", "tok/s"]  # translation: no reach from positional accuracy
    rows = {line.split()[0]: line for line in lines[head + 1:head + 4]}
    assert rows["transformer"].split()[2] == "256+"  # above the midpoint at every distance of the profile
    assert rows["rnn"].split()[2] == "6" and "[" in rows["rnn"]  # 3 seeds: an interval
    # chance 0.125: midpoint 0.5625, crossed between 4 (0.9 + 0.01 s) and 8 (0.3 + 0.01 s), on log2 distance
    logs = [2 + (0.9 + 0.01 * s - 0.5625) / 0.6 for s in range(3)]
    from seqbench.publish.tables import summary_frame

    rnn = summary_frame(matrix()).set_index("arch").loc["rnn"]
    assert rnn["copy.reach"] == pytest.approx(2 ** (sum(logs) / 3)) and rnn["copy.interval"] == "t"
    assert "(n=1)" not in out and out.index("== copy ==") > head
    copy = lines[lines.index("== copy ==") + 1:]
    header = next(line for line in copy if line.startswith("arch"))
    assert header.split() == ["arch", "seeds"] + [str(d) for d in DISTANCES]  # one column per distance, sorted
    assert "overall" not in header  # one-distance cells do not spread into overall columns
    lstm = copy.index(next(line for line in copy if line.startswith("lstm")))
    assert copy[lstm].split()[:3] == ["lstm", "3", "1.00"]
    assert copy[lstm + 1].split()[0] == "1.00-1.00"  # the interval under the value: t over 3 seeds
    assert "95% Student-t interval over 2 to 3 seeds" in out  # lstm at 256 has two ok seeds


def test_table_markdown_holds_intervals_states_and_best(res, capsys):
    code, out, _ = run(capsys, "table", res, "--format", "markdown")
    assert code == 0
    assert out.index("## summary") < out.index("## copy") < out.index("## translation")
    copy = out[out.index("## copy"):]
    rnn = next(line for line in copy.splitlines() if line.startswith("| rnn"))
    cells = [c.strip() for c in rnn.strip("|").split("|")]
    assert cells[:3] == ["rnn", "3", "**1.000 [1.000, 1.000]**"]  # every architecture at 1.0: all bold
    assert cells[4] == "0.310 [0.285, 0.335]" and "**" not in cells[4]
    t = task_tables(matrix())[0]
    iv = t.values[t.labels.index("rnn"), 2]  # rnn at distance 8: 0.30, 0.31, 0.32
    assert (iv.mean, iv.n, iv.interval) == (pytest.approx(0.31), 3, "t")
    assert iv.ci_lo == pytest.approx(0.31 - 4.302652729749 * 0.01 / 3 ** 0.5, abs=1e-9)
    assert f"{iv.mean:.3f} [{iv.ci_lo:.3f}, {iv.ci_hi:.3f}]" in out
    assert "diverged: seed 2 (256)" in out  # the state of the cell that did not finish
    translation = out[out.index("## translation"):]
    assert "sacreBLEU (0-100) by distance bin" in translation  # issue 25: no positional accuracy as its headline
    assert "one seed: sacreBLEU's 95% bootstrap over the bin's" in translation and "| chance" not in translation
    code, out, _ = run(capsys, "table", res, "--format", "markdown", "--metric", "token_acc")  # still on request
    assert "one seed: 95% Wilson interval over the bin's n = 100 test examples" in out[out.index("## translation"):]
    assert "| overall" in translation and "| sacreBLEU" in translation and "| chrF2" in translation
    assert "| 40.0 " in translation and "| 60.0 " in translation  # the text metrics, named as MT papers name them
    assert "cell RSS MB" in out and "the process that ran this cell alone" in out  # memory named for what it measured


def test_table_csv_holds_numbers_only(res, capsys):
    code, out, _ = run(capsys, "table", res, "--format", "csv")
    df = pd.read_csv(io.StringIO(out))
    assert code == 0
    for col in ("mean", "ci_lo", "ci_hi", "n", "lo", "hi", "seeds", "chance"):
        assert pd.api.types.is_numeric_dtype(df[col]), col
    rnn8 = df[(df["arch"] == "rnn") & (df["distance"] == "8")].iloc[0]
    assert (rnn8["mean"], rnn8["n"], rnn8["interval"]) == (pytest.approx(0.31), 3, "t")
    whole = df[(df["task"] == "translation") & (df["bin"] == "overall")]
    assert len(whole) == 2 and whole["interval"].eq("sentences").all() and (whole["n"] == 200).all()
    assert set(whole["metric"]) == {"sacrebleu"} and whole["chance"].isna().all()
    code, out, _ = run(capsys, "table", res, "--format", "csv", "--metric", "token_acc")
    df = pd.read_csv(io.StringIO(out))
    whole = df[(df["task"] == "translation") & (df["bin"] == "overall")]
    assert whole["interval"].eq("wilson").all() and (whole["n"] == 200).all() and set(df["metric"]) == {"token_acc"}
    assert list(df[df["arch"] == "rnn"]["lo"][:8]) == list(DISTANCES)  # bins sorted by distance


def test_table_latex_and_html(res, capsys):
    code, out, _ = run(capsys, "table", res, "--format", "latex")
    assert code == 0 and r"\begin{tabular}" in out and r"\textbf{" in out and "±" not in out
    code, out, _ = run(capsys, "table", res, "--format", "html")
    assert code == 0 and "<table" in out and "<strong>" in out and "<h2>summary</h2>" in out


def test_seq_acc_metric_has_no_chance_row_numbers(res, capsys):
    code, out, _ = run(capsys, "table", res, "--metric", "seq_acc", "--format", "csv")
    df = pd.read_csv(io.StringIO(out))
    assert code == 0 and set(df["metric"]) == {"seq_acc"} and df["chance"].isna().all()
    assert run(capsys, "table", res, "--metric", "bleu")[0] == 2


def test_learning_rate_chosen_on_validation_loss_only(tmp_path, capsys):
    good = [make_record("gru", distance=d, seed=s, lr=1e-3, acc=0.4, val_loss=0.5) for d in (4, 8) for s in (0, 1)]
    bad = [make_record("gru", distance=d, seed=s, lr=1e-2, acc=0.9, val_loss=0.9) for d in (4, 8) for s in (0, 1)]
    late = [make_record("gru", distance=16, seed=s, lr=lr, acc=a, val_loss=v)
            for s in (0, 1) for lr, a, v in ((1e-3, 0.2, 2.0), (1e-2, 0.7, 1.0))]
    save_all(tmp_path / "lr", good + bad + late)
    code, out, _ = run(capsys, "table", tmp_path / "lr", "--format", "csv")
    df = pd.read_csv(io.StringIO(out)).set_index("distance")
    assert code == 0
    assert df.loc[4, "lr"] == 1e-3 and df.loc[4, "mean"] == pytest.approx(0.4)  # better test score, worse val loss
    assert df.loc[16, "lr"] == 1e-2 and df.loc[16, "mean"] == pytest.approx(0.7)
    assert (df["lrs"] == 2).all()
    code, out, _ = run(capsys, "table", tmp_path / "lr")
    assert "lr chosen per distance on validation accuracy (ties: the earliest best step)" in " ".join(out.split())
    assert "0.001/0.01" in out
    one_lr = [make_record("gru", distance=4, seed=s, acc=0.4) for s in (0, 1)]
    assert "lr" not in task_tables(one_lr)[0].labels and not any(task_tables(one_lr)[0].lrs)


def test_learning_rate_chosen_on_validation_free_running_accuracy_before_loss(tmp_path, capsys):
    """The reported metric, measured on validation, decides; the loss breaks ties; test accuracy never."""
    acc = [make_record("gru", distance=4, seed=s, lr=1e-3, acc=0.1, val_loss=0.9, val_gen_acc=0.8) for s in (0, 1)]
    loss = [make_record("gru", distance=4, seed=s, lr=1e-2, acc=0.9, val_loss=0.5, val_gen_acc=0.6) for s in (0, 1)]
    save_all(tmp_path / "lr", acc + loss)
    code, out, _ = run(capsys, "table", tmp_path / "lr", "--format", "csv")
    df = pd.read_csv(io.StringIO(out)).set_index("distance")
    assert code == 0 and df.loc[4, "lr"] == 1e-3 and df.loc[4, "mean"] == pytest.approx(0.1)


def test_same_position_with_different_configs_is_refused(tmp_path, capsys):
    a = make_record("lstm", seed=0)
    b = make_record("lstm", seed=0, config={**a.config.to_dict(), "eval": {"n_test": 1}})
    save_all(tmp_path / "r", [a, b])
    code, _, err = run(capsys, "table", tmp_path / "r")
    assert code == 2 and "pool them as seeds" in err and err.count("\n") == 1


def test_memory_named_for_each_kind():
    for kind, header in (("cell_process_peak_rss", "cell RSS MB"), ("cuda_max_allocated", "CUDA peak MB")):
        from seqbench.publish.render import details_caption, details_cells

        (t,) = task_tables([make_record("lstm", seed=s, memory_kind=kind, peak_mb=100.0 + s) for s in (0, 1)])
        headers, rows = details_cells(t)
        assert header in headers and rows[0][headers.index(header)] == "101"
        assert "NOT per cell" not in details_caption(t)
    (t,) = task_tables([make_record("lstm", seed=s, memory_kind="process_max_rss") for s in (0, 1)])
    assert "process RSS MB" in details_cells(t)[0] and "NOT per cell" in details_caption(t)


def test_summary_is_what_a_run_prints_first():
    text = terminal(matrix())
    assert text.startswith("Summary: reach") and "transformer" in text and "256+" in text


# --- long format ------------------------------------------------------------------------------------------------

def test_long_format_round_trips_csv_and_parquet(tmp_path, res, capsys):
    df = long_frame(matrix())
    assert len(df) == 3 * 8 * 3 - 1 + 1 + 2 * 2  # one row per bin; one for the cell without bins
    for suffix in ("csv", "parquet"):
        code, _, err = run(capsys, "table", res, "--long-out", tmp_path / f"long.{suffix}")
        assert code == 0 and f"long.{suffix}" in err
        path = tmp_path / f"long.{suffix}"
        back = pd.read_csv(path) if suffix == "csv" else pd.read_parquet(path)
        assert back.shape == df.shape and {"lr", "bin.tokens", "metrics.val.history"} <= set(back.columns)
    code, _, err = run(capsys, "table", res, "--long-out", tmp_path / "long.xlsx")
    assert code == 2 and ".csv or .parquet" in err and not (tmp_path / "long.xlsx").exists()


def test_long_format_mixed_types_become_text(tmp_path):
    """A plugin option whose type changed between plugin versions (a number in one record, text in another)."""
    a, b = make_record("lstm", seed=0), make_record("lstm", seed=1)
    b = edited(b, lambda d: d["config"]["task_options"].update(alphabet="auto"))
    back = pd.read_parquet(write_long([a, b], tmp_path / "x.parquet"))
    assert sorted(back["config.task_options.alphabet"].unique()) == [str(a.config.task_options["alphabet"]), "auto"]


def test_a_misspelt_setting_in_a_records_config_is_refused():
    """The record's configuration is typed: an unknown key or a value of the wrong type names the field."""
    good = make_record("lstm", seed=0).to_dict()
    for section, key, value in (("train", "lrr", 0.1), ("model", "d_model", "auto"), ("eval", "n_test", [1])):
        bad = copy.deepcopy(good)
        bad["config"][section][key] = value
        with pytest.raises(ValidationError) as e:
            Record.model_validate(bad)
        assert describe(e.value).startswith(f"config.{section}.{key}:")


# --- plots ------------------------------------------------------------------------------------------------------

def test_plot_writes_every_figure_once_and_the_same_records_draw_the_same_svg(res, tmp_path, capsys):
    code, out, _ = run(capsys, "plot", res, "--out", tmp_path / "plots", "--format", "png,svg")
    assert code == 0
    names = sorted(Path(p).name for p in out.split())
    stems = {"reach", "accuracy-copy", "accuracy-translation", "curves-copy", "curves-translation",
             "throughput-copy", "gradients-copy"}  # translation ran at one length: no throughput-against-length
    # figure; copy cells record the gradient that reaches the clue, as real copy records do: a gradients figure
    assert names == sorted(f"{s}.{f}" for s in stems for f in ("png", "svg"))
    for name in names:
        data = (tmp_path / "plots" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" if name.endswith(".png") else b"<svg" in data
    svg = (tmp_path / "plots" / "accuracy-copy.svg").read_text(encoding="utf-8")
    for text in ("lstm", "rnn", "transformer", "Band: 95% Student-t interval over 2 to 3 seeds"):
        assert text in svg
    assert ">256<" in svg.replace("\n", "") or "256" in svg  # ticks at every bin
    assert main(["plot", str(res), "--out", str(tmp_path / "again"), "--format", "svg"]) == 0
    assert (tmp_path / "again" / "accuracy-copy.svg").read_text(encoding="utf-8") == svg
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left behind
    code, _, err = run(capsys, "plot", res, "--out", tmp_path / "p2", "--format", "png,jpg")
    assert code == 2 and "Unknown plot format 'jpg'" in err and not (tmp_path / "p2").exists()


def test_one_seed_figures_say_wilson_and_draw_no_t_band(tmp_path, capsys):
    save_all(tmp_path / "one", curve("gru", [1.0, 0.9, 0.5, 0.2, 0.1, 0.1, 0.1, 0.1], seeds=(0,)))
    code, _, _ = run(capsys, "plot", tmp_path / "one", "--out", tmp_path / "p", "--format", "svg")
    svg = (tmp_path / "p" / "accuracy-copy.svg").read_text(encoding="utf-8")
    assert code == 0 and "Wilson" in svg and "Student-t" not in svg


def test_a_failing_figure_leaves_no_half_plot_folder(res, tmp_path, monkeypatch):
    from seqbench.publish import plots

    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "keep.txt").write_text("mine")
    calls = []

    def broken(task, df, styles):
        calls.append(task)
        raise RuntimeError("drawing failed")

    monkeypatch.setattr(plots, "throughput_figure", broken)
    with pytest.raises(RuntimeError):
        main(["plot", str(res), "--out", str(tmp_path / "plots")])
    assert calls and [p.name for p in (tmp_path / "plots").iterdir()] == ["keep.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


# --- destinations and bad records -------------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["plot", "report", "merge", "long-out"])
def test_destinations_checked_before_any_work(res, tmp_path, capsys, command):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    argv = {"plot": ["plot", res, "--out"], "report": ["report", res, "--out"], "merge": ["merge", res, "--out"],
            "long-out": ["table", res, "--long-out"]}[command]
    for dest, message in ((blocker, "is not a folder" if command != "long-out" else None),
                          (blocker / "sub" / ("x.csv" if command == "long-out" else "out"), "is a file, not a folder"),
                          ("", "got an empty path")):
        if message is None:
            continue
        code, out, err = run(capsys, *argv, dest)
        assert code == 2 and err.count("\n") == 1 and message in err, (dest, err)
        assert out == "" and blocker.read_text() == "x"
    if command == "long-out":
        (tmp_path / "dir.csv").mkdir()
        code, _, err = run(capsys, *argv, tmp_path / "dir.csv")
        assert code == 2 and "is a folder, not a file" in err
    if command == "merge":
        (tmp_path / "m" / "records").parent.mkdir()
        (tmp_path / "m" / "records").write_text("x")
        code, _, err = run(capsys, *argv, tmp_path / "m")
        assert code == 2 and "must be a folder, but it is a file" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_unwritable_destination_is_refused(res, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, _, err = run(capsys, "report", res, "--out", locked / "r")
        assert code == 2 and "cannot write in" in err
    finally:
        locked.chmod(0o700)


def test_empty_or_missing_dir_is_a_user_error(tmp_path, capsys):
    (tmp_path / "empty" / "records").mkdir(parents=True)
    for folder in (tmp_path / "empty", tmp_path / "missing"):
        for cmd in (["table", folder], ["report", folder], ["plot", folder, "--out", tmp_path / "p"]):
            code, _, err = run(capsys, *cmd)
            assert code == 2 and err.count("\n") == 1 and f"No records were found in {folder}" in err
    code, _, err = run(capsys, "merge", tmp_path / "missing", "--out", tmp_path / "m")
    assert code == 2 and "No records were found" in err


def test_bad_record_skipped_with_a_warning_naming_file_and_field(res, capsys):
    bad = edited(make_record("gru", seed=9), lambda d: None).to_dict()
    bad["metrics"]["bins"][0]["token_acc"] = "high"
    (res / "records" / f"{bad['cell_id']}.json").write_text(__import__("json").dumps(bad))
    code, out, err = run(capsys, "table", res, "--format", "csv")
    assert code == 0 and "gru" not in out
    (warning,) = err.splitlines()
    assert warning.startswith("warning: skipped") and bad["cell_id"] in warning
    assert "metrics.bins.0.token_acc" in warning
    only = res.parent / "only"
    (only / "records").mkdir(parents=True)
    (only / "records" / "x.json").write_text("[]")
    code, _, err = run(capsys, "table", only)
    assert code == 2 and "(1 unreadable file)" in err


# --- report -----------------------------------------------------------------------------------------------------

def test_report_summary_first_then_tasks_figures_environment_config_commands(res, capsys):
    env2 = {**make_record().to_dict()["env"], "device": "cuda", "device_name": "NVIDIA H100"}
    save_all(res, [make_record("gru", "cloze", distance=8, seed=0, env=env2, chance=0.05,
                               command="seqbench run --task cloze --arch gru")])
    (res / "records" / "broken.json").write_text("{", encoding="utf-8")
    code, out, err = run(capsys, "report", res)
    folder = res / "report"
    assert code == 0 and out.split() == [str(folder / "report.md"), str(folder / "report.html")]
    assert "broken.json" in err
    md = (folder / "report.md").read_text(encoding="utf-8")
    first_table = next(line for line in md.splitlines() if line.startswith("| "))
    assert first_table.split("|")[2].strip() == "seeds" and "reach cloze" in first_table  # the summary first
    assert md.index("## Summary") < md.index("![reach per architecture and task") < md.index("## copy")
    assert "![copy: curves](curves-copy.png)" in md and "![copy: throughput](throughput-copy.png)" in md
    assert "NVIDIA H100" in md and "(1 cell)" in md and "broken.json" in md and "(left out)" in md
    config = md[md.index("## Configuration"):md.index("## Commands")]
    assert "| task copy: alphabet" in config and "| task cloze: " in config  # each task's own options
    assert "| model.params" not in config and "params []" not in config  # internal noise left out
    assert "| config." not in config and "| arch_options" not in config
    assert "seqbench run --task cloze --arch gru" in md and f"seqbench report {res} --out {folder}" in md
    for name in ("summary.csv", "accuracy.csv", "records-long.csv", "records-long.parquet", "reach.png"):
        assert (folder / name).exists() and f"[{name}]({name})" in md or name == "reach.png"
    summary_csv = pd.read_csv(folder / "summary.csv")
    assert pd.api.types.is_numeric_dtype(summary_csv["copy.reach"])
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and '<img src="reach.png"' in page and "<h2>Summary</h2>" in page


def test_report_configuration_shows_each_task_its_own_options(tmp_path, capsys):
    copy = make_record("lstm", "copy", config={"model": {"d_model": 8}, "train": {"lr": 0.01},
                                               "task_options": {"alphabet": 8, "test_delays": []},
                                               "arch_options": {}})
    trans = make_record("lstm", "translation", config={"model": {"d_model": 8}, "train": {"lr": 0.01},
                                                       "task_options": {"n_nouns": 12, "data_dir": None},
                                                       "arch_options": {}})
    save_all(tmp_path / "r", [copy, trans])
    assert main(["report", str(tmp_path / "r")]) == 0
    md = (tmp_path / "r" / "report" / "report.md").read_text(encoding="utf-8")
    config = md[md.index("## Configuration"):md.index("## Commands")]
    assert "| task copy: alphabet" in config and "| task translation: n_nouns" in config
    for noise in ("test_delays", "data_dir", "model.params", "arch_options"):
        assert noise not in config, noise


# --- merge ------------------------------------------------------------------------------------------------------

def test_merge_counters_add_up_and_exit_1_when_sources_were_skipped(tmp_path, capsys):
    recs = matrix()[:6]
    save_all(tmp_path / "a", recs[:4])
    save_all(tmp_path / "b", recs[3:])  # recs[3] is on both machines
    (tmp_path / "b" / "records" / "0000.json").write_text("not json", encoding="utf-8")
    code, out, err = run(capsys, "merge", tmp_path / "a", tmp_path / "b", "--out", tmp_path / "all")
    assert code == 1 and "0000.json" in err
    assert (f"merged 2 folders (8 record files) into {tmp_path / 'all'}: 6 written, 1 identical to a record "
            f"already there, 1 unreadable and skipped; {tmp_path / 'all'} holds 6 records") in out  # 6 + 1 + 1 = 8
    src = store.record_path(tmp_path / "a", recs[0].cell_id).read_bytes()
    assert store.record_path(tmp_path / "all", recs[0].cell_id).read_bytes() == src  # byte for byte
    code, out, _ = run(capsys, "merge", tmp_path / "a", "--out", tmp_path / "all")
    assert code == 0 and "(4 record files)" in out and ": 0 written, 4 identical" in out
    save_all(tmp_path / "c", recs[:1])
    code, out, _ = run(capsys, "merge", tmp_path / "c", "--out", tmp_path / "all")
    assert "merged 1 folder (1 record file)" in out and "holds 6 records" in out


def test_merge_identical_but_for_launch_time_is_kept_once(tmp_path):
    from seqbench.publish.merge import merge

    rec = make_record()
    later = edited(rec, lambda d: d["times"].update(started="2026-11-24T00:00:00+00:00"))
    save_all(tmp_path / "a", [rec])
    save_all(tmp_path / "b", [later])
    merged = merge([tmp_path / "a", tmp_path / "b"], tmp_path / "out")
    assert (merged.written, merged.identical, merged.inputs) == ([rec.cell_id], 1, 2)


def test_merge_conflict_refused_and_nothing_written(tmp_path, capsys):
    rec = make_record("lstm", seed=0)

    def change(d):
        d["metrics"]["bins"][0]["token_acc"] = 0.99
        d["throughput"]["train_tokens_per_s"] = 1.0

    other = edited(rec, change)
    save_all(tmp_path / "a", [rec, make_record("rnn")])
    save_all(tmp_path / "b", [other, make_record("gru")])
    code, _, err = run(capsys, "merge", tmp_path / "a", tmp_path / "b", "--out", tmp_path / "all")
    assert code == 2 and err.count("\n") == 1 and rec.cell_id in err and "metrics, throughput differ" in err
    assert not (tmp_path / "all").exists()


def test_columns_run_in_distance_order_whichever_architecture_probed_a_distance_first():
    """A search probes each architecture at its own distances: gru at 16-128, rnn also at 8 and 23. The columns
    are the union in distance order (8, 16, 23, 32, 64, 128), not in the order the rows first show them."""
    recs = [make_record("gru", distance=d, seed=s, acc=1.0) for d in (16, 32, 64, 128) for s in (0, 1)]
    recs += [make_record("rnn", distance=d, seed=s, acc=0.9) for d in (8, 16, 23, 32) for s in (0, 1)]
    (t,) = task_tables(recs)
    assert [c.lo for c in t.columns] == [8, 16, 23, 32, 64, 128]
    assert [c.header for c in t.columns] == ["8", "16", "23", "32", "64", "128"]
