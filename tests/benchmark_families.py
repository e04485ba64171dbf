"""What a copy cell of the chunked-scan mixers costs beside `lstm`'s. Not a test module.

    python tests/benchmark_families.py [--archs lstm selective-ssm gla mlstm] [--delays 32 256] [--steps 200]
                                       [--threads 1]

Each architecture is sized by the host to the quick profile's budget (40000 parameters, 2 layers, 4 heads) for the
quick profile's copy task (k 5, alphabet 8) at each delay, then trained for `--steps` steps on the task's own
training batches (batch 32, Adam at the architecture's learning rate, gradient clipping 1.0): a copy cell's
training without Lightning, validation or test. The time is wall seconds of those steps (after 3 warm-up steps);
the ratio is against lstm's at the same delay. Goal: every ratio at most 2. On a shared machine the times move
with its load: compare ratios from one run.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch import nn

from seqbench.contract import registry
from seqbench.contract.specs import PAD, ModelShape, teacher_input
from seqbench.host.sizing import build_model, count_params, size_to_budget
from seqbench.records.distance import Distance

BUDGET = 40_000  # the quick profile's
BATCH = 32
WARMUP = 3
GOAL = 2.0


def cell_seconds(reg: registry.Registry, arch: str, delay: int, steps: int) -> tuple[float, int]:
    """Seconds for `steps` training steps of a copy cell of `arch` at `delay`, and its parameter count."""
    copy = reg.task("copy")
    task = copy.build(copy.options(k=5, alphabet=8), Distance.parse(str(delay)))
    spec = reg.archs[arch]
    options = spec.options()
    shape = ModelShape(d_model=64, n_layers=2, n_heads=4, dropout=0.0, max_len=task.max_src_len + 1 + task.max_tgt_len)
    sized, _ = size_to_budget(spec, shape, options, task.vocab_size, BUDGET)
    torch.manual_seed(0)
    model = build_model(spec, sized, options, task.vocab_size).train()
    opt = torch.optim.Adam(model.parameters(), lr=spec.train.get("lr", 1e-3))
    g = torch.Generator().manual_seed(0)
    batches = [task.sample("train", BATCH, g) for _ in range(min(steps + WARMUP, 20))]  # drawn before timing
    t0 = 0.0
    for i in range(steps + WARMUP):
        if i == WARMUP:
            t0 = time.perf_counter()
        b = batches[i % len(batches)]
        src_len = (b.src != PAD).sum(1)
        logits = model(b.src, src_len, teacher_input(b.tgt))  # (B, T, V)
        loss = F.cross_entropy(logits.flatten(0, 1), b.tgt.flatten(), ignore_index=PAD)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return time.perf_counter() - t0, count_params(model)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--archs", nargs="+", default=["lstm", "selective-ssm", "gla", "mlstm"])
    p.add_argument("--delays", nargs="+", type=int, default=[32, 256])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    reg = registry.load(entry_points=False)
    archs = ["lstm"] + [x for x in a.archs if x != "lstm"]
    print(f"copy cell, {a.steps} steps, batch {BATCH}, budget {BUDGET}, {a.threads} thread(s)")
    print(f"{'arch':<15}{'delay':>6}{'params':>8}{'cell s':>9}{'s/step':>9}{'x lstm':>8}")
    missed = False
    for delay in a.delays:
        ref = None
        for arch in archs:
            seconds, params = cell_seconds(reg, arch, delay, a.steps)
            ref = seconds if ref is None else ref
            ratio = seconds / ref
            missed |= ratio > GOAL
            print(f"{arch:<15}{delay:>6}{params:>8}{seconds:>9.2f}{seconds / a.steps:>9.4f}{ratio:>8.2f}", flush=True)
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
