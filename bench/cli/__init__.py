"""The `seqbench` command line: list, plugins, run, show-task, and the publishing commands.

Every entry is callable as `main([...])`. Bad input ends with one line on stderr and exit code 2 (a traceback
only with `--debug`).
"""

from __future__ import annotations

import argparse
import sys
import traceback
import warnings
from typing import Sequence

import seqbench
from seqbench.contract import ContractDeprecation
from seqbench.cli import common
from seqbench.cli.run import cmd_run
from seqbench.contract.errors import PluginFault, UserError



class _Parser(argparse.ArgumentParser):
    """argparse, but its errors are our one-line UserErrors, and no abbreviated flags (`--max-step` is a typo)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{self.prog}: {message}")


def _common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("-p", "--plugin", action="append", default=[], dest="plugins", metavar="PLUGIN",
                   help="load a plugin module or .py file (repeatable)")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


# Commands that read records only: a plugin named for them (-p before the command) would be ignored, so it is refused.
NO_PLUGINS = ("table", "plot", "merge")


def parser() -> argparse.ArgumentParser:
    common = _common()
    top = _Parser(prog="seqbench",
                  description="Accuracy against dependency distance, and throughput, for sequence models.")
    # Before the command, the same flags under their own names: a subcommand's defaults would overwrite them.
    top.add_argument("-p", "--plugin", action="append", default=[], dest="top_plugins", metavar="PLUGIN",
                     help="load a plugin module or .py file (repeatable; also after the command)")
    top.add_argument("--debug", action="store_true", dest="top_debug", help="show tracebacks")
    top.add_argument("--version", action="version", version=f"seqbench {seqbench.__version__}")
    sub = top.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("list", parents=[common], help="architectures and tasks")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("plugins", parents=[common], help="every plugin, its source, what it provides, its status")
    p.set_defaults(func=cmd_plugins)

    _add_run(sub, common)

    p = sub.add_parser("check-plugin", parents=[common], help="run the contract suite on architectures or tasks")
    p.add_argument("names", nargs="+", metavar="NAME", help="registered architecture or task names")
    p.set_defaults(func=cmd_check_plugin)

    p = sub.add_parser("show-task", parents=[common], help="print examples of a task")
    p.add_argument("name")
    p.add_argument("--n", type=int, default=3, help="how many examples")
    p.add_argument("--distance", help="distance setting (default: the profile's first for this task)")
    p.add_argument("--profile", help="the profile whose task settings to show (default: quick; none for none)")
    p.add_argument("--split", default="train", choices=["train", "val", "test"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", default=[], metavar="task.NAME.KEY=VALUE")
    p.set_defaults(func=cmd_show_task)

    from seqbench.publish import cli as publish_cli
    from seqbench.publish import inspect_cli

    publish_cli.add_commands(sub)
    inspect_cli.add_commands(sub, common)
    return top


def _add_run(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """`seqbench run` and its flags."""
    p = sub.add_parser("run", parents=[common], help="run the benchmark matrix")
    p.add_argument("--profile", help="a bundled profile under the other settings (default: quick; none for none)")
    p.add_argument("--config", help="a TOML file with [matrix], [model], [train], [eval], [task], [arch]")
    p.add_argument("--arch", help="architectures, comma-separated")
    p.add_argument("--task", help="tasks, comma-separated")
    p.add_argument("--seeds", help="seeds, comma-separated")
    p.add_argument("--distance", help="distance settings for every task, e.g. 10,100 or 10-100")
    p.add_argument("--max-steps", help="training steps per cell")
    p.add_argument("--params", help="parameter budgets, comma-separated: each architecture is sized to within 10%%")
    p.add_argument("--lr", help="learning rates, comma-separated (several: an axis chosen on validation)")
    p.add_argument("--precision", help="Lightning precision: 32-true, bf16-mixed, 16-mixed, ...")
    p.add_argument("--accelerator", help="auto (default), cpu, gpu")
    p.add_argument("--devices", help="devices training each cell together (DDP, the batch split between them)")
    p.add_argument("--strategy", help="how several devices train a cell: auto (ddp when --devices > 1), ddp")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a setting")
    p.add_argument("--steps-for-time", action="store_true", help="train.max_time as each architecture's step count, "
                   "timed once and kept in OUT/calibration.json (a profile may ask for it: steps_from_time)")
    p.add_argument("--out", default="runs/latest", help="output directory (default: runs/latest)")
    p.add_argument("--rerun", action="store_true", help="run finished cells again")
    p.add_argument("--retry-failed", action="store_true", help="run cells recorded as diverged, oom or failed again")
    p.add_argument("--dry-run", action="store_true", help="validate and list the cells, train nothing")
    p.add_argument("--keep-weights", action="store_true", help="save each cell's trained weights beside its record "
                   "(safetensors); finished cells without weights run again")
    p.add_argument("--jobs", type=int, help="cells at once, each in its own process (default: one per CPU core, or "
                   "one per GPU); 0 runs cells in this process")
    p.add_argument("--executor", choices=["local", "ray", "slurm"], default="local",
                   help="where cells run: local processes (default), Ray tasks, a SLURM job array")
    p.add_argument("--address", help="--executor ray: the Ray cluster to join (default: RAY_ADDRESS, else a local "
                   "instance)")
    p.add_argument("--partition", help="--executor slurm: the partition")
    p.add_argument("--time", type=int, metavar="MINUTES", help="--executor slurm: time limit per cell (default 1440)")
    p.add_argument("--gpus-per-cell", type=int, metavar="N", help="--executor ray or slurm: GPUs each cell asks for "
                   "(default: --devices when cells run on a GPU here, else 0)")
    p.add_argument("--threads", type=int, help="CPU threads per cell (default: 1 on a CPU, whatever --jobs is, so that "
                   "metrics do not depend on --jobs; on a GPU, cores divided by jobs)")
    p.add_argument("--logger", help="also log every cell's curves with Lightning: csv, tensorboard, wandb, mlflow")
    p.add_argument("--no-progress", action="store_true", help="plain progress lines, no live display")
    p.add_argument("--verbose", "-v", action="store_true", help="a progress line for every cell")
    p.set_defaults(func=cmd_run)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    warnings.filterwarnings("default", category=ContractDeprecation)  # shown once per place: Python hides them
    try:
        args = _parse(argv)
        return int(args.func(args) or 0)
    except UserError as e:
        if debug:
            traceback.print_exc()
        print(f"seqbench: error: {e}", file=sys.stderr)
        return common.EXIT_USAGE
    except PluginFault as e:  # a plugin's code failed outside a matrix (e.g. show-task building its task)
        if debug:
            traceback.print_exc()
        print(f"seqbench: error: {e.plugin}: {e}", file=sys.stderr)
        return common.EXIT_CELLS_FAILED
    except KeyboardInterrupt:
        print("seqbench: interrupted", file=sys.stderr)
        return common.EXIT_INTERRUPTED


def _parse(argv: list[str]) -> argparse.Namespace:
    """The arguments, with `-p` and `--debug` given before the command joined to those given after it."""
    args = parser().parse_args(argv)
    args.argv = argv
    before = args.top_plugins
    if before and args.command in NO_PLUGINS:
        raise UserError(f"-p {before[0]}: seqbench {args.command} reads records only and loads no plugins; "
                        f"leave -p out")
    args.plugins = [*before, *getattr(args, "plugins", [])]
    args.debug = args.top_debug or getattr(args, "debug", False)
    return args


def cmd_list(args: argparse.Namespace) -> int:
    reg = common.registry(args)
    width = max([len(n) for n in [*reg.archs, *reg.tasks]] + [4])
    print("Architectures:")
    for name, spec in sorted(reg.archs.items()):
        print(f"  {name:<{width}}  {spec.description}")
    print("Tasks:")
    for name, spec in sorted(reg.tasks.items()):
        print(f"  {name:<{width}}  {spec.description}")
    return common.EXIT_OK


def cmd_plugins(args: argparse.Namespace) -> int:
    reg = common.registry(args)
    rows = [("plugin", "version", "source", "provides", "status")]
    for info in reg.plugins:
        status = info.status if not info.errors else f"{info.status}: {'; '.join(info.errors)}"
        rows.append((info.name, info.version, info.source, ", ".join(info.provides) or "-", status))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4])
    return common.EXIT_OK


def cmd_check_plugin(args: argparse.Namespace) -> int:
    import io

    from seqbench.contract import registry
    from seqbench.testing.report import check_plugins

    reg = registry.load(args.plugins, err=io.StringIO())  # a plugin that failed to load is named if it matters
    return check_plugins(reg, args.names, sys.stdout)


def cmd_show_task(args: argparse.Namespace) -> int:
    from seqbench.run import plan, resolve, sources
    from seqbench.run.data import generator

    reg = common.registry(args)
    spec = reg.task(args.name)
    if args.n < 1:
        raise UserError(f"--n must be at least 1, got {args.n}")
    if args.seed < 0:
        raise UserError(f"--seed must be 0 or more, got {args.seed}")
    settings = sources.gather(args.profile, None, {"matrix.tasks": args.name, "matrix.distances": args.distance},
                              args.set)
    cfg = resolve.resolve(settings, reg)
    distance = cfg.distances[args.name][0]
    task = plan.build_task(reg, args.name, cfg.task_options[args.name], distance)
    batch = task.sample(args.split, args.n, generator(args.seed, args.split))
    print(f"{spec.name}: {spec.description}")
    print(f"distance setting {distance.label} (of {', '.join(d.label for d in cfg.distances[args.name])}), "
          f"vocabulary {task.vocab_size}, chance accuracy {task.chance:.4f}")
    for i in range(len(batch)):
        print(f"\nexample {i + 1} ({args.split}, seed {args.seed})")
        print(f"  source:   {task.decode(batch.src[i].tolist())}")
        print(f"  target:   {task.decode(batch.tgt[i].tolist())}")
        print(f"  distance: {int(batch.distance[i])}")
    return common.EXIT_OK
