"""The claims a README may make about a result folder, written from its records (issue 25): short Markdown
sentences, each with its numbers, its seeds and its interval, so no number in prose is typed by hand.

Per task: reach per architecture (`seqbench.publish.reach`), where the single-distance rows fall to the midpoint
for good, and the lowest cell at the shortest distance; sacreBLEU over the test set (mean over seeds [Student t]),
the half-BLEU length and the fraction of sacreBLEU kept on the longest sources (`seqbench.publish.bleu_length`);
the gradient's decay per token (`seqbench.publish.gradients`). Per architecture: the median training tokens/s over
its cells [order-statistic interval].

Orderings form a ladder: the rows sorted by value, rows with the same text merged, and each neighbour pair written
`a < b` only where a's interval ends below b's start (`seqbench.publish.brackets.ordering`), otherwise "not
separated" with both numbers. An open end (`x+`, `<x`, `∞`) or a number without an interval separates nothing.

`markdown(records, name)` is the block; `replace_block` and `blocks` read and write it between the markers
`<!-- claims:NAME begin -->` and `<!-- claims:NAME end -->` of a README.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from seqbench.contract.errors import UserError, plural
from seqbench.publish import bleu_compute, bleu_length, gradients, search_cost
from seqbench.publish import reach as reach_
from seqbench.publish.brackets import ordering
from seqbench.publish.stats import order_statistic_ranks, t_interval
from seqbench.publish.sweeps import sweep_table
from seqbench.publish.tables import select_score, summary_numbers
from seqbench.publish.views import cells, choose_lr, row_label, tidy
from seqbench.run.stopping import last_gain
from seqbench.run.sweep import score_name

MIN_COVERAGE = 0.9  # an order-statistic interval covering less (fewer than 5 values) separates nothing
BEGIN, END = "<!-- claims:{name} begin -->", "<!-- claims:{name} end -->"
MARKER = re.compile(r"<!-- claims:(\S+) begin -->\n(.*?)<!-- claims:\1 end -->", re.S)


@dataclass(frozen=True)
class Item:
    """One rung of a ladder: a label, the value it is sorted by, its interval (an open end is -inf or inf) and the
    text that shows both."""

    label: str
    value: float
    lo: float
    hi: float
    text: str


def ladder(items: Sequence[Item]) -> list[str]:
    """Neighbour orderings: `a < b: x against y` where the intervals separate, else `a x, b y: not separated`."""
    merged: dict[str, list[Item]] = {}
    for it in items:
        merged.setdefault(it.text, []).append(it)
    rungs = sorted((Item(", ".join(i.label for i in g), g[0].value, g[0].lo, g[0].hi, text)
                    for text, g in merged.items()), key=lambda i: (i.value, i.lo, i.hi))
    lines = []
    for a, b in zip(rungs, rungs[1:]):
        table = pd.DataFrame([{"task": "", "arch": r.label, "lo": r.lo, "hi": r.hi, "hi_open": math.isinf(r.hi),
                               "text": r.text} for r in (a, b)])
        said = ordering(table, "", a.label, b.label)
        if not said.endswith("not separated"):
            first, second = (a, b) if said.startswith(f"{a.label} <") else (b, a)
            said = f"{said}: {first.text} against {second.text}"
        lines.append(said)
    return lines


def _bullet(head: str, items: Sequence[Item]) -> list[str]:
    return [f"- {head}: " + "; ".join(f"{i.label} {i.text}" for i in items) + "."] + [
        f"  - {line}." for line in ladder(items)]


def _seeds(counts: Sequence[int]) -> str:
    kinds = sorted(set(counts))
    return plural(kinds[0], "seed") + " each" if len(kinds) == 1 else "seeds " + "/".join(map(str, kinds))


def _labels(df: pd.DataFrame) -> dict[tuple, str]:
    keys = sorted({(t, a, b) for t, a, b in cells(df)[["task", "arch", "budget"]].itertuples(index=False)})
    several = len({k[2] for k in keys}) > 1
    return {k: row_label(k, several) for k in keys}


def _t_item(label: str, iv: Any, digits: int = 1, text: str | None = None) -> Item:
    """A rung from a mean and its Student-t interval (`iv`: `mean`, `lo`, `hi`, `method`, as `stats.Interval` or a
    table row has them); without an interval (one seed) its ends are open, so it orders nothing. `text` replaces
    the default `mean [lo, hi]` at `digits` decimals."""
    has = iv.method == "t"
    if text is None:
        text = f"{iv.mean:.{digits}f} [{iv.lo:.{digits}f}, {iv.hi:.{digits}f}]" if has else f"{iv.mean:.{digits}f}"
    return Item(label, iv.mean, iv.lo if has else -math.inf, iv.hi if has else math.inf, text)


def _acc(v: float) -> str:
    return f"{v:.3f}"


def reach_lines(df: pd.DataFrame, task: str, labels: dict[tuple, str]) -> list[str]:
    """Reach per architecture on `task` and its ladder; where a row falls to the midpoint for good; the lowest cell
    at the shortest distance."""
    on = df[df["task"] == task]
    r = summary_numbers(on)
    r = r[r["kind"] != "half-bleu"]  # a text task's number is its half-BLEU length (`bleu_lines`)
    if r.empty:
        return []
    items = [Item(labels[(task, x.arch, x.budget)], x.reach, 0.0 if x.lo_open or x.interval == "none" else x.ci_lo,
                  math.inf if x.hi_open or x.interval == "none" else x.ci_hi, x.text) for x in r.itertuples()]
    pts = reach_.points(on[on["single"]])
    shortest, longest = (pts["x"].min(), pts["x"].max()) if len(pts) else (math.nan, math.nan)
    how = {"t": "95% Student-t interval on log2 reach (test accuracy, records before validation decided)",
           "wilson": "reach of the 95% Wilson accuracy bounds (test accuracy, records before validation decided)",
           "none": "no interval",
           "order statistic": "from validation brackets, median of the seeds' midpoints [order-statistic interval]; "
                              "* = rests on a failure still improving at its step budget"}
    kinds = "; ".join(how[k] for k in sorted(set(r["interval"])))
    span = reach_._num(shortest) + ("" if shortest == longest else f" to {reach_._num(longest)}")
    seeds = _seeds([int(x) for x in on.groupby(["arch", "budget"])["seed"].nunique()])
    lines = _bullet(f"**{task}** reach, distance{'' if shortest == longest else 's'} {span}, {seeds} [{kinds}]", items)
    for key, g in pts.groupby(["task", "arch", "budget"], sort=True):
        lines += _falls(g, labels[tuple(key)])
    if not pts.empty:
        first = pts[pts["x"] == pts["x"].min()]
        low = first.loc[first["acc"].idxmin()]
        mine = first[(first["arch"] == low["arch"]) & (first["budget"] == low["budget"])].sort_values("seed")
        lines.append(f"- {task}, lowest cell at the shortest distance ({reach_._num(low['x'])}): "
                     f"{labels[(task, low['arch'], low['budget'])]} {_acc(low['acc'])} ("
                     + ("seeds " + ", ".join(_acc(a) for a in mine["acc"]) if len(mine) > 1 else "one seed")
                     + f"; midpoint {_acc(low['mid'])}).")
    return lines


def _falls(g: pd.DataFrame, label: str) -> list[str]:
    """`label` at or below the midpoint on every seed from distance d on, after being above it somewhere before."""
    xs = sorted(g["x"].unique())
    above = g.groupby("x").apply(lambda p: bool((p["acc"] > p["mid"]).any()), include_groups=False)
    last_above = max((x for x in xs if above[x]), default=None)
    after = [x for x in xs if last_above is not None and x > last_above]
    if not after:
        return []
    tail = g[g["x"] >= after[0]]
    chance = 2 * float(tail["mid"].iloc[0]) - 1
    return [f"- {label} is at or below the midpoint ({_acc(tail['mid'].iloc[0])}) on every seed from "
            f"{reach_._num(after[0])} on: {_acc(tail['acc'].min())}-{_acc(tail['acc'].max())} over "
            f"{plural(tail['seed'].nunique(), 'seed')} and distance{'s' if len(after) > 1 else ''} "
            f"{', '.join(reach_._num(x) for x in after)} "
            f"(chance {_acc(chance)})."]


def bleu_lines(df: pd.DataFrame, task: str, labels: dict[tuple, str]) -> list[str]:
    """sacreBLEU over the test set per architecture and its ladder; the half-BLEU length and its ladder."""
    t = cells(df[(df["task"] == task) & (df["status"] == "ok")])
    if "metrics.overall.sacrebleu" not in t:
        return []
    t = t.assign(bleu=pd.to_numeric(t["metrics.overall.sacrebleu"], errors="coerce")).dropna(subset=["bleu"])
    items, seeds = [], []
    for (arch, budget), g in t.groupby(["arch", "budget"], sort=True):
        iv = t_interval(g["bleu"], bounds=(0.0, 100.0))  # not `views.overall`: it clips to [0, 1], for accuracies
        items.append(_t_item(labels[(task, arch, budget)], iv))
        seeds.append(int(g["seed"].nunique()))
    if not items:
        return []
    iv = "mean [95% Student-t interval over seeds]" if max(seeds) > 1 else "one seed: no interval, no ordering"
    lines = _bullet(f"**{task}** sacreBLEU on the test set, {_seeds(seeds)}, {iv}", items)
    h = bleu_length.half_lengths(df[df["task"] == task])
    if len(h):
        few = [x.seeds < 2 or x.coverage < MIN_COVERAGE for x in h.itertuples()]
        items = [Item(labels[(task, x.arch, x.budget)], x.median, -math.inf if f else x.lo,
                      math.inf if x.hi_open or f else x.hi, x.text + (f" (coverage {x.coverage:.0%})" if f and
                                                                      x.seeds > 1 else ""))
                 for x, f in zip(h.itertuples(), few)]
        lines += _bullet(f"{task}: source length at which sacreBLEU halves, median over seeds [order-statistic "
                         "interval]", items)
    kept = bleu_length.retention(df[df["task"] == task])
    if len(kept):
        ends = sorted({(x.shortest, x.longest) for x in kept.itertuples()})
        where = (f"on {ends[0][1]}-token sources as a fraction of its sacreBLEU on {ends[0][0]}" if len(ends) == 1
                 else "on each row's longest bucket as a fraction of its shortest")
        items = [_t_item(labels[(task, x.arch, x.budget)], x, digits=2) for x in kept.itertuples()]
        lines += _bullet(f"{task}: sacreBLEU {where} (1 = no fall with length), per seed, "
                         f"{_seeds([int(x.seeds) for x in kept.itertuples()])}, mean [95% Student-t interval over "
                         "seeds]", items)
    return lines


def compute_lines(df: pd.DataFrame, task: str, labels: dict[tuple, str]) -> list[str]:
    """Validation sacreBLEU at equal training time and at equal training FLOPs (`seqbench.publish.bleu_compute`),
    each with its ladder, and generation tokens/s beside."""
    t = bleu_compute.table(df[df["task"] == task], task)
    if t.empty:
        return []
    seeds = [int(s) for s in t["seeds"]]
    iv = "mean [95% Student-t interval over seeds]" if max(seeds) > 1 else "one seed: no interval, no ordering"
    lines = []
    for column, name in (("time", "equal training time (each cell's whole budget)"),
                         ("flops", f"equal training FLOPs ({t['flops_budget'].iloc[0]:.3g}, the smallest total)")):
        ivs = [(r, getattr(r, column)) for r in t.itertuples() if getattr(r, column) is not None]
        items = [_t_item(labels[(task, r.arch, r.budget)], iv, text=bleu_compute.text(iv)) for r, iv in ivs]
        lines += _bullet(f"{task}: validation sacreBLEU at {name}, best validation so far, {_seeds(seeds)}, {iv}",
                         items)
    speeds = ", ".join(f"{labels[(task, r.arch, r.budget)]} {r.gen_tps:,.0f}" for r in t.itertuples()
                       if not math.isnan(r.gen_tps)) or "not measured"
    return lines + [f"- {task}: generation tokens/s beside them, median over seeds: {speeds}."]


def gradient_lines(df: pd.DataFrame, task: str, labels: dict[tuple, str]) -> list[str]:
    """The gradient's factor per token of distance at initialisation and after training, each with its ladder."""
    d = gradients.decay(df[df["task"] == task]).dropna(subset=["factor"])
    lines = []
    for when, name in gradients.KEYS:
        w = d[d["when"] == when]
        if w.empty:
            continue
        items = [Item(labels[(task, x.arch, x.budget)], x.factor,
                      -math.inf if pd.isna(x.factor_lo) else x.factor_lo,
                      math.inf if pd.isna(x.factor_hi) else x.factor_hi, gradients._factor(pd.Series(x._asdict())))
                 for x in w.itertuples()]
        lines += _bullet(f"{task}: the gradient at the clue, factor per token of distance {name} [95% Student-t "
                         f"interval of the fitted slope; cells {'/'.join(map(str, sorted(set(w['cells']))))}]", items)
    return lines


