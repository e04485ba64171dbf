"""Shared fixtures: throwaway plugins written to files, and entry-point packages on a temporary sys.path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Models trained in the test process itself (not cells: a cell sets its own threads) run on one CPU thread.
    Tiny models run fastest and steadiest so on a shared machine: two threads on a busy 2-core machine made
    test_attention's 200 steps of a tiny seq2seq-attn take 160 s instead of 7 s (spinning threads waiting for a
    core). The same as test_architectures' `one_thread`, for every test."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def write_plugin(tmp_path: Path):
    """Write `source` (dedented) to tmp_path/NAME.py and return its path."""

    def write(name: str, source: str) -> Path:
        path = tmp_path / f"{name}.py"
        path.write_text(textwrap.dedent(source))
        return path

    return write


@pytest.fixture
def entry_point_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Install a fake distribution with a `seqbench` entry point onto sys.path; returns the module's folder."""

    def install(dist: str, version: str, module: str, source: str) -> Path:
        site = tmp_path / "site"
        site.mkdir(exist_ok=True)
        (site / f"{module}.py").write_text(textwrap.dedent(source))
        info = site / f"{dist}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[seqbench]\n{dist} = {module}\n")
        monkeypatch.syspath_prepend(str(site))
        return site

    return install


TOY_ARCH = """
    import torch.nn as nn
    import seqbench
    from seqbench.contract.specs import ArchSpec

    class Mixer(nn.Module):
        '''A causal mixer: a GRU over (B, T, D).'''
        def __init__(self, d):
            super().__init__()
            self.rnn = nn.GRU(d, d, batch_first=True)
        def forward(self, x):
            return self.rnn(x)[0]

    @seqbench.hookimpl
    def register_architectures(register):
        register(ArchSpec(name="{name}", description="a GRU mixer", kind="mixer",
                          build=lambda ctx: Mixer(ctx.model.d_model)))
"""
