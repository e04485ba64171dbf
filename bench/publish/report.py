"""One report per result folder, in Markdown and HTML: tables, plots, environments, configuration, commands.

Both documents are built from the same list of blocks, each rendered twice; the tables come from `seqbench.publish.tables`
(`to_markdown` and `to_html`), so no Markdown-to-HTML converter is needed. The folder also holds the plots (PNG,
linked relatively) and the long-format export of every record (`records-long.csv`, `records-long.parquet`).
"""

from __future__ import annotations

import html
import json
import shlex
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from seqbench.publish.longform import flatten, write_long
from seqbench.publish.plots import KINDS, plot, slug
from seqbench.records.store import write_atomic
from seqbench.publish.tables import escaped, frame, render, task_tables
from seqbench.publish.views import plain

STYLE = ("body{font-family:sans-serif;max-width:80em;margin:2em auto;padding:0 1em}"
         "table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:.2em .5em;text-align:left}"
         "pre{background:#f4f4f4;padding:.5em;overflow-x:auto}img{max-width:100%}")


class Doc:
    """Blocks of a document, each kept as Markdown and as HTML."""

    def __init__(self) -> None:
        self.md: list[str] = []
        self.html: list[str] = []

    def heading(self, level: int, text: str) -> None:
        self.md.append(f"{'#' * level} {text}")
        self.html.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def para(self, text: str) -> None:
        self.md.append(text)
        self.html.append(f"<p>{html.escape(text)}</p>")

    def items(self, lines: Sequence[str]) -> None:
        self.md.append("\n".join(f"- {line}" for line in lines))
        self.html.append("<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in lines) + "</ul>")

    def links(self, links: Sequence[tuple[str, str]]) -> None:
        """(relative path, description) pairs as a list of links."""
        self.md.append("\n".join(f"- [{path}]({path}): {text}" for path, text in links))
        self.html.append("<ul>" + "".join(f'<li><a href="{html.escape(path)}">{html.escape(path)}</a>: '
                                          f"{html.escape(text)}</li>" for path, text in links) + "</ul>")

    def table(self, md: str, html_table: str) -> None:
        self.md.append(md)
        self.html.append(html_table)

    def frame(self, df: pd.DataFrame) -> None:
        self.table(frame(escaped(df, "markdown"), "markdown"), frame(escaped(df, "html"), "html"))

    def image(self, path: str, alt: str) -> None:
        self.md.append(f"![{alt}]({path})")
        self.html.append(f'<p><img src="{html.escape(path)}" alt="{html.escape(alt)}"></p>')

    def code(self, text: str) -> None:
        self.md.append(f"```\n{text}\n```")
        self.html.append(f"<pre><code>{html.escape(text)}</code></pre>")

    def markdown(self) -> str:
        return "\n\n".join(self.md) + "\n"

    def page(self, title: str) -> str:
        body = "\n".join(self.html)
        return (f'<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{html.escape(title)}'
                f"</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _natural(text: str) -> tuple:
    """Numbers in numeric order, before words in text order."""
    try:
        return (0, float(text), text)
    except ValueError:
        return (1, 0.0, text)


def environments(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Every distinct `env`, one column each (headed by how many cells ran in it), one row per env key."""
    counts = Counter(_key(r.get("env") or {}) for r in records)
    envs = [json.loads(k) for k in counts]
    keys = list(dict.fromkeys(k for e in envs for k in e))
    cols = {f"env {i + 1} ({n} cells)": [str(e.get(k, "")) for k in keys]
            for i, (e, n) in enumerate(zip(envs, counts.values()))}
    return pd.DataFrame({"key": keys, **cols})


def configuration(records: list[dict[str, Any]]) -> pd.DataFrame:
    """The resolved configuration: each matrix axis and each flattened `config`/`plugins` key with its values."""
    values: dict[str, set[str]] = {}
    for r in records:
        flat = {k: r.get(k) for k in ("task", "arch", "distance", "seed", "params_budget")}
        flat.update(flatten(r.get("config") or {}, "config."))
        flat.update(flatten(r.get("plugins") or {}, "plugins."))
        for k, v in flat.items():
            values.setdefault(k, set()).add(v if isinstance(v, str) else _key(v))
    return pd.DataFrame({"key": list(values),
                         "value(s)": [", ".join(sorted(v, key=_natural)) for v in values.values()]})


def commands(records: list[dict[str, Any]]) -> str:
    """Each distinct command that wrote records, after a comment saying which cells it wrote."""
    cells: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        cells.setdefault(r.get("command") or "# (command not recorded)", []).append(r)
    return "\n".join(f"# {len(rs)} cell{'s' * (len(rs) != 1)}: {', '.join(sorted({r['arch'] for r in rs}))} on "
                     f"{', '.join(sorted({r['task'] for r in rs}))}\n{c}" for c, rs in cells.items())


def write_report(records: list[dict[str, Any]], out: Path, *, source: str = "", bad: Sequence[str] = (),
                 metric: str = "token_acc") -> dict[str, Path]:
    """Write report.md, report.html, the plots and the long exports into `out`; returns them by name."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    records = plain(records)
    tables = task_tables(records, metric)
    plots = plot(records, out, formats=("png",), metric=metric)
    written = {"records-long.csv": write_long(records, out / "records-long.csv"),
               "records-long.parquet": write_long(records, out / "records-long.parquet")}
    states = Counter(r["status"] for r in records)
    doc = Doc()
    doc.heading(1, "seqbench report")
    doc.para(f"{len(records)} records from {source or 'the given folder'}: "
             + ", ".join(f"{n} {s}" for s, n in sorted(states.items())) + ". Rebuild this report with:")
    doc.code(f"seqbench report {shlex.quote(source or 'DIR')} --out {shlex.quote(str(out))}"
             + (f" --metric {metric}" if metric != "token_acc" else ""))
    if bad:
        doc.heading(2, "Records that could not be read (left out)")
        doc.items(list(bad))
    doc.heading(2, "Results")
    for t in tables:
        doc.heading(3, t.task)
        doc.para(t.caption)
        doc.table(render(t, "markdown"), render(t, "html"))
        for kind in KINDS:
            for p in plots:
                if p.stem == f"{kind}-{slug(t.task)}":
                    doc.image(p.name, f"{t.task}: {kind}")
    doc.heading(2, "Environment")
    doc.para("Every distinct environment the records were measured in.")
    doc.frame(environments(records))
    doc.heading(2, "Configuration")
    doc.para("The resolved configuration of the cells: a key with several values varied across cells.")
    doc.frame(configuration(records))
    doc.heading(2, "Commands")
    doc.para("The exact commands that produced these records, each after the cells it produced:")
    doc.code(commands(records))
    doc.heading(2, "Data")
    doc.links([(name, "every record, one row per distance bin, all fields flattened") for name in written])
    write_atomic(out / "report.md", doc.markdown())
    write_atomic(out / "report.html", doc.page("seqbench report"))
    written.update({"report.md": out / "report.md", "report.html": out / "report.html"})
    written.update({p.name: p for p in plots})
    return written
