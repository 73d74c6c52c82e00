"""``safe.json_text`` writes what ``json.dumps(safe.for_json(doc), indent=2, sort_keys=True)``
writes, byte for byte, for every shape a document can take (and the same error where that
fails); the plan and review JSON formats rely on it (goldens in tests/render/golden)."""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Iterator
from typing import Any

import pytest

from mlplan.render import safe


class Color(enum.StrEnum):
    BLUE = "blue"


class Level(enum.IntEnum):
    ONE = 1


def reference(document: Any) -> str:
    return json.dumps(safe.for_json(document), indent=2, sort_keys=True)


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"x": [value]}
    return value


CASES: dict[str, Any] = {
    "empty object": {},
    "empty list": [],
    "scalars": {"s": "a", "i": -3, "f": 2.5, "t": True, "n": None, "no": False, "z": 0},
    "top-level scalar": "text",
    "top-level number": 1e100,
    "empty containers inside": {"a": {}, "b": [], "c": [[], {}]},
    "keys sorted": {"b": 1, "a": 2, "B": 3, "_": 4, "aa": 5},
    "nested lists of objects": {"endpoints": [{"name": "e", "deployments": [
        {"name": "blue", "instances": 3, "traffic": [80, 20]}]}]},
    "tuples as lists": {"t": (1, "two", (3,))},
    "floats like the standard library": {"values": [0.1, 1e-7, 1e22, -0.0, 123456789.125,
                                                    math.inf, -math.inf, math.nan]},
    "big int": {"n": 10**40, "m": -(2**63)},
    "non-ASCII escaped": {"ünï": "café ☕ 𝄞", "é": 1},
    "non-ASCII keys sorted by their text": {"é": 1, "z": 2, "e": 3, "\u00ff": 4},
    "control characters escaped": {"k\n": "a\x00b\x1b[2K\r\t\"\\\u2028"},
    "secret-looking values masked": {"url": "postgres://app:hunter2@db/x?sig=abc&v=1",
                                     "env": ["API_KEY=zzz", "PLAIN=ok"]},
    "secret-looking key masked": {"API_KEY=abcd": 1, "name": 2},
    "keys masked alike keep the last value": {"API_KEY=aaaa": 1, "API_KEY=bbbb": 2, "a": 0},
    "long strings capped": {"long" * 600: "x" * 5000},
    "same string many times": {"a": ["blue"] * 5, "blue": {"blue": "blue"}},
    "deep nesting": nested(40),
    "nesting past the indent table": nested(80),
    "StrEnum value and key": {"c": Color.BLUE, Color.BLUE: [Color.BLUE]},
    "IntEnum and bool": {"l": Level.ONE, "b": [True, False, 1, 0]},
    "rows sharing their keys": {"rows": [{"name": f"n{i}", "count": i, "tags": {}}
                                         for i in range(5)]},
    "the same keys in other orders": [{"b": 1, "a": 2}, {"a": 3, "b": 4}, {"b": {"a": 5}}],
    "a row whose keys clean alike, then one that does not": [
        {"API_KEY=aaaa": 1, "API_KEY=bbbb": 2}, {"API_KEY=aaaa": 3}],
    "number keys": {1: "a", 2: "b"},
    "bool keys": {True: 1, False: 2},
    "float key": {1.5: "x"},
}


@pytest.mark.parametrize("document", CASES.values(), ids=CASES.keys())
def test_same_text_as_json_dumps(document: Any) -> None:
    assert safe.json_text(document) == reference(document)


def _errors() -> Iterator[tuple[str, Any]]:
    yield "a set", {"s": {1, 2}}
    yield "an object", {"o": object()}
    yield "mixed key types", {"a": 1, 2: "b"}
    yield "None and bool keys", {True: 1, None: 2}
    cyclic: dict[str, Any] = {}
    cyclic["me"] = cyclic
    yield "a cycle", cyclic


ERRORS = dict(_errors())


@pytest.mark.parametrize("document", ERRORS.values(), ids=ERRORS.keys())
def test_same_error_as_json_dumps(document: Any) -> None:
    with pytest.raises(Exception) as expected:
        reference(document)
    with pytest.raises(expected.type):
        safe.json_text(document)


def test_registered_secret_masked_in_keys_and_values() -> None:
    safe.register_secret("s3cr3t-literal")
    try:
        document = {"s3cr3t-literal": "x s3cr3t-literal y", "list": ["s3cr3t-literal"]}
        text = safe.json_text(document)
        assert text == reference(document)
        assert "s3cr3t-literal" not in text
    finally:
        safe._SECRETS.discard("s3cr3t-literal")


@pytest.mark.parametrize("code", range(128), ids=lambda c: f"U+{c:04X}")
def test_terminal_fast_path_agrees_with_the_control_pattern(code: int) -> None:
    """``terminal`` passes ASCII output that ``isprintable`` (newlines aside) without the
    regex: an ASCII character is printable exactly when ``_CONTROL`` does not match it."""
    char = chr(code)
    assert char.isprintable() == (safe._CONTROL.search(char) is None)
    shown = char if char == "\n" or char.isprintable() else safe.escape_controls(char)
    expected = f"a{shown}b"
    assert safe.terminal(f"a{char}b") == expected
