"""Throughput and memory, measured honestly: warm up first, synchronize the device, count only real tokens,
report medians."""

from __future__ import annotations

import contextlib
import resource
import statistics
import sys
import time
import warnings
from typing import Any

import pytorch_lightning as pl
import torch

from seqbench.contract.specs import PAD, Batch
from seqbench.records.schema import MemoryKind


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

    def on_train_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        """With several ranks, a step's tokens are every rank's, in the time of the slowest rank."""
        if trainer.world_size > 1 and self.seconds:
            steps = torch.tensor([self.tokens, self.seconds], dtype=torch.float64, device=module.device)  # (2, n)
            every = trainer.strategy.all_gather(steps)  # (W, 2, n)
            self.tokens = [int(t) for t in every[:, 0].sum(0).tolist()]
            self.seconds = every[:, 1].amax(0).tolist()

    @property
    def tokens_per_s(self) -> float | None:
        return median_rate(self.tokens, self.seconds)


class GenerationThroughput(pl.Callback):
    """Times each test batch's greedy generation (the LightningModule's `test_step`, after an untimed warm-up in
    `on_test_epoch_start`), counting the tokens generated."""

    def __init__(self) -> None:
        self.tokens: list[int] = []
        self.seconds: list[float] = []
        self._t0 = 0.0

    def on_test_batch_start(self, trainer: pl.Trainer, module: pl.LightningModule, batch: Any, idx: int,
                            dataloader_idx: int = 0) -> None:
        sync(module.device)
        self._t0 = time.perf_counter()

    def on_test_batch_end(self, trainer: pl.Trainer, module: pl.LightningModule, outputs: Any, batch: Any, idx: int,
                          dataloader_idx: int = 0) -> None:
        sync(module.device)
        self.seconds.append(time.perf_counter() - self._t0)
        self.tokens.append(int((outputs != PAD).sum()))

    @property
    def tokens_per_s(self) -> float | None:
        return median_rate(self.tokens, self.seconds)


class TrainFlops(pl.Callback):
    """Training FLOPs of a cell, measured: `torch.utils.flop_counter.FlopCounterMode` counts the matrix products
    (forward and backward) of the first `measured` training steps, which throughput warm-up leaves untimed (so no
    timed step pays for the counting, unless train.throughput_warmup is below `measured`); FLOPs per real token
    times every real token trained on is the estimate. Every step's real tokens are counted."""

    def __init__(self, measured: int = 3) -> None:
        self.measured = measured
        self.tokens = 0  # real tokens of every training step
        self.flops = 0  # FLOPs counted, over `counted_tokens` real tokens
        self.counted_tokens = 0
        self.counted_steps = 0
        self._seen = 0
        self._counter: contextlib.ExitStack | None = None
        self._flops: Any = None

    def on_train_batch_start(self, trainer: pl.Trainer, module: pl.LightningModule, batch: Any, idx: int) -> None:
        if self._seen < self.measured:
            from torch.utils.flop_counter import FlopCounterMode

            # The fused RNN kernels of cuDNN (GPU) and oneDNN (CPU: an LSTM counts 0 FLOPs through it) have no FLOP
            # formula: counted steps run PyTorch's own RNN (the same matrix products, where the counter sees them)
            self._counter = contextlib.ExitStack()
            self._counter.enter_context(torch.backends.cudnn.flags(enabled=False))
            with warnings.catch_warnings():  # torch warns about TF32 on Intel GPUs whenever the oneDNN flags change
                warnings.simplefilter("ignore", UserWarning)
                self._counter.enter_context(torch.backends.mkldnn.flags(enabled=False))
            self._flops = self._counter.enter_context(FlopCounterMode(display=False))

    def on_train_batch_end(self, trainer: pl.Trainer, module: pl.LightningModule, outputs: Any, batch: Any,
                           idx: int) -> None:
        n = real_tokens(batch)
        self.tokens += n
        self._seen += 1
        if self._counter is not None:
            self._stop()
            self.flops += self._flops.get_total_flops()
            self.counted_tokens += n
            self.counted_steps += 1

    def on_exception(self, trainer: pl.Trainer, module: pl.LightningModule, exception: BaseException) -> None:
        if self._counter is not None:
            self._stop()

    def _stop(self) -> None:
        """Leave the counter and restore the fused-kernel flags (quietly: see on_train_batch_start)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            self._counter.close()
        self._counter = None

    @property
    def per_token(self) -> float | None:
        return self.flops / self.counted_tokens if self.counted_tokens and self.flops else None

    def record(self) -> dict[str, Any]:
        """The throughput fields: tokens trained on, FLOPs per token and their product, and how they were got."""
        per = self.per_token
        return {"train_tokens": self.tokens, "flops_per_token": per,
                "train_flops": None if per is None else per * self.tokens,
                "flops_method": f"FlopCounterMode over {self.counted_steps} training steps (forward and backward "
                                f"matrix products), per real token, times {self.tokens} real tokens trained on"}


class Progress(pl.Callback):
    """Reports a cell's progress (`{"cell", "step", "max_steps", "val_acc"?}`) to a callable, about 50 times a cell
    and at every validation, for the runner's display. Runs in whatever process trains the cell."""

    def __init__(self, cell_id: str, report: Any) -> None:
        self.cell_id, self.report = cell_id, report

    def on_train_batch_end(self, trainer: pl.Trainer, module: pl.LightningModule, outputs: Any, batch: Any,
                           idx: int) -> None:
        if trainer.global_step % max(1, trainer.max_steps // 50) == 0:
            self.report({"cell": self.cell_id, "step": trainer.global_step, "max_steps": trainer.max_steps})

    def on_validation_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        acc = trainer.callback_metrics.get("val_acc")
        self.report({"cell": self.cell_id, "step": trainer.global_step, "max_steps": trainer.max_steps,
                     "val_acc": None if acc is None else float(acc)})


# Set by the process that runs exactly one cell (seqbench.run.executors), so its peak RSS is that cell's.
CELL_PROCESS = False


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory(device: torch.device) -> tuple[float, MemoryKind]:
    """(MiB, what was measured, one of `MEMORY_KINDS`): on a GPU the allocator's peak since the cell started; on a
    CPU the peak RSS of the process that ran the cell alone (`cell_process_peak_rss`: the cell's own, no other
    cell's, over a base that every cell carries: the interpreter with torch and Lightning imported), or of the whole
    process when cells share one (`process_max_rss`: a high-water mark, not the cell's own)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "cuda_max_allocated"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    mb = rss / 2**20 if sys.platform == "darwin" else rss / 2**10
    return mb, "cell_process_peak_rss" if CELL_PROCESS else "process_max_rss"
