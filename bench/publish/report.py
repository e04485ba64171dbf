"""One report per result folder, in Markdown and HTML: the summary first, then per task its tables and figures,
then environments, the configuration of what ran, and the commands.

The folder also holds the figures (PNG, linked relatively), the numbers of every table as CSV (`accuracy.csv`,
`summary.csv`), the long-format export of every record (`records-long.csv`, `records-long.parquet`) and the claims a
README may quote (`claims.md`, `seqbench.publish.claims`; the folder's name names it). Everything
is written into a temporary folder first and moved in at the end (`output.staged`).
"""

from __future__ import annotations

import json
import shlex
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from seqbench.contract.errors import plural
from seqbench.publish import bleu_compute, bleu_length, brackets, claims, render, search_cost, sweeps
from seqbench.publish.doc import Doc
from seqbench.publish.grids import document_table
from seqbench.publish.longform import plain, write_long
from seqbench.publish.output import staged
from seqbench.publish.plots import KINDS, plot, slug
from seqbench.publish.quality import caption as quality_caption
from seqbench.publish.quality import quality_cells, tasks_with_bleu
from seqbench.publish.tables import prepared, summary_caption, summary_frame, task_tables
from seqbench.publish.views import tidy
from seqbench.records.flat import flatten
from seqbench.records.schema import Record
from seqbench.records.store import write_atomic

AXES = ("task", "arch", "distance", "seed", "params_budget", "lr")  # the matrix: shown once, not again from config
NOISE = ("model.params",)  # the budget list of the matrix: each cell's budget is `params_budget`


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _natural(text: str) -> tuple:
    """Numbers in numeric order, before words in text order."""
    try:
        return (0, float(text), text)
    except ValueError:
        return (1, 0.0, text)


def _frame(doc: Doc, df: pd.DataFrame) -> None:
    rows = df.astype(str).values.tolist()
    doc.table(document_table(list(df.columns), rows, "markdown"),
              document_table(list(df.columns), rows, "html"))


