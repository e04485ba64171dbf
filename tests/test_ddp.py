"""One cell on two devices (`--devices 2 --strategy ddp --accelerator cpu`, gloo): a process per rank, each rank
training on its own slice of every batch, and one record, from rank zero."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from seqbench.cli import main
from seqbench.records import store as results
from test_run import TINY

# A seq2seq model that writes, while training, the source rows of every batch it sees to FOLDER/<rank>.txt.
DUMPING = """
    import os
    from dataclasses import dataclass
    import torch.nn as nn
    import seqbench
    from seqbench.contract.specs import PAD, ArchSpec

    @dataclass(frozen=True)
    class Options:
        folder: str = ""
        die_on_rank: int = -1  # this rank's process ends itself at its first training step

    class Dumping(nn.Module):
        def __init__(self, ctx):
            super().__init__()
            self.folder, self.die_on_rank = ctx.options.folder, ctx.options.die_on_rank
            self.emb = nn.Embedding(ctx.vocab_size, 16)
            self.out = nn.Linear(16, ctx.vocab_size)

        def forward(self, src, src_len, tgt_in):  # (B, S), (B,), (B, T) -> (B, T, V)
            if self.training:
                rank = os.environ.get("LOCAL_RANK", "single")
                if rank == str(self.die_on_rank):
                    os._exit(5)
                with open(os.path.join(self.folder, rank + ".txt"), "a") as f:
                    rows = [" ".join(str(t) for t in row if t != PAD) for row in src.tolist()]
                    f.write(" | ".join(rows) + "\\n")  # one line per training step
            return self.out(self.emb(tgt_in) + self.emb(src).mean(1, keepdim=True))

    @seqbench.hookimpl
    def register_architectures(register):
        register(ArchSpec("dumping", "writes its batches down", "seq2seq", Dumping, options=Options))
"""

MATRIX = TINY.replace('archs = ["lstm"]', 'archs = ["dumping"]').replace("max_steps = 40", "max_steps = 12").replace(
    "val_every = 20", "val_every = 6")


def steps(path: Path) -> list[list[str]]:
    return [line.rstrip("\n").split(" | ") for line in path.read_text().splitlines()]


def test_two_ranks_train_on_disjoint_slices_and_rank_zero_writes_one_record(tmp_path, write_plugin, capsys):
    plugin = write_plugin("dumping", DUMPING)
    config = tmp_path / "matrix.toml"
    config.write_text(MATRIX)
    seen = {"single": tmp_path / "single", "ddp": tmp_path / "ddp"}
    for folder in seen.values():
        folder.mkdir()
    common = ["run", "--config", str(config), "--profile", "none", "--no-progress", "-p", str(plugin)]
    assert main([*common, "--jobs", "0", "--out", str(tmp_path / "one"),
                 "--set", f"arch.dumping.folder={seen['single']}"]) == 0
    assert main([*common, "--jobs", "1", "--out", str(tmp_path / "two"), "--devices", "2", "--strategy", "ddp",
                 "--accelerator", "cpu", "--set", f"arch.dumping.folder={seen['ddp']}"]) == 0

    single = steps(seen["single"] / "single.txt")
    rank0, rank1 = steps(seen["ddp"] / "0.txt"), steps(seen["ddp"] / "1.txt")
    assert len(single) == len(rank0) == len(rank1) == 12  # max_steps, on every rank
    for i in range(12):
        assert len(rank0[i]) == len(rank1[i]) == 8  # batch_size 16 split in two
        assert rank0[i] + rank1[i] == single[i]  # disjoint slices that together are the single-device batch

    files = list(results.records_dir(tmp_path / "two").glob("*.json"))
    assert len(files) == 1  # one record, from rank zero
    record = results.read(files[0]).to_dict()
    assert record["status"] == "ok" and record["config"]["train"]["devices"] == 2
    assert record["metrics"]["overall"]["n"] == 128  # the whole test set, tested once on rank zero
    assert record["throughput"]["train_tokens_per_s"] > 0 and record["throughput"]["train_steps_timed"] == 12 - 3
    one = results.read(next(results.records_dir(tmp_path / "one").glob("*.json"))).to_dict()
    assert one["config"]["train"]["devices"] == 1 and one["cell_id"] != record["cell_id"]
    # settings at their defaults stay out of the id: records made before `devices` existed keep their ids
    before = {**one["config"], "train": {k: v for k, v in one["config"]["train"].items()
                                         if k not in ("devices", "strategy", "min_delta")}}
    blob = json.dumps({"config": before, "plugins": one["plugins"]}, sort_keys=True, default=str)
    assert hashlib.sha256(blob.encode()).hexdigest()[:16] == one["cell_id"]


def test_devices_must_divide_the_batch(tmp_path, capsys):
    config = tmp_path / "matrix.toml"
    config.write_text(TINY)
    code = main(["run", "--config", str(config), "--profile", "none", "--out", str(tmp_path / "out"),
                 "--devices", "3", "--accelerator", "cpu"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["seqbench: error: train.batch_size=16 must be a multiple of train.devices=3 (each device trains "
                   "on its own slice of every batch)"]
    assert not (tmp_path / "out").exists()


def test_a_rank_that_dies_fails_the_cell_and_ends_the_other_ranks(tmp_path, write_plugin):
    plugin = write_plugin("dumping", DUMPING)
    config = tmp_path / "matrix.toml"
    config.write_text(MATRIX)
    code = main(["run", "--config", str(config), "--profile", "none", "--no-progress", "-p", str(plugin),
                 "--jobs", "0", "--out", str(tmp_path / "out"), "--devices", "2", "--accelerator", "cpu",
                 "--set", f"arch.dumping.folder={tmp_path}", "--set", "arch.dumping.die_on_rank=1"])
    assert code == 1
    record = results.load_dir(tmp_path / "out").dicts()[0]
    assert record["status"] == "failed" and record["error"]["type"] == "WorkerDied"
    assert record["error"]["message"] == ("rank 1 of 2: the process running the cell exited with code 5 before it "
                                          "finished")
