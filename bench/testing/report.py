"""`seqbench check-plugin NAME...`: the contract suite on named architectures and tasks, a line per check and a
summary per name; exit 0 only if every check passed (or does not apply)."""

from __future__ import annotations

from typing import TextIO

from seqbench.contract.errors import UserError, unknown
from seqbench.contract.registry import Registry
from seqbench.testing.arch_checks import ARCHITECTURE_CHECKS, ArchSubject
from seqbench.testing.core import NotRegistered, Outcome, lookup, run_checks
from seqbench.testing.task_checks import TASK_CHECKS, TaskSubject


def check_plugins(reg: Registry, names: list[str], out: TextIO) -> int:
    """Run the suite on every name; 0 when all passed, 1 when a check failed. An unregistered name is a
    UserError naming the plugins that failed to load."""
    subjects = []
    for name in names:
        found = [(kind, subject) for kind, table, subject in (
            ("architecture", reg.archs, lambda: ArchSubject(name, reg.archs[name])),
            ("task", reg.tasks, lambda: TaskSubject(name, reg.tasks[name]))) if name in table]
        if not found:
            try:
                lookup(reg, "architecture", name)
            except NotRegistered as e:
                close = str(unknown("architecture or task", name, [*reg.archs, *reg.tasks]))
                hint = close[close.index("Did you mean"):close.index("?") + 1] + " " if "Did you mean" in close else ""
                raise UserError(f"{str(e).replace('architecture', 'architecture or task', 1)} {hint}"
                                f"Tasks: {', '.join(sorted(reg.tasks))}") from None
        subjects += [(kind, name, make()) for kind, make in found]
    failed_any = False
    for kind, name, subject in subjects:
        info = reg.owner[(kind, name)]
        print(f"{kind} {name} (plugin {info.name} {info.version}, {info.source})", file=out)
        checks = ARCHITECTURE_CHECKS if kind == "architecture" else TASK_CHECKS
        outcomes = run_checks(subject, checks, first="builds")
        for o in outcomes:
            print(f"  {o.status:<8} {o.check.name:<20} {o.seconds:5.1f}s  {o.message}".rstrip(), file=out)
        failed = [o for o in outcomes if o.status in ("failed", "not run")]
        failed_any |= bool(failed)
        print(_summary(kind, name, outcomes, failed), file=out)
    return 1 if failed_any else 0


def _summary(kind: str, name: str, outcomes: list[Outcome], failed: list[Outcome]) -> str:
    counts = {s: sum(o.status == s for o in outcomes) for s in ("passed", "failed", "not run", "n/a")}
    text = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    first = next((o for o in failed if o.status == "failed"), None)
    verdict = f"FAILED {', '.join(o.check.name for o in failed if o.status == 'failed')}: {first.message}" if first \
        else "contract kept"
    return f"seqbench: check-plugin {kind} '{name}': {text}; {verdict}"
