"""Edge I/O of ``mlplan review``: the base side from git without a checkout, or from a folder;
the head side from the working tree (``mlplan.edge.io``, exactly as ``mlplan plan`` reads it).

At a git ref the project is read with ``git ls-tree`` (which files exist) and ``git cat-file``
(their text: the YAML files in one batch process), through ``GitTree``. ``GitTree.path()`` is a
``PurePosixPath`` bound to the tree that answers ``is_file``, ``is_dir``, ``exists``, ``glob``,
``rglob`` and ``read_bytes`` from the commit, so ``load_stack_at`` runs the very same
``io.load_stack`` as ``mlplan plan`` (one implementation; a test keeps git and disk equal).
Concrete-path methods it lacks (``resolve``, ``stat``...) raise instead of touching the disk.
A stack whose config file is missing on a side is ``None`` there: missing at base means
everything is created, missing at head that everything is deleted.
"""

from __future__ import annotations

import os
import posixpath
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import cast

from mlplan.domain.yamlsource import decode
from mlplan.edge import io

STACK_GLOB = "Pulumi.*.yaml"


class ReviewInputError(Exception):
    """Input the review cannot read (not a git repository, unknown ref, missing folder)."""


def _git(root: Path, *args: str, stdin: bytes | None = None) -> bytes:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        done = subprocess.run(["git", "-C", str(root), *args], input=stdin, capture_output=True,
                              env=env, check=False)
    except FileNotFoundError as exc:
        raise ReviewInputError("git is not installed; install it or use --base-dir") from exc
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", errors="replace").strip().splitlines()
        raise ReviewInputError(f"git {args[0]}: {message[-1] if message else 'failed'}")
    return done.stdout


MAX_LINK_HOPS = 8


def _resolve_links(root: Path, entries: dict[str, tuple[str, str]]) -> dict[str, str]:
    """rel -> blob to read: regular files as they are; a symlink (mode 120000, whose blob is
    the link's target text) followed inside the tree, up to ``MAX_LINK_HOPS``, as a checkout
    would read it. A link that dangles, loops or leaves the project is left out (the file
    then does not exist at the base, as ``io`` would refuse it on disk)."""
    links = {rel: blob for rel, (mode, blob) in entries.items() if mode == "120000"}
    targets: dict[str, str] = {}
    if links:
        order = sorted(links)
        out = _git(root, "cat-file", "--batch", stdin="".join(
            links[r] + "\n" for r in order).encode())
        at = 0
        for rel in order:
            end = out.index(b"\n", at)
            header = out[at:end].split()
            at = end + 1
            size = int(header[2]) if len(header) == 3 else 0
            targets[rel] = out[at:at + size].decode("utf-8", errors="surrogateescape")
            at += size + 1 if size or len(header) == 3 else 0
    blobs: dict[str, str] = {}
    for rel, (mode, blob) in entries.items():
        current = rel
        for _hop in range(MAX_LINK_HOPS):
            if current not in links:
                break
            target = targets.get(current, "")
            if not target or target.startswith("/"):
                current = ""
                break
            current = posixpath.normpath(posixpath.join(posixpath.dirname(current), target))
        else:
            current = ""
        if current and current in entries and current not in links and \
                not current.startswith("../"):
            blobs[rel] = entries[current][1]
        elif mode != "120000":
            blobs[rel] = blob
    return blobs


def _text(data: bytes) -> str:
    """As ``io.read_text``: ``yamlsource.decode`` (UTF-8 or a BOM's encoding, CRLF -> LF)."""
    return decode(data)


