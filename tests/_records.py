"""Schema-valid result records for tests: `make_record(...)` builds one, `seqbench.records.store.save` writes it."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Sequence

from seqbench.records.distance import default_edges, edges_to_bins
from seqbench.records.schema import SCHEMA, Record


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
                n: int = 64, tokens: bool = True, val_loss: float = 1.2, memory_kind: str = "process_max_rss",
                history: Sequence[dict[str, Any]] | None = None) -> Record:
    """A record of one cell. `acc`/`seq_acc`: one value for every bin, or one per bin. Not-ok cells have no bins.
    `n`: test examples per bin (5 target tokens each when `tokens`); `lr`: the learning rate, recorded and in the
    configuration; `val_loss`: the best validation loss; `history`: the validation history."""
    bins = list(bins) if bins is not None else default_bins(distance)
    accs = [acc] * len(bins) if isinstance(acc, (int, float)) else list(acc)
    seqs = [a / 4 for a in accs] if seq_acc is None else (
        [seq_acc] * len(bins) if isinstance(seq_acc, (int, float)) else list(seq_acc))
    ok = status == "ok"
    metric_bins = [{"lo": lo, "hi": hi, "label": str(lo) if lo == hi else f"{lo}-{hi}", "n": n,
                    **({"tokens": 5 * n} if tokens else {}), "token_acc": a, "seq_acc": s}
                   for (lo, hi), a, s in zip(bins, accs, seqs)] if ok else []
    if overall is None:
        overall = {"n": n * len(bins), "token_acc": sum(accs) / len(accs), "seq_acc": sum(seqs) / len(seqs)}
    config = config or {"model": {"d_model": 64, "n_layers": 2, "n_heads": 4, "dropout": 0.0, "params": params_budget},
                        "train": {"max_steps": 300, "batch_size": 32, "lr": lr or 0.003, "seed": seed},
                        "eval": {"n_val": 256, "n_test": 512},
                        "task_options": {"distance": str(distance)}, "arch_options": {"arch": arch}}
    plugins = {"arch": f"seqbench.plugins.{arch}==0.1.0", "task": f"seqbench.tasks.{task}==0.1.0"}
    cell_id = hashlib.sha256(json.dumps({"config": config, "plugins": plugins, "arch": arch, "task": task},
                                        sort_keys=True).encode()).hexdigest()[:16]
    return Record.model_validate({
        "schema": SCHEMA, "cell_id": cell_id, "status": status, "arch": arch, "task": task, "distance": str(distance),
        "seed": seed, "params_budget": params_budget, "lr": lr, "config": config, "plugins": plugins, "params": params,
        "chance": chance,
        "metrics": {"bins": metric_bins, "overall": overall if ok else None,
                    "val": {"best_step": 300, "best_val_loss": val_loss, "best_val_acc": 0.41,
                            "history": list(history) if history is not None else
                            [{"step": 100 * i, "val_loss": val_loss * (4 - i), "val_acc": 0.1 * i} for i in (1, 2, 3)]}},
        "throughput": {"train_tokens_per_s": train_tps if ok else None, "gen_tokens_per_s": gen_tps if ok else None,
                       "peak_memory_mb": peak_mb if ok else None, "memory_kind": memory_kind,
                       "train_steps_timed": 295, "gen_batches_timed": 3, "incremental_generation": True,
                       "mean_src_len": src_len, "mean_tgt_len": tgt_len},
        "env": env or {"seqbench": "0.1.0", "git_commit": "abc1234", "torch": "2.13.0", "lightning": "2.6.6",
                       "torchmetrics": "1.9.0", "python": "3.11.7", "platform": "Linux-x86_64", "device": "cpu",
                       "device_name": "test cpu", "accelerator": "cpu", "precision": "32-true"},
        "times": {"started": "2026-11-23T01:02:03+00:00", "finished": "2026-11-23T01:02:15+00:00",
                  "wall_s": 12.3, "train_s": 9.1},
        "error": None if ok else {"type": "FloatingPointError" if status == "diverged" else "RuntimeError",
                                  "message": f"{status} at step 120", "plugin": arch, "step": 120},
        "command": command or f"seqbench run --arch {arch} --task {task} --distance {distance} --seed {seed}",
    })


def edited(record: Record, change) -> Record:
    """A copy of `record` with `change(data)` applied to its JSON data, validated again."""
    data = record.to_dict()
    change(data)
    return Record.model_validate(data)
