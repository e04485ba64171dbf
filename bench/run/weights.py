"""Trained models kept, and cells rebuilt from their records without retraining.

`seqbench run --keep-weights` saves each ok cell's final weights (the checkpoint that was tested) beside its record,
`records/<cell_id>.safetensors`, named in the record as `artifacts["weights"]`. The file is written atomically
(temporary file, fsync, rename), so an interrupted cell leaves none or a whole one, never half.

Why safetensors (Hugging Face's `safetensors` package) and not `torch.save`: loading a safetensors file reads a
JSON header and raw tensors and never runs code, where unpickling a `torch.save` file can run anything; so a folder
merged from someone else's machine is safe to load. Tensors that share memory (an embedding table shared by
encoder and decoder) are stored once (`safetensors.torch.save_model`).

The file's metadata repeats what rebuilds the model (architecture, task, distance, seed, vocabulary, the resolved
configuration and the plugin refs), so it describes itself without its record. `rebuild` builds a cell again from
its record: the task with its options at its distance, the same test set, the model at the same initialisation
(same seed), and with `trained=True` the kept weights loaded into it.
"""

from __future__ import annotations

import copy
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from seqbench.contract.errors import UserError
from seqbench.contract.registry import Registry
from seqbench.host.sizing import build_model
from seqbench.contract.specs import Batch, Distance, ModelShape, Task
from seqbench.records.distance import edges_to_bins
from seqbench.records.schema import Header, PluginRef, Record
from seqbench.records.store import atomic_path, records_dir
from seqbench.run import config as C
from seqbench.run import hostcode
from seqbench.run.data import TaskData, stream_seed

WEIGHTS = "weights"  # the artifact's name in `Record.artifacts`
SUFFIX = ".safetensors"
FORMAT = "seqbench-weights-1"  # metadata["format"] of the files this seqbench writes


def weights_path(out: Path, cell_id: str) -> Path:
    """Where a cell's weights go: beside its record."""
    return records_dir(out) / f"{cell_id}{SUFFIX}"


def describe(header: Header, vocab_size: int) -> dict[str, Any]:
    """What the weights file says about itself: enough to rebuild the model without its record."""
    keys = {"cell_id", "arch", "task", "distance", "seed", "config", "plugins"}
    return {**header.model_dump(mode="json", include=keys), "vocab_size": vocab_size}


def save(model: nn.Module, path: Path, about: dict[str, Any]) -> str:
    """Write `model`'s weights to `path` atomically, with `about` (`describe`) in the metadata; returns the file
    name, the record's artifact."""
    from safetensors.torch import save_model

    on_cpu = all(t.device.type == "cpu" for t in model.state_dict().values())
    with atomic_path(path) as tmp:
        save_model(model if on_cpu else copy.deepcopy(model).cpu(), str(tmp),
                   metadata={"format": FORMAT, "seqbench": json.dumps(about, sort_keys=True, default=str)})
    return Path(path).name


def read_about(path: Path) -> dict[str, Any]:
    """The metadata a weights file carries (`describe`); a UserError when it is not a seqbench weights file."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        if meta.get("format") != FORMAT:
            raise UserError(f"{path}: not a seqbench weights file (format {meta.get('format')!r}, expected {FORMAT})")
        return json.loads(meta["seqbench"])
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 - a damaged or foreign file: say which and why, in one line
        raise UserError(f"{path}: not a readable weights file ({type(e).__name__}: {_first(e)})") from None


def load(model: nn.Module, path: Path) -> None:
    """Load the weights at `path` into `model` (strict: every parameter, the same shapes)."""
    from safetensors.torch import load_model

    try:
        load_model(model, str(path), strict=True)
    except Exception as e:  # noqa: BLE001
        raise UserError(f"{path}: the weights do not fit the model built from the record ({_first(e)})") from None


def _first(e: BaseException) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return " ".join(lines[:2])[:300] or type(e).__name__


@dataclass
class Rebuilt:
    """A cell built again from its record."""

    record: Record
    task: Task
    model: nn.Module  # in eval mode, on the CPU
    bins: list[tuple[int, int]]
    test: list[Batch]  # the cell's test set, batch by batch, as the cell drew it
    eval: C.EvalConfig
    trained: bool  # the kept weights are loaded (else: the model at initialisation)


def has_weights(folder: Path, record: Record) -> bool:
    name = record.artifacts.get(WEIGHTS)
    return name is not None and (records_dir(folder) / name).is_file()


def rebuild(reg: Registry, folder: Path, record: Record, trained: bool = True, err: Any = None) -> Rebuilt:
    """The cell of `record` (in the result folder `folder`) built again: its task, test set and model, with the
    kept weights when `trained`. One-line UserErrors: the architecture or task is not registered, the weights are
    missing or do not fit; a note on `err` when a plugin's code changed since the cell ran."""
    import pytorch_lightning as pl

    err = err if err is not None else sys.stderr
    cfg = record.config
    spec, task_spec = reg.arch(record.arch), reg.task(record.task)
    for role, kind, name in (("arch", "architecture", record.arch), ("task", "task", record.task)):
        then, now = record.plugins.get(role), reg.ref(kind, name)
        if not isinstance(then, str) and then is not None and then.digest != now.digest:
            print(f"seqbench: note: the {kind} plugin '{name}' changed since cell {record.cell_id} ran (source "
                  f"digest {then.digest} then, {now.digest} now)", file=err)
    then = record.plugins.get("host")
    if isinstance(then, PluginRef) and then.digest != hostcode.ref().digest:
        print(f"seqbench: note: seqbench's own code changed since cell {record.cell_id} ran (host digest "
              f"{then.digest} then, {hostcode.ref().digest} now)", file=err)
    from seqbench.run.plan import build_task

    task = build_task(reg, record.task, C.section(task_spec.options, cfg.task_options, f"task.{record.task}"),
                      Distance.parse(record.distance))
    options = C.section(spec.options, cfg.arch_options, f"arch.{record.arch}")
    model_cfg = C.section(C.ModelConfig, cfg.model.recorded(), "model")
    shape = ModelShape(model_cfg.d_model, model_cfg.n_layers, model_cfg.n_heads, model_cfg.dropout,
                       cfg.max_len or model_cfg.max_len)
    pl.seed_everything(stream_seed(record.seed, "model") % 2**32, verbose=False)  # as the cell seeded its build
    model = build_model(spec, shape, options, task.vocab_size)
    if trained:
        name = record.artifacts.get(WEIGHTS)
        if name is None:
            raise UserError(f"cell {record.cell_id} ({record.arch} on {record.task}) kept no weights: run it with "
                            f"--keep-weights")
        path = records_dir(folder) / name
        if not path.is_file():
            raise UserError(f"cell {record.cell_id}: its record names the weights file {path}, which is missing")
        about = read_about(path)
        if about.get("cell_id") != record.cell_id:
            raise UserError(f"{path} holds the weights of cell {about.get('cell_id')!r}, not of {record.cell_id}")
        load(model, path)
    eval_cfg = C.section(C.EvalConfig, cfg.eval.recorded(), "eval")
    bins = edges_to_bins(task.bin_edges(), task.distance.hi)
    data = TaskData(task, record.seed, cfg.train.batch_size or C.TrainConfig().batch_size, eval_cfg, bins)
    data.setup("test")
    return Rebuilt(record, task, model.eval(), bins, data.sets["test"], eval_cfg, trained)
