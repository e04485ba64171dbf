"""When a cell stops and why (issue 24), and decoding that never reads the reference (issue 25): real tiny cells
and stub models."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import Tensor, nn

from seqbench.cli import main
from seqbench.contract.specs import EOS, PAD, Batch, Distance
from seqbench.records import store
from seqbench.run.config import EvalConfig, TrainConfig
from seqbench.run.module import SeqModule, fit
from seqbench.run.stopping import decide, improving, last_gain
from seqbench.tasks.copy import CopyOptions, CopyTask

A = 6  # a symbol after the host's specials


class Babbler(nn.Module):
    """A model that never ends: every next token is A, whatever it is shown (never EOS)."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.vocab = vocab
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, src: Tensor, src_len: Tensor, tgt_in: Tensor) -> Tensor:
        logits = torch.zeros(*tgt_in.shape, self.vocab) + self.w  # (B, T, V)
        logits[..., A] = 1.0
        return logits


def _module(eval_cfg: EvalConfig, max_len: int = 40) -> tuple[SeqModule, CopyTask]:
    """A module around the babbler, built for streams of `max_len` tokens (longer than the task needs)."""
    task = CopyTask(CopyOptions(alphabet=8, k=3), Distance(4, 4))
    return SeqModule(Babbler(task.vocab_size), task, TrainConfig(), eval_cfg, [(4, 4)], max_len), task


def test_generation_stops_at_a_cap_from_the_source_never_at_the_references_length():
    module, task = _module(EvalConfig(max_len_a=0.5, max_len_b=2))
    batch = task.sample("test", 4, torch.Generator().manual_seed(0))  # sources of 3 + 4 + 1 = 8 tokens
    src_len = (batch.src != PAD).sum(1)
    out = module.generate(batch)
    assert out.shape[1] == 6 and (out == A).all()  # floor(0.5 * 8 + 2) = 6 tokens; the reference has 4
    shorter = Batch(batch.src, batch.tgt[:, :1], batch.distance)  # another reference: the same output
    assert torch.equal(module.generate(shorter), out)
    assert module.caps(src_len).tolist() == [6] * 4
    wide, _ = _module(EvalConfig(max_len_a=10.0, max_len_b=50))
    assert wide.caps(src_len).tolist() == [40 - 8 - 1] * 4  # within what the model was built for
    tight, _ = _module(EvalConfig(max_len_a=10.0, max_len_b=50), max_len=None)  # built for the task's own streams
    assert tight.caps(src_len).tolist() == [task.max_tgt_len] * 4


def test_scoring_fits_the_output_to_the_target_position_by_position():
    out = torch.tensor([[7, 8, EOS, PAD, PAD, PAD], [7, 8, 9, 9, 9, 9]])
    assert fit(out, 3).tolist() == [[7, 8, EOS], [7, 8, 9]]
    assert fit(out[:, :2], 4).tolist() == [[7, 8, PAD, PAD], [7, 8, PAD, PAD]]  # a missing token is wrong


def _history(*accs: float, every: int = 100, losses=None) -> list[dict]:
    losses = losses or [1.0] * len(accs)
    return [{"step": every * (i + 1), "val_gen_acc": a, "val_loss": l} for i, (a, l) in enumerate(zip(accs, losses))]


def test_the_rules_read_the_free_running_validation_accuracy():
    assert decide(_history(0.2, 0.5, 0.99), solved_at=0.99, patience=None) == "solved"
    assert decide(_history(0.2, 0.5, 0.5, 0.5), solved_at=0.99, patience=200) == "plateau"  # best at 200, now 400
    assert decide(_history(0.2, 0.5, 0.5), solved_at=0.99, patience=200) is None
    assert decide(_history(0.2, 0.2, 0.2, 0.2), solved_at=None, patience=None) is None
    assert improving(_history(0.2, 0.3, 0.4, 0.5), TrainConfig(patience=150))
    assert not improving(_history(0.5, 0.3, 0.3, 0.3, losses=[0.5, 0.9, 0.9, 0.9]), TrainConfig(patience=150))
    assert improving(_history(0.5, 0.3, 0.3, 0.3, losses=[0.9, 0.8, 0.7, 0.6]), TrainConfig(patience=150))


