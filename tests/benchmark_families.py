"""What a copy cell of the chunked-scan mixers costs beside `lstm`'s. Not a test module.

    python tests/benchmark_families.py [--archs lstm selective-ssm gla mlstm] [--delays 32 256] [--steps 100]
                                       [--rounds 5] [--threads 1] [--keep-denormals]

Each architecture is sized by the host to the quick profile's budget (40000 parameters, 2 layers, 4 heads) for the
quick profile's copy task (k 5, alphabet 8) at each delay, then trained on the task's own training batches (batch
32, Adam at the architecture's learning rate, gradient clipping 1.0): a copy cell's training without Lightning,
validation or test. After 3 warm-up steps each, the architectures take turns, `--rounds` rounds of `--steps /
--rounds` steps each, so that a change in the machine's load falls on all of them; the time per step is the median
over rounds (wall seconds), the ratio against lstm's at the same delay. Goal: every ratio at most 2. An
architecture may carry options: `selective-ssm:cpu_kernel=false` times the PyTorch scan. Denormal floats are
flushed to zero, as a cell does (`train.flush_denormal`); `--keep-denormals` times them kept.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from seqbench.contract import registry
from seqbench.contract.specs import PAD, ModelShape, teacher_input
from seqbench.host.sizing import build_model, count_params, size_to_budget
from seqbench.records.distance import Distance
from seqbench.run import sources

BUDGET = 40_000  # the quick profile's
BATCH = 32
WARMUP = 3
GOAL = 2.0


def trainer(reg: registry.Registry, arch: str, options: dict[str, object], delay: int
            ) -> tuple[Callable[[int], float], int]:
    """A copy cell of `arch` at `delay`, built and warmed up: a function timing n training steps (wall seconds),
    and its parameter count."""
    copy = reg.task("copy")
    task = copy.build(copy.options(k=5, alphabet=8), Distance.parse(str(delay)))
    spec = reg.archs[arch]
    opts = spec.options(**options)
    shape = ModelShape(d_model=64, n_layers=2, n_heads=4, dropout=0.0, max_len=task.max_src_len + 1 + task.max_tgt_len)
    sized, _ = size_to_budget(spec, shape, opts, task.vocab_size, BUDGET)
    torch.manual_seed(0)
    model = build_model(spec, sized, opts, task.vocab_size).train()
    opt = torch.optim.Adam(model.parameters(), lr=spec.train.get("lr", 1e-3))
    g = torch.Generator().manual_seed(0)
    batches = [task.sample("train", BATCH, g) for _ in range(20)]  # drawn before timing
    done = 0

    def steps(n: int) -> float:
        nonlocal done
        t0 = time.perf_counter()
        for _ in range(n):
            b = batches[done % len(batches)]
            done += 1
            src_len = (b.src != PAD).sum(1)
            logits = model(b.src, src_len, teacher_input(b.tgt))  # (B, T, V)
            loss = F.cross_entropy(logits.flatten(0, 1), b.tgt.flatten(), ignore_index=PAD)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        return time.perf_counter() - t0

    steps(WARMUP)
    return steps, count_params(model)


def parse_arch(text: str) -> tuple[str, dict[str, object]]:
    """"name" or "name:option=value,...": an architecture with some options set (values read as `--set` reads them)."""
    name, _, rest = text.partition(":")
    options: dict[str, object] = {}
    for item in filter(None, rest.split(",")):
        path, value = sources.parse_set(f"{name}.{item}")
        options[path[-1]] = value
    return name, options


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--archs", nargs="+", default=["lstm", "selective-ssm", "gla", "mlstm"],
                   help='names, or "name:option=value,..." (e.g. selective-ssm:cpu_kernel=false)')
    p.add_argument("--delays", nargs="+", type=int, default=[32, 256])
    p.add_argument("--steps", type=int, default=100, help="steps timed per architecture, over all rounds")
    p.add_argument("--rounds", type=int, default=5, help="rounds taking turns between the architectures")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--keep-denormals", action="store_true",
                   help="leave denormal floats on (a cell flushes them: train.flush_denormal, on by default)")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(not a.keep_denormals)  # as a cell trains: a stuck recurrent cell's denormals cost 2x
    reg = registry.load(entry_points=False)
    archs = ["lstm"] + [x for x in a.archs if x != "lstm"]
    per_round = max(1, a.steps // a.rounds)
    print(f"copy cell, {a.rounds} rounds of {per_round} steps each, taking turns; batch {BATCH}, budget {BUDGET}, "
          f"{a.threads} thread(s); s/step: the median over rounds")
    print(f"{'arch':<36}{'delay':>6}{'params':>8}{'s/step':>9}{'x lstm':>8}")
    missed = False
    for delay in a.delays:
        cells = {arch: trainer(reg, *parse_arch(arch), delay) for arch in archs}
        times: dict[str, list[float]] = {arch: [] for arch in archs}
        for _ in range(a.rounds):  # in turns, so that a change in the machine's load falls on every architecture
            for arch in archs:
                times[arch].append(cells[arch][0](per_round) / per_round)
        ref = statistics.median(times["lstm"])
        for arch in archs:
            per_step = statistics.median(times[arch])
            ratio = per_step / ref
            missed |= ratio > GOAL
            print(f"{arch:<36}{delay:>6}{cells[arch][1]:>8}{per_step:>9.4f}{ratio:>8.2f}", flush=True)
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
