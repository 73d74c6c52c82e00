"""Local model and code folders read for ConfigMaps (I/O: the only file reading of the
Kubernetes target). ``packer(project)`` is what ``plan.stack_problems`` is given by the
program and by ``mlplan plan``, so both see MLP119 (a ConfigMap over 1 MiB) the same way.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from pathlib import Path

from mlplan.targets.kubernetes.choices import PackedFiles

SKIPPED_DIRS = frozenset({"__pycache__", ".git", ".ipynb_checkpoints"})
SKIPPED_SUFFIXES = (".pyc", ".pyo")


def packer(project: Path) -> Callable[[str], PackedFiles | None]:
    """``relative path -> PackedFiles``, or None when nothing is there."""
    def packed(relative: str) -> PackedFiles | None:
        path = project / relative
        return pack(path) if path.exists() else None

    return packed


def pack(path: Path) -> PackedFiles:
    """Files below ``path`` (or ``path`` itself), sorted; keys are the relative paths with
    ``/`` and other characters a key cannot hold replaced by ``_`` (made unique)."""
    if path.is_file():
        files = [(path.name, path)]
    else:
        files = sorted(
            (p.relative_to(path).as_posix(), p) for p in path.rglob("*")
            if p.is_file() and not SKIPPED_DIRS & set(p.relative_to(path).parts)
            and not p.name.endswith(SKIPPED_SUFFIXES)
        )
    digest = hashlib.sha256()
    data: list[tuple[str, str]] = []
    binary: list[tuple[str, str]] = []
    items: list[tuple[str, str]] = []
    used: set[str] = set()
    size = 0
    for relative, file in files:
        content = file.read_bytes()
        digest.update(relative.encode() + b"\0" + content + b"\0")
        key = re.sub(r"[^-._a-zA-Z0-9]", "_", relative)[-200:].lstrip(".") or "file"
        while key in used:
            key = f"{key}-{len(used)}"
        used.add(key)
        try:
            data.append((key, content.decode("utf-8")))
            size += len(content)
        except UnicodeDecodeError:
            encoded = base64.b64encode(content).decode("ascii")
            binary.append((key, encoded))
            size += len(encoded)
        items.append((key, relative))
    return PackedFiles(tuple(data), tuple(binary), tuple(items), digest.hexdigest(), size)
