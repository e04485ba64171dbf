"""The translation task on Hugging Face `datasets` corpora: a DatasetDict saved with `save_to_disk` in a local folder
(tests never touch the network; `hf_dataset` reads the hub through the same code path after `load_dataset`)."""

from __future__ import annotations

import pytest
import torch

from seqbench.cli import main
from seqbench.contract import registry
from seqbench.contract.errors import ConfigError, UserError
from seqbench.contract.specs import EOS, PAD, Distance
from seqbench.records import store
from seqbench.run.config import section as build_options
from seqbench.tasks import _corpus

datasets = pytest.importorskip("datasets", reason="the optional extra seqbench[hf] (datasets) is not installed")

EN = ["a dog runs.", "two cats sleep.", "a man rides a horse.", "the girl reads a book.", "three birds sing.",
      "a woman eats an apple.", "the boy kicks a ball.", "a dog sleeps.", "two men run.", "a cat eats."]
DE = ["ein Hund rennt.", "zwei Katzen schlafen.", "ein Mann reitet ein Pferd.", "das Mädchen liest ein Buch.",
      "drei Vögel singen.", "eine Frau isst einen Apfel.", "der Junge tritt einen Ball.", "ein Hund schläft.",
      "zwei Männer rennen.", "eine Katze isst."]


def make(distance: str = "1-40", **options):
    spec = registry.load(entry_points=False).task("translation")
    return spec.build(build_options(spec.options, options, "task.translation"), Distance.parse(distance))


def saved(path, layout: str = "translation", splits=("train", "validation", "test")):
    """A tiny DatasetDict in `path`: every split holds the ten pairs, rotated so the splits differ."""
    def one(k: int):
        en, de = EN[k:] + EN[:k], DE[k:] + DE[:k]
        if layout == "translation":
            return datasets.Dataset.from_dict({"translation": [{"en": e, "de": d} for e, d in zip(en, de)]})
        return datasets.Dataset.from_dict({"en": en, "de": de, "id": list(range(len(en)))})

    datasets.DatasetDict({name: one(k) for k, name in enumerate(splits)}).save_to_disk(str(path))
    _corpus._CACHE.clear()
    return path


@pytest.mark.parametrize("layout", ["translation", "columns"])
def test_a_saved_dataset_loads_like_files(tmp_path, layout):
    task = make(data_dir=str(saved(tmp_path / "ds", layout)), vocab_size=120)
    assert {s: len(r) for s, r in task.rows.items()} == {"train": 10, "val": 10, "test": 10}
    val = task.eval_set("val", 10, torch.Generator())
    assert task.decode(val.src[0].tolist()) == EN[1] and task.reference_text(val.tgt[0].tolist()) == DE[1]
    test = task.eval_set("test", 10, torch.Generator())
    assert task.reference_text(test.tgt[0].tolist()) == DE[2]
    assert (test.tgt.gather(1, (test.tgt != PAD).sum(1, keepdim=True) - 1) == EOS).all()


def test_split_names_follow_the_options(tmp_path):
    root = saved(tmp_path / "ds", splits=("train", "dev", "test2016", "test2017"))
    with pytest.raises(UserError, match="no validation split .*its splits: train, dev, test2016, test2017"):
        make(data_dir=str(root))
    with pytest.raises(UserError, match="no test split"):
        make(data_dir=str(root), val_prefix="dev")  # two test* splits: name one
    task = make(data_dir=str(root), val_prefix="dev", test_prefix="test2017", vocab_size=120)
    assert task.reference_text(task.eval_set("test", 1, torch.Generator()).tgt[0].tolist()) == DE[3]


def test_missing_languages_and_columns_are_named(tmp_path):
    root = saved(tmp_path / "ds")
    with pytest.raises(UserError, match="translation column has no fr; it has de, en"):
        make(data_dir=str(root), tgt_lang="fr")
    other = tmp_path / "other"
    datasets.DatasetDict({s: datasets.Dataset.from_dict({"src": EN, "tgt": DE}) for s in ("train", "validation", "test")}
                         ).save_to_disk(str(other))
    with pytest.raises(UserError, match="needs a `translation` column or columns 'en' and 'de'; it has src, tgt"):
        make(data_dir=str(other))


def test_data_dir_and_hub_name_are_exclusive():
    with pytest.raises(ConfigError, match="either data_dir or hf_dataset"):
        build_options(registry.load(entry_points=False).task("translation").options,
                      {"data_dir": "x", "hf_dataset": "wmt14"}, "task.translation")


def test_a_saved_dataset_trains_through_the_cli(tmp_path):
    root = saved(tmp_path / "ds")
    out = tmp_path / "out"
    assert main(["run", "--arch", "transformer", "--task", "translation", "--distance", "1-40", "--max-steps", "5",
                 "--set", f"task.translation.data_dir={root}", "--set", "task.translation.vocab_size=120",
                 "--set", "model.d_model=16", "--set", "model.n_layers=1", "--set", "eval.n_val=10",
                 "--set", "eval.n_test=10", "--jobs", "0", "--no-progress", "--out", str(out)]) == 0
    record = store.load_dir(out).dicts()[0]
    assert record["status"] == "ok" and record["metrics"]["overall"]["n"] == 10
    assert {"sacrebleu", "chrf2", "bleu_tok_lc"} <= set(record["metrics"]["overall"])
