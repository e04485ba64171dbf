"""When a cell stops training, and why: solved, plateaued, or at its budget; and whether it was still improving.

Both rules read the free-running validation accuracy (`val_gen_acc`, what the tables report), never the test set:
`solved` once it reaches `train.solved_at`; `plateau` once `train.patience` steps have passed since its first best
value (copy cells sit at chance for thousands of steps before they break out, so a patience shorter than that
stops cells that would have learned: the profiles state theirs). Otherwise the cell runs to `train.max_steps`
("budget") or `train.max_time` ("time").
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl

from seqbench.run.config import TrainConfig


class StopRule(pl.Callback):
    """Stops training when solved or plateaued, reading the module's validation history after each validation."""

    def __init__(self, train: TrainConfig) -> None:
        self.solved_at, self.patience = train.solved_at, train.patience
        self.reason: str | None = None

    def on_validation_end(self, trainer: pl.Trainer, module: Any) -> None:
        history = getattr(module, "val_history", [])
        if trainer.sanity_checking or not history:
            return
        reason = decide(history, self.solved_at, self.patience)
        stop = trainer.strategy.reduce_boolean_decision(reason is not None, all=False)
        if stop:
            self.reason = self.reason or reason or "plateau"
            trainer.should_stop = True


def decide(history: list[dict[str, Any]], solved_at: float | None, patience: int | None) -> str | None:
    """"solved", "plateau" or None after the validations in `history` (each with `step` and `val_gen_acc`)."""
    last = history[-1]
    if solved_at is not None and last["val_gen_acc"] >= solved_at:
        return "solved"
    if patience is not None:
        best = max(history, key=lambda p: p["val_gen_acc"])  # the first of equal bests
        if last["step"] - best["step"] >= patience:
            return "plateau"
    return None


def stop_reason(rule: StopRule, steps: int, train: TrainConfig) -> str:
    """Why training ended: the rule's reason, else the step budget or the time budget."""
    if rule.reason is not None:
        return rule.reason
    if steps >= train.max_steps or train.max_time is None:
        return "budget"
    return "time"


def improving(history: list[dict[str, Any]], train: TrainConfig) -> bool | None:
    """Whether the best validation, by free-running accuracy or by loss, came within the last window of training
    (`train.patience` steps, else a quarter of the steps run): a cell that was, stopped at its budget, might have
    learned more with more steps. None without validations."""
    if not history:
        return None
    last = history[-1]["step"]
    window = train.patience if train.patience is not None else max(1, last // 4)
    by_acc = max(history, key=lambda p: p["val_gen_acc"])["step"]
    by_loss = min(history, key=lambda p: p["val_loss"])["step"]
    return max(by_acc, by_loss) > last - window
