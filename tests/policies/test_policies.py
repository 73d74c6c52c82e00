"""The policy pack: each policy's validate() on resources recorded from the real programs.

The pack's ``__main__.py`` starts a server and blocks, so the policies come from
``policies/mlplan_policies.py``. Resources are what the Docker program registers under mocks;
broken variants are the target's output for a state the program itself would refuse (to show
the pack catches what reaches it anyway, e.g. a hand-edited or older program).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from pulumi_policy import PolicyResource, PolicyResourceOptions, StackValidationArgs

from mlplan.domain import codes
from mlplan.edge.program import load, run
from tests.targets.harness import Recorded, run_program
from tests.targets.projects import REPO, make_project

sys.path.insert(0, str(REPO / "policies"))
import mlplan_policies

POLICIES = {p.name: p for p in mlplan_policies.policies()}


def as_policy_resources(recorded: list[Recorded]) -> list[PolicyResource]:
    opts = PolicyResourceOptions(protect=False, ignore_changes=[], delete_before_replace=None,
                                 aliases=[], additional_secret_outputs=[],
                                 custom_timeouts=None)  # type: ignore[call-arg]
    return [PolicyResource(r.type, r.inputs, r.urn, r.name, opts, None, None, [], {})
            for r in recorded if r.custom]


def violations(recorded: list[Recorded], config: dict[str, dict[str, Any]] | None = None
               ) -> dict[str, list[tuple[str, str | None]]]:
    """policy name -> [(message, urn)] for every policy that reports something."""
    resources = as_policy_resources(recorded)
    found: dict[str, list[tuple[str, str | None]]] = {}
    for name, policy in POLICIES.items():
        reported: list[tuple[str, str | None]] = []
        args = StackValidationArgs(resources, (config or {}).get(name, {}))
        policy.validate(args, lambda message, urn=None, r=reported: r.append((message, urn)))
        if reported:
            found[name] = reported
    return found


def codes_of(found: dict[str, list[tuple[str, str | None]]]) -> dict[str, set[str]]:
    return {name: {message.split(" ", 1)[0] for message, _urn in items}
            for name, items in found.items()}


def test_every_rule_code_is_in_one_policy_or_plan_only() -> None:
    covered = set().union(*(r.codes for r in mlplan_policies.RULES))
    assert {c for c in covered if c.startswith("MLP5")} == {
        codes.HA_MINIMUM, codes.IMAGE_PINNED, codes.GPU_RESOURCES, codes.AUTH_ENABLED,
        codes.PROBES_PRESENT}


def test_the_sample_dev_stack_passes() -> None:
    recorded = run_program(lambda: run(cwd=REPO, stack="dev"), stack="dev", project=REPO)
    assert violations(recorded) == {}


def deployed_anyway(root: Path, stack: str = "test") -> list[Recorded]:
    """The Docker target's resources for the stack's state, errors or not (preview mocks)."""
    import mlplan.targets.docker.resources as docker_target

    def program() -> None:
        state, project = load(root, stack)
        docker_target.deploy(state, {}, project)

    return run_program(program, stack=stack, preview=True)


BROKEN = [
    ("over quota", {"blue": {"count": 10}}, {"blue": 100}, None,
     {"mlplan-quota": {"quota": {"standardDSv2Family": 40}}},
     {"mlplan-quota": {codes.QUOTA_FAMILY}}),
    ("split 90/20", {"blue": {}, "green": {}}, {"blue": 90, "green": 20}, None, None,
     {"mlplan-traffic-split": {codes.TRAFFIC_SUM}}),
    ("mirror 60", {"blue": {}, "green": {}}, {"blue": 100, "green": 0}, {"green": 60}, None,
     {"mlplan-mirror": {codes.MIRROR_PERCENT}}),
    ("latest image and 2 instances in production", {"blue": {
        "count": 2, "image": "example.io/infer:latest"}}, {"blue": 100}, None,
     {"mlplan-ha-minimum-production": {"environment": "production"},
      "mlplan-image-pinned-production": {"environment": "production"},
      "mlplan-ha-minimum": {"environment": "production"},
      "mlplan-image-pinned": {"environment": "production"}},
     {"mlplan-ha-minimum-production": {codes.HA_MINIMUM},
      "mlplan-image-pinned-production": {codes.IMAGE_PINNED}}),
    ("the same in development is advisory", {"blue": {
        "count": 2, "image": "example.io/infer:latest"}}, {"blue": 100}, None, None,
     {"mlplan-ha-minimum": {codes.HA_MINIMUM}, "mlplan-image-pinned": {codes.IMAGE_PINNED}}),
]


@pytest.mark.parametrize(("name", "deployments", "traffic", "mirror", "config", "expected"),
                         BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_variants_are_rejected_with_their_codes(
    name: str, deployments: dict[str, dict[str, object]], traffic: dict[str, int],
    mirror: dict[str, int] | None, config: dict[str, dict[str, Any]] | None,
    expected: dict[str, set[str]], tmp_path: Path,
) -> None:
    root = make_project(tmp_path, deployments, traffic=traffic, mirror=mirror)
    found = violations(deployed_anyway(root), config)
    assert codes_of(found) == expected
    for items in found.values():
        for message, urn in items:
            assert urn is None or urn.startswith("urn:pulumi:")
            assert message.split(" ", 1)[1]  # a message follows the code


def test_messages_match_the_plan(tmp_path: Path) -> None:
    root = make_project(tmp_path, {"blue": {}, "green": {}}, traffic={"blue": 90, "green": 20})
    state, _root = load(root, "test")
    plan_messages = {d.message for d in state.diagnostics if d.code == codes.TRAFFIC_SUM}
    policy = violations(deployed_anyway(root))["mlplan-traffic-split"]
    assert {m.split(" ", 1)[1] for m, _u in policy} == plan_messages


def test_gpu_and_probe_policies_see_the_container_inputs(tmp_path: Path) -> None:
    recorded = deployed_anyway(make_project(tmp_path, {"blue": {"sku": "Standard_NC6s_v3"}}))
    assert violations(recorded) == {}
    for r in recorded:
        if (r.type == "docker:index/container:Container" and r.name.startswith("my-endpoint-blue-")
                and not r.name.endswith("-drain")):
            r.inputs.pop("deviceRequests")
            r.inputs.pop("healthcheck")
    assert codes_of(violations(recorded)) == {"mlplan-gpu-resources": {codes.GPU_RESOURCES},
                                              "mlplan-probes": {codes.PROBES_PRESENT}}


def test_preview_unknowns_do_not_stop_the_rules(tmp_path: Path) -> None:
    """At preview the config container's uploads (rendered from generated keys) and the
    instances' image ids are unknown; the rules read labels, so they still judge."""
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

    root = make_project(tmp_path, {"blue": {}, "green": {}}, traffic={"blue": 90, "green": 20})
    recorded = deployed_anyway(root)
    for r in recorded:
        if r.type == "docker:index/container:Container":
            r.inputs["image"] = UNKNOWN_STRING_VALUE
            for upload in r.inputs.get("uploads", []):
                upload["content"] = UNKNOWN_STRING_VALUE
    resources = as_policy_resources(recorded)
    for resource in resources:
        resource.props = unknown_checking_proxy(dict(resource.props))
    reported: list[str] = []
    POLICIES["mlplan-traffic-split"].validate(
        StackValidationArgs(resources, {}), lambda message, urn=None: reported.append(message))
    assert [m.split(" ", 1)[0] for m in reported] == [codes.TRAFFIC_SUM]
