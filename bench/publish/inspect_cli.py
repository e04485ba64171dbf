"""The commands that look inside kept models, without retraining: `attention` and `gradients`.

    seqbench attention DIR --arch A --task T [--example N] [--layer L] [--head H] [--distance D] [--seed S] [--out F]
    seqbench gradients DIR [--arch A,B] [--task T,U] [--examples N]

Both rebuild cells from their records and the weights kept beside them (`seqbench run --keep-weights`), load only
safetensors (never a pickle), and refuse bad input in one line (exit 2).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seqbench.contract.errors import UserError
from seqbench.publish.cli import load_results, printable, result_folder
from seqbench.publish.output import check_file

FIGURE_SUFFIXES = (".png", ".svg", ".pdf")


def _registry(args: argparse.Namespace):
    from seqbench.contract import registry

    return registry.load(getattr(args, "plugins", []) or [])


def cmd_attention(args: argparse.Namespace) -> int:
    from seqbench.publish.alignment import describe, draw_example, figure, pick
    from seqbench.publish.drawing import save, slug
    from seqbench.run.weights import rebuild

    for flag, value in (("--example", args.example), ("--layer", args.layer), ("--head", args.head)):
        if value is not None and value < 0:
            raise UserError(f"{flag} must be 0 or more, got {value}")
    folder = result_folder(args.dir)
    reg = _registry(args)
    reg.arch(args.arch), reg.task(args.task)  # unknown names: one line listing the choices
    record = pick(load_results(args.dir).records, folder, args.arch, args.task, args.distance, args.seed)
    out = Path(args.out) if args.out else folder / "attention" / (
        f"{slug(args.arch)}-{slug(args.task)}-d{slug(record.distance)}-s{record.seed}-ex{args.example}.png")
    check_file(out, "--out", FIGURE_SUFFIXES)
    cell = rebuild(reg, folder, record)
    drawn = draw_example(cell, args.example, args.layer, args.head)
    if drawn is None:
        raise UserError(f"architecture '{args.arch}' exposes no attention weights (see AttendingSeq2Seq and "
                        f"AttendingLM in seqbench.contract.specs): there is no alignment to draw")
    title = f"{args.arch} on {args.task}, distance {record.distance}, seed {record.seed}: test example {args.example}"
    out.parent.mkdir(parents=True, exist_ok=True)
    save(figure(drawn, title), out.parent, out.stem, [out.suffix.lstrip(".")])
    print(f"seqbench: cell {record.cell_id}: {printable(describe(drawn))}", file=sys.stderr)
    print(out)
    return 0


def cmd_gradients(args: argparse.Namespace) -> int:
    from seqbench.publish.grids import grid
    from seqbench.run.gradients import INIT, TRAINED, Probe
    from seqbench.run.weights import has_weights, rebuild

    if args.examples < 1:
        raise UserError(f"--examples must be at least 1, got {args.examples}")
    folder = result_folder(args.dir)
    reg = _registry(args)
    archs = _names(args.arch, reg.arch)
    tasks = _names(args.task, reg.task)
    records = [r for r in load_results(args.dir).records if r.status == "ok" and has_weights(folder, r)
               and (archs is None or r.arch in archs) and (tasks is None or r.task in tasks)]
    if not records:
        raise UserError(f"no ok cell with kept weights in {folder} matches: run with --keep-weights")
    rows = []
    for r in records:
        cell = rebuild(reg, folder, r)
        probe = Probe(cell.task, cell.test, cell.bins, args.examples, cell.eval.batch_size)
        probe.measure(cell.model, TRAINED)
        probe.measure(rebuild(reg, folder, r, trained=False).model, INIT)
        recorded = {b.lo: b.extra() for b in r.metrics.bins}
        for b in probe.into([{"lo": lo, "hi": hi} for lo, hi in cell.bins]):
            if INIT in b or TRAINED in b:
                was = recorded.get(b["lo"], {})
                rows.append([r.arch, r.task, r.distance, str(r.seed), f"{b['lo']}-{b['hi']}", _g(b.get(INIT)),
                             _g(was.get(INIT)), _g(b.get(TRAINED)), _g(was.get(TRAINED)), f"{b.get('grad_n', 0):.0f}"])
    if not rows:
        raise UserError("the tasks of these cells name no clue positions: there is no gradient reach to measure")
    print(grid(["arch", "task", "distance", "seed", "bin", "init now", "init recorded", "trained now",
                "trained recorded", "n"], rows), end="")
    return 0


def _names(text: str | None, lookup) -> set[str] | None:
    if text is None:
        return None
    names = {n.strip() for n in text.split(",") if n.strip()}
    for n in names:
        lookup(n)
    return names


def _g(v: float | None) -> str:
    return "" if v is None else f"{v:.4g}"


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add `attention` and `gradients` to the seqbench command line; `common` holds -p and --debug."""
    p = sub.add_parser("attention", parents=[common], help="draw the attention alignment of a test example of a "
                       "kept model")
    p.add_argument("dir", metavar="DIR", help="result folder with kept weights (run --keep-weights)")
    p.add_argument("--arch", required=True, help="architecture")
    p.add_argument("--task", required=True, help="task")
    p.add_argument("--example", type=int, default=0, help="which test example, 0-based (default 0)")
    p.add_argument("--layer", type=int, help="which layer, 0-based (default: the last)")
    p.add_argument("--head", type=int, help="which head, 0-based (default: the mean over heads)")
    p.add_argument("--distance", help="the cell's distance setting (default: the longest with weights)")
    p.add_argument("--seed", type=int, help="the cell's seed (default: the lowest with weights)")
    p.add_argument("--out", metavar="FILE", help="figure file, .png, .svg or .pdf (default DIR/attention/...png)")
    p.set_defaults(func=cmd_attention)

    p = sub.add_parser("gradients", parents=[common], help="measure gradient reach again from kept models, beside "
                       "the recorded one")
    p.add_argument("dir", metavar="DIR", help="result folder with kept weights (run --keep-weights)")
    p.add_argument("--arch", help="architectures, comma-separated (default: all)")
    p.add_argument("--task", help="tasks, comma-separated (default: all)")
    p.add_argument("--examples", type=int, default=256, help="test examples per cell, spread over its bins")
    p.set_defaults(func=cmd_gradients)
