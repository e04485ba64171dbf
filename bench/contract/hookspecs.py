"""The plugin contract. Plugin authors read this first.

A plugin is a module (or any object) with functions marked `@seqbench.hookimpl`, named like the hooks below. It is
found three ways, in this order: the built-ins shipped in `seqbench.plugins` and `seqbench.tasks`; installed packages
that declare an entry point in the group `seqbench` (turn that off with `SEQBENCH_DISABLE_PLUGIN_AUTOLOAD=1`);
and modules named on the command line with `-p module` or `-p path/to/file.py`.

Each hook receives a `register` callback, so the host owns the names: a name registered twice is refused, naming
both sources. A plugin whose import fails or whose hook raises is skipped with one line on stderr; the host goes on.

    import seqbench
    from seqbench.contract.specs import ArchSpec

    @seqbench.hookimpl
    def register_architectures(register):
        register(ArchSpec(name="my-rnn", description="...", kind="mixer", build=lambda ctx: MyMixer(ctx.model.d_model)))
"""

from __future__ import annotations

from typing import Callable

import pluggy

from seqbench.contract.specs import ArchSpec, TaskSpec

PROJECT = "seqbench"
hookspec = pluggy.HookspecMarker(PROJECT)


@hookspec
def register_architectures(register: Callable[[ArchSpec], None]) -> None:
    """Called once at start-up. Call `register(ArchSpec(...))` for every architecture this plugin provides.

    Returns nothing; what is registered is what `register` accepted.
    """


@hookspec
def register_tasks(register: Callable[[TaskSpec], None]) -> None:
    """Called once at start-up. Call `register(TaskSpec(...))` for every task this plugin provides.

    Returns nothing; what is registered is what `register` accepted.
    """
