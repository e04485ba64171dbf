"""One failing cell never sinks a matrix: diverged, out-of-memory and raising plugins are recorded as such."""

from __future__ import annotations

import pytest

from seqbench.records import store as results
from seqbench.cli import main
from test_run import TINY

FAULTY = """
    import torch
    import torch.nn as nn
    import seqbench
    from seqbench.contract.specs import ArchSpec

    class NaNMixer(nn.Module):
        '''Fine for two steps, then its output turns to NaN.'''
        def __init__(self, d):
            super().__init__()
            self.lin = nn.Linear(d, d)
            self.register_buffer("calls", torch.zeros((), dtype=torch.long))
        def forward(self, x):
            if self.training:
                self.calls += 1
            y = self.lin(x)
            return y * float("nan") if int(self.calls) > 2 else y

    class Raising(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.lin = nn.Linear(d, d)
        def forward(self, x):
            raise ValueError("kaboom from the plugin")

    class OOM(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.lin = nn.Linear(d, d)
        def forward(self, x):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB")

    class WrongShape(nn.Module):
        def __init__(self, ctx):
            super().__init__()
            self.lin = nn.Linear(4, ctx.vocab_size)
        def forward(self, src, src_len, tgt_in):
            return self.lin(torch.zeros(src.shape[0], 4))  # (B, V): forgot the time axis

    @seqbench.hookimpl
    def register_architectures(register):
        mk = lambda cls: (lambda ctx: cls(ctx.model.d_model))
        register(ArchSpec("nan-mixer", "diverges", "mixer", mk(NaNMixer)))
        register(ArchSpec("raising", "raises", "mixer", mk(Raising)))
        register(ArchSpec("oom", "runs out of memory", "mixer", mk(OOM)))
        register(ArchSpec("wrong-shape", "returns the wrong shape", "seq2seq", WrongShape))
"""


def test_failing_cells_are_recorded_and_the_matrix_goes_on(tmp_path, write_plugin, capsys):
    plugin = write_plugin("faulty", FAULTY)
    config = tmp_path / "c.toml"
    config.write_text(TINY.replace('archs = ["lstm"]', 'archs = ["nan-mixer", "raising", "lstm", "oom", "wrong-shape"]'))
    out = tmp_path / "out"
    code = main(["run", "-p", str(plugin), "--config", str(config), "--profile", "none", "--out", str(out), "--no-progress", "-v"])
    assert code == 1  # some cell failed
    by_arch = {r["arch"]: r for r in results.load_dir(out).dicts()}
    assert set(by_arch) == {"nan-mixer", "raising", "lstm", "oom", "wrong-shape"}
    assert by_arch["lstm"]["status"] == "ok"
    nan = by_arch["nan-mixer"]
    assert nan["status"] == "diverged" and nan["error"]["step"] == 2 and "nan" in nan["error"]["message"]
    raising = by_arch["raising"]
    assert raising["status"] == "failed" and raising["error"]["type"] == "ValueError"
    assert raising["error"]["message"] == "kaboom from the plugin"
    assert "architecture plugin 'raising'" in raising["error"]["plugin"] and "faulty" in raising["error"]["plugin"]
    assert by_arch["oom"]["status"] == "oom"
    shape = by_arch["wrong-shape"]
    assert shape["status"] == "failed" and "architecture plugin 'wrong-shape'" in shape["error"]["plugin"]
    assert "expected float logits of shape" in shape["error"]["message"]
    table = capsys.readouterr().out
    for state in ("diverged", "failed", "oom"):
        assert state in table
    # the failed cells are finished cells: a rerun does not repeat them
    assert main(["run", "-p", str(plugin), "--config", str(config), "--profile", "none", "--out", str(out), "--no-progress", "-v"]) == 1
    err = capsys.readouterr().err
    assert err.count("finished before, skipped") == 5 and "4 of 5 cells not ok" in err
    # --retry-failed runs exactly the four that are not ok
    assert main(["run", "-p", str(plugin), "--config", str(config), "--profile", "none", "--out", str(out), "--no-progress", "-v",
                 "--retry-failed"]) == 1
    err = capsys.readouterr().err
    assert err.count("finished before, skipped") == 1 and err.count(": training (") == 4


@pytest.mark.parametrize("bad_sample, message", [
    ("return (src, tgt)", "not a seqbench.contract.specs.Batch"),
    ("return Batch(src.float(), tgt, d)", "src must be a long tensor"),
    ("return Batch(src + 100, tgt, d)", "token ids must be in [0, 8)"),
])
def test_task_breaking_the_contract_is_named(tmp_path, write_plugin, bad_sample, message):
    plugin = write_plugin("badtask", f"""
        import torch
        import seqbench
        from seqbench.contract.specs import Batch, Task, TaskSpec, EOS

        class Bad(Task):
            def __init__(self, distance):
                self.distance, self.vocab_size, self.chance = distance, 8, 0.25
                self.max_src_len, self.max_tgt_len = 4, 3
            def sample(self, split, n, generator):
                src = torch.randint(4, 8, (n, 4), generator=generator)
                tgt = torch.cat([src[:, :2], torch.full((n, 1), EOS)], 1)
                d = torch.full((n,), 2)
                {bad_sample}
            def decode(self, ids):
                return " ".join(map(str, ids))

        @seqbench.hookimpl
        def register_tasks(register):
            register(TaskSpec("bad-task", "breaks the contract", lambda o, d: Bad(d)))
    """)
    out = tmp_path / "out"
    code = main(["run", "-p", str(plugin), "--arch", "lstm", "--task", "bad-task", "--max-steps", "5",
                 "--set", "model.d_model=8", "--out", str(out), "--no-progress", "-v"])
    assert code == 1
    record = results.load_dir(out).dicts()[0]
    assert record["status"] == "failed"
    assert "task plugin 'bad-task'" in record["error"]["plugin"] and message in record["error"]["message"]


