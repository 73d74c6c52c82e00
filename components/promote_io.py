"""Edge of ``mlplan promote`` / ``mlplan rollback``: edit endpoint YAML in place, one step.

Round-trip YAML (ruamel.yaml) keeps comments, key order and quoting, so each step is a small
diff a reviewer reads with ``mlplan review``. The endpoint file records the promotion in two
tags (``mlplan-promotion-from``, ``mlplan-promotion-to``) so ``mlplan rollback`` knows where
live traffic goes back to; the retire step removes the retired deployments' files and the tags.
"""

from __future__ import annotations

import io as _io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from components.core.labels import parse_split
from components.core.promote import TAG_FROM, TAG_TO, PromotionStep


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    return yaml


def load(path: Path) -> tuple[YAML, Any]:
    yaml = _yaml()
    return yaml, yaml.load(path.read_text(encoding="utf-8"))


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


def apply_step(root: Path, endpoint_file: str, step: PromotionStep, source: str, to: str,
               retired_files: Sequence[str]) -> list[str]:
    """Write ``step`` into the endpoint file (and delete retired files at the retire step).

    Returns what was changed, one line each, for the command's output.
    """
    path = root / endpoint_file
    yaml, document = load(path)
    _set_split(document, "traffic", step.traffic)
    _set_split(document, "mirror_traffic", [(n, p) for n, p in step.mirror if p])
    if step.stage == "retire":
        _set_tags(document, {TAG_FROM: None, TAG_TO: None})
    else:
        _set_tags(document, {TAG_FROM: source, TAG_TO: to})
    path.write_text(dump(yaml, document), encoding="utf-8")
    changed = [f"wrote {endpoint_file}: step {step.number} ({step.stage})"]
    if step.stage == "retire":
        for file in retired_files:
            (root / file).unlink()
            changed.append(f"deleted {file}")
    return changed


def rollback_split(document: Any) -> tuple[tuple[tuple[str, int], ...], str] | None:
    """(split before the promotion, its target) recorded by a promotion in progress."""
    tags = document.get("tags") if isinstance(document, dict) else None
    if isinstance(tags, dict) and isinstance(tags.get(TAG_FROM), str) and isinstance(
            tags.get(TAG_TO), str):
        return parse_split(str(tags[TAG_FROM])), str(tags[TAG_TO])
    return None


def write_rollback(root: Path, endpoint_file: str, split: Sequence[tuple[str, int]],
                   deployments: Sequence[str]) -> str:
    """All live traffic back to the split before the promotion, in one step; mirror off;
    promotion tags gone. Deployments not in ``split`` get 0."""
    path = root / endpoint_file
    yaml, document = load(path)
    wanted = dict(split)
    _set_split(document, "traffic", [(d, wanted.get(d, 0)) for d in deployments])
    _set_split(document, "mirror_traffic", [])
    _set_tags(document, {TAG_FROM: None, TAG_TO: None})
    path.write_text(dump(yaml, document), encoding="utf-8")
    back = ", ".join(f"{n} {p}%" for n, p in split)
    return f"wrote {endpoint_file}: all live traffic back to {back}"
