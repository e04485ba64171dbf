"""Translation end to end: synthetic (text metrics and alignment spans in the record) and the real Multi30k corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import TOY_ARCH
from seqbench.cli import main
from seqbench.records import store as results

MULTI30K = Path(__file__).resolve().parents[2] / "shared" / "data" / "multi30k"

SMALL = ["--set", "model.d_model=24", "--set", "model.n_layers=1",
         "--set", "eval.n_val=32", "--set", "eval.n_test=64", "--set", "train.val_every=15", "--no-progress"]
HERE = ["--jobs", "0"]  # cells in this process: a cell process's start (a fork server importing seqbench) took
# longer than these cells (17 s of 20 on a busy 2-core machine); test_parallel and test_crash_safety test cell processes


def test_synthetic_translation_records_bleu_chrf_signatures_and_alignment_spans(tmp_path):
    out = tmp_path / "out"
    assert main(["run", "--arch", "seq2seq-attn", "--task", "translation", "--distance", "5-24",
                 "--max-steps", "30", *SMALL, *HERE, "--out", str(out)]) == 0
    record = results.load_dir(out).dicts()[0]
    overall = record["metrics"]["overall"]
    assert 0.0 <= overall["sacrebleu"] <= 100.0 and 0.0 <= overall["chrf2"] <= 100.0
    assert overall["chrf2"] > 1.0  # 0-100: the target words share characters after 30 steps
    assert set(record["metrics"]["text_signatures"]) == {"sacrebleu", "chrf2"}
    assert "tok:13a" in record["metrics"]["text_signatures"]["sacrebleu"] and record["metrics"]["decoding"] == "greedy"
    bins = record["metrics"]["bins"]
    assert [b["label"] for b in bins] == ["5-9", "10-19", "20-24"]
    for b in bins:
        assert "sacrebleu" in b and "chrf2" in b  # per source-length bin
        assert 0 < b["mean_alignment_span"] <= b["hi"] + 1  # a span never exceeds the sentence


def test_a_time_budget_stops_training_and_the_record_says_so(tmp_path):
    out = tmp_path / "out"
    assert main(["run", "--arch", "transformer", "--task", "translation", "--distance", "5-12",
                 "--max-steps", "100000", "--set", "train.max_time=4", "--set", "eval.val_generate=16",
                 *SMALL[:-3], "--set", "train.val_every=10", "--no-progress", "--jobs", "0", "--threads", "1",
                 "--out", str(out)]) == 0
    record = results.load_dir(out).dicts()[0]
    val, tp = record["metrics"]["val"], record["throughput"]
    assert val["stopped"] == "time" and 0 < tp["train_steps"] < 100000
    assert 4.0 <= record["times"]["train_s"] < 60  # the budget, plus the validation it ends with
    history = val["history"]
    assert history and all("sacrebleu" in p and "chrf2" in p for p in history)  # BLEU against training time
    times = [p["time_s"] for p in history]
    assert times == sorted(times) and 0 < times[-1] <= record["times"]["train_s"]
    assert tp["flops_per_token"] > 0 and tp["train_tokens"] > 0
    assert tp["train_flops"] == pytest.approx(tp["flops_per_token"] * tp["train_tokens"])
    assert f"FlopCounterMode over {min(3, tp['train_steps'])} training steps" in tp["flops_method"]


def test_beam_search_decodes_the_test_set_when_asked(tmp_path, write_plugin):
    out = tmp_path / "out"
    assert main(["run", "--arch", "seq2seq", "--task", "translation", "--distance", "5-12", "--max-steps", "20",
                 "--set", "eval.beam_width=3", "--set", "eval.length_penalty=1.0", *SMALL, *HERE, "--out", str(out)]) == 0
    record = results.load_dir(out).dicts()[0]
    assert record["status"] == "ok" and record["metrics"]["decoding"] == "beam 3, length penalty 1"
    plugin = write_plugin("toy_mixer", TOY_ARCH.format(name="toy-mixer"))  # not incremental: no beam search
    code = main(["run", "-p", str(plugin), "--arch", "toy-mixer", "--task", "translation", "--distance", "5-12",
                 "--max-steps", "20", "--set", "eval.beam_width=3", *SMALL, *HERE, "--out", str(tmp_path / "toy")])
    failed = results.load_dir(tmp_path / "toy").dicts()[0]
    assert code == 1 and failed["status"] == "failed" and failed["times"]["train_s"] is None  # before training
    assert "eval.beam_width=3: beam search needs incremental generation" in failed["error"]["message"]


def test_the_multi30k_profile_needs_its_data_dir(capsys, tmp_path):
    assert main(["run", "--profile", "multi30k", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["seqbench: error: the profile 'multi30k' needs --set task.translation.data_dir=PATH: a folder "
                   "with Multi30k's raw text files train.en/.de, val.en/.de, test_2016_flickr.en/.de (optionally .gz)"]
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(not MULTI30K.is_dir(), reason="the Multi30k corpus is not beside this checkout")
@pytest.mark.slow
def test_multi30k_trains_from_local_files_and_reports_bleu(tmp_path):
    out = tmp_path / "out"
    code = main(["run", "--arch", "transformer", "--task", "translation", "--distance", "1-30", "--max-steps", "200",
                 "--set", f"task.translation.data_dir={MULTI30K}", "--set", "task.translation.vocab_size=2000",
                 "--set", "model.d_model=64", "--set", "train.val_every=100",
                 "--set", "eval.n_test=128", "--set", "eval.n_val=64", "--no-progress", "--out", str(out)])
    assert code == 0
    record = results.load_dir(out).dicts()[0]
    assert record["status"] == "ok" and record["metrics"]["overall"]["n"] == 128
    assert record["metrics"]["overall"]["token_acc"] > 0.05  # well above the ~1/2000 chance after 200 steps
    assert record["metrics"]["overall"]["chrf2"] > 5.0  # 0-100: the words share characters with the references


@pytest.mark.skipif(not MULTI30K.is_dir(), reason="the Multi30k corpus is not beside this checkout")
@pytest.mark.slow
def test_the_multi30k_profile_runs_the_three_models_and_prints_quality_and_cost(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["run", "--profile", "multi30k", "--set", f"task.translation.data_dir={MULTI30K}",
                 "--set", "train.max_time=15", "--set", "train.val_every=20", "--set", "eval.n_val=64",
                 "--set", "eval.val_generate=32", "--set", "eval.n_test=16", "--seeds", "0",
                 "--set", "sweep.enabled=false", "--no-progress", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    records = results.load_dir(out).dicts()
    assert sorted(r["arch"] for r in records) == ["seq2seq", "seq2seq-attn", "transformer"]
    # equal parameters: each body (what the budget counts: no embeddings or output head, README "How a budget is
    # spent") within 10% of the profile's 1.5M, at the width the record trained at
    from seqbench.contract import registry
    from seqbench.host.sizing import body_params
    from seqbench.run import plan as P
    from seqbench.run import resolve, sources

    reg = registry.load([])
    cfg = resolve.resolve(sources.gather("multi30k", None, {"matrix.seeds": "0"}, [
        f"task.translation.data_dir={MULTI30K}", "sweep.enabled=false"]), reg)
    cells, tasks = P.plan(cfg, reg)
    for r in records:
        cell = next(c for c in cells if c.arch == r["arch"])
        assert r["config"]["model"]["d_model"] == cell.model.d_model and r["params_budget"] == 1500000
        body = body_params(reg.arch(cell.arch), cell.shape, cfg.arch_options[cell.arch],
                           tasks[(cell.task, cell.distance)].vocab_size)
        assert 0.9 * 1500000 <= body <= 1.1 * 1500000, (cell.arch, body)
    calibration = json.loads((out / "calibration.json").read_text())  # equal time: the steps 15 s converts to
    assert all(r["config"]["train"]["max_steps"] == calibration["archs"][r["arch"]]["max_steps"]
               and r["config"]["train"]["max_time"] is None and r["metrics"]["val"]["stopped"] != "time"
               for r in records)
    assert "quality and cost" in printed and "sacreBLEU" in printed and "BLEU tok lc" in printed
    assert "train FLOPs" in printed and "tok/s" in printed
