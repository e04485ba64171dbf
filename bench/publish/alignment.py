"""Attention alignments of kept models, drawn as Bahdanau et al. 2014 (fig. 3) draw theirs: one test example, its
source tokens along the top, the tokens the model generated down the side, each weight a grey level (white: 1,
black: 0).

The cell is rebuilt from its record and weights (`seqbench.run.weights`), its test set drawn again as the cell drew
it; the example is generated greedily, then the model's attention is read on that output under teacher forcing
(`seqbench.host.attention`). Transformers have layers and heads: one layer (default: the last) and one head or
their mean (default).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from matplotlib.figure import Figure

from seqbench.host.attention import alignment
from seqbench.contract.errors import UserError
from seqbench.host.generate import greedy
from seqbench.contract.specs import EOS, N_SPECIAL, PAD, SPECIAL_NAMES, Task, teacher_input
from seqbench.records.distance import sort_key
from seqbench.records.schema import Record
from seqbench.run.weights import Rebuilt, has_weights


@dataclass(frozen=True)
class Drawn:
    """One example's alignment, ready to draw."""

    weights: Any  # (rows, columns) numpy array, rows summing to one
    rows: list[str]  # the generated tokens (EOS included)
    columns: list[str]  # the source tokens, or the stream `source SEP output` of a decoder-only model
    reference: str  # the example's target text
    over: str  # "source" or "stream"
    layer: int  # the layer drawn
    layers: int
    head: int | None  # the head drawn; None: the mean over heads
    heads: int
    on_clue: tuple[int, int] | None  # (answers whose strongest weight is on their clue, answers with a clue)


def token(task: Task, i: int) -> str:
    """A tick label: the host's special names, else the task's own text of the token."""
    return SPECIAL_NAMES[i] if i < N_SPECIAL else (task.decode([i]) or str(i))


