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

from mlplan.targets.containment import files_below
from mlplan.targets.kubernetes.plan import CONFIGMAP_BUDGET_BYTES, PackedFiles

SKIPPED_DIRS = frozenset({"__pycache__", ".git", ".ipynb_checkpoints"})
SKIPPED_SUFFIXES = (".pyc", ".pyo")


def packer(project: Path) -> Callable[[str], PackedFiles | None]:
    """``relative path -> PackedFiles``, or None when nothing is there."""
    def packed(relative: str) -> PackedFiles | None:
        path = project / relative
        return pack(project, relative) if path.exists() else None

    return packed


def pack(project: Path, relative: str) -> PackedFiles:
    """Files at or below ``project / relative`` (``containment.files_below``: each entry
    ``lstat``-ed, a link out of the project left out, as ``mlplan plan`` refused it), sorted;
    keys are the relative paths with ``/`` and other characters a key cannot hold replaced by
    ``_`` (made unique). Sizes are summed from ``stat`` first: a folder over
    ``CONFIGMAP_BUDGET_BYTES`` is not read (a 300 MB model: ``size`` only, nothing else)."""
    found, _refused = files_below(project, relative, skip_dirs=SKIPPED_DIRS,
                                  skip_suffixes=SKIPPED_SUFFIXES)
    stated = sum(f.size for f in found)
    if stated > CONFIGMAP_BUDGET_BYTES:
        return PackedFiles((), (), (), "", stated)
    digest = hashlib.sha256()
    data: list[tuple[str, str]] = []
    binary: list[tuple[str, str]] = []
    items: list[tuple[str, str]] = []
    used: set[str] = set()
    size = 0
    for file in found:
        with open(file.path, "rb") as handle:  # at most the stated size (it may have grown)
            content = handle.read(file.size)
        relative_path = file.relative
        digest.update(relative_path.encode() + b"\0" + content + b"\0")
        key = re.sub(r"[^-._a-zA-Z0-9]", "_", relative_path)[-200:].lstrip(".") or "file"
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
        items.append((key, relative_path))
    return PackedFiles(tuple(data), tuple(binary), tuple(items), digest.hexdigest(), size)