def test_a_gain_within_the_margin_is_noise_to_both_rules():
    """At chance, a validation better by a hair does not restart the plateau clock, nor make a cell at its budget
    "improving"; a gain past the margin does both."""
    noise = _history(0.125, 0.130, 0.134, 0.131, 0.135)  # each best beats the last by less than 0.01
    assert decide(noise, solved_at=None, patience=400, min_delta=0.01) == "plateau"  # 400 steps since 0.125
    assert decide(noise, solved_at=None, patience=400) is None  # without a margin 0.135 at step 500 is a gain
    flat = [{**p, "val_loss": 1.0} for p in noise]
    assert not improving(flat, TrainConfig(patience=300, min_delta=0.01))
    assert improving(flat, TrainConfig(patience=300))
    rising = _history(0.125, 0.130, 0.150, 0.170, 0.190)  # gains of 0.02 a validation
    assert decide(rising, solved_at=None, patience=400, min_delta=0.01) is None
    assert improving([{**p, "val_loss": 1.0} for p in rising], TrainConfig(patience=300, min_delta=0.01))
    exact = _history(0.5, 0.51, 0.51)  # a gain of exactly the margin is not more than it
    assert decide(exact, solved_at=None, patience=200, min_delta=0.01) == "plateau"
    assert last_gain(exact, min_delta=0.0)["step"] == 200 and last_gain(exact, min_delta=0.01)["step"] == 100


def _run(tmp_path: Path, name: str, *sets: str) -> dict:
    out = tmp_path / name
    assert main(["run", "--profile", "none", "--arch", "lstm", "--task", "copy", "--distance", "8", "--seeds", "0",
                 "--no-progress", "--jobs", "0", "--out", str(out), "--set", "model.d_model=16",
                 "--set", "model.n_layers=1", "--set", "train.val_every=20", "--set", "eval.n_val=64",
                 "--set", "eval.n_test=64", "--set", "task.copy.k=3", "--set", "task.copy.alphabet=6",
                 *[a for s in sets for a in ("--set", s)]]) == 0
    (record,) = store.load_dir(out).records
    return json.loads(record.to_json())


def test_a_cell_that_cannot_learn_stops_as_plateaued(tmp_path):
    record = _run(tmp_path, "plateau", "train.lr=1e-7", "train.max_steps=400", "train.patience=60")
    val = record["metrics"]["val"]
    assert val["stop_reason"] == "plateau" and val["stopped"] == "plateau"
    steps = [p["step"] for p in val["history"]]
    assert steps[-1] < 400 and steps[-1] - val["best_step"] >= 60  # stopped 60 steps after its first best
    assert record["throughput"]["train_steps"] == steps[-1]


def test_a_cell_whose_gains_stay_within_the_margin_stops_at_its_patience(tmp_path):
    """The margin reaches the training loop: a cell that learns, but never by more than 0.9 a validation, stops
    `patience` steps after its first validation, as plateaued."""
    record = _run(tmp_path, "margin", "train.lr=3e-3", "train.max_steps=400", "train.patience=60",
                  "train.min_delta=0.9")
    val = record["metrics"]["val"]
    assert val["stop_reason"] == "plateau" and [p["step"] for p in val["history"]] == [20, 40, 60, 80]
    assert record["config"]["train"]["min_delta"] == 0.9


def test_a_cell_still_learning_at_its_budget_says_so(tmp_path):
    record = _run(tmp_path, "budget", "train.lr=3e-3", "train.max_steps=60")
    val = record["metrics"]["val"]
    assert val["stop_reason"] == "budget" and val["stopped"] is None and val["improving"] is True
    losses = [p["val_loss"] for p in val["history"]]
    assert losses[-1] < losses[0]  # validation loss still falling at the last step
    assert all("val_gen_acc" in p for p in val["history"]) and val["best_val_gen_acc"] is not None


def test_a_solved_cell_stops_on_the_free_running_accuracy(tmp_path):
    record = _run(tmp_path, "solved", "train.lr=1e-2", "train.max_steps=1500", "train.solved_at=0.95")
    val = record["metrics"]["val"]
    assert val["stop_reason"] == "solved" and val["history"][-1]["val_gen_acc"] >= 0.95
    assert val["best_val_gen_acc"] == max(p["val_gen_acc"] for p in val["history"])
    assert record["throughput"]["train_steps"] < 1500


def test_a_cell_in_this_process_flushes_denormals_and_leaves_the_float_mode_as_it_was(tmp_path):
    from seqbench.run.cell import denormals_flushed

    assert not denormals_flushed()
    record = _run(tmp_path, "flush", "train.max_steps=20", "train.flush_denormal=true")
    assert record["status"] == "ok" and record["config"]["train"]["flush_denormal"] is True
    assert not denormals_flushed()  # --jobs 0 ran the cell here; hypothesis and numpy see IEEE floats again
