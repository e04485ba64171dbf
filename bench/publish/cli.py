"""The publishing subcommands: `table`, `plot`, `report`, `merge`. Each prints to stdout and returns an exit code.

    seqbench table DIR [--format text|markdown|csv|latex|html] [--metric token_acc|seq_acc|sacrebleu|...]
                       [--long-out FILE]
    seqbench plot DIR --out FOLDER [--format png,svg] [--metric ...]
    seqbench report DIR [--out FOLDER] [--metric ...]        (default FOLDER: DIR/report)
    seqbench merge DIR... --out DIR
    seqbench claims DIR... [--readme FILE [--check]]     (the claims of the DIRs' records pooled, as Markdown)
    seqbench shapes DIR... [--format text|markdown|csv] [--metric ...]   (the published shapes, `publish.shapes`)

Every record is validated through the schema when it is read; one that fails is skipped with a warning naming its
file and field. A writing command checks its destination before any work (one line, exit 2). Exit codes: 0 done,
1 `merge` skipped unreadable source records or merged records whose artifacts were missing, or `claims --check`
found a README block that differs from what the records give, 2 bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seqbench.contract.errors import UserError, plural
from seqbench.publish.longform import SUFFIXES
from seqbench.publish.output import check_file, check_folder
from seqbench.publish.render import FORMATS
from seqbench.publish.views import BIN_METRICS, METRICS
from seqbench.records.store import Loaded, load_dir, records_dir, write_atomic


def printable(text: str) -> str:
    """`text` on one line: characters that are not printable (newlines, U+0085...) written as escapes."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _warn(messages: list[str]) -> None:
    for m in messages:
        print(f"warning: skipped {printable(m)}", file=sys.stderr)


def result_folder(text: str) -> Path:
    """The result folder a DIR argument names; a UserError for an empty one."""
    if text.strip() == "":
        raise UserError("DIR must name a result folder, got an empty path")
    return Path(text)


def load_results(text: str) -> Loaded:
    """The records of the folder `text`, warning once per unreadable file; a UserError when there are none."""
    folder = result_folder(text)
    loaded = load_dir(folder)
    _warn(loaded.bad)
    for m in loaded.missing:
        print(f"warning: {printable(m)}", file=sys.stderr)
    if not loaded.records:
        unreadable = f" ({plural(len(loaded.bad), 'unreadable file')})" if loaded.bad else ""
        raise UserError(f"No records were found in {folder} (looked in {records_dir(folder)}){unreadable}")
    return loaded


def cmd_table(args: argparse.Namespace) -> int:
    from seqbench.publish.longform import write_long
    from seqbench.publish.render import render_all
    from seqbench.publish.tables import prepared, task_tables

    if args.long_out is not None:
        check_file(args.long_out, "--long-out", SUFFIXES)
    loaded = load_results(args.dir)
    df = prepared(loaded.records)
    text = render_all(task_tables(df, args.metric), args.format, df=df)
    if args.long_out:
        print(f"wrote {write_long(loaded.records, args.long_out)}", file=sys.stderr)
    print(text, end="" if text.endswith("\n") else "\n")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from seqbench.publish.output import staged
    from seqbench.publish.plots import check_formats, plot
    from seqbench.publish.tables import prepared

    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    check_formats(formats, args.metric)
    check_folder(args.out)
    df = prepared(load_results(args.dir).records)
    with staged(args.out) as tmp:
        names = [p.name for p in plot(df, tmp, formats, args.metric)]
    for name in names:
        print(Path(args.out) / name)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from seqbench.publish.report import write_report

    out = result_folder(args.dir) / "report" if args.out is None else args.out
    check_folder(out)
    loaded = load_results(args.dir)
    from seqbench.contract import registry

    reg = registry.load(getattr(args, "plugins", []) or [])  # to rebuild kept models for their alignments
    written = write_report(loaded.records, out, source=args.dir, bad=loaded.bad, metric=args.metric, reg=reg)
    print(written["report.md"])
    print(written["report.html"])
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from seqbench.publish.merge import merge

    check_folder(args.out, subfolders=("records",))
    merged = merge([result_folder(d) for d in args.dirs], Path(args.out))
    _warn(merged.bad)
    for m in merged.missing:
        print(f"warning: {printable(m)}", file=sys.stderr)
    print(merged.line(len(args.dirs)))
    return 1 if merged.bad or merged.missing else 0