@dataclass
class GitTree:
    """The files of the project at one commit, relative to the project root (``../x`` when
    outside it but inside the repository). Texts are read on demand and cached."""

    root: Path
    ref: str
    commit: str
    prefix: str  # the project root relative to the repository top: "" or "sub/dir/"
    files: frozenset[str]
    dirs: frozenset[str]
    _texts: dict[str, str] = field(default_factory=dict)
    #: the blob each file reads: its own, or for a symlink the blob of the file it points to
    #: inside the tree (``_resolve_links``); files are asked of ``git cat-file`` by blob id,
    #: never by name, so a name holding a newline cannot break the batch
    blobs: dict[str, str] = field(default_factory=dict)
    #: blob id -> its size (``ls-tree -l``): a file over ``io.MAX_FILE_BYTES`` is refused
    #: before ``cat-file`` reads it, as ``io.read_text`` refuses one on disk
    sizes: dict[str, int] = field(default_factory=dict)

    @classmethod
    def open(cls, root: Path, ref: str) -> GitTree:
        """Resolve ``ref`` to a commit and list its files; ``ReviewInputError`` if impossible."""
        if ref.startswith("-"):
            raise ReviewInputError(f"'{ref}' is not a git ref")
        _git(root, "rev-parse", "--show-toplevel")
        prefix = _git(root, "rev-parse", "--show-prefix").decode().strip()
        try:
            commit = _git(root, "rev-parse", "--verify", "--quiet", "--end-of-options",
                          f"{ref}^{{commit}}").decode().strip()
        except ReviewInputError as exc:
            raise ReviewInputError(f"unknown git ref '{ref}' in {root}") from exc
        listing = _git(root, "ls-tree", "-r", "-l", "-z", "--full-tree", commit)
        top = prefix.rstrip("/") or "."
        entries: dict[str, tuple[str, str]] = {}  # rel -> (mode, blob)
        sizes: dict[str, int] = {}
        for record in listing.decode("utf-8", errors="surrogateescape").split("\0"):
            meta, tab, name = record.partition("\t")
            parts = meta.split()
            if not tab or len(parts) != 4 or parts[1] != "blob":
                continue  # submodules (commit entries) and empty records
            entries[_relative(name, top)] = (parts[0], parts[2])
            sizes[parts[2]] = int(parts[3]) if parts[3].isdigit() else 0
        blobs = _resolve_links(root, entries)
        files = frozenset(blobs)
        dirs = {posixpath.dirname(f) for f in files}
        for d in list(dirs):
            while d:
                d = posixpath.dirname(d)
                dirs.add(d)
        dirs.discard("")
        return cls(root, ref, commit, prefix, files, frozenset(dirs), blobs=blobs, sizes=sizes)

    @property
    def label(self) -> str:
        """``HEAD~1 (3c0fd02)``."""
        return f"{self.ref} ({self.commit[:7]})"

    @staticmethod
    def norm(rel: str) -> str:
        return posixpath.normpath(rel) if rel else "."

    def is_file(self, rel: str) -> bool:
        return self.norm(rel) in self.files

    def is_dir(self, rel: str) -> bool:
        return self.norm(rel) in self.dirs or self.norm(rel) == "."

    def exists(self, rel: str) -> bool:
        """At the commit; a path outside the repository is looked up on disk instead."""
        rel = self.norm(rel)
        depth = self.prefix.count("/")
        if rel.startswith("/") or rel.split("/")[:depth + 1] == [".."] * (depth + 1):
            return (self.root / rel).exists()
        return rel in self.files or rel in self.dirs

    def files_under(self, rel: str) -> list[str]:
        """Files below ``rel``; below the root, those outside it (``../``) are not listed."""
        rel = self.norm(rel)
        if rel == ".":
            return [f for f in self.files if not f.startswith("../")]
        return [f for f in self.files if f.startswith(rel + "/")]

    def size(self, rel: str) -> int:
        """A file's size at the commit, from the listing (nothing read); 0 if unknown."""
        return self.sizes.get(self.blobs.get(self.norm(rel), ""), 0)

    def prefetch(self, rels: Iterable[str]) -> None:
        """Read many files with one ``git cat-file --batch``; one over ``io.MAX_FILE_BYTES``
        is not read (``io.read_text`` refuses it by its ``size`` first)."""
        wanted = sorted(r for r in {self.norm(r) for r in rels} - set(self._texts)
                        if self.size(r) <= io.MAX_FILE_BYTES)
        if not wanted:
            return
        names = [self.blobs.get(w, "0" * 40) for w in wanted]
        out = _git(self.root, "cat-file", "--batch", stdin="".join(n + "\n" for n in names)
                   .encode())
        at = 0
        for rel in wanted:
            end = out.index(b"\n", at)
            header = out[at:end].split()
            at = end + 1
            if len(header) != 3:  # "<name> missing"
                self._texts[rel] = ""
                continue
            size = int(header[2])
            self._texts[rel] = _text(out[at:at + size])
            at += size + 1

    def read_text(self, rel: str) -> str:
        """A file's text at the commit; the first YAML read fetches every YAML file of the
        project in the same batch (they are what a stack reads)."""
        rel = self.norm(rel)
        if rel not in self._texts:
            yaml = [f for f in self.files if not f.startswith("../")
                    and PurePosixPath(f).suffix in (".yml", ".yaml")]
            self.prefetch([rel, *(yaml if PurePosixPath(rel).suffix in (".yml", ".yaml")
                                  else ())])
        return self._texts[rel]

    def path(self) -> Path:
        """The project root inside the tree, as a path ``mlplan.edge.io`` can read."""
        bound = type("BoundTreePath", (TreePath,), {"tree": self})
        return cast(Path, bound("."))


