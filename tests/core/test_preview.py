"""Reading a Pulumi preview is a planning input: the decoded JSON -> the review's change model
(``planning.preview.stack_preview``), with no file, no renderer and no mock."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlplan.planning.diff import Action
from mlplan.planning.preview import PreviewFormatError, PreviewInput, stack_preview

FIXTURES = Path(__file__).parents[1] / "fixtures" / "preview"
CONTAINER = "docker:index/container:Container"


def docker_preview() -> Any:
    return json.loads((FIXTURES / "docker-image-change.json").read_text())


def test_a_docker_image_change_reads_as_the_plan_s_roll() -> None:
    """blue's 3 containers replaced delete-first (the provider's order) in 3 batches: the plan's
    schedule, the endpoint itself unchanged."""
    preview = stack_preview(PreviewInput(document=docker_preview()),
                            delete_first_types=frozenset({CONTAINER}))
    (endpoint,) = preview.endpoints
    blue = next(d for d in endpoint.deployments if d.name == "blue")
    (roll,) = blue.shown_steps
    assert (endpoint.action, endpoint.has_changes) == (Action.NO_OP, True)
    assert blue.action is Action.DELETE_THEN_CREATE and roll.order is Action.DELETE_THEN_CREATE
    assert roll.schedule is not None and roll.summary == roll.schedule.describe() == (
        "3 instances: 3 batches of 1, peak 3, at least 2 serving")
    assert [b.number for b in roll.batches] == [1, 2, 3]


BARE_REPLACE = [
    # scenario, delete-first types given by the caller, blue's action
    ("Docker's containers are replaced delete-first", frozenset({CONTAINER}),
     Action.DELETE_THEN_CREATE),
    ("otherwise Pulumi's default: the replacement first", frozenset(),
     Action.CREATE_THEN_DELETE),
]


@pytest.mark.parametrize(("name", "delete_first", "action"), BARE_REPLACE,
                         ids=[c[0] for c in BARE_REPLACE])
def test_the_order_of_a_bare_replace_comes_from_the_caller(
        name: str, delete_first: frozenset[str], action: Action) -> None:
    """Only ``replace`` shown (no delete-replaced / create-replacement steps): the order is
    inferred from the types the caller says are replaced delete-first."""
    document = docker_preview()
    document["steps"] = [s for s in document["steps"]
                         if s["op"] not in ("delete-replaced", "create-replacement")]
    preview = stack_preview(PreviewInput(document=document), delete_first_types=delete_first)
    blue = next(d for d in preview.endpoints[0].deployments if d.name == "blue")
    assert blue.action is action


POLICY = {"sequence": 1, "policyEvent": {
    "message": "MLP504: endpoint my-endpoint has no auth", "enforcementLevel": "mandatory",
    "policyName": "mlplan-auth-enabled", "policyPackName": "mlplan", "policyPackVersion": "1",
    "resourceUrn": "urn:pulumi:dev::p::mlplan:index:OnlineEndpoint::my-endpoint"}}

SHAPES = [
    # scenario, input, findings (severity, code) or the error's start
    ("a policy event is a finding", PreviewInput(events=[POLICY]), [("error", "MLP504")]),
    ("an engine diagnostic in mlplan's words", PreviewInput(document={"diagnostics": [
        {"severity": "error", "message": "e.yml:3 traffic: error MLP201: sums to 90"}]}),
     [("error", "MLP201")]),
    ("a JSON array is no preview", PreviewInput(document=[1]), "not a 'pulumi preview --json'"),
    ("steps must be objects", PreviewInput(document={"steps": [1]}), "'steps' must be a list"),
    ("an event must be an object", PreviewInput(events=[[]]), "an event line is not"),
]


@pytest.mark.parametrize(("name", "given", "expected"), SHAPES, ids=[s[0] for s in SHAPES])
def test_shapes(name: str, given: PreviewInput, expected: Any) -> None:
    if isinstance(expected, str):
        with pytest.raises(PreviewFormatError, match=expected.replace("'", ".")):
            stack_preview(given, delete_first_types=frozenset())
        return
    preview = stack_preview(given, delete_first_types=frozenset())
    assert [(f.severity, f.code) for f in preview.findings] == expected
