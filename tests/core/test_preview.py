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


def _container(name: str, role: str, op: str, *, index: int | None = None,
               batch: int | None = None, image: str = "inference:2") -> dict[str, Any]:
    """One Docker container step of blue as mlplan registers it (labels only: what the
    reader groups by). ``op`` create / delete / replace (a delete-first replacement)."""
    found = {"mlplan.dev/endpoint": "my-endpoint", "mlplan.dev/role": role,
             "mlplan.dev/deployment": "blue"}
    if index is not None:
        found.update({"mlplan.dev/instance": str(index),
                      "mlplan.dev/instance-type": "Standard_DS3_v2"})
    if batch is not None:
        found["mlplan.dev/batch"] = str(batch)
    chain = "mlplan:index:OnlineEndpoint$mlplan:index:OnlineDeployment$" + CONTAINER
    urn = f"urn:pulumi:dev::mlplan::{chain}::{name}"
    state = {"type": CONTAINER, "urn": urn, "custom": True, "inputs": {
        "name": name, "labels": [{"label": k, "value": v} for k, v in sorted(found.items())]}}
    return {"op": op, "urn": urn, "oldState": None if op == "create" else state,
            "newState": None if op == "delete" else state}


def _surge_roll(count: int, exempt: bool = False) -> list[dict[str, Any]]:
    from mlplan.planning.rollout import batches as plan_batches
    steps: list[dict[str, Any]] = []
    for number, members in enumerate(plan_batches(count), start=1):
        for i in members:
            if number == 1 and not exempt:
                steps += [_container(f"my-endpoint-blue-{i}-1a2b3c4d", "instance", "create",
                                     index=i),
                          _container(f"my-endpoint-blue-{i}-0f0f0f0f", "instance", "delete",
                                     index=i)]
            else:
                steps.append(_container(f"my-endpoint-blue-{i}", "instance", "replace",
                                        index=i))
        if number > 1 or exempt:
            steps.append(_container(f"my-endpoint-blue-batch-{number}-drain", "drain",
                                    "replace", batch=number))
    return steps


DRAINS = [
    # scenario, steps, blue's action, roll summary (None: no roll), in a reason, drains listed
    ("surge roll of 10: batches 2-5 drained, the plan's schedule",
     _surge_roll(10), Action.CREATE_THEN_DELETE,
     "10 instances: 5 batches of 2, peak 12, at least 10 serving",
     "batches 2, 3, 4, 5 are taken out of the routing", 4),
    ("exempt roll of 5: every batch drained, delete first",
     _surge_roll(5, exempt=True), Action.DELETE_THEN_CREATE,
     "5 instances: 5 batches of 1, peak 5, at least 4 serving",
     "batches 1, 2, 3, 4, 5 are taken out of the routing", 5),
    ("one instance: the surge batch is all of it, nothing to drain",
     _surge_roll(1), Action.CREATE_THEN_DELETE,
     "1 instance: 1 batch of 1, peak 2, at least 1 serving", "", 0),
    ("scale 3 -> 10: the drains re-run with their new members, no roll",
     [*(_container(f"my-endpoint-blue-{i}", "instance", "create", index=i)
        for i in range(3, 10)),
      _container("my-endpoint-blue-batch-2-drain", "drain", "replace", batch=2),
      _container("my-endpoint-blue-batch-3-drain", "drain", "replace", batch=3),
      _container("my-endpoint-blue-batch-4-drain", "drain", "create", batch=4),
      _container("my-endpoint-blue-batch-5-drain", "drain", "create", batch=5)],
     Action.UPDATE, None, "the drain of batches 2, 3, 4, 5 runs", 4),
    ("a first up after the upgrade: only drains are new, blue itself is unchanged",
     [_container("my-endpoint-blue-batch-2-drain", "drain", "create", batch=2)],
     Action.NO_OP, None, "the drain of batch 2 runs", 1),
]


@pytest.mark.parametrize(("name", "steps", "action", "roll", "reason", "listed"), DRAINS,
                         ids=[d[0] for d in DRAINS])
def test_docker_drains_are_routing_steps_not_instances(
        name: str, steps: list[dict[str, Any]], action: Action, roll: str | None, reason: str,
        listed: int) -> None:
    """A drain container (one per in-place batch) never counts as an instance nor makes the
    deployment's action; the review says which batches it takes out and lists it."""
    preview = stack_preview(PreviewInput(document={"steps": steps}),
                            delete_first_types=frozenset({CONTAINER}))
    (blue,) = preview.endpoints[0].deployments
    assert blue.action is action
    rolls = [s for s in blue.shown_steps if s.kind == "roll"]
    assert [s.summary for s in rolls] == ([roll] if roll else [])
    drains = [r for r in (blue.shown.resources if blue.shown else ()) if "drain" in r.name]
    assert len(drains) == listed
    notes = " ".join(blue.reasons)
    assert (reason in notes) if reason else "routing" not in notes, notes
    if action is Action.DELETE_THEN_CREATE:  # drained: nothing left to the router's retries
        assert "taken out of the routing, deleted, then recreated" in notes
        assert "retries" not in notes
