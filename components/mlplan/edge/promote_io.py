"""Edge of ``mlplan promote`` / ``mlplan rollback``: edit endpoint YAML in place, one step.

Round-trip YAML (ruamel.yaml) keeps comments, key order and quoting, so each step is a small
diff a reviewer reads with ``mlplan review``. The endpoint file records the promotion in two
tags (``mlplan-promotion-from``, ``mlplan-promotion-to``) so ``mlplan rollback`` knows where
live traffic goes back to; the retire step removes the retired deployments' files and the tags.

Writes are atomic (``atomic_write``): a temporary file in the same folder, fsync, rename over
the original (its mode kept), fsync of the folder; a kill at any moment leaves the old file or
the new one, never a part. A file that changed since it was read (``expected``: the bytes the
plan was made from) is refused and nothing is written. The retire step touches several files,
in an order where every prefix is a state ``promote`` and ``rollback`` understand: (1) the
endpoint without the retired deployments' traffic, tags kept; (2) their files deleted; (3) the
tags removed. An error in (2) restores the endpoint file; a kill between steps is finished by
running ``promote --write`` again.
"""

from __future__ import annotations

import io as _io
import os
import stat
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from mlplan.planning.promote import (
    TAG_FROM,
    TAG_FROM_MIRROR,
    TAG_TO,
    PromotionStage,
    PromotionStep,
    StartState,
)


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    return yaml


class PromoteError(Exception):
    """A file ``--write`` cannot edit safely; nothing was written."""


def load(path: Path, data: bytes | None = None) -> tuple[YAML, Any]:
    """The one YAML document of ``path`` (round-trip); ``PromoteError`` for several or none."""
    from ruamel.yaml.error import YAMLError

    yaml = _yaml()
    text = (path.read_bytes() if data is None else data).decode("utf-8", errors="replace")
    try:
        documents = list(yaml.load_all(text))
    except YAMLError as exc:
        raise PromoteError(f"{path.name}: YAML syntax error; run 'mlplan plan' for the line "
                           f"({str(exc).splitlines()[0][:200]})") from None
    if len(documents) != 1 or not isinstance(documents[0], dict):
        raise PromoteError(f"{path.name} holds {len(documents)} YAML documents; promote edits "
                           "a file with just the endpoint: move the others to their own files")
    return yaml, documents[0]


def atomic_write(path: Path, text: str, expected: bytes | None) -> None:
    """Replace ``path`` by ``text`` atomically, keeping its mode (0644 for a file that is gone,
    such as a retired deployment's put back); ``PromoteError`` (nothing
    written) when its bytes are no longer ``expected``."""
    target = path.resolve()
    if expected is not None and target.read_bytes() != expected:
        raise PromoteError(f"{path.name} changed since mlplan read it; nothing was written. "
                           "Run the command again to plan from the new content.")
    mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else 0o644
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                         suffix=".mlplan-tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(text.encode("utf-8"))
            out.flush()
            os.fsync(out.fileno())
            os.fchmod(out.fileno(), mode)
        if expected is not None and target.read_bytes() != expected:  # changed meanwhile
            raise PromoteError(f"{path.name} changed while mlplan wrote it; nothing was "
                               "written. Run the command again.")
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _fsync_folder(target.parent)


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def dump(yaml: YAML, document: Any) -> str:
    out = _io.StringIO()
    yaml.dump(document, out)
    return out.getvalue()


def _set_split(document: Any, key: str, split: Sequence[tuple[str, int]]) -> None:
    """Update ``key`` in place: existing entries keep their order and comments."""
    wanted = dict(split)
    if not wanted:
        if key in document:
            del document[key]
        return
    current = document.get(key)
    if not isinstance(current, dict):
        current = CommentedMap()
        document[key] = current
    for name in [n for n in current if n not in wanted]:
        del current[name]
    for name, percent in split:
        current[name] = percent


