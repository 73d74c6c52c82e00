"""A Markdown review fits one PR comment (issue 17, item 6).

GitHub refuses comments over 65,536 characters. The scenario of the issue: a stack of 1000
endpoints where 100 deployments change (a new image on ep-0000 .. ep-0099's blue), which used to
give about 300 KB. The review must fit ``--max-chars`` (default 65,536), always keep the summary
(what changes, errors, quota, policy findings), say what was left out and how to get the whole,
and never list unchanged endpoints one by one.
"""

from __future__ import annotations

from textwrap import dedent

import pytest

from mlplan.check import with_stack_diagnostics
from mlplan.domain.settings import Settings
from mlplan.domain.spec import SourceText, parse
from mlplan.edge.pipeline import planned
from mlplan.planning import diff
from mlplan.planning.state import DesiredState
from mlplan.render import review_document
from mlplan.render.review_markdown import DEFAULT_MAX_CHARS, render_review

IMAGE_1 = "mcr.microsoft.com/azureml/minimal-ubuntu22.04-py39-cpu-inference:20250101.v1"
IMAGE_2 = "mcr.microsoft.com/azureml/minimal-ubuntu22.04-py39-cpu-inference:20250601.v1"


def deployment(endpoint: str, name: str, image: str, count: int = 3) -> str:
    return dedent(f"""\
        name: {name}
        endpoint_name: {endpoint}
        environment: {{image: "{image}"}}
        instance_type: Standard_DS3_v2
        instance_count: {count}
        """)


def stack(endpoints: int, changed: int, *, warnings: bool = False) -> DesiredState:
    sources = []
    for i in range(endpoints):
        name = f"ep-{i:04d}"
        text = f"name: {name}\nauth_mode: key\ntraffic: {{blue: 90, green: 10}}\n"
        sources.append(SourceText(f"e/{name}/endpoint.yml", text))
        image = IMAGE_2 if i < changed else IMAGE_1
        count = 2 if warnings else 3  # MLP501 warns about 2 instances with live traffic
        sources.append(SourceText(f"e/{name}/blue.yml", deployment(name, "blue", image, count)))
        sources.append(SourceText(f"e/{name}/green.yml", deployment(name, "green", IMAGE_1)))
    result = parse(sources)
    settings = Settings(quota_millis={"total": 100_000_000, "standardDSv2Family": 100_000_000},
                        limits=Settings().limits.__class__(endpoints=endpoints,
                                                          deployments=endpoints * 2))
    return with_stack_diagnostics(planned(result.endpoints, settings, result.diagnostics))


def review(endpoints: int, changed: int, *, warnings: bool = False) -> dict[str, object]:
    base = stack(endpoints, 0, warnings=warnings)
    head = stack(endpoints, changed, warnings=warnings)
    entry = review_document.stack_entry("dev", diff.review(base, head))
    return review_document.review_document([entry], source="desired-state", base="origin/main",
                                           head="working tree")


@pytest.fixture(scope="module")
def big() -> dict[str, object]:
    return review(1000, 100)


def test_the_whole_review_would_not_fit(big: dict[str, object]) -> None:
    assert len(render_review(big, max_chars=0)) > 2 * DEFAULT_MAX_CHARS


def test_it_fits_one_comment_and_keeps_the_summary(big: dict[str, object]) -> None:
    text = render_review(big)
    assert len(text) <= DEFAULT_MAX_CHARS
    first = text.splitlines()[0]
    assert first.startswith("**`dev`** 1000 endpoints: ") and "deployments: 100 to replace" in first
    assert "#### Quota" in text and "| total |" in text
    assert "0 errors" in text  # the diagnostics line of the stack
    shown = text.count("#### `=` endpoint `ep-")
    assert 0 < shown < 100
    assert f"**{100 - shown} changed endpoints not shown here**" in text
    assert "`--format json`" in text and "`--max-chars 0`" in text
    assert "Unchanged: 900 endpoints" in text
    assert "ep-0999" not in text  # unchanged endpoints are counted, never listed


@pytest.mark.parametrize("budget", [65536, 20000, 5000], ids=["github", "20k", "5k"])
def test_any_budget_is_kept(big: dict[str, object], budget: int) -> None:
    text = render_review(big, max_chars=budget)
    assert len(text) <= budget
    assert text.startswith("**`dev`** 1000 endpoints: ")


def test_many_policy_findings_are_counted_and_cut(tmp_path: object) -> None:
    doc = review(300, 30, warnings=True)  # 300 MLP501 warnings
    text = render_review(doc, max_chars=30000)
    assert len(text) <= 30000
    assert "300 warnings" in text  # the count always stays
    assert "more warnings not shown here" in text


def test_a_small_review_is_whole(tmp_path: object) -> None:
    doc = review(3, 1)
    assert render_review(doc) == render_review(doc, max_chars=0)
    assert "not shown here" not in render_review(doc)
