"""A plugin's identity follows its code: a digest of the source files that make it up, part of every cell id.

The files of a plugin module are its own file and, transitively, the modules of its own package that it imports
(found by reading the `import` statements with `ast`, not by importing anything). Its own package is its
top-level package (`my_plugin` for `my_plugin.archs`), except for seqbench's built-ins, whose own package is
`seqbench.plugins` or `seqbench.tasks`: the core they import is covered by the host's own digest
(`seqbench.run.hostcode`), also part of every cell id. So editing `plugins/recurrent.py` changes the ids of the `rnn`, `lstm` and `gru` cells and of
nothing else; editing `plugins/_rnn.py` changes those and the `seq2seq` ones.

Files are named by module, not by path, so the digest is the same wherever the package is installed.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

DIGEST_CHARS = 16  # hex characters of sha256 kept


def _read(path: Path) -> bytes:
    return path.read_bytes()


def own_package(module_name: str) -> str:
    """The package whose modules count as part of a plugin module's code."""
    parts = module_name.split(".")
    if parts[0] == "seqbench" and len(parts) > 2:
        return ".".join(parts[:2])
    return parts[0]


def source_files(module: ModuleType) -> dict[str, Path]:
    """Module name -> source file of every module that makes up `module`'s code (itself included)."""
    root = own_package(module.__name__)
    found: dict[str, Path] = {}
    todo = [module.__name__]
    while todo:
        name = todo.pop()
        path = _file_of(name)
        if name in found or path is None:
            continue
        found[name] = path
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for imported in imports(_read(path), package):
            if imported == root or imported.startswith(root + "."):
                todo.append(imported)
    return found


def digest(module: ModuleType) -> str | None:
    """sha256 over the module's source files (named by module), or None when it has no source file."""
    files = source_files(module)
    if not files:
        return None
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + _read(files[name]) + b"\0")
    return h.hexdigest()[:DIGEST_CHARS]


def _file_of(name: str) -> Path | None:
    module = sys.modules.get(name)
    origin = getattr(module, "__file__", None) if module is not None else None
    if origin is None:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError, AttributeError):  # a name inside a module, not a module
            return None
        origin = spec.origin if spec is not None else None
    return Path(origin) if origin and origin.endswith(".py") else None


def imports(source: bytes, package: str) -> list[str]:
    """Module names a source may import: `import a.b` gives a.b; `from .x import y` gives pkg.x and pkg.x.y."""
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                try:
                    base = importlib.util.resolve_name("." * node.level + base, package)
                except ImportError:  # beyond the top-level package
                    continue
            names.append(base)
            names.extend(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return names
