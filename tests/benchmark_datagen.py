"""Time batch generation of the task plugins: median milliseconds per batch after warm-up.

Not a test module (pytest collects `test_*.py` only). Run: `python tests/benchmark_datagen.py [--tasks copy cloze]`.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from bench import registry
from bench.specs import Distance


def time_batches(task, split: str, batch_size: int, repeats: int, warmup: int, seed: int = 0) -> float:
    """Median wall time of `task.sample(split, batch_size, ...)` in milliseconds, after `warmup` untimed calls."""
    generator = torch.Generator().manual_seed(seed)
    for _ in range(warmup):
        task.sample(split, batch_size, generator)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        task.sample(split, batch_size, generator)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["copy", "cloze"], help="registered task names")
    parser.add_argument("--distances", nargs="+", type=int, default=[10, 100, 1000], help="single distances")
    parser.add_argument("--splits", nargs="+", default=["train", "test"], help="splits to draw from")
    parser.add_argument("--batch-size", type=int, default=32, help="examples per batch")
    parser.add_argument("--repeats", type=int, default=50, help="timed batches per cell (the median is reported)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed batches first")
    args = parser.parse_args(argv)

    reg = registry.load(entry_points=False)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch size {args.batch_size}, "
          f"median of {args.repeats} after {args.warmup} warm-up")
    print(f"{'task':<8} {'distance':>8} {'split':<6} {'src len':>8} {'ms/batch':>9}")
    rows = []
    for name in args.tasks:
        spec = reg.task(name)
        for d in args.distances:
            task = spec.build(spec.options(), Distance(d, d))
            for split in args.splits:
                ms = time_batches(task, split, args.batch_size, args.repeats, args.warmup)
                width = task.sample(split, args.batch_size, torch.Generator().manual_seed(0)).src.shape[1]
                rows.append({"task": name, "distance": d, "split": split, "src_len": width, "ms_per_batch": ms})
                print(f"{name:<8} {d:>8} {split:<6} {width:>8} {ms:>9.3f}")
    return rows


if __name__ == "__main__":
    main()
