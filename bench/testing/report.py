"""`seqbench check-plugin NAME...`: the contract suite on named architectures and tasks, a line per check and a
summary per name; exit 0 only if every check passed (or does not apply)."""

from __future__ import annotations

import warnings
from difflib import get_close_matches
from typing import TextIO

import seqbench
from seqbench.contract import CONTRACT_VERSION, ContractDeprecation
from seqbench.contract.errors import UserError
from seqbench.contract.registry import Registry
from seqbench.testing.arch_checks import ARCHITECTURE_CHECKS, ArchSubject
from seqbench.testing.core import Outcome, broken, describe, one_thread, run_checks
from seqbench.testing.task_checks import TASK_CHECKS, TaskSubject


def check_plugins(reg: Registry, names: list[str], out: TextIO) -> int:
    """Run the suite on every name; 0 when all passed, 1 when a check failed. An unregistered name is a
    UserError naming the plugins that failed to load."""
    subjects = []
    for name in names:
        found = [(kind, subject) for kind, table, subject in (
            ("architecture", reg.archs, lambda: ArchSubject(name, reg.arch(name))),
            ("task", reg.tasks, lambda: TaskSubject(name, reg.task(name)))) if name in table]
        if not found:
            raise UserError(_not_registered(reg, name))
        subjects += [(kind, name, make()) for kind, make in found]
    print(f"seqbench {seqbench.__version__}, plugin contract {CONTRACT_VERSION} (changes: CHANGELOG.md)", file=out)
    failed_any = False
    reference: list = []  # the cost of the built-in every architecture is compared with, measured once
    for kind, name, subject in subjects:
        info = reg.owner[(kind, name)]
        print(f"{kind} {name} (plugin {info.name} {info.version}, {info.source})", file=out)
        checks = ARCHITECTURE_CHECKS if kind == "architecture" else TASK_CHECKS
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ContractDeprecation)
            outcomes = run_checks(subject, checks, first="builds")
        for o in outcomes:
            print(f"  {o.status:<8} {o.check.name:<20} {o.seconds:5.1f}s  {o.message}".rstrip(), file=out)
        for text in dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, ContractDeprecation)):
            print(f"  deprecated {text}", file=out)
        for w in caught:  # the others as Python would have shown them
            if not issubclass(w.category, ContractDeprecation):
                warnings.showwarning(w.message, w.category, w.filename, w.lineno)
        failed = [o for o in outcomes if o.status in ("failed", "not run")]
        if kind == "architecture" and not any(o.check.name in ("builds", "output-shapes") for o in failed):
            for line in _cost(reg, subject, name, reference):
                print(f"  {line}", file=out)
        failed_any |= bool(failed)
        print(_summary(kind, name, outcomes, failed, f"plugin {info.name}"), file=out)
    return 1 if failed_any else 0


def _cost(reg: Registry, subject: ArchSubject, name: str, reference: list) -> list[str]:
    """What a training step of the architecture costs beside the built-in reference's (`seqbench.testing.cost`),
    with a warning past its ratio; one `n/a` line when it cannot be measured."""
    from seqbench.testing import cost

    if name == cost.REFERENCE:
        return []
    try:
        with one_thread(), warnings.catch_warnings():
            warnings.simplefilter("ignore", ContractDeprecation)  # listed with the checks already
            if not reference:
                ref = reg.arch(cost.REFERENCE)
                reference.append(cost.measure(ref, ref.options()))
            mine = cost.measure(subject.spec, subject.spec.options(**subject.options))
    except (Exception, SystemExit) as e:  # a plugin's failure here is the checks' business: only say so
        return [f"n/a      cost     {describe(e)}"]
    return cost.compare(name, mine, reference[0])


def _not_registered(reg: Registry, name: str) -> str:
    """`architecture or task 'x' is not registered. Plugins that failed to load: ... Did you mean ...? ...`"""
    close = get_close_matches(name, [*reg.archs, *reg.tasks], n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    return (f"architecture or task '{name}' is not registered.{broken(reg)}{hint} Architectures: "
            f"{', '.join(sorted(reg.archs))}; tasks: {', '.join(sorted(reg.tasks))}")


def _summary(kind: str, name: str, outcomes: list[Outcome], failed: list[Outcome], plugin: str) -> str:
    counts = {s: sum(o.status == s for o in outcomes) for s in ("passed", "failed", "not run", "n/a")}
    text = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    first = next((o for o in failed if o.status == "failed"), None)
    verdict = f"FAILED {', '.join(o.check.name for o in failed if o.status == 'failed')} ({plugin}): " \
        f"{first.message}" if first \
        else "contract kept"
    return f"seqbench: check-plugin {kind} '{name}': {text}; {verdict}"