def speed_lines(df: pd.DataFrame, labels: dict[tuple, str]) -> list[str]:
    """Median training tokens/s over each architecture's ok cells, every task and distance, with an order-statistic
    interval for the median."""
    ok = cells(df[df["status"] == "ok"])
    if "throughput.train_tokens_per_s" not in ok:
        return []
    items, coverage = [], []
    for (arch, budget), g in ok.groupby(["arch", "budget"], sort=True):
        xs = np.sort(pd.to_numeric(g["throughput.train_tokens_per_s"], errors="coerce").dropna().to_numpy())
        if xs.size == 0:
            continue
        k, c = order_statistic_ranks(xs.size)
        med = float(np.median(xs))
        label = next(v for key, v in labels.items() if key[1:] == (arch, budget))
        if c < MIN_COVERAGE:
            items.append(Item(label, med, -math.inf, math.inf, f"{med:,.0f} ({plural(xs.size, 'cell')})"))
            continue
        lo, hi = float(xs[k - 1]), float(xs[xs.size - k])
        items.append(Item(label, med, lo, hi, f"{med:,.0f} [{lo:,.0f}, {hi:,.0f}]"))
        coverage.append(c)
    cov = (f"order-statistic interval, coverage at least {min(coverage):.1%}" if coverage
           else "too few cells for an interval")
    return _bullet(f"training tokens/s, median over each architecture's cells (every task and distance) [{cov}]",
                   items)


