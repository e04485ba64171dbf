"""The README's plugin example works as printed: it registers, passes a contract check and trains through the CLI."""

from __future__ import annotations

import re
from pathlib import Path

import torch

from seqbench.contract import registry
from seqbench.records import store as results
from seqbench.cli import main
from seqbench.host.sizing import build_model
from seqbench.contract.specs import ModelShape

README = Path(__file__).resolve().parents[1] / "README.md"


def plugin_source() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    return next(b for b in blocks if "register_architectures" in b)


def test_readme_plugin_registers_and_is_causal(tmp_path):
    path = tmp_path / "my_mixer.py"
    path.write_text(plugin_source())
    reg = registry.load([str(path)], entry_points=False)
    spec = reg.arch("causal-conv")
    model = build_model(spec, ModelShape(16, 2, 4, 0.0, 32), spec.options(width=3), 12).eval()
    src = torch.randint(4, 12, (2, 5))
    tgt = torch.randint(4, 12, (2, 4))
    before = model(src, torch.tensor([5, 5]), tgt)
    changed = tgt.clone()
    changed[:, 3] = 4 + (changed[:, 3] - 3) % 8
    after = model(src, torch.tensor([5, 5]), changed)
    assert torch.allclose(before[:, :3], after[:, :3], atol=1e-6)  # no peeking at later target tokens


def test_readme_plugin_runs_through_the_cli(tmp_path, monkeypatch):
    path = tmp_path / "my_mixer.py"
    path.write_text(plugin_source())
    monkeypatch.setenv(registry.PLUGINS_ENV, str(path))
    monkeypatch.setenv(registry.DISABLE_AUTOLOAD_ENV, "1")  # the installed example package registers causal-conv too
    out = tmp_path / "out"
    code = main(["run", "--arch", "causal-conv", "--task", "copy", "--max-steps", "10", "--distance", "3",
                 "--set", "model.d_model=16", "--set", "arch.causal-conv.width=8",
                 "--set", "eval.n_test=32", "--set", "eval.n_val=16", "--out", str(out), "--no-progress"])
    assert code == 0
    record = results.load_dir(out).dicts()[0]
    assert record["arch"] == "causal-conv" and record["config"]["arch_options"] == {"width": 8}
    assert record["plugins"]["arch"]["plugin"] == "my_mixer" and record["plugins"]["arch"]["digest"]
    assert record["throughput"]["incremental_generation"] is False  # a mixer generates by the slower fallback
