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
