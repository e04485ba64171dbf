"""Where a run's settings come from, and the one function that merges them.

Sources, lowest precedence first (the README has this as a table):

| rank | source | example |
| --- | --- | --- |
| 0 | built-in defaults, then the architecture's own training defaults (`ArchSpec.train`) | `train.lr` of `lstm` |
| 1 | the profile (`--profile quick` is the default; `--profile none` for none) | `bench/profiles/quick.toml` |
| 2 | the TOML file (`--config FILE`) | `[train] max_steps = 800` |
| 3 | flags | `--max-steps 800`, `--distance 16` |
| 4 | `--set section.key=value`, in the order given | `--set train.max_steps=800` |

A key set by a source replaces the same key from every lower source. Some keys also *cover* others, because one
decides what the other would: `matrix.distances` (every task) covers `matrix.task_distances.<task>`;
`model.d_model` and `matrix.params` cover each other (a fixed width, or widths sized to budgets); `train.lr` and
`matrix.lrs` cover each other (one learning rate, or a learning-rate axis), and `matrix.lrs` covers the `[lr.<task>]`
tables, as `sweep.enabled = true` does (the sweep chooses those rates). When a source sets a key, what it
covers from lower sources is dropped, so a value the user gives explicitly never loses to a profile's; a note on
stderr says what was dropped. One source that sets two keys covering each other is refused: it must choose.
"""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from seqbench.contract.errors import ConfigError, unknown

DEFAULT_PROFILE = "quick"
NO_PROFILE = "none"
PROFILE_KEYS = ("requires", "why", "steps_from_time")  # a profile's own `[profile]` table: see `profile`
Path_ = tuple[str, ...]

# key -> keys it covers (a prefix covers everything below it). Both directions where the cover is mutual.
COVERS: dict[Path_, tuple[Path_, ...]] = {
    ("matrix", "distances"): (("matrix", "task_distances"),),
    ("model", "d_model"): (("matrix", "params"),),
    ("matrix", "params"): (("model", "d_model"),),
    ("train", "lr"): (("matrix", "lrs"),),
    ("matrix", "lrs"): (("train", "lr"), ("lr",)),  # a learning-rate axis, or rates per task and architecture
}
COVERS_IF_TRUE: dict[Path_, tuple[Path_, ...]] = {  # keys that cover others only when set to true
    ("sweep", "enabled"): (("lr",),),  # the sweep chooses the rates that a profile's [lr.<task>] tables would set
}
MOVED = {  # keys of seqbench 0.1 -> where they live now
    ("task", "distance"): "matrix.distances",
    ("model", "params"): "matrix.params",
}


@dataclass(frozen=True)
class Source:
    """One layer of settings: a name for messages (e.g. `the profile 'quick'`), its rank, and nested data."""

    name: str
    rank: int
    data: Mapping[str, Any]


@dataclass
class Merged:
    """The merged settings, where each came from, and the notes to show about dropped values."""

    data: dict[str, Any] = field(default_factory=dict)
    origin: dict[Path_, Source] = field(default_factory=dict)  # leaf key -> the source that set it
    notes: list[str] = field(default_factory=list)
    about: dict[str, Any] = field(default_factory=dict)  # the profile's own `[profile]` table (not settings)


def profiles() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("seqbench.profiles").iterdir() if p.name.endswith(".toml"))


def profile(name: str) -> Source:
    """A bundled profile, by name. Its own table `[profile]` (not a setting) may list keys that a run of it
    must be given (`requires`), with a line on what they are (`why`), and ask for its time budget as a step count
    measured once (`steps_from_time = true`: `seqbench.run.calibrate`)."""
    if not name or not name.strip():
        raise ConfigError(f"--profile needs a name: one of {', '.join(profiles())}, or {NO_PROFILE}")
    if name not in profiles():
        raise unknown("profile", name, [*profiles(), NO_PROFILE])
    text = resources.files("seqbench.profiles").joinpath(f"{name}.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    about = data.get("profile", {})
    for key, value in about.items():
        if key not in PROFILE_KEYS:
            raise ConfigError(f"the profile '{name}': unknown key profile.{key}; allowed: {', '.join(PROFILE_KEYS)}")
    if not isinstance(about.get("steps_from_time", False), bool):
        raise ConfigError(f"the profile '{name}': profile.steps_from_time must be true or false")
    return Source(f"the profile '{name}'", 1, data)


def check_required(src: Source, merged: Merged) -> None:
    """Refuse a run of a profile without the keys its `[profile] requires` names, in one line."""
    about = src.data.get("profile", {})
    for key in about.get("requires", []):
        node: Any = merged.data
        for part in key.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        if node is None or node == "":
            raise ConfigError(f"{src.name} needs --set {key}=PATH: {about.get('why', 'it has no default')}")


def toml_file(path: str | Path) -> Source:
    """A TOML config file; a syntax error names the file, line and column."""
    if not str(path).strip():
        raise ConfigError("--config needs a file name (a TOML file with [matrix], [model], [train], ...)")
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {p} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {p} is a directory, not a TOML file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"config file {p} cannot be read: {e}") from None
    try:
        return Source(f"the config file {p}", 2, tomllib.loads(text))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {p} is not valid TOML: {e}") from None


