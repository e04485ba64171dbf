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

from seqbench.contract.registry import Registry
from seqbench.testing.arch_checks import ARCHITECTURE_CHECKS, ArchSubject
from seqbench.testing.core import Check, NotApplicable, load, lookup, one_thread
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


class ArchitectureContract:
    """Every architecture check of `seqbench check-plugin`, one test each, for the architecture `arch`."""

    arch: str = ""  # the registered name to check
    options: dict[str, Any] = {}  # options to build it with
    plugins: tuple[str, ...] = ()  # further plugins to load, as -p takes them

    def subject(self) -> ArchSubject:
        assert self.arch, f"{type(self).__name__} must set `arch` to a registered architecture name"
        spec = lookup(_registry(tuple(self.plugins)), "architecture", self.arch)
        return ArchSubject(self.arch, spec, dict(self.options))

    def test_registered(self) -> None:
        """The architecture is registered (its plugin loaded)."""
        self.subject()


class TaskContract:
    """Every task check of `seqbench check-plugin`, one test each, for the task `task`."""

    task: str = ""  # the registered name to check
    options: dict[str, Any] = {}  # options to build it with
    plugins: tuple[str, ...] = ()  # further plugins to load, as -p takes them

    def subject(self) -> TaskSubject:
        assert self.task, f"{type(self).__name__} must set `task` to a registered task name"
        return TaskSubject(self.task, lookup(_registry(tuple(self.plugins)), "task", self.task), dict(self.options))

    def test_registered(self) -> None:
        """The task is registered (its plugin loaded)."""
        self.subject()


for _suite, _checks in ((ArchitectureContract, ARCHITECTURE_CHECKS), (TaskContract, TASK_CHECKS)):
    for _check in _checks:
        setattr(_suite, f"test_{_check.name.replace('-', '_')}", _test(_check))
