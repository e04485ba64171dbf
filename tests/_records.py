"""Records for publishing tests, made from real ones: `make_record(...)` takes a record that a tiny cell really
trained (a copy cell, or a synthetic translation cell for a task named translation, each trained once per test
session) and sets the values a test controls (architecture, task, distance, seed, accuracies, speeds...). Every
field name, every nested shape, the plugins, the environment and the text metrics are what the runner writes, so a
view that looks for a name the runner does not write fails here, not in a published report."""

from __future__ import annotations

import contextlib
import copy
import functools
import io
import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any, Sequence

from seqbench.records.distance import default_edges, edges_to_bins
from seqbench.records.schema import Record

TEMPLATE_RUNS = {  # what a template cell trains: `seqbench run` arguments (tiny, seconds on a CPU)
    "copy": ["--arch", "lstm", "--task", "copy", "--distance", "2-6", "--set", "task.copy.k=3",
             "--set", "task.copy.alphabet=4"],
    "translation": ["--arch", "seq2seq-attn", "--task", "translation", "--distance", "5-12"],
}
TINY = ["--profile", "none", "--seeds", "0", "--max-steps", "10", "--set", "model.d_model=16", "--set",
        "model.n_layers=1", "--set", "train.batch_size=8", "--set", "train.val_every=5", "--set", "eval.n_val=16",
        "--set", "eval.n_test=16", "--set", "train.throughput_warmup=2", "--no-progress", "--jobs", "0"]


@functools.lru_cache(maxsize=None)
def real_record(kind: str) -> dict[str, Any]:
    """The record (as JSON data) of a tiny cell that really trained: `copy` or `translation`."""
    from seqbench.cli import main
    from seqbench.records import store

    out = Path(tempfile.mkdtemp(prefix=f"seqbench-template-{kind}-"))
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
        code = main(["run", *TEMPLATE_RUNS[kind], *TINY, "--out", str(out)])  # quiet: the test's output is its own
    (record,) = store.load_dir(out).records
    assert code == 0 and record.status == "ok", (code, record.error, err.getvalue())
    return record.to_dict()


def default_bins(distance: str | int) -> list[tuple[int, int]]:
    """(lo, hi) of the bins a task reports for `distance`: one bin, or powers-of-two edges across a range."""
    lo, _, hi = str(distance).partition("-")
    lo, hi = int(lo), int(hi or lo)
    return edges_to_bins(default_edges(lo, hi), hi)


def make_record(arch: str = "lstm", task: str = "copy", distance: str | int = "10-100", seed: int = 0, *,
                status: str = "ok", acc: float | Sequence[float] = 0.5, seq_acc: float | Sequence[float] | None = None,
                bins: Sequence[tuple[int, int]] | None = None, overall: dict[str, Any] | None = None,
                params_budget: int | None = 50000, params: int = 49876, chance: float = 0.125,
                train_tps: float = 1.2e5, gen_tps: float = 3.4e4, peak_mb: float = 812.0,
                src_len: float = 62.1, tgt_len: float = 11.0, env: dict[str, Any] | None = None,
                config: dict[str, Any] | None = None, command: str | None = None, lr: float | None = None,
                n: int = 64, tokens: bool = True, val_loss: float = 1.2, memory_kind: str = "cell_process_peak_rss",
                history: Sequence[dict[str, Any]] | None = None, val_gen_acc: float | None = None,
                **throughput: Any) -> Record:
    """A real record with these values. `acc`/`seq_acc`: one value for every bin, or one per bin. Not-ok cells have
    no bins. `n`: test examples per bin (5 target tokens each when `tokens`); `lr`: the learning rate, recorded and
    in the configuration; `val_loss`: the best validation loss; `history`: the validation history; `overall`:
    replaces the whole test set's scores (keep the real text metrics' names: they are checked); `config`: merged
    into the real configuration section by section; further keywords set throughput fields."""
    data = copy.deepcopy(real_record("translation" if task == "translation" else "copy"))
    real_bin = data["metrics"]["bins"][0]
    texts = {k: v for k, v in real_bin.items() if k in data["metrics"]["text_metrics"]}
    bins = list(bins) if bins is not None else default_bins(distance)
    accs = [acc] * len(bins) if isinstance(acc, (int, float)) else list(acc)
    seqs = [a / 4 for a in accs] if seq_acc is None else (
        [seq_acc] * len(bins) if isinstance(seq_acc, (int, float)) else list(seq_acc))
    ok = status == "ok"
    data["metrics"]["bins"] = [
        {**{k: v for k, v in real_bin.items() if k not in ("lo", "hi", "label", "n", "tokens", "token_acc",
                                                          "seq_acc")},
         **texts, "lo": lo, "hi": hi, "label": str(lo) if lo == hi else f"{lo}-{hi}", "n": n,
         **({"tokens": 5 * n} if tokens else {}), "token_acc": a, "seq_acc": s}
        for (lo, hi), a, s in zip(bins, accs, seqs)] if ok else []
    whole = {**data["metrics"]["overall"], "n": n * len(bins), "tokens": 5 * n * len(bins) if tokens else None,
             "token_acc": sum(accs) / len(accs), "seq_acc": sum(seqs) / len(seqs)}
    data["metrics"]["overall"] = ({**whole, **overall} if overall is not None else whole) if ok else None
    val = data["metrics"]["val"]
    val.update(best_val_loss=val_loss, best_val_gen_acc=val_gen_acc, history=list(history) if history is not None else
               [{**val["history"][0], "step": 100 * i, "val_loss": val_loss * (4 - i), "val_acc": 0.1 * i}
                for i in (1, 2, 3)])
    cfg = data["config"]
    for section, values in (config or {}).items():
        cfg[section] = {**cfg[section], **values} if isinstance(cfg.get(section), dict) else values
    cfg.update(arch=arch, task=task, distance=str(distance), seed=seed, params_budget=params_budget)
    cfg["train"]["lr"] = lr or cfg["train"]["lr"]
    data.update(arch=arch, task=task, distance=str(distance), seed=seed, params_budget=params_budget, lr=lr,
                params=params, chance=chance, status=status,
                command=command or f"seqbench run --arch {arch} --task {task} --distance {distance} --seed {seed}")
    data["throughput"].update(train_tokens_per_s=train_tps if ok else None, gen_tokens_per_s=gen_tps if ok else None,
                              peak_memory_mb=peak_mb if ok else None, memory_kind=memory_kind,
                              mean_src_len=src_len, mean_tgt_len=tgt_len, **throughput)
    if env is not None:
        data["env"] = env
    data["error"] = None if ok else {"type": "FloatingPointError" if status == "diverged" else "RuntimeError",
                                     "message": f"{status} at step 120", "plugin": arch, "step": 120}
    data["cell_id"] = hashlib.sha256(json.dumps({k: v for k, v in data.items() if k != "cell_id"}, sort_keys=True,
                                                default=str).encode()).hexdigest()[:16]
    return Record.model_validate(data)


def edited(record: Record, change) -> Record:
    """A copy of `record` with `change(data)` applied to its JSON data, validated again."""
    data = record.to_dict()
    change(data)
    return Record.model_validate(data)
