"""Text layout shared by every table: the terminal grid (at most `WIDTH` columns) and Markdown, LaTeX and HTML
tables of display strings, escaped for their format, with the best cells marked."""

from __future__ import annotations

import html
import textwrap
from typing import Sequence

import pandas as pd

WIDTH = 120  # the terminal form fits this many columns


def grid(headers: Sequence[str], rows: Sequence[Sequence[str | tuple[str, str]]], width: int = WIDTH) -> str:
    """Columns aligned (the first left, the others right), two spaces apart; a cell given as (line, line) takes two
    lines. Columns that do not fit `width` continue in a further block that repeats the first column."""
    lines = [[c if isinstance(c, tuple) else (c, "") for c in row] for row in rows]
    widths = [max([len(h)] + [max(len(c[0]), len(c[1])) for c in (row[k] for row in lines)])
              for k, h in enumerate(headers)]
    blocks, current, used = [], [], widths[0]
    for k in range(1, len(headers)):
        if current and used + 2 + widths[k] > width:
            blocks.append(current)
            current, used = [], widths[0]
        current.append(k)
        used += 2 + widths[k]
    blocks.append(current)
    out = []
    for block in blocks:
        cols = [0] + block

        def line(cells: Sequence[str]) -> str:
            return "  ".join(c.ljust(widths[k]) if k == 0 else c.rjust(widths[k])
                             for k, c in zip(cols, cells)).rstrip()

        out.append(line([headers[k] for k in cols]))
        for row in lines:
            out.append(line([row[k][0] for k in cols]))
            if any(row[k][1] for k in cols):
                out.append(line([row[k][1] if k else "" for k in cols]))
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def wrap(text: str) -> str:
    return textwrap.fill(text, WIDTH, break_on_hyphens=False)


_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
          "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "±": r"$\pm$", "≥": r"$\geq$",
          "≤": r"$\leq$", "<": r"$<$"}


def latex_escape(s: str) -> str:
    return "".join(_LATEX.get(ch, ch) for ch in s)


MARK = {  # format -> (escape, mark the best)
    "markdown": (lambda s: s.replace("|", r"\|"), lambda s: f"**{s}**"),
    "latex": (latex_escape, lambda s: rf"\textbf{{{s}}}"),
    "html": (html.escape, lambda s: f"<strong>{s}</strong>"),
}


def frame(df: pd.DataFrame, fmt: str, caption: str | None = None) -> str:
    """A frame of display strings, already escaped for `fmt`, as markdown, latex or html."""
    if fmt == "markdown":
        return df.to_markdown(index=False, disable_numparse=True)
    if fmt == "latex":
        return df.style.hide(axis="index").to_latex(hrules=True, caption=caption, position_float="centering")
    return df.to_html(index=False, escape=False, border=0, classes="seqbench")


def document_table(headers: Sequence[str], rows: Sequence[Sequence[str]], fmt: str,
                   best: Sequence[Sequence[bool]] | None = None, caption: str | None = None) -> str:
    """Strings escaped for `fmt` (markdown, latex, html), best cells marked."""
    esc, mark = MARK[fmt]
    cells = [[mark(esc(c)) if best and best[i][k] and c else esc(c) for k, c in enumerate(row)]
             for i, row in enumerate(rows)]
    df = pd.DataFrame(cells, columns=[esc(h) for h in headers])
    return frame(df, fmt, latex_escape(caption) if fmt == "latex" and caption else None)
