"""The environment every record carries: versions, git commit, device and precision."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import torch

import seqbench
from seqbench.records.schema import Env


def git_commit() -> str | None:
    """The commit of the seqbench source tree, with `-dirty` when it has uncommitted changes; None outside git."""
    here = Path(seqbench.__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=here, capture_output=True,
                                text=True, timeout=5)
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5)
        return commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple MPS"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def load_average() -> list[float] | None:
    """The machine's 1, 5 and 15-minute load averages (runnable processes, this cell's threads included), or None
    where the system has none: beside a cell's CPU threads, what else wanted the cores while it ran."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):  # pragma: no cover - Windows
        return None


def environment(device: torch.device, accelerator: str, precision: str) -> Env:
    """Where a cell's numbers were measured: versions, commit, device, threads and the precision that ran."""
    import pytorch_lightning
    import torchmetrics

    return Env(seqbench=seqbench.__version__, git_commit=git_commit(), torch=torch.__version__,
               lightning=pytorch_lightning.__version__, torchmetrics=torchmetrics.__version__,
               python=platform.python_version(), platform=platform.platform(), device=device.type,
               device_name=device_name(device), cpu_threads=torch.get_num_threads(), accelerator=accelerator,
               precision=precision)
