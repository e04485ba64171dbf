"""What a plugin author relies on (issue 27): a versioned contract whose renamed fields keep a warning alias, errors
that name the plugin and the shapes, and a build that returns no model refused before anything runs."""

from __future__ import annotations

import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import seqbench
from seqbench.cli import main
from seqbench.contract import CONTRACT_VERSION, ContractDeprecation
from seqbench.contract.specs import BuildContext, ModelShape
from seqbench.records import store
from test_run import TINY

ROOT = Path(__file__).resolve().parent.parent

SHAPES = """
    import torch.nn as nn
    import seqbench
    from seqbench.contract.specs import ArchSpec

    class Wide(nn.Module):
        '''Returns (B, T, 2D): forgot to project back to d_model.'''
        def __init__(self, d):
            super().__init__()
            self.lin = nn.Linear(d, 2 * d)
        def forward(self, x):
            return self.lin(x)

    class Untransposed(nn.Module):
        '''Returns (B, D, T): forgot to transpose back after its Conv1d.'''
        def __init__(self, d):
            super().__init__()
            self.conv = nn.Conv1d(d, d, 1)
        def forward(self, x):
            return self.conv(x.transpose(1, 2))

    class OldReader(nn.Module):
        '''Written against contract 1.0's predecessor: reads ctx.max_len.'''
        def __init__(self, d, max_len):
            super().__init__()
            self.lin = nn.Linear(d, d)
            self.max_len = max_len
        def forward(self, x):
            return self.lin(x).cumsum(1)

    @seqbench.hookimpl
    def register_architectures(register):
        register(ArchSpec("wide", "(B, T, 2D)", "mixer", lambda ctx: Wide(ctx.model.d_model)))
        register(ArchSpec("untransposed", "(B, D, T)", "mixer", lambda ctx: Untransposed(ctx.model.d_model)))
        register(ArchSpec("old-reader", "reads ctx.max_len", "mixer",
                          lambda ctx: OldReader(ctx.model.d_model, ctx.max_len)))
        register(ArchSpec("none-build", "build returns None", "mixer", lambda ctx: None))
"""


def test_the_contract_has_a_version_recorded_in_the_changelog():
    assert re.fullmatch(r"\d+\.\d+", CONTRACT_VERSION) and seqbench.CONTRACT_VERSION == CONTRACT_VERSION
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## Contract {CONTRACT_VERSION}" in changelog and "ctx.max_len" in changelog
    assert f"plugin contract {CONTRACT_VERSION}" in (ROOT / "README.md").read_text()


