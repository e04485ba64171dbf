"""When a cell stops training, and why: solved, plateaued, or at its budget; and whether it was still improving.

Both rules read validation, never the test set: `solved` once the free-running accuracy (`val_gen_acc`, what the
tables report) reaches `train.solved_at`; `plateau` once `train.patience` steps have passed since the first best
value of the selection score (`eval.select`: that accuracy, or a text metric such as validation BLEU) (copy cells
sit at chance for thousands of steps before they break out, so a patience shorter than that stops cells that would
have learned: the profiles state theirs). A validation counts as better only when it beats the best so far by more
than `train.min_delta`: at chance, new bests by a hair are the noise of a finite validation set, and without the
margin they keep a stuck cell training to its budget and mark it as still improving there. Otherwise the cell runs
to `train.max_steps` ("budget") or `train.max_time` ("time").
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl

from seqbench.run.config import TrainConfig


class StopRule(pl.Callback):
    """Stops training when solved or plateaued, reading the module's validation history after each validation."""

    def __init__(self, train: TrainConfig, select: str = "val_gen_acc") -> None:
        self.solved_at, self.patience, self.select = train.solved_at, train.patience, select
        self.min_delta = train.min_delta
        self.reason: str | None = None

    def on_validation_end(self, trainer: pl.Trainer, module: Any) -> None:
        history = getattr(module, "val_history", [])
        if trainer.sanity_checking or not history:
            return
        reason = decide(history, self.solved_at, self.patience, self.select, self.min_delta)
        stop = trainer.strategy.reduce_boolean_decision(reason is not None, all=False)
        if stop:
            self.reason = self.reason or reason or "plateau"
            trainer.should_stop = True


def monitored(select: str) -> str:
    """The name the module logs the selection score under (Lightning's checkpoint monitors it)."""
    return select if select.startswith("val_") else f"val_{select}"


def last_gain(history: list[dict[str, Any]], select: str = "val_gen_acc", min_delta: float = 0.0) -> dict[str, Any]:
    """The validation in `history` (not empty) that last counted as better: the first, then each that beats the best
    so far (by `select`) by more than `min_delta`. With a margin of 0 it is the first of equal bests."""
    best = history[0]
    for point in history[1:]:
        if point[select] > best[select] + min_delta:
            best = point
    return best


def decide(history: list[dict[str, Any]], solved_at: float | None, patience: int | None,
           select: str = "val_gen_acc", min_delta: float = 0.0) -> str | None:
    """"solved", "plateau" or None after the validations in `history` (each with `step`, `val_gen_acc` and the
    selection score `select`): plateau once `patience` steps have passed since the last gain of more than
    `min_delta`."""
    last = history[-1]
    if solved_at is not None and last["val_gen_acc"] >= solved_at:
        return "solved"
    if patience is not None and last["step"] - last_gain(history, select, min_delta)["step"] >= patience:
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
    """Whether the last gain of the selection score (of more than `train.min_delta`, as the plateau rule counts it)
    or the best validation loss came within the last window of training (`train.patience` steps, else a quarter of
    the steps run): a cell that was, stopped at its budget, might have learned more with more steps. None without
    validations."""
    if not history:
        return None
    last = history[-1]["step"]
    window = train.patience if train.patience is not None else max(1, last // 4)
    by_acc = last_gain(history, select, train.min_delta)["step"]
    by_loss = min(history, key=lambda p: p["val_loss"])["step"]
    return max(by_acc, by_loss) > last - window
