"""The publishing subcommands: `table`, `plot`, `report`, `merge`. Each prints to stdout and returns an exit code.

    seqbench table DIR [--format markdown|csv|latex|html] [--metric token_acc|seq_acc] [--long-out FILE.csv|.parquet]
    seqbench plot DIR --out FOLDER [--format png,svg] [--metric ...]
    seqbench report DIR [--out FOLDER] [--metric ...]        (default FOLDER: DIR/report)
    seqbench merge DIR... --out DIR
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seqbench.contract.errors import UserError
from seqbench.records.store import Loaded, load_dir, records_dir
from seqbench.publish.tables import FORMATS
from seqbench.publish.views import METRICS


def _warn(messages: list[str]) -> None:
    for m in messages:
        print(f"warning: skipped {m}", file=sys.stderr)


def _load(folder: Path) -> Loaded:
    """The records of `folder`, warning once per unreadable file; a UserError when there are none."""
    loaded = load_dir(folder)
    _warn(loaded.bad)
    if not loaded.records:
        unreadable = f" ({len(loaded.bad)} unreadable files)" if loaded.bad else ""
        raise UserError(f"No records were found in {folder} (looked in {records_dir(folder)}){unreadable}")
    return loaded


def cmd_table(args: argparse.Namespace) -> int:
    from seqbench.publish.longform import write_long
    from seqbench.publish.tables import render_all, task_tables

    records = _load(args.dir).dicts()
    text = render_all(task_tables(records, args.metric), args.format)
    if args.long_out:
        print(f"wrote {write_long(records, args.long_out)}", file=sys.stderr)
    print(text, end="" if text.endswith("\n") else "\n")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from seqbench.publish.plots import plot

    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    for path in plot(_load(args.dir).dicts(), args.out, formats, args.metric):
        print(path)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from seqbench.publish.report import write_report

    loaded = _load(args.dir)
    written = write_report(loaded.dicts(), args.out or args.dir / "report", source=str(args.dir),
                           bad=loaded.bad, metric=args.metric)
    print(written["report.md"])
    print(written["report.html"])
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from seqbench.publish.merge import merge

    merged = merge(args.dirs, args.out)
    _warn(merged.bad)
    print(f"merged {len(args.dirs)} folders into {merged.out}: {len(merged.written)} records written, "
          f"{merged.kept_once} identical copies kept once, {merged.already} already there, "
          f"{len(merged.bad)} unreadable files skipped")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add `table`, `plot`, `report` and `merge` to the seqbench command line."""
    metric = dict(choices=METRICS, default="token_acc", help="accuracy shown per distance bin (default token_acc)")

    p = sub.add_parser("table", help="tables of accuracy per distance bin, one per task")
    p.add_argument("dir", type=Path, metavar="DIR", help="result folder (records in DIR/records)")
    p.add_argument("--format", choices=FORMATS, default="markdown", help="output format (default markdown)")
    p.add_argument("--metric", **metric)
    p.add_argument("--long-out", type=Path, metavar="FILE", help="also write every record x bin to FILE.csv|.parquet")
    p.set_defaults(func=cmd_table)

    p = sub.add_parser("plot", help="accuracy and throughput plots, per task")
    p.add_argument("dir", type=Path, metavar="DIR", help="result folder (records in DIR/records)")
    p.add_argument("--out", type=Path, required=True, metavar="FOLDER", help="folder for the plot files")
    p.add_argument("--format", default="png,svg", help="comma-separated: png, svg (default png,svg)")
    p.add_argument("--metric", **metric)
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("report", help="Markdown and HTML report: tables, plots, environment, config, commands")
    p.add_argument("dir", type=Path, metavar="DIR", help="result folder (records in DIR/records)")
    p.add_argument("--out", type=Path, metavar="FOLDER", help="report folder (default DIR/report)")
    p.add_argument("--metric", **metric)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("merge", help="combine result folders from several machines into one")
    p.add_argument("dirs", type=Path, nargs="+", metavar="DIR", help="result folders to merge")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="result folder to merge into")
    p.set_defaults(func=cmd_merge)
