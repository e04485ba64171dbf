"""Validation BLEU at equal training time and at equal training FLOPs, with generation speed beside them (issue 25):
the two budgets a translation comparison is defended under.

Read from each ok cell's validation history (`metrics.val.history`: `step` and `sacrebleu` of every validation
that decoded part of the validation set, `eval.val_generate`) and its throughput (`train_flops` over
`train_steps`: the mean training FLOPs of a step, so a validation at step s comes after s times that many FLOPs).
At each budget a cell scores its best validation BLEU so far: the checkpoint selection on validation BLEU would
keep (`eval.select = "sacrebleu"`), and a cell stopped by its plateau rule keeps its best.

- equal time: the whole of each cell's training, which a time budget (`train.max_time`), or the step count it was
  converted to once (`seqbench run --steps-for-time`, `calibration.json`), makes the same time for every cell;
- equal FLOPs: training up to the smallest total training FLOPs among the task's cells that ran to their budget
  (of every cell when all stopped early), so every cell is scored at a FLOP count it reached.

Over seeds: the mean with a Student-t interval (one seed: the value, no interval).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from seqbench.publish.curves import history
from seqbench.publish.stats import t_interval
from seqbench.publish.views import cells

METRIC = "sacrebleu"
EARLY = ("plateau", "solved")  # stop reasons of a cell that ended before its budget


def flops_per_step(r: pd.Series) -> float:
    """Mean training FLOPs of one step of the cell in row `r` (nan where not measured)."""
    flops = pd.to_numeric(pd.Series([r.get("throughput.train_flops")]), errors="coerce").iloc[0]
    steps = pd.to_numeric(pd.Series([r.get("throughput.train_steps")]), errors="coerce").iloc[0]
    return float(flops) / float(steps) if pd.notna(flops) and pd.notna(steps) and steps > 0 else math.nan


def points(df: pd.DataFrame, task: str) -> pd.DataFrame:
    """Per ok cell of `task` with validation BLEU: arch, budget, seed, steps, total FLOPs, stop reason, gen tokens/s
    and its history (step, cumulative FLOPs, BLEU)."""
    c = cells(df[(df["task"] == task) & (df["status"] == "ok")])
    rows = []
    if "metrics.val.history" in c:
        for _, r in c.iterrows():
            h = history(r["metrics.val.history"])
            per = flops_per_step(r)
            if METRIC not in h or math.isnan(per):
                continue
            h = h.dropna(subset=[METRIC]).sort_values("step")
            if h.empty:
                continue
            steps = int(pd.to_numeric(pd.Series([r.get("throughput.train_steps")])).iloc[0])
            rows.append({"arch": r["arch"], "budget": r["budget"], "seed": r["seed"], "steps": steps,
                         "flops": per * steps, "stop": r.get("metrics.val.stop_reason"),
                         "gen_tps": pd.to_numeric(pd.Series([r.get("throughput.gen_tokens_per_s")]),
                                                  errors="coerce").iloc[0],
                         "history": pd.DataFrame({"step": h["step"].astype(int), "flops": h["step"] * per,
                                                  "bleu": pd.to_numeric(h[METRIC], errors="coerce")})})
    return pd.DataFrame(rows)


def equal_flops(p: pd.DataFrame) -> float:
    """The FLOP budget every cell is compared at: the smallest total of the cells that ran to their budget."""
    full = p[~p["stop"].isin(EARLY)]
    return float((full if len(full) else p)["flops"].min())


def best_until(h: pd.DataFrame, flops: float = math.inf) -> tuple[float, int | None]:
    """(best validation BLEU among the validations after at most `flops` training FLOPs, its step)."""
    upto = h[h["flops"] <= flops * (1 + 1e-9)]
    if upto.empty:
        return math.nan, None
    best = upto.loc[upto["bleu"].idxmax()]
    return float(best["bleu"]), int(best["step"])


def table(df: pd.DataFrame, task: str) -> pd.DataFrame:
    """Per (arch, budget): seeds, mean steps, BLEU at equal time and at equal FLOPs (intervals over seeds), the
    FLOP budget, and median generation tokens/s."""
    p = points(df, task)
    cols = ["arch", "budget", "seeds", "steps", "time", "flops_budget", "flops", "flops_step", "gen_tps"]
    if p.empty:
        return pd.DataFrame(columns=cols)
    budget = equal_flops(p)
    p["time"] = [best_until(h)[0] for h in p["history"]]
    at = [best_until(h, budget) for h in p["history"]]
    p["at_flops"], p["at_step"] = [a[0] for a in at], [a[1] for a in at]
    rows = []
    for (arch, b), g in p.groupby(["arch", "budget"], sort=True):
        rows.append({"arch": arch, "budget": b, "seeds": int(g["seed"].nunique()), "steps": float(g["steps"].mean()),
                     "time": t_interval(g["time"], bounds=(0.0, 100.0)), "flops_budget": budget,
                     "flops": t_interval(g["at_flops"], bounds=(0.0, 100.0)),
                     "flops_step": float(pd.to_numeric(g["at_step"], errors="coerce").mean()),
                     "gen_tps": float(g["gen_tps"].median())})
    return pd.DataFrame(rows, columns=cols)


def text(iv: Any) -> str:
    """`27.1 [25.3, 28.9]`, `27.1` for one seed, `n/a` for none."""
    if iv is None or math.isnan(iv.mean):
        return "n/a"
    return f"{iv.mean:.1f} [{iv.lo:.1f}, {iv.hi:.1f}]" if iv.method == "t" else f"{iv.mean:.1f}"


def document_cells(df: pd.DataFrame, task: str) -> tuple[list[str], list[list[str]]]:
    """The report's table: per architecture, BLEU at equal time and at equal FLOPs, and generation speed."""
    t = table(df, task)
    headers = ["arch", "budget", "seeds", "steps", "val BLEU, equal time", "val BLEU, equal FLOPs",
               "its step (mean)", "gen tok/s"]
    rows = [[r.arch, "none" if r.budget < 0 else str(int(r.budget)), str(r.seeds), f"{r.steps:,.0f}", text(r.time),
             text(r.flops), "n/a" if math.isnan(r.flops_step) else f"{r.flops_step:,.0f}",
             "n/a" if math.isnan(r.gen_tps) else f"{r.gen_tps:,.0f}"] for r in t.itertuples()]
    return headers, rows


def caption(df: pd.DataFrame, task: str) -> str:
    t = table(df, task)
    budget = f"{t['flops_budget'].iloc[0]:.3g}" if len(t) else "n/a"
    return (f"{task}: validation sacreBLEU (greedy, the first eval.val_generate validation sentences), the best "
            "validation so far, mean over seeds [95% Student-t interval; one seed: none]. Equal time: each cell's "
            "whole training (a time budget, or the steps it was converted to once: calibration.json). Equal FLOPs: "
            f"up to {budget} training FLOPs, the smallest total among the cells that ran to their budget "
            "(FlopCounterMode's count of a step's matrix products times steps); its step: that best validation's, "
            "mean over seeds. gen tok/s: median test generation tokens/s over seeds.")
