"""The Lightning DataModule around a task: an endless seeded training stream, fixed validation and test sets."""

from __future__ import annotations

import hashlib
from typing import Iterator

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, IterableDataset

from seqbench.contract.checks import check_batch
from seqbench.contract.specs import Batch, Split, Task


def stream_seed(seed: int, *names: str) -> int:
    """A 63-bit seed for the named stream of a cell: independent streams for train, val, test and the model."""
    digest = hashlib.sha256(":".join([str(seed), *names]).encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def generator(seed: int, *names: str) -> torch.Generator:
    return torch.Generator().manual_seed(stream_seed(seed, *names))


class _TrainStream(IterableDataset):
    """Batches drawn from the training split, forever, from one seeded generator. `ahead` batches are drawn in
    one call and cut apart, which spreads a task's fixed per-call cost."""

    def __init__(self, task: Task, batch_size: int, seed: int, ahead: int = 16) -> None:
        self.task, self.batch_size, self.seed, self.ahead = task, batch_size, seed, ahead

    def __iter__(self) -> Iterator[Batch]:
        g = generator(self.seed, "train")
        n = self.batch_size * self.ahead
        while True:
            block = check_batch(self.task.sample("train", n, g), self.task, "train", n)
            yield from chunks(block, self.batch_size)


def chunks(batch: Batch, size: int) -> list[Batch]:
    """A block of examples cut into batches of `size`, each trimmed of all-padding columns."""
    n = len(batch)
    return [batch.select(torch.arange(i, min(i + size, n))) for i in range(0, n, size)]


class TaskData(pl.LightningDataModule):
    """Data of one cell. Built in `setup`, which runs on every process."""

    def __init__(self, task: Task, seed: int, batch_size: int, n_val: int, n_test: int, eval_batch_size: int) -> None:
        super().__init__()
        self.task, self.seed = task, seed
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.n = {"val": n_val, "test": n_test}
        self.sets: dict[Split, list[Batch]] = {}

    def setup(self, stage: str | None = None) -> None:
        for split in ("val", "test"):
            if split not in self.sets:
                full = self.task.eval_set(split, self.n[split], generator(self.seed, split))
                check_batch(full, self.task, split, self.n[split])
                self.sets[split] = chunks(full, self.eval_batch_size)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(_TrainStream(self.task, self.batch_size, self.seed), batch_size=None)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.sets["val"], batch_size=None)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.sets["test"], batch_size=None)
