"""Regression tests of issue 14 that read the output as its reader does: Markdown through
GitHub's renderer (item 4), previews whose env lists hold secrets (item 6), previews of another
shape (item 10)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.hostile.harness import REPO, check_output, project, run_cli
from tests.hostile.test_properties import check_markdown

BLUE = "stacks/endpoints/blue.yml"
FIXTURE = REPO / "tests/fixtures/preview/docker-image-change.json"
PREVIEW_SECRETS = ("listsecret1", "hunter2pw")


@pytest.mark.parametrize("value", ["a\r<!--", "x</details><h2>fake</h2>", "`code` @octocat",
                                   "| fake | cell |", "<!-- hidden -->"],
                         ids=["cr-comment", "closing-details", "backticks-mention", "pipes",
                              "comment"])
def test_04_markdown_of_hostile_values_is_inert_on_github(tmp_path: Path, value: str) -> None:
    """A description (review table) and an unknown key (diagnostics) carrying ``value``: on
    GitHub's renderer no HTML or comment of the user's appears, every diagnostic stays
    visible, and the description cell reads exactly as the text output shows it."""
    root = project(tmp_path / "p")
    shutil.copytree(root, tmp_path / "base")
    with (root / BLUE).open("a") as handle:
        handle.write(f"description: {json.dumps(value)}\n")
    run = run_cli(["review", "--base-dir", "../base", "--stack", "test", "--format",
                   "markdown"], root)
    check_output(run)
    assert run.code == 0, run.both
    parsed = check_markdown(run.out)
    shown = value.replace("\r", "\\r")  # what the text output shows too
    assert shown in parsed.cells, (shown, parsed.cells)
    with (root / BLUE).open("a") as handle:  # now errors that echo the value
        handle.write(f"{json.dumps(value)}: 1\ninstnce_type: x\n")
    plan = run_cli(["plan", "--stack", "test", "--format", "markdown"], root)
    check_output(plan)
    assert plan.code == 1
    html = check_markdown(plan.out)
    assert html.tags >= {"table", "details", "li"}
    errors = re.findall(r"error (MLP\d+)", plan.err)
    assert len(errors) >= 2, plan.err
    assert html.items == len(errors), (html.items, plan.out)


def _preview_with_env_secrets(path: Path) -> None:
    document = json.loads(FIXTURE.read_text())
    for step in document["steps"]:
        inputs = (step.get("newState") or {}).get("inputs") or {}
        if "envs" in inputs:
            inputs["envs"] = [*inputs["envs"], "API_KEY=listsecret1",
                              "DB=postgres://app:hunter2pw@db/x"]
            step["diffReasons"] = [*(step.get("diffReasons") or []), "envs"]
            step["detailedDiff"] = {**(step.get("detailedDiff") or {}),
                                    f"envs[{len(inputs['envs']) - 2}]": {"kind": "add"},
                                    f"envs[{len(inputs['envs']) - 1}]": {"kind": "add"}}
    path.write_text(json.dumps(document))


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_06_secrets_in_preview_env_lists_are_masked(tmp_path: Path, fmt: str) -> None:
    root = project(tmp_path / "p")
    _preview_with_env_secrets(root / "preview.json")
    run = run_cli(["review", "--preview-json", "preview.json", "--format", fmt], root)
    check_output(run, PREVIEW_SECRETS)
    assert run.code == 0, run.err
    assert "API_KEY=(sensitive)" in run.out and "envs" in run.out


@pytest.mark.parametrize("text", ['{"steps":[1]}', '{"diagnostics":[1]}',
                                  "[" * 100_000 + "]" * 100_000,
                                  '{"steps":[{"op":"create","urn":1,"newState":"x"}]}'],
                         ids=["steps-of-numbers", "diagnostics-of-numbers", "nested-100k",
                              "wrong-field-types"])
def test_10_preview_of_another_shape_is_a_diagnostic(tmp_path: Path, text: str) -> None:
    root = project(tmp_path / "p")
    (root / "preview.json").write_text(text)
    run = run_cli(["review", "--preview-json", "preview.json"], root)
    check_output(run)
    assert run.code in (0, 1), run.err
    if run.code == 1:
        assert run.err.startswith("mlplan review: "), run.err
