"""Partial validation of one document against its schema model: pydantic's errors become
diagnostics (the field's real path, what is wrong, how to fix it), and the invalid fields are
removed and the rest validated again (at most ``MAX_SKIP_ROUNDS`` times), so one bad field
never hides the others and the valid part of a document is still planned. Example: a
deployment with ``instance_count: three`` -> MLP102 at ``instance_count``, the deployment kept
with that field skipped.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Sequence
from typing import Any

from pydantic import (
    BaseModel,
    ValidationError,
)

from mlplan.domain import codes
from mlplan.domain.diagnostics import Diagnostic, Location, error
from mlplan.domain.validation import code_for, describe
from mlplan.domain.yamlsource import FieldPath, YamlDocument, format_path

# --- pydantic errors -> diagnostics -----------------------------------------------------------



_UNION_TAGS = frozenset({"reference", "inline", "str", "int", "float", "bool"})


def _real_path(value: Any, loc: Sequence[str | int]) -> FieldPath:
    """Drop pydantic's union tags from ``loc`` by following it through the actual data.

    Example: loc ``("model", "inline", "foo")`` over ``{"model": {"foo": 1}}`` -> ``("model",
    "foo")``. A key that is missing from the data (a required field) is kept as the last part.
    """
    path: list[str | int] = []
    current = value
    for part in loc:
        in_dict = isinstance(current, dict) and part in current
        in_list = isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        if in_dict or in_list:
            path.append(part)
            current = current[part]
        elif isinstance(current, dict) and isinstance(part, str) and part not in _UNION_TAGS:
            path.append(part)
            current = None
    return tuple(path)


def _known_keys(model: type[BaseModel]) -> list[str]:
    return sorted(f.alias or name for name, f in model.model_fields.items())


def _model_at(root: type[BaseModel], path: FieldPath) -> type[BaseModel] | None:
    """The pydantic model class describing the mapping at ``path`` (for key suggestions)."""
    current: Any = root
    for part in path:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if fields is None:
            return None
        match = next((f for n, f in fields.items() if (f.alias or n) == part), None)
        if match is None:
            return None
        current = _first_model(match.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _first_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _first_model(arg)
        if found is not None:
            return found
    for meta in getattr(annotation, "__metadata__", ()) or ():
        found = _first_model(meta)
        if found is not None:
            return found
    return None


def _describe(err: Any, root: type[BaseModel], path: FieldPath) -> tuple[str, str]:
    """(code, message) for one pydantic error, phrased as what is wrong and how to fix it."""
    kind = err["type"]
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return codes.WRONG_TYPE, "expected text (a reference such as azureml:name:1) or a mapping."
    key = str(path[-1]) if path else "document"
    parent = _model_at(root, path[:-1]) if kind == "extra_forbidden" else None
    known = _known_keys(parent) if parent else []
    noun = "field" if kind == "missing" else "key"
    return code_for(kind), describe(err, key, known, noun=noun)


def _validation_diagnostics(
    errors: Sequence[Any], doc: YamlDocument, file: str, root: type[BaseModel]
) -> tuple[list[Diagnostic], set[FieldPath]]:
    """One diagnostic per pydantic error, except a required key missing beside an unknown key
    that is its misspelling (``scoring_scrip`` -> "did you mean 'scoring_script'?"): the typo
    is the one mistake, reported once. Also returns the keys the typos meant (``instnce_type``
    -> ``instance_type``): later rules must not report them missing."""
    found: list[Diagnostic] = []
    typos: set[FieldPath] = set()
    for err in errors:
        if err["type"] != "extra_forbidden":
            continue
        path = _real_path(doc.value, err["loc"])
        parent = _model_at(root, path[:-1])
        close = difflib.get_close_matches(str(path[-1]), _known_keys(parent), n=1, cutoff=0.6) \
            if parent and path else []
        if close:
            typos.add((*path[:-1], close[0]))
    for err in errors:
        path = _real_path(doc.value, err["loc"])
        if err["type"] == "missing" and path in typos:
            continue
        code, message = _describe(err, root, path)
        found.append(error(code, Location(file, doc.line_of(path), format_path(path)), message))
    return found, typos


MAX_SKIP_ROUNDS = 8


def _skip_target(path: FieldPath, kind: str) -> FieldPath:
    """The key to remove for one failed check: the key itself, or for a missing required key
    its parent mapping (``code_configuration`` without ``code``); a list item's whole list.
    ``()`` means the document itself cannot stand (no ``name``)."""
    target = path[:-1] if kind == "missing" else path
    while target and isinstance(target[-1], int):
        target = target[:-1]
    return target


def _remove(value: Any, path: FieldPath) -> bool:
    current = value
    for part in path[:-1]:
        if not isinstance(current, dict) or part not in current:
            return False
        current = current[part]
    if isinstance(current, dict) and path and path[-1] in current:
        del current[path[-1]]
        return True
    return False


def validate_partially(
    root: type[BaseModel], doc: YamlDocument, file: str
) -> tuple[BaseModel | None, list[Diagnostic], frozenset[str]]:
    """Validate a document; every field that fails its check is reported once and removed, and
    the rest is validated again, so one bad field never hides the problems of the others.

    Returns (spec of what is left or None if the document cannot stand without what failed,
    the diagnostics of the first pass, the dotted paths skipped). Errors of later passes are
    consequences of the removal (a required key now missing) and are not reported.
    Example: ``instance_count: -1`` and ``request_settings: {request_timout_ms: 1}`` -> two
    diagnostics, skipped ``{"instance_count", "request_settings.request_timout_ms"}``, and a
    spec with Azure's defaults there, whose ``instance_type`` is still checked.
    """
    try:
        return root.model_validate(doc.value), [], frozenset()
    except ValidationError as exc:
        errors: list[Any] = list(exc.errors())
    value = copy.deepcopy(doc.value)  # what is left after each removal; doc stays as written
    diagnostics, meant = _validation_diagnostics(errors, doc, file, root)
    skipped = {format_path(path) for path in meant}
    for _round in range(MAX_SKIP_ROUNDS):
        removed = False
        for err in errors:
            target = _skip_target(_real_path(value, err["loc"]), err["type"])
            if not target:
                return None, diagnostics, frozenset(skipped)
            if _remove(value, target):
                skipped.add(format_path(target))
                removed = True
        if not removed:
            break
        try:
            return root.model_validate(value), diagnostics, frozenset(skipped)
        except ValidationError as exc:
            errors = list(exc.errors())
    return None, diagnostics, frozenset(skipped)