def cmd_claims(args: argparse.Namespace) -> int:
    from seqbench.publish import claims

    folders = [result_folder(d) for d in args.dirs]
    name = "+".join(f.resolve().name for f in folders)
    block = claims.markdown([r for d in args.dirs for r in load_results(d).records], name)
    if args.readme is None:
        if args.check:
            raise UserError("--check needs --readme FILE: the README whose block to check")
        print(block, end="")
        return 0
    readme = Path(args.readme)
    if not readme.is_file():
        raise UserError(f"--readme {readme}: no such file")
    text = readme.read_text(encoding="utf-8")
    new = claims.replace_block(text, name, block)
    if args.check:
        if new == text:
            print(f"{readme}: claims:{name} is what the records give")
            return 0
        print(f"{readme}: {claims.difference(name, claims.blocks(text)[name], block)}")
        return 1
    if new != text:
        write_atomic(readme, new)
    print(f"{readme}: claims:{name} {'rewritten' if new != text else 'already up to date'}")
    return 0


def shape_folders(texts: list[str]) -> list[Path]:
    """The result folders under each DIR: DIR itself when it holds records/, else every folder below it that does
    (a probe's variations run into sibling folders); a UserError when a DIR holds none."""
    found = []
    for text in texts:
        folder = result_folder(text)
        below = [folder] if records_dir(folder).is_dir() else sorted(
            p.parent for p in folder.rglob("records") if p.is_dir())
        if not below:
            raise UserError(f"No result folder in {folder} (a folder holding records/, or folders below it that do)")
        found += [f for f in below if f not in found]
    return found


def cmd_shapes(args: argparse.Namespace) -> int:
    from seqbench.publish import shapes

    records = [r for f in shape_folders(args.dirs) for r in load_results(str(f)).records]
    text = shapes.render(records, args.format, args.metric)
    print(text, end="" if text.endswith("\n") else "\n")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add `table`, `plot`, `report`, `merge` and `claims` to the seqbench command line."""
    metric = dict(choices=BIN_METRICS, default=None,
                  help="what is shown per distance bin (default: a translation task's sacreBLEU, else token_acc)")
    accuracy = dict(choices=METRICS, default="token_acc", help="accuracy shown (default token_acc)")

    p = sub.add_parser("table", help="the summary, then per task accuracy by distance and the details")
    p.add_argument("dir", metavar="DIR", help="result folder (records in DIR/records)")
    p.add_argument("--format", choices=FORMATS, default="text",
                   help="text (compact, for a terminal; default), markdown, csv (numbers), latex, html")
    p.add_argument("--metric", **metric)
    p.add_argument("--long-out", metavar="FILE", help="also write every record x bin to FILE.csv|.parquet")
    p.set_defaults(func=cmd_table)

    p = sub.add_parser("plot", help="reach, accuracy, training curves and throughput figures")
    p.add_argument("dir", metavar="DIR", help="result folder (records in DIR/records)")
    p.add_argument("--out", required=True, metavar="FOLDER", help="folder for the plot files")
    p.add_argument("--format", default="png,svg", help="comma-separated: png, svg (default png,svg)")
    p.add_argument("--metric", **metric)
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("report", help="Markdown and HTML report: tables, plots, environment, config, commands")
    p.add_argument("dir", metavar="DIR", help="result folder (records in DIR/records)")
    p.add_argument("--out", metavar="FOLDER", help="report folder (default DIR/report)")
    p.add_argument("--metric", **metric)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("shapes", help="the 2020s families' published shapes: selection on/off, MQAR recall "
                       "against width and pairs, induction accuracy against test length")
    p.add_argument("dirs", nargs="+", metavar="DIR", help="result folders, or folders holding result folders")
    p.add_argument("--format", choices=("text", "markdown", "csv"), default="text",
                   help="text (default), markdown, csv (the numbers)")
    p.add_argument("--metric", **accuracy)
    p.set_defaults(func=cmd_shapes)

    p = sub.add_parser("merge", help="combine result folders from several machines into one")
    p.add_argument("dirs", nargs="+", metavar="DIR", help="result folders to merge")
    p.add_argument("--out", required=True, metavar="DIR", help="result folder to merge into")
    p.set_defaults(func=cmd_merge)

    p = sub.add_parser("claims", help="the README's claims about result folders, written from their records")
    p.add_argument("dirs", nargs="+", metavar="DIR", help="result folders, pooled (their seeds must differ)")
    p.add_argument("--readme", metavar="FILE", help="rewrite the block between <!-- claims:NAME begin --> and "
                   "<!-- claims:NAME end --> in FILE (NAME: the folder names joined by +)")
    p.add_argument("--check", action="store_true", help="with --readme: change nothing, exit 1 if the block differs")
    p.set_defaults(func=cmd_claims)
