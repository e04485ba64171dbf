"""seqbench as a user gets it from PyPI (issues 10 and 17): built as a wheel, installed (not editable) beside the
example plugin package, also from its wheel, and run from a folder outside the checkout, so that nothing of the
source tree is importable. The contract suite then works on the installed plugin, fails a non-causal mixer, a
raising `build` and a broken import each with its own summary, and `import bench` finds nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from test_contract_suite import MIXER

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "tests" / "example_plugin"
SKIP = shutil.ignore_patterns(".git", ".venv", "venv", "results", "build", "dist", "*.egg-info", "__pycache__",
                              ".pytest_cache", "runs", "lightning_logs")


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A folder holding seqbench and seqbench-causal-conv installed from their wheels; returns it."""
    tmp = tmp_path_factory.mktemp("wheel")
    wheels, site = tmp / "wheels", tmp / "site"
    for name, src in (("seqbench", ROOT), ("example", EXAMPLE)):
        copy = tmp / "src" / name  # build from a copy: a build writes build/ and *.egg-info beside the sources
        shutil.copytree(src, copy, ignore=SKIP)
        pip(["wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(wheels), str(copy)])
    built = sorted(p.name for p in wheels.glob("*.whl"))
    assert len(built) == 2 and built[0].startswith("seqbench-") and built[1].startswith("seqbench_causal_conv-")
    pip(["install", "--no-deps", "--target", str(site), *map(str, wheels.glob("*.whl"))])
    return site


def pip(args: list[str]) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def python(installed: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """Run this interpreter on the installed packages (first on the path), in `cwd`, outside the checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("SEQBENCH_PLUGINS", "SEQBENCH_DISABLE_PLUGIN_AUTOLOAD")}
    env["PYTHONPATH"] = str(installed)
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_the_wheel_holds_seqbench_and_not_bench(installed, tmp_path):
    done = python(installed, tmp_path, "-c", "import seqbench, seqbench.testing, seqbench.plugins, seqbench.tasks; "
                  "print(seqbench.__file__)")
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).is_relative_to(installed)
    done = python(installed, tmp_path, "-c", "import bench")
    assert done.returncode == 1 and "ModuleNotFoundError: No module named 'bench'" in done.stderr


def test_check_plugin_passes_the_installed_plugin_package(installed, tmp_path):
    done = python(installed, tmp_path, "-m", "seqbench", "check-plugin", "causal-conv")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("seqbench ") and ", plugin contract " in lines[0]
    assert lines[1] == "architecture causal-conv (plugin causal-conv 0.1.0, entry point)"  # the entry point's name
    assert lines[-1].startswith("seqbench: check-plugin architecture 'causal-conv': ")
    assert lines[-1].endswith("; contract kept") and "failed" not in lines[-1]


def test_check_plugin_fails_broken_plugins_from_the_wheel(installed, tmp_path):
    def plugin(name: str, source: str) -> str:
        path = tmp_path / f"{name}.py"
        path.write_text(source)
        return str(path)

    mixer = textwrap.dedent(MIXER)
    peeking = plugin("peeking", mixer.format(name="peeking", body="return self.lin(x).flip(1).cumsum(1).flip(1)",
                                             build="pass"))
    done = python(installed, tmp_path, "-m", "seqbench", "check-plugin", "-p", peeking, "peeking")
    assert done.returncode == 1 and "FAILED causal" in done.stdout.splitlines()[-1]

    raising = plugin("raising", mixer.format(name="raising", body="return self.lin(x).cumsum(1)",
                                             build="raise RuntimeError('no such layer')"))
    done = python(installed, tmp_path, "-m", "seqbench", "check-plugin", "-p", raising, "raising")
    assert done.returncode == 1 and "raised RuntimeError: no such layer" in done.stdout.splitlines()[-1]

    broken = plugin("broken_import", "import torch\nimport not_installed_dependency\n")
    done = python(installed, tmp_path, "-m", "seqbench", "check-plugin", "-p", broken, "my-arch")
    err = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(err) == 1 and "could not load: ModuleNotFoundError" in err[0]
    assert "Traceback" not in done.stderr
