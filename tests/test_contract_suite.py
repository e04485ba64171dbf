"""The contract suite that ships with seqbench: `seqbench check-plugin`, the test classes a plugin package
subclasses, and the example plugin package that uses both (issue 10)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import seqbench
from seqbench.cli import main

EXAMPLE = Path(__file__).resolve().parent / "example_plugin"

MIXER = """
    import torch
    import torch.nn as nn
    import seqbench
    from seqbench.contract.specs import ArchSpec

    class Mixer(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.lin = nn.Linear(d, d)
        def forward(self, x):  # (B, T, D)
            {body}

    def build(ctx):
        {build}
        return Mixer(ctx.model.d_model)

    @seqbench.hookimpl
    def register_architectures(register):
        register(ArchSpec("{name}", "a test mixer", "mixer", build))
"""


def mixer(write_plugin, name: str, body: str = "return self.lin(x).cumsum(1)", build: str = "pass") -> Path:
    return write_plugin(name.replace("-", "_"), MIXER.format(name=name, body=body, build=build))


def test_check_plugin_passes_the_example_package(monkeypatch, capsys):
    monkeypatch.setenv("SEQBENCH_DISABLE_PLUGIN_AUTOLOAD", "1")  # CI may have installed it as an entry point too
    monkeypatch.syspath_prepend(str(EXAMPLE / "src"))
    assert main(["check-plugin", "-p", "seqbench_causal_conv", "causal-conv"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"seqbench {seqbench.__version__}, plugin contract {seqbench.CONTRACT_VERSION} (changes: CHANGELOG.md)"
    assert out[1] == "architecture causal-conv (plugin seqbench_causal_conv 0.1.0, command line)"
    assert sum(l.lstrip().startswith("passed") for l in out) == 11
    assert out[-1] == "seqbench: check-plugin architecture 'causal-conv': 11 passed, 1 n/a; contract kept"
    assert any(l.split()[:2] == ["n/a", "attention"] for l in out)  # a mixer without attention weights


def test_check_plugin_runs_the_task_suite_too(capsys):
    assert main(["check-plugin", "copy", "lstm"]) == 0
    out = capsys.readouterr().out
    assert "seqbench: check-plugin task 'copy': 9 passed, 1 n/a; contract kept" in out
    assert "seqbench: check-plugin architecture 'lstm': 11 passed, 1 n/a; contract kept" in out


def test_check_plugin_fails_a_non_causal_mixer_with_a_summary(write_plugin, capsys):
    path = mixer(write_plugin, "peeking", body="return self.lin(x).flip(1).cumsum(1).flip(1)  # sees the future")
    assert main(["check-plugin", "-p", str(path), "peeking"]) == 1
    out = capsys.readouterr().out.splitlines()
    causal = next(l for l in out if " causal " in l)
    assert causal.split()[0] == "failed" and "not causal: changing target tokens from position 1" in causal
    assert out[-1].startswith("seqbench: check-plugin architecture 'peeking': ")
    assert "failed" in out[-1] and "FAILED causal" in out[-1] and "not causal" in out[-1]


def test_check_plugin_fails_a_raising_build_and_runs_nothing_else(write_plugin, capsys):
    path = mixer(write_plugin, "raising", build="raise RuntimeError('no such layer')")
    assert main(["check-plugin", "-p", str(path), "raising"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert next(l for l in out if " builds " in l).split()[0] == "failed"
    assert "raised RuntimeError: no such layer" in out[-1] and "1 failed, 11 not run" in out[-1]


def test_check_plugin_names_a_plugin_that_failed_to_load_in_one_line(write_plugin, capsys):
    path = write_plugin("broken_import", "import torch\nimport not_installed_dependency\n")
    assert main(["check-plugin", "-p", str(path), "my-arch"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"plugin '{path}' (-p) could not load: ModuleNotFoundError" in err[0]
    assert "not_installed_dependency" in err[0]


def test_check_plugin_unknown_name_lists_the_choices(capsys):
    assert main(["check-plugin", "lstmm"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Did you mean 'lstm'?" in err[0] and "gpt" in err[0] and "copy" in err[0]


def pytest_file(tmp_path: Path, source: str, *env_plugins: str) -> subprocess.CompletedProcess:
    test = tmp_path / "test_plugin_contract.py"
    test.write_text(textwrap.dedent(source))
    env = {**os.environ, "SEQBENCH_PLUGINS": os.pathsep.join(env_plugins)}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", str(test)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)


def test_subclassed_suite_fails_when_the_plugin_did_not_load(tmp_path, write_plugin):
    broken = write_plugin("broken_plugin", "raise ImportError('missing dependency xyz')\n")
    done = pytest_file(tmp_path, """
        from seqbench.testing import ArchitectureContract

        class TestMine(ArchitectureContract):
            arch = "my-arch"
    """, str(broken))
    assert done.returncode == 1, done.stdout
    assert "13 failed" in done.stdout and "passed" not in done.stdout.splitlines()[-1]
    assert "architecture 'my-arch' is not registered" in done.stdout and "missing dependency xyz" in done.stdout


def test_subclassed_suite_passes_and_fails_per_check(tmp_path, write_plugin):
    good = mixer(write_plugin, "good-mixer")
    bad = mixer(write_plugin, "peeker", body="return self.lin(x).flip(1).cumsum(1).flip(1)")
    done = pytest_file(tmp_path, """
        from seqbench.testing import ArchitectureContract, TaskContract

        class TestGood(ArchitectureContract):
            arch = "good-mixer"

        class TestPeeker(ArchitectureContract):
            arch = "peeker"

        class TestCopy(TaskContract):
            task = "copy"
    """, str(good), str(bad))
    assert done.returncode == 1
    assert done.stdout.strip().splitlines()[-1].startswith("3 failed, 23 passed, 11 skipped")
    failed = sorted(l.split()[1].split("::", 1)[1] for l in done.stdout.splitlines() if l.startswith("FAILED"))
    assert failed == ["TestPeeker::test_causal", "TestPeeker::test_learns", "TestPeeker::test_padding"]
    assert "AssertionError: not causal: changing target tokens" in done.stdout


def test_the_example_package_tests_pass(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(EXAMPLE / "src"), "SEQBENCH_PLUGINS": "seqbench_causal_conv"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=EXAMPLE, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:]
    assert done.stdout.strip().splitlines()[-1].startswith("26 passed")


def test_the_suite_imports_neither_run_nor_publish():
    code = ("import sys, seqbench.testing.suite, seqbench.testing.report; "
            "print([m for m in sys.modules if m.startswith(('seqbench.run', 'seqbench.publish'))])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr
