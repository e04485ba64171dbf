"""The wings are real boundaries (README, "Layout"): every import, at module level or inside a function, goes to a
wing below; no module imports itself round a cycle; deprecated paths still work and say where their names went."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"bench": "seqbench", "plugins": "seqbench.plugins", "tasks": "seqbench.tasks"}  # pyproject's package-dir
BELOW = {  # wing -> the wings it may import (the root package seqbench, which only declares hookimpl, for all)
    "seqbench": {"contract"},  # the root re-exports the contract's version beside hookimpl
    "records": set(),
    "contract": {"records"},
    "host": {"contract", "records"},
    "run": {"host", "contract", "records"},
    "testing": {"host", "contract", "records"},
    "publish": {"run", "host", "contract", "records"},
    "cli": {"publish", "run", "testing", "host", "contract", "records"},
    "__main__": {"cli"},
    "plugins": {"host", "contract", "records"},  # plain PyTorch: never the runner, the views or the suite
    "tasks": {"host", "contract", "records"},
}
SHIMS = {("seqbench.contract.host", "seqbench.host.block")}  # deprecated paths that look names up lazily


def modules() -> dict[str, tuple[Path, bool]]:
    """Module name -> (file, whether it is a package's __init__), for every module of the installed package."""
    found = {}
    for folder, package in FOLDERS.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            init = parts[-1] == "__init__"
            found[".".join([package] + (parts[:-1] if init else parts))] = (path, init)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the seqbench modules it imports anywhere in its file (module level or inside functions)."""
    mods = modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, (path, init) in mods.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = name.split(".") if init else name.split(".")[:-1]
                    base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            else:
                continue
            for t in targets:
                while t and t not in mods:
                    t = t.rpartition(".")[0]
                if t and t != name and (name, t) not in SHIMS:
                    graph[name].add(t)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (each holds at least one cycle)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def wing(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "seqbench"


def test_no_import_cycle_anywhere():
    assert cycles(import_graph()) == []


def test_each_wing_imports_only_the_wings_below_it():
    wrong = sorted(f"{a} -> {b}" for a, targets in import_graph().items() for b in targets
                   if wing(a) != wing(b) and wing(b) != "seqbench" and wing(b) not in BELOW[wing(a)])
    assert wrong == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.skipif(shutil.which("lint-imports") is None, reason="import-linter is not installed (the dev extra)")
def test_import_linter_contracts_are_kept():
    """The same boundaries as import-linter declares them in pyproject.toml (what CI runs)."""
    done = subprocess.run([shutil.which("lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_the_old_host_block_path_warns_and_gives_the_same_class():
    from seqbench.host.block import HostBlock

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from seqbench.contract.host import HostBlock as old
    assert old is HostBlock
    assert any(issubclass(w.category, DeprecationWarning) and "seqbench.host.block" in str(w.message) for w in caught)


def test_importing_the_contract_imports_no_wing_above_it():
    code = ("import sys, seqbench.contract.registry, seqbench.contract.host, seqbench.contract.specs; "
            "print(sorted({m.split('.')[1] for m in sys.modules if m.startswith('seqbench.')}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['contract', 'records']"
