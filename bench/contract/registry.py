"""The plugin registry: finds plugins, calls their hooks, owns the names, and survives broken plugins."""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import os
import pkgutil
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterable, Sequence, TextIO

import pluggy

import seqbench
from seqbench.contract import hookspecs, identity
from seqbench.contract.checks import check_spec
from seqbench.contract.errors import UserError, unknown
from seqbench.contract.specs import ArchSpec, TaskSpec
from seqbench.records.schema import PluginRef

ENTRY_POINT_GROUP = "seqbench"
DISABLE_AUTOLOAD_ENV = "SEQBENCH_DISABLE_PLUGIN_AUTOLOAD"
PLUGINS_ENV = "SEQBENCH_PLUGINS"  # extra plugin modules or .py files, separated by os.pathsep, as if given with -p
BUILTIN_PACKAGES = ("seqbench.plugins", "seqbench.tasks")


@dataclass
class PluginInfo:
    """One plugin as the registry saw it, for `seqbench plugins`."""

    name: str  # as given: module name, entry-point name, or the path written after -p
    version: str
    source: str  # "builtin", "entry point", "api", "environment" or "command line"
    provides: list[str] = field(default_factory=list)  # "architecture:lstm", "task:copy"
    status: str = "ok"  # "ok"; "error" when the plugin or part of it was refused; "empty" when it registers nothing
    errors: list[str] = field(default_factory=list)
    key: str = ""  # the name in cell ids: `name`, except a .py file's stem (however its path is written)
    module: Any = field(default=None, repr=False)  # the loaded plugin object


@dataclass
class Registry:
    """Architectures and tasks by name, and where each came from."""

    archs: dict[str, ArchSpec] = field(default_factory=dict)
    tasks: dict[str, TaskSpec] = field(default_factory=dict)
    owner: dict[tuple[str, str], PluginInfo] = field(default_factory=dict)  # (kind, name) -> plugin
    # (kind, name) -> the plugins whose claim on a name another plugin already held (refused at load, see `arch`)
    contested: dict[tuple[str, str], list[PluginInfo]] = field(default_factory=dict)
    plugins: list[PluginInfo] = field(default_factory=list)
    _digests: dict[int, str | None] = field(default_factory=dict, repr=False)  # id(PluginInfo) -> digest

    def arch(self, name: str) -> ArchSpec:
        if name not in self.archs:
            raise unknown("architecture", name, self.archs)
        self._uncontested("architecture", name)
        return self.archs[name]

    def task(self, name: str) -> TaskSpec:
        if name not in self.tasks:
            raise unknown("task", name, self.tasks)
        self._uncontested("task", name)
        return self.tasks[name]

    def _uncontested(self, kind: str, name: str) -> None:
        """A name two plugins registered is refused when used: the one kept is whichever loaded first (built-in,
        entry point, then -p), which may not be the code the user meant, e.g. a `-p` file shadowed by an
        installed package with the same name."""
        refused = self.contested.get((kind, name))
        if refused:
            kept = self.owner[(kind, name)]
            others = " and ".join("again by it" if i is kept else f"by {i.source} plugin '{i.name}'" for i in refused)
            way_out = f", or leave installed packages out with {DISABLE_AUTOLOAD_ENV}=1" \
                if any(i.source == "entry point" for i in [kept, *refused]) else ""
            raise UserError(f"{kind} '{name}' is registered by {kept.source} plugin '{kept.name}' and {others}; "
                            f"rename one{way_out}")

    def ref(self, kind: str, name: str) -> PluginRef:
        """What provides an architecture or task: plugin, version and a digest of its source files (part of every
        cell id, so changed code never reuses an old record)."""
        info = self.owner[(kind, name)]
        if id(info) not in self._digests:
            module = info.module if isinstance(info.module, ModuleType) else inspect.getmodule(info.module)
            self._digests[id(info)] = identity.digest(module) if module is not None else None
        return PluginRef(plugin=info.key or info.name, version=info.version, digest=self._digests[id(info)])

    def who(self, kind: str, name: str) -> str:
        """`architecture plugin 'lstm' (seqbench.plugins.recurrent)`: how errors name the plugin to blame."""
        return f"{kind} plugin '{name}' ({self.owner[(kind, name)].name})"


def autoload() -> bool:
    """Whether installed entry points load: unless $SEQBENCH_DISABLE_PLUGIN_AUTOLOAD says otherwise."""
    return os.environ.get(DISABLE_AUTOLOAD_ENV, "").strip().lower() in ("", "0", "false", "no")