def _relative(name: str, top: str) -> str:
    """``posixpath.relpath(name, top)`` for a repository path and the project's folder in it
    (``top``: ``"."`` or ``"sub/dir"``), without its two ``abspath`` for the usual name: one
    already normal, at or below ``top``. Example: ``("sub/dir/a.yml", "sub/dir")`` -> ``a.yml``;
    ``("b.yml", "sub/dir")`` -> ``../../b.yml``."""
    if posixpath.normpath(name) == name and not name.startswith("/"):
        if top == ".":
            return name
        if name.startswith(top + "/"):
            return name[len(top) + 1:]
    return posixpath.relpath(name, top)


class TreePath(PurePosixPath):
    """A path inside a ``GitTree`` (bound per tree by ``GitTree.path``), relative to the
    project root, with the read-only filesystem methods ``mlplan.edge.io`` uses."""

    tree: GitTree

    def _rel(self) -> str:
        return self.tree.norm(self.as_posix())

    def is_file(self) -> bool:
        return self.tree.is_file(self._rel())

    def is_dir(self) -> bool:
        return self.tree.is_dir(self._rel())

    def exists(self) -> bool:
        return self.tree.exists(self._rel())

    def read_bytes(self) -> bytes:
        return self.tree.read_text(self._rel()).encode("utf-8")

    def size(self) -> int:
        return self.tree.size(self._rel())

    def read_text(self, encoding: str | None = None, errors: str | None = None) -> str:
        return self.tree.read_text(self._rel())

    def _children(self, pattern: str, recursive: bool) -> Iterator[TreePath]:
        base = self._rel()
        entries = set(self.tree.files_under(base))
        entries |= {d for d in self.tree.dirs
                    if (not d.startswith("..") if base == "." else d.startswith(base + "/"))}
        for rel in sorted(entries):
            inner = rel if base == "." else posixpath.relpath(rel, base)
            if (recursive or "/" not in inner) and PurePosixPath(inner).match(pattern):
                yield self / inner

    def files_below(self, suffixes: tuple[str, ...]) -> list[TreePath]:
        """The files below this folder whose ``suffix`` is one of ``suffixes``, sorted: what
        ``sorted(p for p in self.rglob("*") if p.suffix in suffixes and p.is_file())`` gives,
        from the tree's file list in one pass (a stack's folder holds thousands)."""
        base = self._rel()
        found = []
        for rel in self.tree.files_under(base):
            name = rel.rpartition("/")[2]
            dot = name.rfind(".")  # PurePath.suffix: the last dot, not leading nor trailing
            if 0 < dot < len(name) - 1 and name[dot:] in suffixes:
                found.append(rel if base == "." else rel[len(base) + 1:])
        found.sort(key=lambda inner: inner.split("/"))
        return [self / inner for inner in found]

    def glob(self, pattern: str) -> Iterator[TreePath]:
        return self._children(pattern, recursive=False)

    def rglob(self, pattern: str) -> Iterator[TreePath]:
        return self._children(pattern, recursive=True)


def stack_names_in(root: Path) -> list[str]:
    """Stacks with a config file: ``stacks/Pulumi.<name>.yaml`` (per ``stackConfigDir``)."""
    return sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml")
                  for p in io.stack_config_dir(root).glob(STACK_GLOB) if p.is_file())


def stack_names_at(tree: GitTree) -> list[str]:
    return stack_names_in(tree.path())


def load_stack_in(root: Path, stack: str) -> io.Loaded | None:
    """``io.load_stack`` on a project folder; ``None`` if the stack has no config file there."""
    if not (io.stack_config_dir(root) / f"Pulumi.{stack}.yaml").is_file():
        return None
    return io.load_stack(root, stack)


def load_stack_at(tree: GitTree, stack: str) -> io.Loaded | None:
    """``io.load_stack`` at the tree's commit, without a checkout."""
    return load_stack_in(tree.path(), stack)


def read_preview(name: str) -> str:
    """A ``pulumi preview --json`` file (``-`` reads stdin), at most ``io.MAX_PREVIEW_BYTES``
    (64 MiB); ``io.PathProblem`` for more, or for a special file."""
    if name == "-":
        text = sys.stdin.read(io.MAX_PREVIEW_BYTES + 1)
        if len(text) > io.MAX_PREVIEW_BYTES:
            raise io.PathProblem("stdin is over 64 MiB; mlplan reads previews up to that size")
        return text
    return io.read_text(Path(name), io.MAX_PREVIEW_BYTES)
