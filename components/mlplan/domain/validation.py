"""One wording for pydantic's validation errors, shared by the spec, the stack settings and
the targets' settings (all built on ``Strict``): what is wrong and how to fix it, with a "did
you mean" for typos.

Examples: an unknown ``instnce_type`` -> "unknown key 'instnce_type'; did you mean
'instance_type'?"; ``instance_count: three`` -> "expected a whole number, got 'three'; write a
whole number here."; ``-5`` where ``ge=1`` -> "-5 is out of range; it must be >= 1."
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from mlplan.domain import codes


class Strict(BaseModel):
    """The base of every schema model (spec, stack settings, targets' settings): unknown keys
    are errors (with a "did you mean"), values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

TYPE_WORDS = {
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "string_type": "text",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a mapping of keys to values",
    "model_type": "a mapping of keys to values",
    "model_attributes_type": "a mapping of keys to values",
    "list_type": "a list",
    "float_type": "a number",
    "float_parsing": "a number",
}
_BOUNDS = {"greater_than_equal": (">=", "ge"), "greater_than": (">", "gt"),
           "less_than_equal": ("<=", "le"), "less_than": ("<", "lt")}


MAX_ECHO = 80


def echo(value: Any) -> str:
    """A value as messages quote it: ``repr``, cut past ``MAX_ECHO`` characters with its
    length, so a 52 MB value costs a line. Example: ``"x" * 100`` -> ``'xxx...x'... (100
    characters)``."""
    if isinstance(value, str) and len(value) > MAX_ECHO:
        return f"{value[:MAX_ECHO]!r}... ({len(value):,} characters)"
    shown = repr(value)
    return shown if len(shown) <= MAX_ECHO + 20 else f"{shown[:MAX_ECHO]}... (cut)"


def code_for(kind: str) -> str:
    """The MLP1xx code a pydantic error type maps to in endpoint files."""
    if kind == "extra_forbidden":
        return codes.UNKNOWN_KEY
    if kind == "missing":
        return codes.MISSING_FIELD
    if kind in TYPE_WORDS or kind.endswith("_type") or kind.startswith("union_tag"):
        return codes.WRONG_TYPE
    return codes.INVALID_VALUE


def describe(err: Mapping[str, Any], key: str, known: Sequence[str] = (), *,
             noun: str = "key", prefix: str = "") -> str:
    """The message for one pydantic error about ``key`` (as the user wrote it); ``known`` are
    the keys allowed beside it, suggested with ``prefix`` (e.g. ``mlplan:``)."""
    kind = str(err["type"])
    got = err.get("input")
    if kind == "extra_forbidden":
        name = key.rsplit(".", 1)[-1][:MAX_ECHO * 2]
        key = key if len(key) <= MAX_ECHO * 2 else f"{key[:MAX_ECHO]}... ({len(key):,} characters)"
        close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
        if close:
            return f"unknown {noun} '{key}'; did you mean '{prefix}{close[0]}'?"
        if known:
            return f"unknown {noun} '{key}'; remove it or use one of: {', '.join(known)}."
        return f"unknown {noun} '{key}'; remove it."
    if kind == "missing":
        return f"required {noun} '{key}' is missing; add it."
    if kind == "mlplan_value":  # mlplan.domain.numbers: the message is complete
        return f"{err['msg']}."
    if kind == "literal_error":
        return f"{echo(got)} is not allowed; use one of {err.get('ctx', {}).get('expected', '')}."
    if kind in _BOUNDS:
        sign, name = _BOUNDS[kind]
        bound = err.get("ctx", {}).get(name)
        shown = f"{bound:g}" if isinstance(bound, float) else str(bound)
        return f"{echo(got)} is out of range; it must be {sign} {shown}."
    if kind in TYPE_WORDS or kind.endswith("_type"):
        word = TYPE_WORDS.get(kind, kind.removesuffix("_type"))
        shown = echo(got) if not isinstance(got, dict | list) else type(got).__name__
        return f"expected {word}, got {shown}; write {word} here."
    return f"{err.get('msg', 'invalid value')} (got {echo(got)})."
