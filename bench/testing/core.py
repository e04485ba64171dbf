"""What the contract checks share: a check, its outcome, running a list of them, and finding what to check in the
registry so that a plugin that failed to load is a failure, never an empty pass."""

from __future__ import annotations

import contextlib
import io
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Literal

import torch

from seqbench.contract import registry
from seqbench.contract.checks import ContractError
from seqbench.contract.registry import Registry


class NotApplicable(Exception):
    """The check does not apply to this subject (e.g. incremental generation for a model that offers none)."""


class NotRegistered(AssertionError):
    """The architecture or task to check is not in the registry: its plugin failed to load, or the name is wrong."""


@dataclass(frozen=True)
class Check:
    """One contract check: `run(subject)` returns normally when it holds, raises AssertionError (or anything)
    when it does not, NotApplicable when it does not apply."""

    name: str
    doc: str
    run: Callable[[Any], None]


def check_list() -> tuple[list[Check], Callable[[Callable[[Any], None]], Callable[[Any], None]]]:
    """A list of checks and the decorator that appends to it (name: the function's, without `check_`)."""
    checks: list[Check] = []

    def register(f: Callable[[Any], None]) -> Callable[[Any], None]:
        checks.append(Check(f.__name__.removeprefix("check_").replace("_", "-"), (f.__doc__ or "").strip(), f))
        return f

    return checks, register


@dataclass(frozen=True)
class Outcome:
    check: Check
    status: Literal["passed", "failed", "n/a", "not run"]
    message: str
    seconds: float


def run_checks(subject: Any, checks: list[Check], first: str | None = None) -> list[Outcome]:
    """Run every check on `subject`, on one CPU thread (tiny models run fastest so). When the check named `first`
    fails, the others are not run (they would all fail for the same reason)."""
    with one_thread():
        return _run_all(subject, checks, first)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Torch on one CPU thread: tiny models run several times faster so on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _run_all(subject: Any, checks: list[Check], first: str | None) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for check in checks:
        if first is not None and outcomes and outcomes[0].check.name == first and outcomes[0].status == "failed":
            outcomes.append(Outcome(check, "not run", f"{first} failed", 0.0))
            continue
        t0 = time.perf_counter()
        try:
            check.run(subject)
            status, message = "passed", ""
        except NotApplicable as e:
            status, message = "n/a", str(e)
        except (Exception, SystemExit) as e:  # a plugin's own exceptions fail the check, with their message
            status, message = "failed", describe(e)
        outcomes.append(Outcome(check, status, message, time.perf_counter() - t0))
    return outcomes


def describe(e: BaseException) -> str:
    """One line: an assertion's own message, or `build raised RuntimeError: boom`."""
    if isinstance(e, SystemExit):
        return f"plugin code called sys.exit({e.code!r})"
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    if isinstance(e, AssertionError):
        return text or "assertion failed"
    if isinstance(e, ContractError):  # the host's own check of what the plugin returned: its message says it all
        return text
    return f"raised {type(e).__name__}: {text}" if text else f"raised {type(e).__name__}"


def load(plugins: tuple[str, ...] = ()) -> Registry:
    """The registry as a run would see it (built-ins, entry points, $SEQBENCH_PLUGINS, then `plugins`), its
    messages about broken plugins kept in the registry rather than printed."""
    return registry.load(list(plugins), err=io.StringIO())


def lookup(reg: Registry, kind: Literal["architecture", "task"], name: str) -> Any:
    """The spec registered as `name`, or NotRegistered saying why: which plugins failed to load, and the choices."""
    table = reg.archs if kind == "architecture" else reg.tasks
    if name in table:
        return table[name]
    raise NotRegistered(f"{kind} '{name}' is not registered.{broken(reg)} Registered: "
                        f"{', '.join(sorted(table)) or '(none)'}")


def broken(reg: Registry) -> str:
    """` Plugins that failed to load: plugin 'x' (command line): could not load: ...` and ` Plugin 'y'
    (command line) registers nothing: ...`, or nothing."""
    failed = [f"plugin '{i.name}' ({i.source}): {'; '.join(i.errors)}" for i in reg.plugins if i.status == "error"]
    empty = [f" Plugin '{i.name}' ({i.source}) {'; '.join(i.errors)}." for i in reg.plugins if i.status == "empty"]
    return (" Plugins that failed to load: " + " | ".join(failed) + "." if failed else "") + "".join(empty)
