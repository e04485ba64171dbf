"""Kept weights: safetensors round trips, a real run with --keep-weights, resume, merge, and rebuilding cells from
their records (gradient reach and attention without retraining)."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from seqbench.cli import main
from seqbench.contract import registry
from seqbench.host.sizing import build_model
from seqbench.contract.specs import ModelShape
from seqbench.records import store
from seqbench.run import weights
from seqbench.run.gradients import INIT, TRAINED, Probe
from seqbench.testing.arch_checks import random_batch

from _tiny import tiny_config

REG = registry.load()


@pytest.mark.parametrize("arch", sorted(REG.archs))
def test_safetensors_round_trip_gives_identical_outputs(arch, tmp_path):
    spec = REG.arch(arch)
    shape = ModelShape(d_model=16, n_layers=2, n_heads=2, dropout=0.0, max_len=64)
    torch.manual_seed(0)
    trained = build_model(spec, shape, spec.options(), 20).eval()
    name = weights.save(trained, tmp_path / "w.safetensors", {"cell_id": "x"})
    torch.manual_seed(1)
    fresh = build_model(spec, shape, spec.options(), 20).eval()
    src, src_len, tgt_in = random_batch(20, [7, 3, 5], 6)
    with torch.no_grad():
        assert not torch.equal(fresh(src, src_len, tgt_in), trained(src, src_len, tgt_in))
        weights.load(fresh, tmp_path / name)
        assert torch.equal(fresh(src, src_len, tgt_in), trained(src, src_len, tgt_in))
    assert weights.read_about(tmp_path / name) == {"cell_id": "x"}
    assert not list(tmp_path.glob(".*.tmp"))


def run(config: Path, out: Path, *extra: str) -> int:
    return main(["run", "--config", str(config), "--profile", "none", "--out", str(out), "--no-progress",
                 "--jobs", "0", *extra])


@pytest.fixture(scope="module")
def kept(tmp_path_factory) -> tuple[Path, Path]:
    """A finished run with --keep-weights: (config, result folder). Tests copy the folder before changing it."""
    tmp = tmp_path_factory.mktemp("kept")
    config = tiny_config(tmp / "tiny.toml", ["lstm", "seq2seq-attn"], "3-6")
    out = tmp / "out"
    assert run(config, out, "--keep-weights") == 0
    return config, out


def copy_of(kept, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(kept[1], out)
    return out


def test_keep_weights_writes_one_file_per_cell_named_by_its_record(kept):
    loaded = store.load_dir(kept[1])
    assert len(loaded.records) == 2 and not loaded.missing
    for r in loaded.records:
        assert r.artifacts == {"weights": f"{r.cell_id}.safetensors"}
        about = weights.read_about(store.records_dir(kept[1]) / r.artifacts["weights"])
        assert about["cell_id"] == r.cell_id and about["arch"] == r.arch and about["config"] == r.config.to_dict()
    assert not list(store.records_dir(kept[1]).glob(".*"))  # no temporary files


def test_rebuilt_cells_measure_the_recorded_gradient_reach(kept):
    """From the record and its weights alone: the same test examples, the same initialisation (seeded), the same
    trained weights, so the same medians."""
    for r in store.load_dir(kept[1]).records:
        trained = weights.rebuild(REG, kept[1], r)
        init = weights.rebuild(REG, kept[1], r, trained=False)
        probe = Probe(trained.task, trained.test, trained.bins, trained.eval.grad_examples, trained.eval.batch_size)
        probe.measure(trained.model, TRAINED)
        probe.measure(init.model, INIT)
        again = probe.into([{"lo": b.lo} for b in r.metrics.bins])
        for b, now in zip(r.metrics.bins, again):
            assert now[TRAINED] == pytest.approx(b.extra()[TRAINED], rel=1e-9)
            assert now[INIT] == pytest.approx(b.extra()[INIT], rel=1e-9)


def test_gradients_command_prints_recomputed_beside_recorded(kept, capsys):
    assert main(["gradients", str(kept[1]), "--arch", "lstm"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:5] == ["arch", "task", "distance", "seed", "bin"] and len(lines) == 3
    for line in lines[1:]:
        cols = line.split()
        assert cols[0] == "lstm" and cols[5] == cols[6] and cols[7] == cols[8]  # now == recorded


def test_resume_keeps_weighted_cells_and_reruns_cells_without_weights(kept, tmp_path, capsys):
    out = copy_of(kept, tmp_path)
    config = kept[0]
    assert run(config, out, "--keep-weights") == 0
    assert "2 of 2 cells were finished before" in capsys.readouterr().err
    victim = next(store.records_dir(out).glob("*.safetensors"))
    victim.unlink()
    assert main(["table", str(out)]) == 0
    assert f"names its weights {victim}, which is missing" in capsys.readouterr().err
    assert run(config, out) == 0  # without --keep-weights, a record is finished with or without its weights
    assert "2 of 2 cells were finished before" in capsys.readouterr().err
    (store.records_dir(out) / f".{victim.name}.abc123.tmp").write_bytes(b"half a file")  # a killed write
    assert run(config, out, "--keep-weights") == 0
    assert "1 of 2 cells were finished before" in capsys.readouterr().err
    assert victim.is_file() and not list(store.records_dir(out).glob(".*"))


def test_rerun_without_keep_weights_removes_the_old_weights(kept, tmp_path):
    out = copy_of(kept, tmp_path)
    assert run(kept[0], out, "--rerun") == 0
    assert not list(store.records_dir(out).glob("*.safetensors"))
    assert all(not r.artifacts for r in store.load_dir(out).records)


def test_merge_copies_weights_and_reports_missing_ones(kept, tmp_path, capsys):
    src = copy_of(kept, tmp_path)
    merged = tmp_path / "merged"
    assert main(["merge", str(src), "--out", str(merged)]) == 0
    assert "2 artifact files copied" in capsys.readouterr().out
    assert sorted(p.name for p in store.records_dir(merged).iterdir()) == sorted(
        p.name for p in store.records_dir(src).iterdir())
    assert main(["attention", str(merged), "--arch", "seq2seq-attn", "--task", "copy",
                 "--out", str(tmp_path / "a.png")]) == 0  # the merged folder's weights load
    gone = next(store.records_dir(src).glob("*.safetensors"))
    gone.unlink()
    other = tmp_path / "other"
    assert main(["merge", str(src), "--out", str(other)]) == 1
    captured = capsys.readouterr()
    assert "1 artifact missing in the sources" in captured.out and f"{gone}, which is missing" in captured.err
    assert len(store.load_dir(other).records) == 2  # the record is merged all the same
    assert main(["merge", str(kept[1]), "--out", str(other)]) == 0  # an identical copy fills the missing file
    assert "1 artifact file copied" in capsys.readouterr().out and (store.records_dir(other) / gone.name).is_file()


class Boom:
    """A pickle that runs code when it is loaded."""

    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


MARKER = Path("/tmp/seqbench-test-pickle-ran")


def test_a_pickle_posing_as_weights_is_refused_and_never_run(kept, tmp_path, capsys):
    out = copy_of(kept, tmp_path)
    MARKER.unlink(missing_ok=True)
    r = next(r for r in store.load_dir(out).records if r.arch == "seq2seq-attn")
    (store.records_dir(out) / r.artifacts["weights"]).write_bytes(pickle.dumps(Boom()))
    assert main(["attention", str(out), "--arch", "seq2seq-attn", "--task", "copy"]) == 2
    err = capsys.readouterr().err
    assert "not a readable weights file" in err and len(err.strip().splitlines()) == 1
    assert not MARKER.exists()


def test_folders_without_weights_still_publish_and_say_what_is_missing(kept, tmp_path, capsys):
    out = tmp_path / "plain"
    assert run(kept[0], out) == 0
    capsys.readouterr()
    assert main(["report", str(out), "--out", str(tmp_path / "report")]) == 0
    assert "gradients-copy.png" in (tmp_path / "report" / "report.md").read_text()
    assert main(["attention", str(out), "--arch", "seq2seq-attn", "--task", "copy"]) == 2
    assert "kept its weights: run it with --keep-weights" in capsys.readouterr().err


def test_a_write_that_fails_halfway_leaves_no_file(tmp_path, monkeypatch):
    import safetensors.torch

    def half(model, filename, metadata=None):
        Path(filename).write_bytes(b"\x00" * 10)  # half a file, then the process is interrupted
        raise KeyboardInterrupt

    monkeypatch.setattr(safetensors.torch, "save_model", half)
    model = torch.nn.Linear(2, 2)
    with pytest.raises(KeyboardInterrupt):
        weights.save(model, tmp_path / "records" / "c.safetensors", {"cell_id": "c"})
    assert list((tmp_path / "records").iterdir()) == []
