"""The plugin contract. Plugin authors read this first, then `seqbench.contract.specs` (what `register` takes).

Its version is `seqbench.CONTRACT_VERSION` ("MAJOR.MINOR": a minor release adds or deprecates, and a deprecated
name keeps working with a warning naming the new one for at least one minor release; a major release removes).
CHANGELOG.md in seqbench's repository records every change.

A plugin is a module (or any object) with functions marked `@seqbench.hookimpl`, named like the hooks below. It is
found three ways, in this order: the built-ins shipped in `seqbench.plugins` and `seqbench.tasks`; installed packages
that declare an entry point in the group `seqbench` (turn that off with `SEQBENCH_DISABLE_PLUGIN_AUTOLOAD=1`);
and modules named on the command line with `-p module` or `-p path/to/file.py` (a name that does not exist is a
typo: refused, exit 2).

Each hook receives a `register` callback, so the host owns the names: a name registered twice is refused, naming
both sources, and a spec is checked when it registers (name, kind, options type), so `seqbench plugins` shows the
truth. An installed plugin whose import fails or whose hook raises (`sys.exit` included) is skipped with one line
on stderr and the host goes on; one named with `-p` or `SEQBENCH_PLUGINS` stops the command instead (exit 2, one
line). A module that registers nothing (no function marked `@seqbench.hookimpl`) is shown so by `seqbench plugins`;
a marked function whose name is not a hook below is refused, naming the hooks. A plugin's identity in cell ids is its version and a digest of its source files (its module and
the modules of its own package it imports): edit the code and its cells get new ids, never an old record.

    import seqbench
    from seqbench.contract.specs import ArchSpec

    @seqbench.hookimpl
    def register_architectures(register):
        register(ArchSpec(name="my-mixer", description="...", kind="mixer", build=lambda ctx: MyMixer(ctx.model.d_model)))

What the host wraps around a mixer (kind "mixer"): token embeddings (no positions: a mixer that needs them adds its
own), then `n_layers` host blocks, each `x + drop(mixer(LayerNorm(x)))` then `x + drop(ffn(LayerNorm(x)))` with
`ffn = Linear(d, 4d) -> ReLU -> Linear(4d, d)` (`seqbench.host.block`, the same block `gpt` and `transformer`
use), a final LayerNorm and a linear head. The stream is `source SEP target`, right-padded; a mixer must be causal
(position t sees positions up to t) so padding after the real tokens never reaches them.

How often `build` runs: for kind "mixer", `n_layers` times per model (`ctx.layer` = 0 .. n_layers-1, with
`ctx.model.n_layers` the count); for the other kinds once per model. Before any training, the host also sizes every
architecture to each parameter budget by building it at many widths (some 15 builds per architecture, task
vocabulary and budget, more when it halves n_heads) inside `torch.device("meta")`: parameters get shapes but no
memory and no values. During those builds a plugin must create exactly the parameters it creates on a real device
(the count is the one the record keeps), and must not read parameter values or compute with them (`.item()`,
`torch.nn.init.orthogonal_` and other initialisations that compute fail on meta tensors: skip them when
`p.is_meta`), allocate on an explicit device (`device="cpu"` escapes the meta device and costs real memory), load
files or data, or keep global state between builds. A build that raises there (or anywhere) fails that
architecture's cells, named in `seqbench run --dry-run`; the rest of the matrix plans and runs.

Optional incremental generation (`IncrementalSeq2Seq`, `IncrementalLM`, `IncrementalMixer` in
`seqbench.contract.specs`): the host recognises it from the methods themselves and then generates one token at a
time from your state; `seqbench check-plugin` checks that it gives the same logits and tokens as `forward`.

Optional attention weights (`AttendingSeq2Seq`, `AttendingLM` in `seqbench.contract.specs`): a model with an
`attention` method gets alignment figures (`seqbench attention`, the report); one without gets none, and nothing
else changes. Gradient reach (`seqbench.host.gradients`) needs no method at all, only that the model embeds its
source tokens with an `nn.Embedding` (the host's mixer wrapper does); a model that looks tokens up otherwise is
trained and tested as usual, without that measure. A task gets gradient reach by naming its clues
(`Task.clue_positions`).

Check a plugin with `seqbench check-plugin NAME`, or from its own tests by subclassing
`seqbench.testing.ArchitectureContract` / `TaskContract`; `tests/example_plugin/` in seqbench's repository is a
complete package to copy.
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
