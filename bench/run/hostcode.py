"""The host's identity follows its code: a digest of the source of every seqbench module that can change what a
cell computes, part of every cell id beside the plugins' digests (`seqbench.contract.identity`).

Which modules: those the cell's code imports (`seqbench.run.cell`, followed through every `import` statement,
module level or inside functions, read with `ast`), less those that cannot change a cell's numbers (`NOT_COMPUTE`,
each with its reason): orchestration, progress, publishing, the command line. Training, evaluation, data, sizing,
decoding, metrics and the record schema are in. A module added to the cell's imports is covered the day it is
added; keeping one out takes a line in `NOT_COMPUTE` saying why. Plugins and tasks (`seqbench.plugins`,
`seqbench.tasks`) are not host code: their own digests cover them.

So editing the cosine floor in `run/module.py` gives every cell a new id (and `seqbench run` names the old records
as stale, "host code changed"), while editing a table's caption in `publish/` changes none.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import seqbench
from seqbench.contract.identity import DIGEST_CHARS, imports
from seqbench.records.schema import PluginRef

ROOTS = ("seqbench.run.cell",)  # where a cell's computation starts: `run_cell`
PLUGGED = ("seqbench.plugins", "seqbench.tasks", "seqbench.profiles")  # covered by their own digests or the config
NOT_COMPUTE = {  # module (or package prefix) -> why it cannot change what a cell computes
    "seqbench.cli": "the command line's wording and parsing; the resolved configuration is in the id itself",
    "seqbench.publish": "tables, plots and reports are views over records",
    "seqbench.testing": "the contract suite for plugin authors",
    "seqbench.contract.registry": "finds plugins and names them; what they provide is covered by their digests",
    "seqbench.contract.identity": "computes digests; a change to what ids cover changes them anyway",
    "seqbench.contract.errors": "exception classes and their messages",
    "seqbench.records.store": "reads and writes record files",
    "seqbench.records.schema": "the record's shape: a record that no longer fits it is refused when read",
    "seqbench.records.settings": "the record's copy of the configuration, which is in the id itself",
    "seqbench.run.weights": "keeps and reloads trained weights; what is trained and measured is not its concern",
    "seqbench.run.executors": "where and in which process a cell runs",
    "seqbench.run.executor_ray": "where a cell runs",
    "seqbench.run.executor_slurm": "where a cell runs",
    "seqbench.run.forkserver": "how cell processes are started",
    "seqbench.run.processes": "how cell processes are watched and how their ends are reported",
    "seqbench.run.loggers": "copies of the curves for Lightning's loggers",
    "seqbench.run.progress": "the progress display",
    "seqbench.run.runner": "orchestration: locks, skipping finished cells, the order of cells",
    "seqbench.run.stale": "names stale records",
    "seqbench.run.hostcode": "computes this digest",
    "seqbench.run.resolve": "builds the configuration, which is in the id itself",
    "seqbench.run.sources": "reads configuration sources, which end in the id itself",
    "seqbench.run.calibrate": "turns train.max_time into each architecture's train.max_steps before planning; the "
                              "steps are in the id itself",
}


def excluded(name: str) -> str | None:
    """Why `name` is left out of the host digest, or None when it counts."""
    for prefix in sorted((*NOT_COMPUTE, *PLUGGED), key=len, reverse=True):
        if name == prefix or name.startswith(prefix + "."):
            return NOT_COMPUTE.get(prefix, "covered by its own digest or the configuration")
    return None


def package_root() -> Path:
    """The folder the `seqbench` package is imported from."""
    return Path(seqbench.__file__).parent


def _file(root: Path, name: str) -> Path | None:
    """The source file of module `name` (`seqbench.x.y`) under the package folder `root`, or None."""
    base = root.joinpath(*name.split(".")[1:])
    candidates = [base / "__init__.py"] if base == root else [base.with_suffix(".py"), base / "__init__.py"]
    return next((path for path in candidates if path.is_file()), None)


def modules(root: Path | None = None) -> dict[str, Path]:
    """Module name -> source file of every host module that counts, under `root` (default: the imported package)."""
    root = root or package_root()
    found: dict[str, Path] = {}
    todo = list(ROOTS)
    while todo:
        name = todo.pop()
        if name in found or excluded(name):
            continue
        path = _file(root, name)
        if path is None:  # a name inside a module (`from seqbench.run import config`), not a module of its own
            continue
        found[name] = path
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        todo += [m for m in imports(path.read_bytes(), package) if m == "seqbench" or m.startswith("seqbench.")]
    return found


def digest(root: Path | None = None) -> str:
    """sha256 over the counted host modules' sources, named by module, so the same wherever it is installed."""
    files = modules(root)
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + files[name].read_bytes() + b"\0")
    return h.hexdigest()[:DIGEST_CHARS]


@functools.lru_cache(maxsize=1)
def ref() -> PluginRef:
    """The host as a record's `plugins.host`: seqbench, its version and the digest of its computing code."""
    return PluginRef(plugin="seqbench", version=seqbench.__version__, digest=digest())