BROKEN = """
    import sys
    import torch.nn as nn
    import seqbench
    from seqbench.contract.specs import ArchSpec, Task, TaskSpec

    def raising_build(ctx):
        raise RuntimeError("build is broken")

    class ExitingMixer(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.lin = nn.Linear(d, d)
        def forward(self, x):
            sys.exit(7)

    class NoVocab(Task):
        def __init__(self, distance):
            self.distance = distance  # forgot vocab_size and the rest
        def sample(self, split, n, generator):
            raise AssertionError("never sampled")
        def decode(self, ids):
            return ""

    @seqbench.hookimpl
    def register_architectures(register):
        register(ArchSpec("raising-build", "build raises", "mixer", raising_build))
        register(ArchSpec("exiting", "sys.exit in forward", "mixer", lambda ctx: ExitingMixer(ctx.model.d_model)))
        register(ArchSpec("exit-build", "sys.exit in build", "causal_lm", lambda ctx: sys.exit("no")))

    @seqbench.hookimpl
    def register_tasks(register):
        register(TaskSpec("no-vocab", "a task without its attributes", lambda o, d: NoVocab(d),
                          default_distances=("3",)))
"""


def test_plugin_faults_while_planning_fail_their_cells_and_the_rest_runs(tmp_path, write_plugin, capsys):
    plugin = write_plugin("broken", BROKEN)
    config = tmp_path / "c.toml"
    config.write_text(TINY.replace('archs = ["lstm"]', 'archs = ["raising-build", "lstm", "exiting", "exit-build"]')
                      .replace('tasks = ["copy"]', 'tasks = ["copy", "no-vocab"]'))
    out = tmp_path / "out"
    args = ["run", "-p", str(plugin), "--config", str(config), "--profile", "none", "--out", str(out), "--no-progress"]
    assert main([*args, "--params", "3000", "--dry-run"]) == 0  # the dry run plans and lists the failures
    captured = capsys.readouterr()
    lines = {tuple(l.split()[1:3]): l for l in captured.out.splitlines()}
    assert len(lines) == 8 and "8 cells" in captured.err and "6 of 8 cells cannot run" in captured.err
    assert "params=" in lines[("lstm", "copy")] and "params=" in lines[("exiting", "copy")]
    assert ("FAILED: architecture plugin 'raising-build'" in lines[("raising-build", "copy")]
            and "build() failed while sizing the model on the meta device" in lines[("raising-build", "copy")]
            and "build is broken" in lines[("raising-build", "copy")])
    assert "it called sys.exit('no')" in lines[("exit-build", "copy")]
    for arch in ("raising-build", "lstm", "exiting", "exit-build"):
        assert "FAILED: task plugin 'no-vocab'" in lines[(arch, "no-vocab")]
        assert "vocab_size must be set" in lines[(arch, "no-vocab")]
    assert not (out / "records").exists()

    assert main(args) == 1
    by_cell = {(r["arch"], r["task"]): r for r in results.load_dir(out).dicts()}
    assert len(by_cell) == 8
    assert by_cell[("lstm", "copy")]["status"] == "ok"
    broken = by_cell[("raising-build", "copy")]
    assert broken["status"] == "failed" and broken["error"]["type"] == "RuntimeError"
    assert "architecture plugin 'raising-build'" in broken["error"]["plugin"] and broken["params"] is None
    exiting = by_cell[("exiting", "copy")]
    assert exiting["status"] == "failed" and exiting["error"]["type"] == "SystemExit"
    assert exiting["error"]["message"] == "it called sys.exit(7)" and "'exiting'" in exiting["error"]["plugin"]
    assert by_cell[("exit-build", "copy")]["error"]["type"] == "SystemExit"
    for arch in ("raising-build", "lstm", "exiting", "exit-build"):
        record = by_cell[(arch, "no-vocab")]
        assert record["status"] == "failed" and "task plugin 'no-vocab'" in record["error"]["plugin"]
    assert "7 of 8 cells not ok" in capsys.readouterr().err  # the six above, and `exiting`, at training


def test_run_names_stale_records_and_does_not_reuse_them(tmp_path, capsys):
    config = tmp_path / "c.toml"
    config.write_text(TINY)
    out = tmp_path / "out"
    args = ["run", "--config", str(config), "--profile", "none", "--out", str(out), "--no-progress"]
    assert main(args) == 0
    first = results.load_dir(out).records[0]
    capsys.readouterr()
    assert main([*args, "--set", "train.max_steps=20"]) == 0
    err = capsys.readouterr().err
    assert "1 records in" in err and "are stale" in err and "kept and not reused" in err
    assert f"lstm/copy/d=2-6/seed=0: {first.cell_id} -> " in err and "train.max_steps: 40 -> 20" in err
    assert len(results.load_dir(out).records) == 2  # trained anew; the old record is still there
