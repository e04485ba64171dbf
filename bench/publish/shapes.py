"""The published shapes of the 2020s families (issue 26), as views of records: three probes, one table each.

- **Selection** (Mamba, Table 1): accuracy per variant and distance setting, where a variant is an architecture
  with the options that tell its records apart (`selective-ssm (selective=False)` beside `selective-ssm`).
- **Recall grid** (zoology, Figure 2): accuracy per variant against `model.d_model` (rows) and the task's
  `n_pairs` (columns).
- **Extrapolation** (Mamba, Table 11): accuracy per variant against the test distance bin, the bins beyond the
  distances a cell trained on marked.

A probe's variations (selection on and off, widths, pair counts) run as separate `seqbench run`s into separate
result folders, because the tables of `seqbench table` refuse to pool differently configured cells of one
position as seeds; this view reads them together and keeps them apart by their configuration. Each number is the
mean over the ok seeds of a group with its 95% interval (Student t over seeds; Wilson over test examples for one
seed, `stats.accuracy_interval`), shown as a percentage as the papers give them.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import pandas as pd

from seqbench.contract.errors import UserError
from seqbench.publish.grids import document_table, grid
from seqbench.publish.longform import long_frame
from seqbench.publish.stats import accuracy_interval
from seqbench.publish.views import METRICS
from seqbench.records.distance import Distance

OPTION = "config.arch_options."  # the flattened prefix of an architecture's options in the long frame
FORMATS = ("text", "markdown", "csv")


def variants(df: pd.DataFrame) -> pd.Series:
    """Per row: its architecture, with the options (`config.arch_options.*`) whose values differ between that
    architecture's records on that task, e.g. `selective-ssm (selective=False)`; an architecture run one way on a
    task is its name."""
    out = df["arch"].astype(str).copy()
    options = [c for c in df.columns if c.startswith(OPTION)]
    for (_, arch), g in df.groupby(["task", "arch"]):
        varying = [c for c in options if g[c].astype(str).nunique(dropna=False) > 1]
        if varying:
            out[g.index] = [f"{arch} ({', '.join(f'{c[len(OPTION):]}={v}' for c, v in zip(varying, vals))})"
                            for vals in g[varying].itertuples(index=False)]
    return out


def shape_frame(records: list[Any]) -> pd.DataFrame:
    """The long frame (a row per record x bin) of distinct cells with `variant`, `d_model`, `n_pairs` and
    `trained_hi` (the longest distance the cell trained on)."""
    df = long_frame(records).drop_duplicates(["cell_id", "bin.lo"]).reset_index(drop=True)
    df["variant"] = variants(df)
    df["d_model"] = pd.to_numeric(df.get("config.model.d_model"), errors="coerce")
    df["n_pairs"] = pd.to_numeric(df.get("config.task_options.n_pairs"), errors="coerce")
    df["trained_hi"] = df["distance"].map(lambda d: Distance.parse(str(d)).hi)
    return df


def _means(df: pd.DataFrame, by: list[str], value: str, examples: str, cell_keys: list[str] | None = None
           ) -> pd.DataFrame:
    """Per group of ok rows: mean, ci_lo, ci_hi, seeds (ok seeds); not_ok: the cells that are not ok with the same
    `cell_keys` (default `by`: a cell that failed has no bins to group by)."""
    cell_keys = cell_keys or by
    ok = df[df["status"] == "ok"].dropna(subset=[value])
    rows = []
    for key, g in ok.groupby(by, sort=True):
        n = g[examples].max()
        iv = accuracy_interval(pd.to_numeric(g[value]), int(n) if pd.notna(n) else None)
        rows.append({**dict(zip(by, key)), "mean": iv.mean, "ci_lo": iv.lo, "ci_hi": iv.hi,
                     "seeds": g["seed"].nunique()})
    out = pd.DataFrame(rows, columns=by + ["mean", "ci_lo", "ci_hi", "seeds"])
    bad = df[df["status"] != "ok"].drop_duplicates("cell_id").groupby(cell_keys).size().rename("not_ok")
    if len(bad):
        out = out.merge(bad.reset_index(), on=cell_keys, how="outer")
    out["not_ok"] = out.get("not_ok", pd.Series(0, index=out.index)).fillna(0).astype(int)
    out["seeds"] = out["seeds"].fillna(0).astype(int)
    return out.sort_values(by, kind="stable", na_position="first").reset_index(drop=True)


def _cells(df: pd.DataFrame) -> pd.DataFrame:
    """One row per record: the whole test set's scores are on every one of its bin rows."""
    return df.drop_duplicates("cell_id")


def selection(df: pd.DataFrame, metric: str = "token_acc") -> pd.DataFrame:
    """Whole-test-set accuracy per variant and distance setting: Mamba's Table 1 (selection on against off)."""
    return _means(_cells(df), ["task", "variant", "distance"], f"metrics.overall.{metric}", "metrics.overall.n")


def recall_grid(df: pd.DataFrame, metric: str = "token_acc") -> pd.DataFrame:
    """Whole-test-set accuracy per variant, width and pair count: zoology's Figure 2 (recall against d_model)."""
    return _means(_cells(df), ["task", "variant", "d_model", "n_pairs", "distance"], f"metrics.overall.{metric}",
                  "metrics.overall.n")


