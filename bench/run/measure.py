"""Throughput and memory, measured honestly: warm up first, synchronize the device, count only real tokens,
report medians."""

from __future__ import annotations

import resource
import statistics
import sys
import time
from typing import Any

import pytorch_lightning as pl
import torch

from seqbench.contract.specs import PAD, Batch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def real_tokens(batch: Batch) -> int:
    """Non-padding tokens of a batch, source and target."""
    return int((batch.src != PAD).sum()) + int((batch.tgt != PAD).sum())


def median_rate(tokens: list[int], seconds: list[float]) -> float | None:
    rates = [n / s for n, s in zip(tokens, seconds) if s > 0]
    return statistics.median(rates) if rates else None


class TrainThroughput(pl.Callback):
    """Times each training step (forward, backward, optimizer) after `warmup` steps; keeps tokens and seconds."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.tokens: list[int] = []
        self.seconds: list[float] = []
        self._t0 = 0.0
        self._seen = 0

    def on_train_batch_start(self, trainer: pl.Trainer, module: pl.LightningModule, batch: Any, idx: int) -> None:
        sync(module.device)
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, trainer: pl.Trainer, module: pl.LightningModule, outputs: Any, batch: Any,
                           idx: int) -> None:
        sync(module.device)
        dt = time.perf_counter() - self._t0
        self._seen += 1
        if self._seen > self.warmup:
            self.tokens.append(real_tokens(batch))
            self.seconds.append(dt)

    @property
    def tokens_per_s(self) -> float | None:
        return median_rate(self.tokens, self.seconds)


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory(device: torch.device) -> tuple[float, str]:
    """(MiB, what was measured): the CUDA allocator's peak for the cell, or on CPU the process's peak RSS."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "cuda_max_allocated"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (rss / 2**20 if sys.platform == "darwin" else rss / 2**10), "process_max_rss"
