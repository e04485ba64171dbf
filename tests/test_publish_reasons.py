"""Publishing says why: a gradient decay that cannot be fitted gives its reason, and a figure's caption names only
what the figure draws (issue 27)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from _records import make_record
from seqbench.cli import main
from seqbench.publish.gradients import decay_cells
from seqbench.records import store


def frame(norms: list[tuple[float, float]]) -> pd.DataFrame:
    """One ok lstm cell on copy per (bin middle, gradient norm at initialisation)."""
    return pd.DataFrame([{"task": "copy", "arch": "lstm", "budget": 1000, "distance": str(int(x)), "seed": 0,
                          "cell_id": f"c{i}", "status": "ok", "bin.lo": x, "bin.hi": x, "bin.grad_norm_init": v}
                         for i, (x, v) in enumerate(norms)])


@pytest.mark.parametrize("norms, reason", [
    ([(8, 0.1), (16, 0.01)], "n/a (2 points: a fit needs 3)"),
    ([(8, 0.1), (8, 0.2), (8, 0.3)], "n/a (one distance bin: a slope needs two)"),
    ([(8, 0.0), (16, 0.0), (32, 0.0)], "n/a (all 3 norms are zero)"),
    ([(8, 0.1), (16, 0.0), (32, 0.0)], "n/a (1 point, 2 zero: a fit needs 3)"),
])
def test_a_decay_that_cannot_be_fitted_says_why(norms, reason):
    headers, body = decay_cells(frame(norms), "copy")
    assert headers[1] == "factor per token at initialisation" and body[0][1] == reason


def test_a_fitted_decay_has_no_reason():
    _, body = decay_cells(frame([(8, 0.1), (16, 0.01), (32, 0.0001)]), "copy")
    assert body[0][1].startswith("0.") and "n/a" not in body[0][1]


def save(folder: Path, records) -> Path:
    for r in records:
        store.save(folder, r)
    return folder


def accuracy_svg(tmp_path: Path, archs: list[str]) -> str:
    res = save(tmp_path / "res", [make_record(a, "copy", distance=d, seed=0, acc=0.5) for a in archs
                                  for d in (8, 16, 32)])
    assert main(["plot", str(res), "--out", str(tmp_path / "plots"), "--format", "svg"]) == 0
    return (tmp_path / "plots" / "accuracy-copy.svg").read_text(encoding="utf-8")


def test_accuracy_caption_mentions_grey_lines_only_when_drawn(tmp_path):
    alone = accuracy_svg(tmp_path / "one", ["lstm"])
    assert "One panel per architecture" in alone and "grey" not in alone
    assert "grey" in accuracy_svg(tmp_path / "two", ["lstm", "gru"])
