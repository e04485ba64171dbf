"""Where publishing commands write: destinations checked before any work, output staged and moved in whole.

`check_folder` and `check_file` raise a one-line UserError when a destination cannot be written: the path is
empty, exists as the wrong kind, has a file where a folder must be, or lies in a folder that cannot be written.
`staged(folder)` gives a temporary folder beside the destination's nearest existing ancestor; when the block
ends without an error its files are moved into the destination (each by an atomic rename), and on an error the
temporary folder is removed, so a failure never leaves half a report or half a plot folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from seqbench.contract.errors import UserError


def _existing_ancestor(path: Path, flag: str) -> Path:
    """The nearest existing ancestor of `path`; it must be a writable folder."""
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise UserError(f"{flag} {path}: {parent} is a file, not a folder")
            _writable(parent, path, flag)
            return parent
    raise UserError(f"{flag} {path}: no existing folder above it")


def _writable(folder: Path, path: Path, flag: str) -> None:
    try:
        fd, probe = tempfile.mkstemp(prefix=".seqbench-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise UserError(f"{flag} {path}: cannot write in {folder} ({e.strerror or e})") from None


def check_folder(path: Path | str, flag: str = "--out", subfolders: tuple[str, ...] = ()) -> Path:
    """`path` can be made or written as a folder (and each of `subfolders` inside it, where it exists, is one)."""
    if str(path).strip() == "":
        raise UserError(f"{flag} must name a folder, got an empty path")
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise UserError(f"{flag} {path} exists and is not a folder")
        _writable(path, path, flag)
        for name in subfolders:
            sub = path / name
            if sub.exists() and not sub.is_dir():
                raise UserError(f"{flag} {path}: {sub} must be a folder, but it is a file")
            if sub.is_dir():
                _writable(sub, path, flag)
    else:
        _existing_ancestor(path, flag)
    return path


def check_file(path: Path | str, flag: str, suffixes: tuple[str, ...] = ()) -> Path:
    """`path` can be written as a file, with one of `suffixes` when given."""
    if str(path).strip() == "":
        raise UserError(f"{flag} must name a file, got an empty path")
    path = Path(path)
    if suffixes and path.suffix not in suffixes:
        raise UserError(f"{flag} {path}: the file must end in {' or '.join(suffixes)}")
    if path.is_dir():
        raise UserError(f"{flag} {path} is a folder, not a file")
    if path.parent.exists():
        if not path.parent.is_dir():
            raise UserError(f"{flag} {path}: {path.parent} is a file, not a folder")
        _writable(path.parent, path, flag)
    else:
        _existing_ancestor(path.parent, flag)
    return path


@contextlib.contextmanager
def staged(folder: Path) -> Iterator[Path]:
    """A temporary folder whose files are moved into `folder` when the block succeeds, and dropped when not."""
    folder = Path(folder)
    base = folder if folder.is_dir() else next(p for p in folder.absolute().parents if p.is_dir())
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name or 'out'}.tmp-", dir=base))
    try:
        yield tmp
        folder.mkdir(parents=True, exist_ok=True)
        for item in sorted(tmp.iterdir()):
            os.replace(item, folder / item.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def move_file(tmp: Path, path: Path) -> Path:
    """Move a finished file into place (its folder made if needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, path)
    return path
