"""The plugin registry: finds plugins, calls their hooks, owns the names, and survives broken plugins."""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import pkgutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence, TextIO

import pluggy

import seqbench
from seqbench.contract import hookspecs
from seqbench.contract.errors import unknown
from seqbench.contract.specs import ArchSpec, TaskSpec

ENTRY_POINT_GROUP = "seqbench"
DISABLE_AUTOLOAD_ENV = "SEQBENCH_DISABLE_PLUGIN_AUTOLOAD"
PLUGINS_ENV = "SEQBENCH_PLUGINS"  # extra plugin modules or .py files, separated by os.pathsep, as if given with -p
BUILTIN_PACKAGES = ("seqbench.plugins", "seqbench.tasks")


@dataclass
class PluginInfo:
    """One plugin as the registry saw it, for `seqbench plugins`."""

    name: str
    version: str
    source: str  # "builtin", "entry point" or "command line"
    provides: list[str] = field(default_factory=list)  # "architecture:lstm", "task:copy"
    status: str = "ok"  # "ok", or "error" when the plugin or part of it was refused
    errors: list[str] = field(default_factory=list)


@dataclass
class Registry:
    """Architectures and tasks by name, and where each came from."""

    archs: dict[str, ArchSpec] = field(default_factory=dict)
    tasks: dict[str, TaskSpec] = field(default_factory=dict)
    owner: dict[tuple[str, str], PluginInfo] = field(default_factory=dict)  # (kind, name) -> plugin
    plugins: list[PluginInfo] = field(default_factory=list)

    def arch(self, name: str) -> ArchSpec:
        if name not in self.archs:
            raise unknown("architecture", name, self.archs)
        return self.archs[name]

    def task(self, name: str) -> TaskSpec:
        if name not in self.tasks:
            raise unknown("task", name, self.tasks)
        return self.tasks[name]

    def version_of(self, kind: str, name: str) -> str:
        """`plugin-name==version` of what provides an architecture or task: part of every cell id."""
        info = self.owner[(kind, name)]
        return f"{info.name}=={info.version}"


def load(
    extra: Sequence[str] = (),
    *,
    entry_points: bool | None = None,
    err: TextIO | None = None,
    plugins: Iterable[tuple[str, Any]] = (),
) -> Registry:
    """Load built-ins, then entry points (unless disabled), then `plugins` objects, then the modules named in
    $SEQBENCH_PLUGINS, then those in `extra`.

    `extra` items are module names or paths to `.py` files (`-p` on the command line). A broken plugin is skipped
    with one line on `err` (stderr by default).
    """
    err = err if err is not None else sys.stderr
    if entry_points is None:
        entry_points = os.environ.get(DISABLE_AUTOLOAD_ENV, "").strip().lower() in ("", "0", "false", "no")
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    reg = Registry()
    candidates: list[tuple[PluginInfo, Callable[[], Any]]] = []
    for pkg in BUILTIN_PACKAGES:
        for mod in _submodules(pkg):
            candidates.append((PluginInfo(mod, seqbench.__version__, "builtin"), lambda m=mod: importlib.import_module(m)))
    if entry_points:
        for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            version = ep.dist.version if ep.dist is not None else "unknown"
            candidates.append((PluginInfo(ep.name, version, "entry point"), ep.load))
    for name, obj in plugins:
        candidates.append((PluginInfo(name, str(getattr(obj, "__version__", "unknown")), "api"), lambda o=obj: o))
    from_env = [p for p in os.environ.get(PLUGINS_ENV, "").split(os.pathsep) if p.strip()]
    for spec, source in [(s, "environment") for s in from_env] + [(s, "command line") for s in extra]:
        candidates.append((PluginInfo(spec, "unknown", source), lambda s=spec: _import_cli_plugin(s)))

    for info, loader in candidates:
        reg.plugins.append(info)
        try:
            obj = loader()
            if info.source in ("command line", "environment"):
                info.version = _module_version(obj)
            pm.register(obj, name=f"{info.source}:{info.name}")
            try:
                pm.check_pending()  # a hook name the contract does not know is a typo, not a silent no-op
            except pluggy.PluginValidationError:
                pm.unregister(name=f"{info.source}:{info.name}")
                raise
        except Exception as e:  # a broken plugin must not take the host down
            _fail(info, f"could not load: {type(e).__name__}: {e}", err)
            continue
        _collect(pm, reg, info, err)
    return reg


def _collect(pm: pluggy.PluginManager, reg: Registry, info: PluginInfo, err: TextIO) -> None:
    """Call this plugin's hooks alone; keep what it registered only if its hooks returned normally."""
    plugin_name = f"{info.source}:{info.name}"
    for hook_name, kind, table, spec_type in (
        ("register_architectures", "architecture", reg.archs, ArchSpec),
        ("register_tasks", "task", reg.tasks, TaskSpec),
    ):
        staged: dict[str, Any] = {}

        def register(spec: Any, _kind=kind, _table=table, _type=spec_type, _staged=staged) -> None:
            if not isinstance(spec, _type):
                raise TypeError(f"register() takes a {_type.__name__}, got {type(spec).__name__}")
            if spec.name in _table or spec.name in _staged:
                first = reg.owner[(_kind, spec.name)] if spec.name in _table else info
                msg = (
                    f"duplicate {_kind} name '{spec.name}': already registered by {first.source} plugin "
                    f"'{first.name}', refused from {info.source} plugin '{info.name}'"
                )
                _fail(info, msg, err)
                return
            _staged[spec.name] = spec

        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            if impl.plugin_name != plugin_name:
                continue
            try:
                impl.function(**({"register": register} if "register" in impl.argnames else {}))
            except Exception as e:
                staged.clear()
                _fail(info, f"hook {hook_name} raised {type(e).__name__}: {e}", err)
        for name, spec in staged.items():
            table[name] = spec
            reg.owner[(kind, name)] = info
            info.provides.append(f"{kind}:{name}")


def _fail(info: PluginInfo, message: str, err: TextIO) -> None:
    info.status = "error"
    info.errors.append(message)
    print(f"seqbench: plugin '{info.name}' ({info.source}) skipped: {message}", file=err)


def _submodules(package: str) -> list[str]:
    pkg = importlib.import_module(package)
    return sorted(
        f"{package}.{m.name}" for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_")
    )


def _import_cli_plugin(spec: str) -> Any:
    """A `-p` plugin: a path to a .py file, or an importable module name."""
    if spec.endswith(".py") or os.sep in spec:
        path = Path(spec)
        if not path.is_file():
            raise FileNotFoundError(f"no such file {spec}")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        mod_name = f"seqbench_cli_plugin_{path.stem}_{digest}"
        loader_spec = importlib.util.spec_from_file_location(mod_name, path)
        if loader_spec is None or loader_spec.loader is None:
            raise ImportError(f"cannot import {spec}")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[mod_name] = module
        loader_spec.loader.exec_module(module)
        module.__seqbench_digest__ = digest
        return module
    return importlib.import_module(spec)


def _module_version(module: Any) -> str:
    """A command-line plugin's version: its __version__, else a digest of its file, so cell ids track edits."""
    version = getattr(module, "__version__", None)
    if version:
        return str(version)
    digest = getattr(module, "__seqbench_digest__", None)
    if digest is None and getattr(module, "__file__", None):
        digest = hashlib.sha256(Path(module.__file__).read_bytes()).hexdigest()[:12]
    return f"file-{digest}" if digest else "unknown"


__all__ = ["Registry", "PluginInfo", "load"]