def extrapolation(df: pd.DataFrame, metric: str = "token_acc") -> pd.DataFrame:
    """Accuracy per variant and test distance bin (`lo`, `label`), `beyond` when the bin starts past the distances
    the cells trained on: Mamba's Table 11 (trained at one length, tested at longer ones). A cell that is not ok
    counts in `not_ok` of every bin of its variant and distance."""
    rows = df.assign(lo=pd.to_numeric(df["bin.lo"], errors="coerce"))
    out = _means(rows, ["task", "variant", "distance", "lo"], f"bin.{metric}", "bin.n",
                 cell_keys=["task", "variant", "distance"])
    labels = rows.dropna(subset=["lo"]).groupby("lo")["bin.label"].first()
    out["label"] = out["lo"].map(labels).fillna("no bins")  # a variant whose every cell failed
    out["lo"] = out["lo"].fillna(-1).astype(int)
    out["beyond"] = out["lo"] > out["distance"].map(lambda d: Distance.parse(str(d)).hi)
    return out


def percent(r: Any) -> str:
    """`97.0 [93.1, 99.2]`, `n=3` style text of a mean row: percentages, the interval when it has a width."""
    if r["seeds"] == 0 or (isinstance(r["mean"], float) and math.isnan(r["mean"])):
        return f"not ok ({r['not_ok']})" if r["not_ok"] else ""
    text = f"{100 * r['mean']:.1f}"
    if r["ci_hi"] > r["ci_lo"]:
        text += f" [{100 * r['ci_lo']:.1f}, {100 * r['ci_hi']:.1f}]"
    return text + (f", {r['not_ok']} not ok" if r["not_ok"] else "")


def _pivot(frame: pd.DataFrame, rows: list[str], column: Callable[[Any], str]) -> tuple[list[str], list[list[str]]]:
    """Display cells: one line per `rows` key, one column per distinct `column(row)`, in first-seen order."""
    if frame.empty:
        return rows, []
    frame = frame.assign(_col=[column(r) for _, r in frame.iterrows()], _text=[percent(r) for _, r in frame.iterrows()])
    cols = list(dict.fromkeys(frame["_col"]))
    table = frame.pivot_table(index=rows, columns="_col", values="_text", aggfunc="first", sort=False)
    body = [[*(str(v) for v in (key if isinstance(key, tuple) else (key,))),
             *(str(table.loc[key].get(c, "")) if pd.notna(table.loc[key].get(c)) else "" for c in cols)]
            for key in table.index]
    return rows + cols, body


PROBES = {  # task -> (title, view, display rows, display column)
    "selective-copy": ("Selective copying: accuracy (%) per variant and distance (Mamba, Table 1)", selection,
                       ["variant"], lambda r: f"d={r['distance']}"),
    "mqar": ("MQAR: accuracy (%) against d_model (rows) and key-value pairs (columns) (zoology, Figure 2)",
             recall_grid, ["variant", "d_model"], lambda r: f"{int(r['n_pairs'])} pairs (d={r['distance']})"),
    "induction": ("Induction heads: accuracy (%) against test distance, * = beyond the trained distances "
                  "(Mamba, Table 11)", extrapolation, ["variant"],
                  lambda r: f"{r['label']}{' *' if r['beyond'] else ''}"),
}


def shape_tables(records: list[Any], metric: str = "token_acc") -> list[tuple[str, pd.DataFrame, list[str],
                                                                              list[list[str]]]]:
    """Per probe task present in `records`, in PROBES order: (title, numbers, headers, display rows)."""
    if metric not in METRICS:
        raise UserError(f"Unknown metric '{metric}'. Available: {', '.join(METRICS)}")
    df = shape_frame(records)
    found = [t for t in PROBES if t in set(df["task"])]
    if not found:
        raise UserError(f"No records of a shape probe task ({', '.join(PROBES)}); found tasks: "
                        f"{', '.join(sorted(set(df['task'])))}")
    out = []
    for task in found:
        title, view, rows, column = PROBES[task]
        numbers = view(df[df["task"] == task], metric)
        headers, body = _pivot(numbers, rows, column)
        out.append((title, numbers, headers, body))
    return out


def render(records: list[Any], fmt: str = "text", metric: str = "token_acc") -> str:
    """Every probe's table: a terminal grid, Markdown (a heading each), or CSV of the numbers."""
    if fmt not in FORMATS:
        raise UserError(f"Unknown format '{fmt}'. Available: {', '.join(FORMATS)}")
    tables = shape_tables(records, metric)
    if fmt == "csv":
        return pd.concat([n for _, n, _, _ in tables], ignore_index=True).to_csv(index=False)
    parts = []
    for title, _, headers, body in tables:
        if fmt == "markdown":
            parts.append(f"#### {title}\n\n{document_table(headers, body, 'markdown')}\n")
        else:
            parts.append(f"{title}\n\n{grid(headers, body)}")
    return "\n".join(parts)
