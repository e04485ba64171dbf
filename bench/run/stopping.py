"""When a cell stops training, and why: solved, plateaued, or at its budget; and whether it was still improving.

Both rules read validation, never the test set: `solved` once the free-running accuracy (`val_gen_acc`, what the
tables report) reaches `train.solved_at`; `plateau` once `train.patience` steps have passed since the first best
value of the selection score (`eval.select`: that accuracy, or a text metric such as validation BLEU) (copy cells sit at chance for thousands of steps before they break out, so a patience shorter than that
stops cells that would have learned: the profiles state theirs). Otherwise the cell runs to `train.max_steps`
("budget") or `train.max_time` ("time").
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl

from seqbench.run.config import TrainConfig


class StopRule(pl.Callback):
    """Stops training when solved or plateaued, reading the module's validation history after each validation."""

    def __init__(self, train: TrainConfig, select: str = "val_gen_acc") -> None:
        self.solved_at, self.patience, self.select = train.solved_at, train.patience, select
        self.reason: str | None = None

    def on_validation_end(self, trainer: pl.Trainer, module: Any) -> None:
        history = getattr(module, "val_history", [])
        if trainer.sanity_checking or not history:
            return
        reason = decide(history, self.solved_at, self.patience, self.select)
        stop = trainer.strategy.reduce_boolean_decision(reason is not None, all=False)
        if stop:
            self.reason = self.reason or reason or "plateau"
            trainer.should_stop = True


def monitored(select: str) -> str:
    """The name the module logs the selection score under (Lightning's checkpoint monitors it)."""
    return select if select.startswith("val_") else f"val_{select}"


def decide(history: list[dict[str, Any]], solved_at: float | None, patience: int | None,
           select: str = "val_gen_acc") -> str | None:
    """"solved", "plateau" or None after the validations in `history` (each with `step`, `val_gen_acc` and the
    selection score `select`)."""
    last = history[-1]
    if solved_at is not None and last["val_gen_acc"] >= solved_at:
        return "solved"
    if patience is not None:
        best = max(history, key=lambda p: p[select])  # the first of equal bests
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


def improving(history: list[dict[str, Any]], train: TrainConfig, select: str = "val_gen_acc") -> bool | None:
    """Whether the best validation, by the selection score or by loss, came within the last window of training
    (`train.patience` steps, else a quarter of the steps run): a cell that was, stopped at its budget, might have
    learned more with more steps. None without validations."""
    if not history:
        return None
    last = history[-1]["step"]
    window = train.patience if train.patience is not None else max(1, last // 4)
    by_acc = max(history, key=lambda p: p[select])["step"]
    by_loss = min(history, key=lambda p: p["val_loss"])["step"]
    return max(by_acc, by_loss) > last - window