def flags(values: Mapping[str, Any]) -> Source:
    """Command-line flags: dotted key -> value (None: not given)."""
    data: dict[str, Any] = {}
    for key, value in values.items():
        if value is not None:
            set_path(data, key.split("."), value, f"flag for {key}")
    return Source("a flag", 3, data)


NONE = "none"  # the --set value that unsets a key


def parse_set(item: str) -> tuple[list[str], Any]:
    """`train.lr=1e-3` -> (["train", "lr"], 0.001). Values are read as TOML values when they parse, else as text;
    a bare `none` is None (TOML has no null): it unsets an optional key (`train.max_time=none`), and a key that
    must have a value refuses it. `'"none"'` is the text."""
    if "=" not in item:
        raise ConfigError(f"--set takes section.key=value (e.g. train.lr=1e-3), got {item!r}")
    key, text = item.split("=", 1)
    path = [p.strip() for p in key.strip().split(".")]
    if len(path) < 2 or not all(path):
        raise ConfigError(f"--set key must name a section and a key (e.g. train.lr), got {key.strip()!r}")
    if text.strip() == NONE:
        return path, None
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text.strip()
    return path, value


def sets(items: Iterable[str]) -> list[Source]:
    """`--set` overrides, each its own source, later ones above earlier ones."""
    out = []
    for i, item in enumerate(items):
        path, value = parse_set(item)
        data: dict[str, Any] = {}
        set_path(data, path, value, f"--set {item}")
        out.append(Source(f"--set {item.split('=', 1)[0].strip()}", 4 + i, data))
    return out


def set_path(raw: dict[str, Any], path: list[str], value: Any, what: str) -> None:
    node = raw
    for p in path[:-1]:
        nxt = node.setdefault(p, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"{what}: '{p}' is a value, not a section")
        node = nxt
    node[path[-1]] = value


def leaves(data: Mapping[str, Any], prefix: Path_ = ()) -> Iterable[tuple[Path_, Any]]:
    """(path, value) of every non-table value; an empty table is a leaf too (it sets the table to empty)."""
    for k, v in data.items():
        if isinstance(v, Mapping) and v:
            yield from leaves(v, prefix + (str(k),))
        else:
            yield prefix + (str(k),), v


def merge(sources: Iterable[Source]) -> Merged:
    """Merge sources by rank (see the module docstring for the rules), refusing one source's self-contradiction."""
    merged = Merged()
    for src in sorted(sources, key=lambda s: s.rank):
        items = list(leaves(src.data))
        for path, _ in items:
            if path[:2] in MOVED:
                raise ConfigError(f"{src.name}: {'.'.join(path)} moved to {MOVED[path[:2]]} (a matrix axis); "
                                  f"write it there")
        mine = {p for p, _ in items}
        for path, value in items:
            for covered in COVERS.get(path[:2], ()) + (COVERS_IF_TRUE.get(path[:2], ()) if value is True else ()):
                clash = [p for p in mine if p[: len(covered)] == covered]
                if clash and covered in COVERS and path[:2] in COVERS[covered]:
                    raise ConfigError(f"{src.name} sets both {'.'.join(path)} and {'.'.join(clash[0])}, which decide "
                                      f"the same thing; set one")
                for old in [p for p, s in merged.origin.items() if p[: len(covered)] == covered and s.rank < src.rank]:
                    merged.notes.append(f"{'.'.join(path)} from {src.name} replaces {'.'.join(old)} from "
                                        f"{merged.origin[old].name}")
                    _drop(merged, old)
        for path, value in items:
            for old in [p for p in merged.origin if p[: len(path)] == path or path[: len(p)] == p]:
                _drop(merged, old)  # a value replaces the table below it, a table replaces a value above it
            node = merged.data
            for p in path[:-1]:
                node = node.setdefault(p, {})
            node[path[-1]] = copy.deepcopy(value)
            merged.origin[path] = src
    return merged


def _drop(merged: Merged, path: Path_) -> None:
    merged.origin.pop(path, None)
    node = merged.data
    trail = []
    for p in path[:-1]:
        if not isinstance(node.get(p), dict):
            return
        trail.append((node, p))
        node = node[p]
    node.pop(path[-1], None)
    for parent, key in reversed(trail):  # prune tables left empty
        if parent[key] == {}:
            del parent[key]


def gather(profile_name: str | None, config: str | None, flag_values: Mapping[str, Any],
           set_items: Iterable[str]) -> Merged:
    """Every source of a run, merged: the profile (default `quick`; `none` for none), the config file, the flags,
    then each `--set`."""
    sources = []
    name = DEFAULT_PROFILE if profile_name is None else profile_name
    chosen = profile(name) if name != NO_PROFILE else None
    if chosen is not None:
        sources.append(Source(chosen.name, chosen.rank, {k: v for k, v in chosen.data.items() if k != "profile"}))
    if config is not None:
        sources.append(toml_file(config))
    sources.append(flags(flag_values))
    sources += sets(set_items)
    merged = merge(sources)
    if chosen is not None:
        check_required(chosen, merged)
        merged.about = dict(chosen.data.get("profile", {}))
    return merged