def test_ctx_max_len_still_works_and_warns_naming_the_new_spelling():
    ctx = BuildContext(model=ModelShape(d_model=8, n_layers=1, n_heads=1, dropout=0.0, max_len=77), options=None,
                       vocab_size=10)
    with pytest.warns(DeprecationWarning, match=r"ctx\.model\.max_len") as caught:
        assert ctx.max_len == 77
    assert caught[0].category is ContractDeprecation and "contract 1.1" in str(caught[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ctx.model.max_len == 77  # the new spelling: no warning


def test_check_plugin_prints_the_version_and_shows_the_deprecation(write_plugin, capsys):
    path = write_plugin("shapes", SHAPES)
    assert main(["check-plugin", "-p", str(path), "old-reader"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"seqbench {seqbench.__version__}, plugin contract {CONTRACT_VERSION} (changes: CHANGELOG.md)"
    assert any(l.startswith("  deprecated BuildContext.max_len is deprecated") and "ctx.model.max_len" in l
               for l in out)
    assert out[-1].endswith("contract kept")


def test_a_run_shows_the_deprecation_once_on_stderr(tmp_path, write_plugin, capsys):
    path = write_plugin("shapes", SHAPES)
    done = subprocess.run([sys.executable, "-m", "seqbench", "run", "-p", str(path), "--arch", "old-reader", "--task",
                           "copy", "--dry-run", "--out", str(tmp_path / "out")], capture_output=True, text=True,
                          timeout=300)  # a process of its own: pytest would catch the warning itself
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("ContractDeprecation: BuildContext.max_len is deprecated since seqbench contract 1.1") == 1


@pytest.mark.parametrize("arch, got, hint", [
    ("wide", "(1, 2, 64)", "the last dimension must stay d_model=32"),
    ("untransposed", "(1, 32, 2)", "time and features are swapped: transpose back after a Conv1d"),
])
def test_check_plugin_names_a_wrong_mixer_shape(write_plugin, capsys, arch, got, hint):
    path = write_plugin("shapes", SHAPES)
    assert main(["check-plugin", "-p", str(path), arch]) == 1
    out = capsys.readouterr().out.splitlines()
    line = next(l for l in out if " output-shapes " in l)
    assert line.split()[0] == "failed" and "raised" not in line
    assert f"the mixer's forward returned a torch.float32 tensor of shape {got}, expected the shape of its input " \
           f"(1, 2, 32) = (batch, time, d_model); {hint}" in line
    assert out[-1].startswith(f"seqbench: check-plugin architecture '{arch}': ")
    assert f"FAILED output-shapes, causal, padding, attention, learns (plugin {path}): the mixer's forward " in out[-1]


def test_a_wrong_mixer_shape_in_a_run_blames_the_plugin(tmp_path, write_plugin, capsys):
    path = write_plugin("shapes", SHAPES)
    config = tmp_path / "c.toml"
    config.write_text(TINY.replace('archs = ["lstm"]', 'archs = ["untransposed"]'))
    out = tmp_path / "out"
    assert main(["run", "-p", str(path), "--config", str(config), "--profile", "none", "--out", str(out),
                 "--no-progress", "--jobs", "0"]) == 1
    [record] = store.load_dir(out).dicts()
    error = record["error"]
    assert record["status"] == "failed" and error["type"] == "ContractError"
    assert error["plugin"] == f"architecture plugin 'untransposed' ({path})"  # not "seqbench"
    assert error["message"].startswith("the mixer's forward returned a torch.float32 tensor of shape (")
    assert "time and features are swapped" in error["message"]
    assert "Traceback" not in capsys.readouterr().err
    assert main(["run", "-p", str(path), "--config", str(config), "--profile", "none", "--out", str(out),
                 "--no-progress", "--rerun", "--debug"]) == 1  # --debug: the traceback of the failed cell as well
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "ContractError: the mixer's forward returned" in err


def test_a_build_that_returns_no_model_is_refused_before_anything_runs(tmp_path, write_plugin, capsys):
    path = write_plugin("shapes", SHAPES)
    out = tmp_path / "out"
    assert main(["run", "-p", str(path), "--arch", "lstm,none-build", "--task", "copy", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == (f"seqbench: error: architecture plugin 'none-build' ({path}): build() of 'none-build' returned "
                   f"NoneType, not a torch.nn.Module\n")
    assert not out.exists()


OPTIONED = """
    from dataclasses import dataclass
    import torch.nn as nn
    import seqbench
    from seqbench.contract.specs import ArchSpec, options

    @dataclass(frozen=True)
    class Plain:
        d_state: int = 16  # a plain dataclass: the host checks it from config

    @options
    class Checked:
        d_state: int = 16  # a pydantic dataclass (seqbench.contract.specs.options)

    class Mixer(nn.Module):
        def __init__(self, d, n):
            super().__init__()
            self.lin = nn.Linear(d, d)
        def forward(self, x):
            return self.lin(x).cumsum(1)

    @seqbench.hookimpl
    def register_architectures(register):
        for name, cls in (("plain-ssm", Plain), ("checked-ssm", Checked)):
            register(ArchSpec(name, "options", "mixer", lambda ctx: Mixer(ctx.model.d_model, ctx.options.d_state),
                              options=cls))
"""


@pytest.mark.parametrize("arch", ["plain-ssm", "checked-ssm"])
@pytest.mark.parametrize("how", ["--set", "--config"])
def test_an_int_option_refuses_a_float(tmp_path, write_plugin, capsys, arch, how):
    path = write_plugin("optioned", OPTIONED)
    out = tmp_path / "out"
    base = ["run", "-p", str(path), "--arch", arch, "--task", "copy", "--dry-run", "--out", str(out)]
    if how == "--set":
        extra = ["--set", f"arch.{arch}.d_state=8.0"]
    else:
        (tmp_path / "c.toml").write_text(f'[arch.{arch}]\nd_state = 8.0\n')
        extra = ["--config", str(tmp_path / "c.toml")]
    assert main(base + extra) == 2
    assert capsys.readouterr().err == (f"seqbench: error: arch.{arch}.d_state: must be an integer (it is declared "
                                       f"int), got 8.0\n")
    assert main(base + ["--set", f"arch.{arch}.d_state=8"]) == 0


@pytest.mark.parametrize("flags, message", [
    (["--set", "train.max_steps=30.0"], "train.max_steps: must be an integer, got 30.0"),
    (["--max-steps", "30.0"], "train.max_steps: must be an integer, got '30.0'"),
    (["--seeds", "0,1.0"], "matrix.seeds: must be an integer, got '1.0'"),
    (["--set", "model.n_layers=2.5"], "model.n_layers: must be an integer, got 2.5"),
])
def test_an_int_setting_refuses_a_float(tmp_path, capsys, flags, message):
    assert main(["run", "--arch", "lstm", "--task", "copy", "--dry-run", "--out", str(tmp_path / "o"), *flags]) == 2
    assert capsys.readouterr().err == f"seqbench: error: {message}\n"


FAT = """
    import torch
    import torch.nn as nn
    import seqbench
    from seqbench.contract.specs import ArchSpec

    class Fat(nn.Module):
        '''Keeps 64 activations of its input's size for backward: many times an LSTM's memory per step.'''
        def __init__(self, d):
            super().__init__()
            self.lin = nn.Linear(d, d)
        def forward(self, x):
            y = self.lin(x)
            for i in range(64):
                y = y * torch.sigmoid(y + i)
            return y.cumsum(1)

    @seqbench.hookimpl
    def register_architectures(register):
        register(ArchSpec("fat-mixer", "memory hungry", "mixer", lambda ctx: Fat(ctx.model.d_model)))
"""


def test_check_plugin_measures_the_cost_beside_lstm_and_warns(write_plugin, capsys):
    path = write_plugin("fat", FAT)
    main(["check-plugin", "-p", str(path), "fat-mixer", "lstm"])
    out = capsys.readouterr().out.splitlines()
    [cost] = [l for l in out if l.startswith("  cost ")]  # none for lstm itself
    assert re.fullmatch(r"  cost     a training step at \d+ parameters, distance 64, batch 8: [\d.]+ ms and [\d.]+ MB "
                        r"\([\d.]+x and [\d.]+x lstm's [\d.]+ ms and [\d.]+ MB at \d+ parameters\)", cost), cost
    warnings_ = [l for l in out if l.startswith("  warning ")]
    assert len(warnings_) in (1, 2) and re.fullmatch(
        r"  warning  'fat-mixer' takes [\d.]+x the memory of lstm per training step at the same budget and distance: "
        r"a matrix with it needs about that much more", warnings_[-1])
    assert out.index(cost) < next(i for i, l in enumerate(out) if l.startswith("seqbench: check-plugin architecture"))


def test_cost_warns_past_three_times_the_reference():
    from seqbench.testing.cost import Cost, compare

    ref = Cost(params=50_000, step_s=0.010, memory_bytes=8 * 2**20)
    assert len(compare("even", Cost(49_000, 0.029, 23 * 2**20), ref)) == 1  # 2.9x: no warning
    lines = compare("slow", Cost(51_000, 0.040, 8 * 2**20), ref)
    assert lines[0] == ("cost     a training step at 51000 parameters, distance 64, batch 8: 40.0 ms and 8.0 MB (4.0x "
                        "and 1.0x lstm's 10.0 ms and 8.0 MB at 50000 parameters)")
    assert lines[1:] == ["warning  'slow' takes 4.0x the time of lstm per training step at the same budget and "
                         "distance: a matrix with it needs about that much more"]
