"""The contract suites as pytest test classes to subclass in a plugin package's own tests:

    from seqbench.testing import ArchitectureContract, TaskContract

    class TestCausalConv(ArchitectureContract):
        arch = "causal-conv"          # a registered architecture name
        options = {"width": 3}        # optional: options to check it with (default: its defaults)

    class TestMyTask(TaskContract):
        task = "my-task"

The registry is loaded as `seqbench run` loads it: built-ins, installed entry points, $SEQBENCH_PLUGINS, and the
class's `plugins` (module names or .py paths, as `-p` takes them). A name that is not registered (a typo, or a
plugin that failed to load) fails every test of the class with the reason: a suite that loaded nothing never
passes. A check that does not apply (incremental generation for a model without it) is skipped, saying why.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from seqbench.contract.errors import UserError
from seqbench.contract.registry import Registry
from seqbench.testing.arch_checks import ARCHITECTURE_CHECKS, ArchSubject
from seqbench.testing.core import Check, NotApplicable, NotRegistered, load, lookup, one_thread
from seqbench.testing.task_checks import TASK_CHECKS, TaskSubject


@functools.lru_cache(maxsize=None)
def _registry(plugins: tuple[str, ...]) -> Registry:
    return load(plugins)


def _test(check: Check) -> Callable[[Any], None]:
    def test(self: Any) -> None:
        subject = self.subject()
        try:
            with one_thread():
                check.run(subject)
        except NotApplicable as e:
            import pytest

            pytest.skip(str(e))

    test.__name__ = f"test_{check.name.replace('-', '_')}"
    test.__doc__ = check.doc
    return test


class _Contract:
    """One test per check of `seqbench check-plugin`, for the registered name in the attribute `_name_attr`."""

    _kind = ""  # "architecture" or "task"
    _name_attr = ""
    _subject: type = ArchSubject
    options: dict[str, Any] = {}  # options to build it with
    plugins: tuple[str, ...] = ()  # further plugins to load, as -p takes them

    def subject(self) -> Any:
        name = getattr(self, self._name_attr)
        assert name, f"{type(self).__name__} must set `{self._name_attr}` to a registered {self._kind} name"
        try:
            reg = _registry(tuple(self.plugins))
        except UserError as e:  # a plugin named in `plugins` or $SEQBENCH_PLUGINS could not load
            raise NotRegistered(f"{self._kind} '{name}' is not registered: {e}") from None
        return self._subject(name, lookup(reg, self._kind, name), dict(self.options))

    def test_registered(self) -> None:
        """The name is registered (its plugin loaded)."""
        self.subject()


class ArchitectureContract(_Contract):
    """Every architecture check, one test each, for the architecture `arch`."""

    arch: str = ""  # the registered name to check
    _kind, _name_attr, _subject = "architecture", "arch", ArchSubject


class TaskContract(_Contract):
    """Every task check, one test each, for the task `task`."""

    task: str = ""  # the registered name to check
    _kind, _name_attr, _subject = "task", "task", TaskSubject


for _suite, _checks in ((ArchitectureContract, ARCHITECTURE_CHECKS), (TaskContract, TASK_CHECKS)):
    for _check in _checks:
        setattr(_suite, f"test_{_check.name.replace('-', '_')}", _test(_check))
