"""Translation end to end: synthetic (text metrics and alignment spans in the record) and the real Multi30k corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqbench.records import store as results
from seqbench.cli import main

MULTI30K = Path(__file__).resolve().parents[2] / "shared" / "data" / "multi30k"

SMALL = ["--set", "model.d_model=24", "--set", "model.n_layers=1",
         "--set", "eval.n_val=32", "--set", "eval.n_test=64", "--set", "train.val_every=15", "--no-progress"]


def test_synthetic_translation_records_bleu_chrf_and_alignment_spans(tmp_path):
    out = tmp_path / "out"
    assert main(["run", "--arch", "seq2seq-attn", "--task", "translation", "--distance", "5-24",
                 "--max-steps", "30", *SMALL, "--out", str(out)]) == 0
    record = results.load_dir(out).dicts()[0]
    overall = record["metrics"]["overall"]
    assert 0.0 <= overall["bleu"] <= 1.0 and 0.0 <= overall["chrf"] <= 1.0
    bins = record["metrics"]["bins"]
    assert [b["label"] for b in bins] == ["5-9", "10-19", "20-24"]
    for b in bins:
        assert "bleu" in b and "chrf" not in b  # chrF is scored over the whole test set only
        assert 0 < b["mean_alignment_span"] <= b["hi"] + 1  # a span never exceeds the sentence


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
    assert record["metrics"]["overall"]["chrf"] > 0.05
