"""A document kept twice, as Markdown and as HTML, block by block: no Markdown-to-HTML converter is needed."""

from __future__ import annotations

import html
from typing import Sequence

STYLE = ("body{font-family:sans-serif;max-width:90em;margin:2em auto;padding:0 1em}"
         "table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:.2em .5em;text-align:left}"
         "td{white-space:nowrap}pre{background:#f4f4f4;padding:.5em;overflow-x:auto}img{max-width:100%}"
         ".caption{color:#444;font-size:.9em}")


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

    def image(self, path: str, alt: str) -> None:
        self.md.append(f"![{alt}]({path})")
        self.html.append(f'<p><img src="{html.escape(path)}" alt="{html.escape(alt)}"></p>')

    def caption(self, text: str) -> None:
        self.md.append(f"*{text}*")
        self.html.append(f'<p class="caption">{html.escape(text)}</p>')

    def code(self, text: str) -> None:
        self.md.append(f"```\n{text}\n```")
        self.html.append(f"<pre><code>{html.escape(text)}</code></pre>")

    def markdown(self) -> str:
        return "\n\n".join(self.md) + "\n"

    def page(self, title: str) -> str:
        body = "\n".join(self.html)
        return (f'<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{html.escape(title)}'
                f"</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")