STOPS = ("solved", "plateau", "budget", "time")  # `metrics.val.stop_reason`, in the order a line names them


def _gaining(r: pd.Series) -> bool | None:
    """Whether a cell's selection score (`eval.select`, by more than `train.min_delta`) last gained within its last
    patience window, read from its validation history as the plateau rule reads it (`seqbench.run.stopping`); None
    without a history or a patience."""
    history = r.get("metrics.val.history")
    history = json.loads(history) if isinstance(history, str) else history
    patience = r.get("config.train.patience")
    if not isinstance(history, list) or not history or patience is None or pd.isna(patience):
        return None
    select = r.get("config.eval.select")
    select = select if isinstance(select, str) else "val_gen_acc"  # the history holds it under that name
    if any(select not in p for p in history):
        return None
    delta = r.get("config.train.min_delta")
    last = last_gain(history, select, 0.0 if delta is None or pd.isna(delta) else float(delta))
    return last["step"] > history[-1]["step"] - float(patience)


def stop_lines(df: pd.DataFrame, task: str, labels: dict[tuple, str]) -> list[str]:
    """Why the cells of `task`'s table stopped training, per architecture: solved, plateau, or at the step (time)
    budget, and how many of those were still improving there (`metrics.val.improving`: the validation score or the
    validation loss gained within the last patience window), of them how many by the score itself (a falling loss
    alone is no gain for a model already at 100 BLEU)."""
    ok = cells(df[(df["task"] == task) & (df["status"] == "ok")])
    if ok.empty or not {"metrics.val.stop_reason", "metrics.val.stopped"} & set(ok):
        return []
    parts = []
    for (arch, budget), g in ok.groupby(["arch", "budget"], sort=True):
        reason = pd.Series("not recorded", index=g.index)
        for older in ("metrics.val.stopped", "metrics.val.stop_reason"):  # records before `stop_reason`: `stopped`
            if older in g:
                reason = g[older].where(g[older].notna(), reason)
        still = (g["metrics.val.improving"] == True) if "metrics.val.improving" in g else pd.Series(  # noqa: E712
            False, index=g.index)
        by_score = pd.Series([_gaining(r) is True for _, r in g.iterrows()], index=g.index)
        said = []
        for why in STOPS + ("not recorded",):
            here = reason == why
            if not here.any():
                continue
            cut = still & here if why in ("budget", "time") else here & False  # only a budget cuts a cell short
            more = (f" ({int(cut.sum())} still improving, {int((cut & by_score).sum())} by the score)" if cut.any()
                    else "")
            said.append(f"{why} {int(here.sum())}{more}")
        parts.append(f"{labels[(task, arch, budget)]} {', '.join(said)}")
    return [f"- {task}: why training ended, cells per architecture (still improving: the validation score or loss "
            f"gained within the last patience window; by the score: the score itself did): " + "; ".join(parts) + "."]