def load(
    extra: Sequence[str] = (),
    *,
    entry_points: bool | None = None,
    err: TextIO | None = None,
    plugins: Iterable[tuple[str, Any]] = (),
) -> Registry:
    """Load built-ins, then entry points (unless disabled), then `plugins` objects, then the modules named in
    $SEQBENCH_PLUGINS, then those in `extra`.

    `extra` items are module names or paths to `.py` files (`-p` on the command line); one that does not exist is
    a typo, refused with a `UserError`. A plugin named explicitly (`extra`, $SEQBENCH_PLUGINS) whose import or hook
    raises (`SystemExit` included) is a `UserError` too: the user asked for it, so nothing goes on without it. Any
    other broken plugin (an installed entry point, or one that registers an invalid spec) is skipped with one line
    on `err` (stderr by default); the rest load. A plugin that loads but registers nothing is kept, its status
    saying why (`PluginInfo.status` "empty"), with one line on `err`.
    """
    err = err if err is not None else sys.stderr
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    reg = Registry()
    cli = [(s, "environment") for s in os.environ.get(PLUGINS_ENV, "").split(os.pathsep) if s.strip()]
    cli += [(s, "command line") for s in extra]
    for spec, _ in cli:
        _check_exists(spec)
    for info, loader in _candidates(cli, autoload() if entry_points is None else entry_points, plugins):
        if not _register(pm, reg, info, loader, err):
            continue
        _collect(pm, reg, info, err)
        if not info.provides and info.status == "ok":
            info.status = "empty"
            info.errors.append(_registers_nothing(info.module))
            print(f"seqbench: plugin '{info.name}' ({info.source}) {info.errors[-1]}", file=err)
    return reg


def _candidates(cli: list[tuple[str, str]], entry_points: bool, plugins: Iterable[tuple[str, Any]]
                ) -> list[tuple[PluginInfo, Callable[[], Any]]]:
    """Every plugin to load, in `load`'s order, each with what imports it: built-ins, entry points (if
    `entry_points`), the `plugins` objects, then the named modules (`cli`: spec and source)."""
    candidates: list[tuple[PluginInfo, Callable[[], Any]]] = []
    for pkg in BUILTIN_PACKAGES:
        for mod in _submodules(pkg):
            candidates.append((PluginInfo(mod, seqbench.__version__, "builtin", key=mod),
                               lambda m=mod: importlib.import_module(m)))
    if entry_points:
        for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            version = ep.dist.version if ep.dist is not None else "unknown"
            candidates.append((PluginInfo(ep.name, version, "entry point", key=ep.name), ep.load))
    for name, obj in plugins:
        candidates.append((PluginInfo(name, str(getattr(obj, "__version__", "unknown")), "api", key=name),
                           lambda o=obj: o))
    for spec, source in cli:
        candidates.append((PluginInfo(spec, "unknown", source, key=_cli_key(spec)),
                           lambda s=spec: _import_cli_plugin(s)))
    return candidates


def _register(pm: pluggy.PluginManager, reg: Registry, info: PluginInfo, loader: Callable[[], Any],
              err: TextIO) -> bool:
    """Import one plugin and register it with pluggy; False when it is not to be collected: loaded already under
    another source (one line on `err`), or broken (`_fail`: one line, or a `UserError` for a plugin the user
    named)."""
    try:
        obj = loader()
        if info.source in EXPLICIT:
            info.version = str(getattr(obj, "__version__", "") or "unversioned")
        already = pm.get_name(obj)
        if already is not None:  # e.g. -p pkg for a package that is also installed as an entry point
            source, _, first = already.partition(":")
            print(f"seqbench: plugin '{info.name}' ({info.source}) is already loaded as {source} plugin "
                  f"'{first}'; not loaded twice", file=err)
            return False
        info.module = obj
        reg.plugins.append(info)
        pm.register(obj, name=f"{info.source}:{info.name}")
        try:
            pm.check_pending()  # a hook name the contract does not know is a typo, not a silent no-op
        except pluggy.PluginValidationError:
            pm.unregister(name=f"{info.source}:{info.name}")
            raise
    except (Exception, SystemExit) as e:  # a broken plugin must not take the host down, not even by sys.exit
        if info not in reg.plugins:
            reg.plugins.append(info)
        _fail(info, f"could not load: {_why(e)}", err, fatal=True)
        return False
    return True


EXPLICIT = ("command line", "environment")  # sources of plugins the user named: one that cannot load stops the command


def _why(e: BaseException) -> str:
    """Why a plugin could not load; a hook name the contract does not have gets the hooks it does have."""
    if isinstance(e, pluggy.PluginValidationError):
        hooks = _hook_names()
        bad = [n for n in re.findall(r"unknown hook '([^']+)'", str(e))]
        close = difflib.get_close_matches(bad[0], hooks, n=1) if bad else []
        hint = f"; did you mean '{close[0]}'?" if close else ""
        if bad:
            return (f"it implements hook '{bad[0]}', which the contract does not have (hooks: {', '.join(hooks)})"
                    f"{hint}")
    return _describe(e)


def _hook_names() -> list[str]:
    return sorted(n for n, f in vars(hookspecs).items() if callable(f) and hasattr(f, f"{hookspecs.PROJECT}_spec"))