def example(cell: Rebuilt, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Source (1, S) and target (1, T) of the n-th example (0-based) of the cell's test set."""
    total = sum(len(b) for b in cell.test)
    if not 0 <= n < total:
        raise UserError(f"--example {n}: the cell's test set has examples 0 to {total - 1}")
    for b in cell.test:
        if n < len(b):
            one = b.select(torch.tensor([n]))
            return one.src, one.tgt
        n -= len(b)
    raise AssertionError("unreachable")


def draw_example(cell: Rebuilt, n: int = 0, layer: int | None = None, head: int | None = None) -> Drawn | None:
    """The alignment of test example `n` of a rebuilt cell; None when its model exposes no attention."""
    src, tgt = example(cell, n)
    src_len = (src != PAD).sum(1)  # (1,)
    out = greedy(cell.model, src, src_len, cell.task.max_tgt_len)  # (1, T')
    length = int((out != PAD).sum())
    out = out[:, : max(length, 1)]
    found = alignment(cell.model, src, src_len, teacher_input(out))
    if found is None:
        return None
    layers, heads = found.weights.shape[1:3]
    layer = layers - 1 if layer is None else layer
    if not 0 <= layer < layers:
        raise UserError(f"--layer {layer}: {cell.record.arch} has layers 0 to {layers - 1}")
    if head is not None and not 0 <= head < heads:
        raise UserError(f"--head {head}: {cell.record.arch} has heads 0 to {heads - 1} (leave it out for their mean)")
    w = found.weights[0, layer]  # (heads, T, K)
    w = w.mean(0) if head is None else w[head]  # (T, K)
    k = int(src_len) if found.over == "source" else int(src_len) + w.shape[0]  # the stream up to the last row
    w = w[:, :k]
    clue = _on_clue(cell.task, src, out, w)
    return Drawn(w.numpy(), [token(cell.task, i) for i in out[0].tolist()],
                 [token(cell.task, i) for i in found.columns[0, :k].tolist()],
                 cell.task.decode(tgt[0].tolist()), found.over, layer, layers, head, heads, clue)


def _on_clue(task: Task, src: torch.Tensor, out: torch.Tensor, w: torch.Tensor) -> tuple[int, int] | None:
    """How many of the output's answers put their strongest weight on their clue (source positions are the same
    columns in the source and in the stream)."""
    from seqbench.contract.specs import Batch

    clues = task.clue_positions(Batch(src, out.masked_fill(out == PAD, EOS), torch.ones(1, dtype=torch.long)))
    if clues is None:
        return None
    has = clues[0] >= 0
    return int((w.argmax(-1)[has] == clues[0][has]).sum()), int(has.sum())


def figure(d: Drawn, title: str) -> Figure:
    """The alignment matrix with its tokens as tick labels (Bahdanau et al. 2014, fig. 3)."""
    rows, cols = d.weights.shape
    fig = Figure(figsize=(min(2.0 + 0.22 * cols, 24.0), min(1.6 + 0.26 * rows, 16.0)))
    ax = fig.subplots()
    ax.imshow(d.weights, cmap="gray", vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
    ax.set_xticks(range(cols), d.columns, rotation=90, fontsize="small")
    ax.set_yticks(range(rows), d.rows, fontsize="small")
    ax.xaxis.tick_top()
    ax.set_ylabel("generated")
    ax.set_xlabel("source" if d.over == "source" else "stream: source <sep> output")
    ax.set_title(title, fontsize="medium", pad=12)
    return fig


def describe(d: Drawn) -> str:
    """What was drawn, in one line: layer, head, and the answers attending their clue."""
    head = "mean over heads" if d.head is None else f"head {d.head}"
    where = f"layer {d.layer} of {d.layers}, {head} of {d.heads}" if d.layers * d.heads > 1 else "one attention"
    clue = f"; {d.on_clue[0]} of {d.on_clue[1]} answers put their strongest weight on their clue" if d.on_clue else ""
    return f"{where}{clue}; reference: {d.reference}"


def pick(records: Sequence[Record], folder: Path, arch: str, task: str, distance: str | None = None,
         seed: int | None = None) -> Record:
    """The ok cell of `arch` on `task` with kept weights to draw: the given distance and seed, else the longest
    distance setting and the lowest seed. A UserError naming what there is when none fits."""
    mine = [r for r in records if r.arch == arch and r.task == task and r.status == "ok"]
    if not mine:
        pairs = sorted({f"{r.arch} on {r.task}" for r in records if r.status == "ok"})
        raise UserError(f"no ok cell of {arch} on {task} in {folder}. There are: {', '.join(pairs) or '(none)'}")
    kept = [r for r in mine if has_weights(folder, r)]
    if not kept:
        raise UserError(f"no cell of {arch} on {task} in {folder} kept its weights: run it with --keep-weights")
    if distance is not None:
        kept = [r for r in kept if r.distance == distance]
    if seed is not None:
        kept = [r for r in kept if r.seed == seed]
    if not kept:
        have = sorted({(r.distance, r.seed) for r in mine if has_weights(folder, r)},
                      key=lambda x: (sort_key(x[0]), x[1]))
        raise UserError(f"no cell of {arch} on {task} with weights at that distance and seed; there are: "
                        + ", ".join(f"--distance {d} --seed {s}" for d, s in have))
    return max(kept, key=lambda r: (sort_key(r.distance), -r.seed))


def report_alignments(records: Sequence[Record], folder: Path, reg: Any, out: Path) -> tuple[list[tuple], list[str]]:
    """For the report: test example 0 of the default cell (`pick`) of every architecture and task whose weights
    were kept, drawn into `out` as `attention-<task>-<arch>.png` when the model attends. Returns (task, arch, file
    name, caption) per figure, and one note per cell that could not be drawn (and why)."""
    from seqbench.publish.drawing import save, slug
    from seqbench.run.weights import rebuild

    drawn, notes = [], []
    pairs = sorted({(r.task, r.arch) for r in records if r.status == "ok" and has_weights(folder, r)})
    for task, arch in pairs:
        try:
            record = pick(records, folder, arch, task)
            d = draw_example(rebuild(reg, folder, record, err=_Quiet()), 0)
        except Exception as e:  # noqa: BLE001 - one cell that cannot be rebuilt must not stop the report
            notes.append(f"{arch} on {task}: no alignment ({type(e).__name__}: {str(e).splitlines()[0][:200]})")
            continue
        if d is None:
            continue  # the model exposes no attention: nothing to draw, and nothing wrong
        title = f"{arch} on {task}, distance {record.distance}, seed {record.seed}: test example 0"
        stem = f"attention-{slug(task)}-{slug(arch)}"
        save(figure(d, title), out, stem, ["png"])
        drawn.append((task, arch, f"{stem}.png", f"{title}. {describe(d)}. Cell {record.cell_id}."))
    return drawn, notes


class _Quiet:
    """A stream that drops what is written to it (the report states the code version once, in its tables)."""

    def write(self, text: str) -> int:
        return len(text)