def sweep_lines(every: pd.DataFrame, task: str, labels: dict[tuple, str]) -> list[str]:
    """The learning rate the sweep chose per architecture of `task` from the tidy frame of every record (the rates
    it did not choose included), and whether the choice is an end of the rates tried."""
    mine = every[every["task"] == task]
    table = sweep_table(mine)
    if table.empty:
        return []
    parts = []
    for key, g in table.groupby(["task", "arch", "budget"], sort=True):
        chosen = g[g["chosen"]].iloc[0]
        end = next((f" (the {e} tried)" for e in ("largest", "smallest") if f"{e} rate tried" in chosen["why"]), "")
        parts.append(f"{labels.get(tuple(key), key[1])} {chosen['lr']:g} of "
                     f"{', '.join(f'{r:g}' for r in sorted(g['lr']))}{end}")
    return [f"- {task}: learning rate chosen on {score_name(select_score(mine))} by the sweep: " + "; ".join(parts)
            + "."]


def markdown(records: list[Any], name: str) -> str:
    """The claims block of the result folder(s) `name`, from their records."""
    every = tidy(records)
    df = choose_lr(every)
    ok = cells(df[df["status"] == "ok"])
    labels = _labels(df)
    lines = [f"Claims written by `seqbench claims` from the records of {name}: {plural(len(cells(df)), 'record')}, "
             f"{len(ok)} ok, seeds {', '.join(str(s) for s in sorted(ok['seed'].unique()))}. `a < b` only where "
             "the intervals separate."]
    for task in sorted(df["task"].unique()):
        lines += sweep_lines(every, task, labels)
        lines += stop_lines(df, task, labels)
        lines += reach_lines(df, task, labels)
        lines += bleu_lines(df, task, labels)
        lines += compute_lines(df, task, labels)
        lines += gradient_lines(df, task, labels)
    cost = search_cost.summary(df)
    if cost:
        lines.append(f"- search cost: {cost}.")
    lines += speed_lines(df, labels)
    return "\n".join(lines) + "\n"


def blocks(text: str) -> dict[str, str]:
    """The claims blocks of a README's `text`, by name."""
    return {m.group(1): m.group(2) for m in MARKER.finditer(text)}


def replace_block(text: str, name: str, block: str) -> str:
    """`text` with the block `name` replaced by `block`; a UserError when its markers are missing."""
    begin, end = BEGIN.format(name=name), END.format(name=name)
    if begin not in text or end not in text:
        raise UserError(f"No claims block '{name}': the README needs the lines {begin} and {end}. "
                        f"Blocks found: {', '.join(blocks(text)) or 'none'}")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{block}{end}{tail}"


def difference(name: str, old: str, new: str) -> str:
    """One line naming the first line where the README's block `old` differs from `new`, what the records give."""
    a, b = old.splitlines(), new.splitlines()
    i = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    said = a[i] if i < len(a) else "(nothing)"
    given = b[i] if i < len(b) else "(nothing)"
    return (f"claims:{name} differs from the records at its line {i + 1}: the README says {_short(said)!r}, the "
            f"records give {_short(given)!r}")


def _short(text: str, most: int = 160) -> str:
    return text if len(text) <= most else text[:most - 3] + "..."
