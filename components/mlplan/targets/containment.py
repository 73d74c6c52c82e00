"""The one containment check for paths of the user's project (read from or written for it).

``resolve(root, name)``: a path a stack names (``mlplan:endpoints``, model, code, conda and
build paths, ``renderYamlTo``, ``stackConfigDir``) must resolve, symlinks followed, inside
``root``. ``files_below(root, name)``: every file of a model or code folder, each entry looked
at with ``lstat`` (a link is never followed blindly): a link resolving inside the root stands
for its target, one resolving outside is refused (``'stacks/score/helper.py' links outside the
project root``), a FIFO, device or socket is refused, and sizes come from ``stat`` before any
byte is read. ``MLPLAN_ALLOW_OUTSIDE_ROOT=1`` lifts containment for a checkout you trust.
"""

from __future__ import annotations

import functools
import os
import stat
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

MAX_PATH = 1024
MAX_FILES = 10_000
#: entries of a model or code folder ``mlplan plan`` looks at for links (a Docker bind mount
#: may hold many more files than a ConfigMap)
MAX_CHECKED_ENTRIES = 200_000
OUTSIDE_ROOT_ENV = "MLPLAN_ALLOW_OUTSIDE_ROOT"


class PathProblem(Exception):
    """A path mlplan will not read; the text says why and how to fix it."""


def in_tree(path: Path) -> bool:
    """A path inside a git tree (``review_io.TreePath``): checked lexically, no disk."""
    return hasattr(path, "tree")


def resolve(root: Path, name: str, *, contained: bool = True) -> Path:
    """``root / name``, refused (``PathProblem``) when too long, or, if ``contained``, when it
    resolves (symlinks followed) outside ``root``. Example: ``resolve(root, "../x")`` ->
    "'../x' is outside the project root ...".
    """
    if len(name) > MAX_PATH or any(len(part) > 255 for part in name.split("/")):
        raise PathProblem(f"'{name[:60]}...' is too long a path ({len(name)} characters); "
                          "shorten it")
    if "\0" in name:
        raise PathProblem("the path holds a NUL character; fix it")
    path = root / name
    if not contained or os.environ.get(OUTSIDE_ROOT_ENV) == "1":
        return path
    if in_tree(root):
        normal = os.path.normpath(name)
        if os.path.isabs(name) or normal == ".." or normal.startswith("../"):
            raise PathProblem(_outside(name))
        return path
    try:
        real_root = _realpath(str(root))
        real = _realpath(str(path))
    except (OSError, ValueError) as exc:
        raise PathProblem(f"'{name[:80]}' cannot be resolved ({exc}); fix the path") from None
    if real != real_root and not real.startswith(real_root.rstrip("/") + "/"):
        raise PathProblem(_outside(name))
    return path


@functools.lru_cache(maxsize=4096)
def _real_folder(folder: str) -> str:
    return os.path.realpath(folder)


def _realpath(path: str) -> str:
    """``os.path.realpath`` with the folder part cached (a stack names thousands of files in
    a few folders): only the last part is looked at anew, and followed if it is a link."""
    if ".." in path.split("/"):  # ".." after a link is relative to the link's target
        return os.path.realpath(path)
    folder, name = os.path.split(os.path.normpath(path))
    if name in ("", ".", ".."):
        return os.path.realpath(path)
    joined = os.path.join(_real_folder(folder or "."), name)
    return os.path.realpath(joined) if os.path.islink(joined) else joined


def _outside(name: str) -> str:
    return (f"'{name[:80]}' is outside the project root; name a path inside it (relative to "
            f"the root), or set {OUTSIDE_ROOT_ENV}=1 for a checkout you trust")


@dataclass(frozen=True)
class FolderFile:
    """A regular file of a folder: its path below the folder, where to read it, its size."""

    relative: str  # "sub/x.bin"; the file's name when a file was named
    path: str  # what to open: the entry, or a link's target inside the root
    size: int


def files_below(root: Path, name: str, *, skip_dirs: Collection[str] = (),
                skip_suffixes: tuple[str, ...] = (), max_entries: int = MAX_FILES,
                ) -> tuple[list[FolderFile], list[str]]:
    """The regular files at or below ``root / name`` (sorted by relative path) and what was
    refused (module docstring), each problem naming the entry relative to ``root``. Example:
    ``score/helper.py -> /etc/passwd`` gives ``[]`` for it and ``"'score/helper.py' links to
    '/etc/passwd', outside the project root; copy the file into the project or remove the
    link"``. Folders named in ``skip_dirs`` and files ending in ``skip_suffixes`` are left out;
    a folder with over ``max_entries`` entries is one problem."""
    top = root / name
    trusted = os.environ.get(OUTSIDE_ROOT_ENV) == "1"
    real_root = os.path.realpath(root)
    files: list[FolderFile] = []
    problems: list[str] = []
    pending = [(str(top), "")]
    seen = 0
    while pending:
        path, relative = pending.pop()
        shown = f"{name.rstrip('/')}/{relative}" if relative else name
        try:
            status = os.lstat(path)
        except OSError as exc:
            problems.append(f"'{shown}' cannot be read ({exc.strerror})")
            continue
        if stat.S_ISLNK(status.st_mode):
            followed = _follow(path, shown, real_root, trusted, problems)
            if followed is None or (stat.S_ISDIR(followed[1].st_mode) and relative):
                continue  # refused, or a linked folder inside the root: not entered (no cycles)
            path, status = followed
        if stat.S_ISDIR(status.st_mode):
            try:
                children = sorted(os.listdir(path))
            except OSError as exc:
                problems.append(f"'{shown}' cannot be listed ({exc.strerror})")
                continue
            seen += len(children)
            if seen > max_entries:
                return [], [f"'{name}' holds over {max_entries:,} files and folders; name a "
                                  "smaller folder"]
            pending.extend((os.path.join(path, child), f"{relative}/{child}".lstrip("/"))
                           for child in reversed(children) if child not in skip_dirs)
        elif stat.S_ISREG(status.st_mode):
            if not relative.endswith(skip_suffixes):
                files.append(FolderFile(relative or os.path.basename(path.rstrip("/")),
                                        path, status.st_size))
        else:
            problems.append(f"'{shown}' is not a regular file or folder (a FIFO, device or "
                            "socket); remove it, mlplan does not read it")
    files.sort(key=lambda f: f.relative)
    return files, problems


def _follow(path: str, shown: str, real_root: str, trusted: bool,
            problems: list[str]) -> tuple[str, os.stat_result] | None:
    """A link's target and its status, or None (and the problem) when it leaves the root
    (unless ``trusted``) or dangles."""
    target = os.path.realpath(path)
    if not trusted and target != real_root and not target.startswith(
            real_root.rstrip("/") + "/"):
        problems.append(f"'{shown}' links to '{target[:120]}', outside the project root; "
                        "copy what it needs into the project or remove the link")
        return None
    try:
        return target, os.stat(target)
    except OSError:
        problems.append(f"'{shown}' is a broken link; fix or remove it")
        return None
