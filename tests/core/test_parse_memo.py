"""``spec.parse`` reads each file once per process for its (path, text, explicit): ``mlplan
review`` parses the base and the head, and most files are the same on both sides. A file
that changed, or is known by another path, is parsed again; a file's problems are reported
on every side that holds it; the memo is bounded."""

from __future__ import annotations

from collections.abc import Iterator
from textwrap import dedent

import pytest

from mlplan.domain import spec
from mlplan.domain.spec import SourceText, parse
from tests.core.test_spec import ENDPOINT


def deployment(count: int = 3, extra: str = "") -> str:
    return dedent(f"""\
        $schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json
        name: blue
        endpoint_name: my-endpoint
        environment:
          image: example.io/infer:1.0
        instance_type: Standard_DS3_v2
        instance_count: {count}
        """) + extra


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The paths ``_parse_file`` really parsed, in order, from an empty memo."""
    calls: list[str] = []
    real = spec._parse_file

    def counting(source: SourceText, *args: object) -> None:
        calls.append(source.path)
        real(source, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(spec, "_parse_file", counting)
    monkeypatch.setattr(spec, "_PARSED", {})
    yield calls


def files(blue: str, endpoint: str = ENDPOINT, folder: str = "ep") -> list[SourceText]:
    return [SourceText(f"{folder}/endpoint.yml", endpoint, explicit=False),
            SourceText(f"{folder}/blue.yml", blue, explicit=False)]


def summary(result: spec.ParseResult) -> tuple[object, ...]:
    return (tuple((e.name, tuple((d.name, d.instance_count, d.source.file)
                                 for d in e.deployments)) for e in result.endpoints),
            tuple((d.code, d.location.file, d.location.line, d.location.field, d.message)
                  for d in result.diagnostics))


SIDES = {
    "identical files are parsed once": (
        files(deployment()), files(deployment()), ["ep/endpoint.yml", "ep/blue.yml"]),
    "a changed file is parsed again": (
        files(deployment(3)), files(deployment(5)),
        ["ep/endpoint.yml", "ep/blue.yml", "ep/blue.yml"]),
    "the same text under another path is parsed again": (
        files(deployment()), files(deployment(), folder="moved"),
        ["ep/endpoint.yml", "ep/blue.yml", "moved/endpoint.yml", "moved/blue.yml"]),
    "the same text named explicitly is parsed again": (
        files(deployment()),
        [SourceText("ep/endpoint.yml", ENDPOINT), SourceText("ep/blue.yml", deployment())],
        ["ep/endpoint.yml", "ep/blue.yml", "ep/endpoint.yml", "ep/blue.yml"]),
}


@pytest.mark.parametrize(("base", "head", "calls"), SIDES.values(), ids=SIDES.keys())
def test_what_is_parsed_again(parsed: list[str], base: list[SourceText],
                              head: list[SourceText], calls: list[str]) -> None:
    first, second = parse(base), parse(head)
    assert parsed == calls
    spec._PARSED.clear()  # and each side reads as it does in a fresh process
    assert (summary(first), summary(second)) == (summary(parse(base)), summary(parse(head)))


BROKEN = {
    "a YAML syntax error": deployment(extra="tags: [unclosed\n"),
    "a duplicate key": deployment(extra="instance_count: 4\n"),
    "a field that fails its check": deployment(count=-1),
    "an unknown key": deployment(extra="instance_cuont: 2\n"),
}


@pytest.mark.parametrize("blue", BROKEN.values(), ids=BROKEN.keys())
def test_a_files_problems_are_reported_on_both_sides(parsed: list[str], blue: str) -> None:
    base, head = parse(files(blue)), parse(files(blue))
    assert parsed == ["ep/endpoint.yml", "ep/blue.yml"]
    problems = [d for d in base.diagnostics if d.location.file == "ep/blue.yml"]
    assert problems and problems[0].location.line > 0
    assert summary(head) == summary(base)


def test_the_memo_is_bounded(parsed: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spec, "_PARSED_LIMIT", 3)
    for count in range(1, 8):
        parse([SourceText("ep/blue.yml", deployment(count), explicit=False)])
        assert len(spec._PARSED) <= 3
    parse([SourceText("ep/blue.yml", deployment(1), explicit=False)])  # forgotten since
    assert parsed.count("ep/blue.yml") == 8
