"""Time the translation task's batch generation (a script, not a test).

    python tests/benchmark_translation_datagen.py [--reps 200] [--batch 32] [--threads N] [--data-dir PATH]

Prints the median milliseconds per `sample("train", batch)` for synthetic distances 10, 30 and 60 and for
Multi30k (skipped if absent); the same per `batch` examples when 16 batches are drawn in one call (what a host
that draws ahead would pay); and, for scale, the median time of one training step of a small stand-in model
(2-layer LSTM encoder-decoder, d_model 64, AdamW) on the same batches: generation should cost under 5% of it.
On a busy machine, multi-threaded ops wait for cores; `--threads 1` gives steadier numbers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from bench import registry
from bench.config import build as build_options
from bench.specs import BOS, Batch, Distance

MULTI30K = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "multi30k"


def median_ms(fn, reps: int, warmup: int = 5) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


class StandIn(nn.Module):
    """A 2-layer LSTM encoder-decoder without attention: only a yardstick for the cost of one training step."""

    def __init__(self, vocab: int, d: int = 64) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.enc, self.dec = nn.LSTM(d, d, 2, batch_first=True), nn.LSTM(d, d, 2, batch_first=True)
        self.out = nn.Linear(d, vocab)

    def loss(self, b: Batch) -> torch.Tensor:
        _, state = self.enc(self.emb(b.src))  # (B, S, d) -> final (h, c)
        tgt_in = torch.cat([torch.full_like(b.tgt[:, :1], BOS), b.tgt[:, :-1]], 1)  # (B, T)
        h, _ = self.dec(self.emb(tgt_in), state)  # (B, T, d)
        return nn.functional.cross_entropy(self.out(h).flatten(0, 1), b.tgt.flatten(), ignore_index=0)


def step_ms(task, batch: int, reps: int) -> float:
    model = StandIn(task.vocab_size)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    batches = [task.sample("train", batch, torch.Generator().manual_seed(i)) for i in range(8)]
    i = iter(range(10**9))

    def step() -> None:
        opt.zero_grad()
        model.loss(batches[next(i) % len(batches)]).backward()
        opt.step()

    return median_ms(step, max(reps // 10, 10))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    ap.add_argument("--data-dir", default=str(MULTI30K))
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    spec = registry.load(entry_points=False).task("translation")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} of {os.cpu_count()} CPUs (load average {load}); "
          f"batch {args.batch}, median of {args.reps}")
    print(f"{'task':<24} {'generate ms':>12} {'in 16s ms':>10} {'step ms':>9} {'share':>7}")
    cases = [(f"synthetic distance {d}", {}, str(d)) for d in (10, 30, 60)]
    if Path(args.data_dir).is_dir():
        t0 = time.perf_counter()
        spec.build(build_options(spec.options, {"data_dir": args.data_dir}, "task.translation"), Distance(1, 1000))
        print(f"(Multi30k: first load, BPE training and encoding included: {time.perf_counter() - t0:.1f} s)")
        cases.append(("Multi30k train (BPE)", {"data_dir": args.data_dir}, "1-1000"))
    else:
        print(f"(no Multi30k at {args.data_dir}: skipped)")
    for name, options, distance in cases:
        task = spec.build(build_options(spec.options, options, "task.translation"), Distance.parse(distance))
        g = torch.Generator().manual_seed(0)
        gen = median_ms(lambda: task.sample("train", args.batch, g), args.reps)
        ahead = median_ms(lambda: task.sample("train", 16 * args.batch, g), max(args.reps // 10, 10)) / 16
        step = step_ms(task, args.batch, args.reps)
        print(f"{name:<24} {gen:>12.2f} {ahead:>10.2f} {step:>9.1f} {gen / step:>7.1%}")


if __name__ == "__main__":
    main()