def environments(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Every distinct `env`, one column each (headed by how many cells ran in it), one row per env key."""
    counts = Counter(_key(r.get("env") or {}) for r in records)
    envs = [json.loads(k) for k in counts]
    keys = list(dict.fromkeys(k for e in envs for k in e))
    cols = {f"env {i + 1} ({plural(n, 'cell')})": [str(e.get(k, "")) for k in keys]
            for i, (e, n) in enumerate(zip(envs, counts.values()))}
    return pd.DataFrame({"key": keys, **cols})


def _empty(v: Any) -> bool:
    return v is None or v == [] or v == {} or v == "[]" or v == "{}"


def configuration(records: list[dict[str, Any]]) -> pd.DataFrame:
    """What ran: the matrix axes, then each configuration key with its values. A task's options are shown under
    that task and an architecture's under that architecture, only for the cells that ran them; empty values and
    keys that repeat a matrix axis are left out."""
    values: dict[str, set[str]] = {}

    def add(key: str, v: Any) -> None:
        if not _empty(v):
            values.setdefault(key, set()).add(v if isinstance(v, str) else _key(v))

    for r in records:
        for k in AXES:
            add(k, r.get(k))
    for r in records:
        config = dict(r.get("config") or {})
        task_options, arch_options = config.pop("task_options", {}) or {}, config.pop("arch_options", {}) or {}
        for k, v in flatten({k: v for k, v in config.items() if k not in AXES}).items():
            if k not in NOISE:
                add(k, v)
        for k, v in flatten(task_options).items():
            add(f"task {r['task']}: {k}", v)
        for k, v in flatten(arch_options).items():
            add(f"arch {r['arch']}: {k}", v)
        for k, v in flatten(r.get("plugins") or {}).items():
            add(f"plugins.{k}", v)
    return pd.DataFrame({"key": list(values),
                         "value(s)": [", ".join(sorted(v, key=_natural)) for v in values.values()]})


def commands(records: list[dict[str, Any]]) -> str:
    """Each distinct command that wrote records, after a comment saying which cells it wrote."""
    cells: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        cells.setdefault(r.get("command") or "# (command not recorded)", []).append(r)
    return "\n".join(f"# {plural(len(rs), 'cell')}: {', '.join(sorted({r['arch'] for r in rs}))} on "
                     f"{', '.join(sorted({r['task'] for r in rs}))}\n{c}" for c, rs in cells.items())


def _images(doc: Doc, names: set[str], stems: Sequence[str], alt: str) -> None:
    for stem in stems:
        if f"{stem}.png" in names:
            doc.image(f"{stem}.png", f"{alt}: {stem.split('-')[0]}")


def _gradients(doc: Doc, df: pd.DataFrame, names: set[str], task: str) -> None:
    """Gradient reach beside accuracy: the figure, then the decay per token with its interval."""
    from seqbench.publish.gradients import DECAY_CAPTION, decay_cells

    _images(doc, names, [f"gradients-{slug(task)}"], task)
    cells = decay_cells(df, task)
    if cells is not None:
        doc.caption(DECAY_CAPTION.format(task=task))
        doc.table(document_table(*cells, "markdown"), document_table(*cells, "html"))


def _alignments(doc: Doc, aligned: list[tuple]) -> None:
    for task, arch, name, text in aligned:
        doc.image(name, f"{task}: attention of {arch}")
        doc.caption(text)


def write_report(records: list[Any], out: Path, *, source: str = "", bad: Sequence[str] = (),
                 metric: str | None = None, reg: Any = None) -> dict[str, Path]:
    """Write report.md, report.html, claims.md, the figures and the CSV exports into `out`; returns them by name. With a
    registry `reg`, also an attention alignment per attending architecture and task whose weights the folder
    `source` kept."""
    out = Path(out)
    typed = [r for r in records if isinstance(r, Record)]
    records = plain(records)
    df = prepared(records)
    tables = task_tables(df, metric)
    with staged(out) as tmp:
        names = {p.name for p in plot(df, tmp, formats=("png",), metric=metric)}
        aligned: tuple[list, list] = ([], [])
        if reg is not None and source and typed:
            from seqbench.publish.alignment import report_alignments

            aligned = report_alignments(typed, Path(source), reg, tmp)
        data = {"summary.csv": "the summary as numbers: reach, its interval and censoring, params, tokens/s",
                "accuracy.csv": "every accuracy shown, as numbers: mean, ci_lo, ci_hi, n, interval",
                "records-long.csv": "every record, one row per distance bin, all fields flattened",
                "records-long.parquet": "the same, as Parquet",
                "claims.md": "the claims about these records, with their intervals (`seqbench claims`)"}
        write_atomic(tmp / "summary.csv", summary_frame(df).to_csv(index=False))
        write_atomic(tmp / "accuracy.csv", render.numbers(tables).to_csv(index=False))
        write_long(records, tmp / "records-long.csv")
        write_long(records, tmp / "records-long.parquet")
        doc = _document(records, df, tables, names, data, out, source, bad, metric, aligned)
        write_atomic(tmp / "report.md", doc.markdown())
        write_atomic(tmp / "report.html", doc.page("seqbench report"))
        write_atomic(tmp / "claims.md", claims.markdown(records, Path(source).resolve().name if source else "DIR"))
        written = sorted(p.name for p in tmp.iterdir())
    return {name: out / name for name in written}


def _document(records, df, tables, names, data, out, source, bad, metric, aligned=([], [])) -> Doc:
    states = Counter(r["status"] for r in records)
    doc = Doc()
    doc.heading(1, "seqbench report")
    doc.para(f"{plural(len(records), 'record')} from {source or 'the given folder'}: "
             + ", ".join(f"{n} {s}" for s, n in sorted(states.items())) + ". Rebuild this report with:")
    doc.code(f"seqbench report {shlex.quote(source or 'DIR')} --out {shlex.quote(str(out))}"
             + (f" --metric {metric}" if metric is not None else ""))
    if bad:
        doc.heading(2, "Records that could not be read (left out)")
        doc.items(list(bad))
    doc.heading(2, "Summary")
    doc.caption(summary_caption(df))
    doc.table(render.summary_document(df, "markdown"), render.summary_document(df, "html"))
    _images(doc, names, ["reach"], "reach per architecture and task")
    headers, rows = sweeps.document_cells(tidy(records))  # every rate tried, not only the chosen one
    if rows:
        doc.heading(2, "Learning-rate sweep")
        doc.caption(sweeps.CAPTION)
        _cells(doc, headers, rows)
    headers, rows = brackets.document_cells(df)
    if rows:  # records that carry validation free-running accuracy (`metrics.val.best_val_gen_acc`)
        doc.heading(2, "Reach from validation brackets")
        doc.caption(brackets.caption(brackets.reach_brackets(df)))
        _cells(doc, headers, rows)
        doc.heading(2, "What the search cost")
        doc.caption(search_cost.summary(df) + ". " + search_cost.CAPTION)
        _cells(doc, *search_cost.document_cells(df))
    for t in tables:
        _task_section(doc, df, t, names, [a for a in aligned[0] if a[0] == t.task])
    if aligned[1]:
        doc.heading(2, "Alignments not drawn")
        doc.items(aligned[1])
    doc.heading(2, "Environment")
    doc.para("Every distinct environment the records were measured in.")
    _frame(doc, environments(records))
    doc.heading(2, "Configuration")
    doc.para("What ran: a key with several values varied across cells; a task's and an architecture's options are "
             "shown under its name.")
    _frame(doc, configuration(records))
    doc.heading(2, "Commands")
    doc.para("The exact commands that produced these records, each after the cells it produced:")
    doc.code(commands(records))
    doc.heading(2, "Data")
    doc.links(list(data.items()))
    return doc


def _task_section(doc: Doc, df, t, names: dict, aligned: list) -> None:
    """One task's section: its accuracy table and figure, gradients, details, text-metric tables (quality, BLEU
    by source length, BLEU against compute) where the records have them, its other figures, its alignments."""
    doc.heading(2, t.task)
    doc.caption(t.caption)
    doc.table(render.accuracy_document(t, "markdown"), render.accuracy_document(t, "html"))
    _images(doc, names, [f"accuracy-{slug(t.task)}"], t.task)
    _gradients(doc, df, names, t.task)
    doc.caption(render.details_caption(t))
    doc.table(render.details_document(t, "markdown"), render.details_document(t, "html"))
    if t.task in tasks_with_bleu(df):
        doc.caption(quality_caption(df, t.task))
        _cells(doc, *quality_cells(df, t.task))
    headers, rows = bleu_length.document_cells(df, t.task)
    if rows:
        doc.caption(bleu_length.caption(df, t.task))
        _cells(doc, headers, rows)
    headers, rows = bleu_compute.document_cells(df, t.task)
    if rows:  # validations that scored BLEU, in cells whose training FLOPs were counted
        doc.caption(bleu_compute.caption(df, t.task))
        _cells(doc, headers, rows)
    _images(doc, names, [f"{kind}-{slug(t.task)}" for kind in KINDS if kind not in ("accuracy", "gradients")],
            t.task)
    _alignments(doc, aligned)


def _cells(doc: Doc, headers, rows) -> None:
    """A table of cells, in the report's two formats."""
    doc.table(document_table(headers, rows, "markdown"), document_table(headers, rows, "html"))
