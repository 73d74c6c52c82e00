"""yamlsource's fast paths read values as PyYAML's own safe loader does: the remembered tag
resolution (``_Loader.resolve``), decimal integers without the constructor and text paths
joined at once (``format_path``). Each scenario is read twice, the second time from the memo."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from mlplan.domain import yamlsource
from mlplan.domain.yamlsource import format_path, parse_yaml

SCALARS = {
    "decimal": "12",
    "zero": "0",
    "negative": "-3",
    "plus sign": "+5",
    "underscores": "1_000",
    "octal (YAML 1.1)": "010",
    "zeros": "00",
    "hex": "0x1f",
    "binary": "0b101",
    "float": "1.5",
    "exponent": "1e3",
    "infinity": ".inf",
    "not a number text": "nan",
    "bool yes (YAML 1.1)": "yes",
    "bool True": "True",
    "off": "off",
    "null": "null",
    "tilde": "~",
    "empty": "",
    "date": "2001-02-03",
    "quoted number": "'010'",
    "double-quoted": '"12"',
    "explicit str tag": "!!str 12",
    "explicit int tag": "!!int 12",
    "explicit int tag with a leading zero": "!!int 012",
    "text": "blue",
    "image": "example.io/infer:1.0",
    "long digits": "1" * 80,
    "digits with a space": "1 2",
}


@pytest.mark.parametrize("scalar", SCALARS.values(), ids=SCALARS.keys())
def test_values_as_pyyaml_reads_them(scalar: str) -> None:
    text = f"a: {scalar}\nb: [{scalar}]\n{scalar or 'x'}: key\n"
    expected = yaml.load(text, Loader=yaml.SafeLoader)  # the pure-Python loader, no memo
    for _ in range(2):
        document = parse_yaml(text).documents[0]
        assert document.problems == []
        assert document.value == expected
        assert [type(v) for v in document.value.values()] == [type(v) for v in expected.values()]


KEPT = {
    "base 60 stays text": ("t: 1:30\n", {"t": "1:30"}),
    "explicit int of unicode digits, as the constructor reads them": (
        "n: !!int \u0661\u0662\n", {"n": 12}),
    "an impossible date": ("d: 2001-02-30\n", None),
}


@pytest.mark.parametrize(("text", "value"), KEPT.values(), ids=KEPT.keys())
def test_yaml_traps_kept(text: str, value: Any) -> None:
    for _ in range(2):
        document = parse_yaml(text).documents[0]
        if value is None:
            assert [m.split(":")[0] for _line, _field, m in document.problems] == [
                "cannot read value " + repr(text.split(": ", 1)[1].strip().split(" ")[-1])]
        else:
            assert (document.value, document.problems) == (value, [])


def test_an_int_past_pythons_digit_limit_is_a_problem_not_a_crash() -> None:
    digits = "9" * 5000
    document = parse_yaml(f"n: !!int {digits}\n").documents[0]
    assert len(document.problems) == 1
    assert document.problems[0][2].startswith("cannot read value '999")


def test_the_tag_memo_stays_bounded() -> None:
    text = "".join(f"k{i}: v{i}\n" for i in range(yamlsource._TAGS_LIMIT + 10))
    text += f"long: {'x' * (yamlsource._TAG_VALUE_CHARS + 1)}\n"
    assert len(parse_yaml(text).documents[0].value) == yamlsource._TAGS_LIMIT + 11
    assert len(yamlsource._TAGS) <= yamlsource._TAGS_LIMIT
    assert all(len(value) <= yamlsource._TAG_VALUE_CHARS for _kind, value, _implicit
               in yamlsource._TAGS if value is not None)


PATHS = {
    "empty": ((), ""),
    "one key": (("a",), "a"),
    "keys": (("request_settings", "request_timeout_ms"), "request_settings.request_timeout_ms"),
    "an index": (("tolerations", 0, "key"), "tolerations[0].key"),
    "an index first": ((0, "a"), "[0].a"),
    "a bool key": ((True, "x"), "[True].x"),
    "a None key": (("a", None), "a.None"),
    "a float key": (("a", 1.5), "a.1.5"),
    "an empty key inside": (("a", "", "b"), "a..b"),
    "an empty key first": (("", "b"), "b"),
    "empty keys first": (("", "", "c"), "c"),
    "an empty key last": (("x", ""), "x."),
    "an empty key alone": (("",), ""),
}


@pytest.mark.parametrize(("path", "shown"), PATHS.values(), ids=PATHS.keys())
def test_format_path(path: tuple[Any, ...], shown: str) -> None:
    assert format_path(path) == shown


def test_a_documents_dotted_lines_are_format_path_of_each() -> None:
    """``spec._source`` joins key-only paths inline; every path shows as ``format_path``."""
    from mlplan.domain.spec import _source

    text = ('name: blue\n"": {a: 1}\nlist: [{k: v}, 2]\n1.5: f\ntrue: t\nnull: n\n'
            'nested: {"": {x: 1}, y: [[1]]}\n"a.b": dotted\na: {b: same}\n')
    document = parse_yaml(text).documents[0]
    assert len(document.lines) > 12
    assert _source("f.yml", document).lines == {
        format_path(path): line for path, line in document.lines.items()}
