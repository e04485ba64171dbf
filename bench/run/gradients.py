"""Gradient reach of one cell, per distance bin: at initialisation and after training, on a fixed subset of the
test set (`eval.grad_examples` examples, spread evenly over the bins), the median over examples of the gradient
norm at the clue's embedding (`seqbench.host.gradients`). Kept in the record's bins as `grad_norm_init`,
`grad_norm_trained` and `grad_n`.

The measure runs on a float64 copy of the model in eval mode (no dropout; float32 underflows to 0 after a few
hundred steps of geometric decay), with cuDNN off (its RNN backward runs in training mode only). One forward and
one backward pass per batch: a few hundred examples add a second or two to a cell. A model the measure cannot
read (no source `nn.Embedding`) or that raises during it leaves the fields out, with a warning in the record.
"""

from __future__ import annotations

import copy
import math
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqbench.host.gradients import clue_gradient_norms
from seqbench.contract.specs import Batch, Task
from seqbench.run.data import bin_index, chunks

INIT, TRAINED = "grad_norm_init", "grad_norm_trained"


def subset(test: list[Batch], bins: list[tuple[int, int]], n: int) -> Batch | None:
    """At most `n` examples of the test batches, the same number from every bin that has some (the first ones, in
    test-set order), as one batch; None when n is 0 or the test set is empty."""
    if n <= 0 or not test:
        return None
    which = torch.cat([bin_index(b.distance, bins) for b in test])  # (N,)
    present = which.unique()
    each = max(1, math.ceil(n / len(present)))
    keep = torch.cat([(which == j).nonzero().flatten()[:each] for j in present.tolist()])
    return _concat(test).select(keep)


def _concat(batches: list[Batch]) -> Batch:
    """Batches as one, right-padded with PAD (0) to the widest."""
    s = max(b.src.shape[1] for b in batches)
    t = max(b.tgt.shape[1] for b in batches)
    return Batch(torch.cat([F.pad(b.src, (0, s - b.src.shape[1])) for b in batches]),
                 torch.cat([F.pad(b.tgt, (0, t - b.tgt.shape[1])) for b in batches]),
                 torch.cat([b.distance for b in batches]))


def norms(model: nn.Module, task: Task, examples: Batch, batch_size: int) -> Tensor | None:
    """Per example of `examples`, the gradient norm at its clue (B,) float64 on the CPU; None (with a warning)
    when the task has no clues, or the model cannot be measured."""
    if task.clue_positions(examples) is None:
        return None
    device = next(model.parameters()).device
    dtype = torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64
    probe = copy.deepcopy(model).to(dtype).eval()
    out = []
    try:
        with torch.backends.cudnn.flags(enabled=False):
            for b in chunks(examples, batch_size):
                b = b.to(device)
                out.append(clue_gradient_norms(probe, b, task.clue_positions(b)).detach().double().cpu())
    except Exception as e:  # noqa: BLE001 - a plugin's failure here must not sink the cell's other results
        warnings.warn(f"gradient reach not measured: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        return None
    return torch.cat(out)


def per_bin(values: Tensor, distance: Tensor, bins: list[tuple[int, int]]) -> dict[int, tuple[float, int]]:
    """Bin index -> (median of the finite values, how many) for every bin with at least one."""
    which = bin_index(distance, bins)
    out = {}
    for j in which.unique().tolist():
        v = values[(which == j) & torch.isfinite(values)]
        if len(v):
            out[j] = (float(v.quantile(0.5)), len(v))  # the median, the middle two averaged
    return out


class Probe:
    """The gradient reach of one cell: the examples chosen once from its test set, measured on the model at
    initialisation and after training, then written into the record's bins."""

    def __init__(self, task: Task, test: list[Batch], bins: list[tuple[int, int]], n: int, batch_size: int) -> None:
        self.task, self.bins, self.batch_size = task, bins, batch_size
        self.examples = subset(test, bins, n)
        self.medians: dict[str, dict[int, tuple[float, int]]] = {}

    def measure(self, model: nn.Module, key: str) -> None:
        """Measure `model` now, kept under `key` (INIT or TRAINED)."""
        if self.examples is None:
            return
        values = norms(model, self.task, self.examples, self.batch_size)
        if values is not None:
            self.medians[key] = per_bin(values, self.examples.distance, self.bins)

    def into(self, rows: list[dict]) -> list[dict]:
        """The record's bin rows (dicts with `lo`) with each measure's median and `grad_n` added."""
        index = {lo: j for j, (lo, _) in enumerate(self.bins)}
        for key, medians in self.medians.items():
            for row in rows:
                j = index.get(row["lo"])
                if j in medians:
                    row[key], row["grad_n"] = medians[j]
        return rows