def _set_tags(document: Any, tags: dict[str, str | None]) -> None:
    current = document.get("tags")
    if not isinstance(current, dict):
        if not any(tags.values()):
            return
        current = CommentedMap()
        document["tags"] = current
    for key, value in tags.items():
        if value is None:
            current.pop(key, None)
        else:
            current[key] = value
    if not current:
        del document["tags"]


def snapshot(root: Path, files: Sequence[str]) -> dict[str, bytes]:
    """The bytes of ``files`` now: what ``apply_step`` later insists is still there."""
    return {file: (root / file).read_bytes() for file in files if (root / file).is_file()}


def apply_step(root: Path, endpoint_file: str, step: PromotionStep, start: StartState, to: str,
               retired_files: Sequence[str],
               expected: Mapping[str, bytes] | None = None) -> list[str]:
    """Write ``step`` into the endpoint file (and delete retired files at the retire step, in
    the order the module describes). ``expected``: the bytes each file had when the plan was
    made (default: as read here); a file that differs is refused, nothing written.

    Returns what was changed, one line each, for the command's output.
    """
    path = root / endpoint_file
    wanted = dict(expected or {})
    original = wanted.get(endpoint_file)
    if original is None:
        original = path.read_bytes()
    yaml, document = load(path, original)
    _set_split(document, "traffic", step.traffic)
    _set_split(document, "mirror_traffic", [(n, p) for n, p in step.mirror if p])
    if step.stage is not PromotionStage.RETIRE:
        _set_tags(document, dict(start.tags(to)))
        atomic_write(path, dump(yaml, document), original)
        return [f"wrote {endpoint_file}: step {step.number} ({step.stage})"]
    for file in retired_files:  # all checked before anything is written
        before = wanted.get(file)
        if before is not None and (root / file).read_bytes() != before:
            raise PromoteError(f"{file} changed since mlplan read it; nothing was written. "
                               "Run the command again.")
    first = dump(yaml, document)  # (1) traffic moved off, tags kept
    atomic_write(path, first, original)
    changed = [f"wrote {endpoint_file}: step {step.number} ({step.stage})"]
    try:
        for file in retired_files:  # (2)
            (root / file).unlink(missing_ok=True)
            changed.append(f"deleted {file}")
    except OSError:
        atomic_write(path, original.decode("utf-8", errors="replace"), None)
        raise
    _set_tags(document, {TAG_FROM: None, TAG_FROM_MIRROR: None, TAG_TO: None})  # (3)
    atomic_write(path, dump(yaml, document), first.encode("utf-8"))
    return changed


def restore_files(root: Path, contents: Mapping[str, bytes]) -> list[str]:
    """Put back each file whose bytes differ from ``contents`` (a retired deployment's file
    deleted by the retire step), atomically; returns the files written."""
    restored = []
    for file, data in contents.items():
        path = root / file
        if path.is_file() and path.read_bytes() == data:
            continue
        atomic_write(path, data.decode("utf-8", errors="replace"), None)
        restored.append(file)
    return restored


def write_rollback(root: Path, endpoint_file: str, start: StartState, *, mirror: bool,
                   expected: bytes | None = None) -> str:
    """All live traffic back to where the promotion started, in one step, promotion tags gone;
    the start's mirror too when ``mirror`` (``mlplan rollback``), else mirror off (a failed
    gate: the candidate gets nothing). ``expected``: the bytes the decision was made from."""
    path = root / endpoint_file
    original = path.read_bytes() if expected is None else expected
    yaml, document = load(path, original)
    _set_split(document, "traffic", start.traffic)
    _set_split(document, "mirror_traffic",
               [(n, p) for n, p in start.mirror if p] if mirror else [])
    _set_tags(document, {TAG_FROM: None, TAG_FROM_MIRROR: None, TAG_TO: None})
    atomic_write(path, dump(yaml, document), original)
    back = ", ".join(f"{n} {p}%" for n, p in start.traffic)
    shadow = ", ".join(f"{n} {p}%" for n, p in start.mirror if p) if mirror else ""
    return (f"wrote {endpoint_file}: all live traffic back to {back}; mirror "
            f"{shadow or 'off'}")