def _registers_nothing(obj: Any) -> str:
    """Why a plugin that loaded provides nothing: no hook marked, or a hook function without its marker, or a name
    close to a hook's."""
    hooks = _hook_names()
    functions = [n for n, f in vars(obj).items() if callable(f) and not n.startswith("_")] \
        if hasattr(obj, "__dict__") else []
    unmarked = [n for n in functions if n in hooks]
    if unmarked:
        return (f"registers nothing: its {unmarked[0]}() is not marked @seqbench.hookimpl, so seqbench never calls "
                f"it")
    close = [(n, m[0]) for n in functions if (m := difflib.get_close_matches(n, hooks, n=1, cutoff=0.8))]
    if close:
        return (f"registers nothing: it has {close[0][0]}(), not a hook of the contract; did you mean "
                f"@seqbench.hookimpl def {close[0][1]}(register)?")
    return (f"registers nothing: no function marked @seqbench.hookimpl named {' or '.join(hooks)} (see "
            f"seqbench.contract.hookspecs)")


def _describe(e: BaseException) -> str:
    if isinstance(e, SystemExit):
        return f"SystemExit: it called sys.exit({e.code!r})"
    return f"{type(e).__name__}: {e}"


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
            problem = check_spec(spec)
            if problem is not None:
                _fail(info, problem, err)
                return
            if spec.name in _table or spec.name in _staged:
                first = reg.owner[(_kind, spec.name)] if spec.name in _table else info
                msg = (
                    f"duplicate {_kind} name '{spec.name}': already registered by {first.source} plugin "
                    f"'{first.name}', refused from {info.source} plugin '{info.name}'"
                )
                _fail(info, msg, err)
                reg.contested.setdefault((_kind, spec.name), []).append(info)
                return
            _staged[spec.name] = spec

        # Not pm.hook.<name>(): it calls every plugin at once, so one raising would hide who did and stop the rest;
        # pm.subset_hook_caller would isolate one plugin but hashes plugin objects, which `plugins=` need not be.
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            if impl.plugin_name != plugin_name:
                continue
            try:
                impl.function(**({"register": register} if "register" in impl.argnames else {}))
            except (Exception, SystemExit) as e:
                staged.clear()
                _fail(info, f"hook {hook_name} raised {_describe(e)}", err, fatal=True)
        for name, spec in staged.items():
            table[name] = spec
            reg.owner[(kind, name)] = info
            info.provides.append(f"{kind}:{name}")


def _fail(info: PluginInfo, message: str, err: TextIO, fatal: bool = False) -> None:
    """Mark the plugin refused and say so on `err`; a plugin the user named (-p, $SEQBENCH_PLUGINS) whose code
    failed (`fatal`) stops the command instead: one line naming it, exit 2."""
    if fatal and info.source in EXPLICIT:
        via = "-p" if info.source == "command line" else PLUGINS_ENV
        raise UserError(f"plugin '{info.name}' ({via}) {message}")
    info.status = "error"
    info.errors.append(message)
    print(f"seqbench: plugin '{info.name}' ({info.source}) skipped: {message}", file=err)


def _submodules(package: str) -> list[str]:
    pkg = importlib.import_module(package)
    return sorted(
        f"{package}.{m.name}" for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_")
    )


def _is_file_spec(spec: str) -> bool:
    return spec.endswith(".py") or os.sep in spec or (os.altsep is not None and os.altsep in spec)


def _cli_key(spec: str) -> str:
    """The name of a -p plugin in cell ids: a module's name, or a file's stem, however its path is written."""
    if not _is_file_spec(spec):
        return spec
    path = Path(spec)
    return path.parent.resolve().name if path.stem == "__init__" else path.stem


def _check_exists(spec: str) -> None:
    """A -p file or module that does not exist is a typo: refused before anything loads."""
    if _is_file_spec(spec):
        if not Path(spec).is_file():
            raise UserError(f"plugin file {spec} does not exist (-p takes a module name or a path to a .py file)")
        return
    try:
        found = importlib.util.find_spec(spec)
    except ModuleNotFoundError:
        found = None
    except (ImportError, ValueError) as e:
        raise UserError(f"plugin module name {spec!r} cannot be looked up: {e}") from None
    except (Exception, SystemExit):  # the parent package's own import failed: reported when the plugin loads
        return
    if found is None:
        raise UserError(f"no plugin module named {spec!r} (-p takes an importable module name or a path to a "
                        f".py file)")


def _import_cli_plugin(spec: str) -> Any:
    """A `-p` plugin: a path to a .py file, or an importable module name."""
    if _is_file_spec(spec):
        path = Path(spec)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        mod_name = f"seqbench_cli_plugin_{path.stem}_{digest}"
        if mod_name in sys.modules:  # the same file again (perhaps spelled another way): the same plugin
            return sys.modules[mod_name]
        loader_spec = importlib.util.spec_from_file_location(mod_name, path)
        if loader_spec is None or loader_spec.loader is None:
            raise ImportError(f"cannot import {spec}")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[mod_name] = module
        try:
            loader_spec.loader.exec_module(module)
        except BaseException:  # as `import` does: a module that failed is not kept half-made for the next load
            sys.modules.pop(mod_name, None)
            raise
        return module
    return importlib.import_module(spec)


__all__ = ["Registry", "PluginInfo", "load"]
