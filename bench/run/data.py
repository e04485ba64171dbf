"""The Lightning DataModule around a task: an endless seeded training stream, fixed validation and test sets."""

from __future__ import annotations

import hashlib
from typing import Iterator

import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, IterableDataset

from seqbench.contract.checks import check_batch
from seqbench.contract.specs import PAD, Batch, Split, Task
from seqbench.run.config import EvalConfig


def stream_seed(seed: int, *names: str) -> int:
    """A 63-bit seed for the named stream of a cell: independent streams for train, val, test and the model."""
    digest = hashlib.sha256(":".join([str(seed), *names]).encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def generator(seed: int, *names: str) -> torch.Generator:
    return torch.Generator().manual_seed(stream_seed(seed, *names))


class _TrainStream(IterableDataset):
    """Batches drawn from the training split, forever, from one seeded generator. `ahead` batches are drawn in
    one call and cut apart, which spreads a task's fixed per-call cost. With `bucket`, the block is sorted by
    source and target length before it is cut, and its batches come in a random order: batches of similar
    lengths carry little padding (what a real corpus, with sentences of 1 to 40 words, needs).

    With several ranks (DDP), every rank draws the same stream and keeps its own slice of each batch: rank r of W
    trains on rows [r B/W, (r+1) B/W) of batch i at step i, so the ranks see disjoint examples that together are the
    batches of a single-device run."""

    def __init__(self, task: Task, batch_size: int, seed: int, ahead: int = 16, bucket: bool = False,
                 rank: int = 0, world: int = 1) -> None:
        self.task, self.batch_size, self.seed, self.ahead, self.bucket = task, batch_size, seed, ahead, bucket
        self.rank, self.world = rank, world

    def __iter__(self) -> Iterator[Batch]:
        g = generator(self.seed, "train")
        n = self.batch_size * self.ahead
        per_rank = self.batch_size // self.world
        mine = torch.arange(self.rank * per_rank, (self.rank + 1) * per_rank)  # (B / W,)
        while True:
            block = check_batch(self.task.sample("train", n, g), self.task, "train", n)
            if self.bucket:
                src_len, tgt_len = (block.src != PAD).sum(1), (block.tgt != PAD).sum(1)  # (n,)
                order = torch.sort(src_len * (block.tgt.shape[1] + 1) + tgt_len, stable=True).indices
                batches = chunks(block.select(order), self.batch_size)
                batches = [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]
            else:
                batches = chunks(block, self.batch_size)
            for batch in batches:
                yield batch if self.world == 1 else batch.select(mine)


def chunks(batch: Batch, size: int) -> list[Batch]:
    """A block of examples cut into batches of `size`, each trimmed of all-padding columns."""
    n = len(batch)
    return [batch.select(torch.arange(i, min(i + size, n))) for i in range(0, n, size)]


def bin_index(distance: Tensor, bins: list[tuple[int, int]]) -> Tensor:
    """The bin of each distance (B,) -> (B,) long; below the first edge counts as the first bin."""
    los = torch.tensor([lo for lo, _ in bins], device=distance.device)
    return (torch.searchsorted(los, distance, right=True) - 1).clamp(min=0)


def stratified(task: Task, split: Split, bins: list[tuple[int, int]], per_bin: int, seed: int) -> Batch:
    """A fixed evaluation set with `per_bin` examples in every distance bin, drawn from the task's own
    `eval_set` (larger draws until every bin is full; fewer only where the task has no more, e.g. a corpus).

    Examples keep the task's order within a bin; bins follow each other by distance.
    """
    m, cap = per_bin * len(bins), per_bin * len(bins) * 1024
    while True:
        full = check_batch(task.eval_set(split, m, generator(seed, split)), task, split, m)
        which = bin_index(full.distance, bins)  # (N,)
        counts = torch.bincount(which, minlength=len(bins))
        if bool((counts >= per_bin).all()) or len(full) < m or m >= cap:
            break
        m *= 4
    keep = torch.cat([(which == j).nonzero().flatten()[:per_bin] for j in range(len(bins))])  # (<= per_bin * bins,)
    return full.select(keep)


class TaskData(pl.LightningDataModule):
    """Data of one cell: an endless seeded training stream, a fixed validation set, and a test set stratified by
    distance bin. Built in `setup`, which runs on every process."""

    def __init__(self, task: Task, seed: int, batch_size: int, eval: EvalConfig, bins: list[tuple[int, int]],
                 bucket: bool = False) -> None:
        super().__init__()
        self.task, self.seed, self.bins, self.bucket = task, seed, bins, bucket
        self.batch_size, self.eval = batch_size, eval
        self.sets: dict[Split, list[Batch]] = {}

    def setup(self, stage: str | None = None) -> None:
        if "val" not in self.sets:
            val = self.task.eval_set("val", self.eval.n_val, generator(self.seed, "val"))
            self.sets["val"] = chunks(check_batch(val, self.task, "val", self.eval.n_val), self.eval.batch_size)
        if "test" not in self.sets:
            test = stratified(self.task, "test", self.bins, self.eval.n_test, self.seed)
            self.sets["test"] = chunks(test, self.eval.batch_size)

    def train_dataloader(self) -> DataLoader:
        rank, world = (self.trainer.global_rank, self.trainer.world_size) if self.trainer else (0, 1)
        return DataLoader(_TrainStream(self.task, self.batch_size, self.seed, bucket=self.bucket, rank=rank,
                                       world=world), batch_size=None)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.sets["val"], batch_size=None)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.sets["test"], batch_size=None)
