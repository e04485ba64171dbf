"""Does producing a training batch cost under 5% of a training step? Measured, per task, distance and architecture.

Not a test module (pytest collects `test_*.py` only); run it on a quiet machine:

    python tests/benchmark_datagen.py [--tasks copy cloze translation] [--archs lstm transformer] [--params 40000]

For each task and distance it times the batches exactly as the core draws them (`seqbench.run.data`'s training stream,
several batches per `sample` call; the cost per batch is the median over rounds of whole blocks, so the draws
are counted, not only the cheap slices between them), and for each architecture, sized to the parameter budget, a real training step
(forward, loss, backward, AdamW step) on such a batch. Both are medians after warm-up, on one thread, on the CPU.
Prints one row per (task, distance, architecture) with the share, and exits 1 if any share is 5% or more.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
import torch.nn.functional as F

from seqbench.contract import registry
from seqbench.run.config import ModelConfig
from seqbench.run.plan import model_shape
from seqbench.run.data import _TrainStream
from seqbench.contract.specs import teacher_input
from seqbench.run.module import lengths
from seqbench.host.sizing import build_model, size_to_budget
from seqbench.contract.specs import PAD, Distance

LIMIT = 0.05


def median_ms(fn, repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["copy", "cloze", "translation"])
    parser.add_argument("--distances", nargs="+", default=None, help="distance settings (default: per task)")
    parser.add_argument("--archs", nargs="+", default=["lstm", "transformer"])
    parser.add_argument("--params", type=int, default=40000, help="parameter budget of each architecture")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    reg = registry.load(entry_points=False)
    defaults = {"copy": ["10", "100", "1000"], "cloze": ["10", "100", "1000"], "translation": ["10", "30", "60"]}
    worst = 0.0
    print(f"{'task':<12} {'distance':>8} {'arch':<12} {'batch ms':>9} {'step ms':>9} {'share':>7}")
    for name in args.tasks:
        spec = reg.task(name)
        for setting in args.distances or defaults.get(name, list(spec.default_distances)):
            task = spec.build(spec.options(), Distance.parse(setting))
            source = _TrainStream(task, args.batch_size, seed=0)
            stream = iter(source)
            per_round = 4 * source.ahead  # whole blocks per timing, so each draw's cost is spread as in training

            def draw_round() -> None:
                for _ in range(per_round):
                    next(stream)

            batch_ms = median_ms(draw_round, max(3, args.repeats // 6), warmup=1) / per_round
            batch = next(stream)
            max_len = task.max_src_len + 1 + task.max_tgt_len
            for arch in args.archs:
                aspec = reg.arch(arch)
                config, _ = size_to_budget(aspec, model_shape(ModelConfig(), max_len), aspec.options(), task.vocab_size,
                                           args.params)
                model = build_model(aspec, config, aspec.options(), task.vocab_size)
                opt = torch.optim.AdamW(model.parameters())

                def step() -> None:
                    logits = model(batch.src, lengths(batch.src), teacher_input(batch.tgt))
                    loss = F.cross_entropy(logits.flatten(0, 1), batch.tgt.flatten(), ignore_index=PAD)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()

                step_ms = median_ms(step, args.repeats, warmup=3)
                share = batch_ms / step_ms
                worst = max(worst, share)
                print(f"{name:<12} {setting:>8} {arch:<12} {batch_ms:9.3f} {step_ms:9.2f} {share:7.2%}")
    print(f"worst share {worst:.2%} ({'under' if worst < LIMIT else 'NOT under'} {LIMIT:.0%})")
    return 0 if worst < LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
