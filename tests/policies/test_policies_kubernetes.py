"""The policy pack on the Kubernetes target: each policy's validate() on the objects the real
Kubernetes program registers under mocks (the fixture project of ``tests/targets``, the prod
sample stack).

Facts come from the objects' labels, annotations and pod templates
(``targets.kubernetes.target.from_kubernetes``) and must equal the plan's (``facts_from_state``)
and the Docker target's for the same state. Broken variants are the target's output for a state
the program itself would refuse, or the output edited by hand (a GPU limit or probe removed), to
show the pack catches what reaches it anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi_policy import StackValidationArgs
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from mlplan.domain import codes, labels
from mlplan.domain.facts import EndpointFacts
from mlplan.edge.program import load, run
from mlplan.planning.port import PlainResource
from mlplan.rules.policy import facts_from_state
from mlplan.targets.kubernetes.target import from_kubernetes
from mlplan.targets.registry import facts_from_resources
from tests.policies.test_policies import POLICIES, as_policy_resources, codes_of, violations
from tests.targets.harness import Recorded, run_program
from tests.targets.projects import REPO
from tests.targets.test_kubernetes import GATEWAY, KUBERNETES, STACK, Project, deployment_file

DEPLOYMENT = "kubernetes:apps/v1:Deployment"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    made = Project(tmp_path / "project")
    monkeypatch.chdir(made.root)
    return made


def deployed_anyway(project: Project, preview: bool = True) -> list[Recorded]:
    """The Kubernetes target's objects for the stack's state, errors or not (preview mocks:
    generated keys are unknown, as in a real first preview)."""
    import mlplan.targets.kubernetes.resources as kubernetes_target

    def program() -> None:
        state, root = load(project.root, STACK)
        kubernetes_target.deploy(state, {}, root)

    return run_program(program, stack=STACK, preview=preview)


def inference(recorded: list[Recorded], deployment: str) -> dict[str, Any]:
    """The inference container of one deployment's pod template (to edit)."""
    for r in recorded:
        if r.type == DEPLOYMENT and r.name == f"my-endpoint-{deployment}-deployment":
            found: dict[str, Any] = r.inputs["spec"]["template"]["spec"]["containers"][0]
            return found
    raise AssertionError(f"no Deployment for {deployment}")


def _production(p: Project) -> None:
    p.patch("stack", {"config": {"mlplan:environment": "production"}})


def _hpa(low: int, high: int) -> dict[str, Any]:
    return {**KUBERNETES, "instance_count": None, "scale_settings": {
        "type": "target_utilization", "min_instances": low, "max_instances": high}}


# --- what passes -------------------------------------------------------------------------------

ADVISORY_GREEN = {"mlplan-ha-minimum": {codes.HA_MINIMUM}}

PASSING: list[tuple[str, Callable[[Project], Any] | None, dict[str, set[str]]]] = [
    # scenario, change (None: the repository's prod stack), expected (advisory only)
    ("prod sample stack", None, {}),
    ("k8s fixture: green's 2 instances at 10% are advisory in development", lambda p: None,
     ADVISORY_GREEN),
    ("k8s fixture with 3 green instances", lambda p: p.patch("green", {"instance_count": 3}),
     {}),
    ("GPU deployment with its GPU limit", lambda p: (
        p.patch("green", {"instance_count": 3}),
        p.patch("blue", {"instance_type": "Standard_NC6s_v3"})), {}),
    ("autoscaled 3..8 in production", lambda p: (
        _production(p), p.patch("blue", _hpa(3, 8)), p.patch("green", {"instance_count": 3})),
     {}),
    ("gateway-api: auth belongs to the Gateway (advisory)", lambda p: (
        p.patch("green", {"instance_count": 3}), p.kubernetes(**GATEWAY)),
     {"mlplan-auth-gateway": {codes.AUTH_ENABLED}}),
]


@pytest.mark.parametrize(("name", "change", "expected"), PASSING, ids=[p[0] for p in PASSING])
def test_samples_pass_every_mandatory_policy(
        name: str, change: Callable[[Project], Any] | None, expected: dict[str, set[str]],
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if change is None:
        monkeypatch.chdir(REPO)
        recorded = run_program(lambda: run(cwd=REPO, stack="prod"), stack="prod", project=REPO)
    else:
        made = Project(tmp_path / "project")
        monkeypatch.chdir(made.root)
        change(made)
        recorded = made.run()
    assert codes_of(violations(recorded)) == expected
    assert all(POLICIES[name].enforcement_level.value == "advisory" for name in expected)


def test_gateway_auth_message_says_who_checks_callers(project: Project) -> None:
    found = violations(project.kubernetes(**GATEWAY).run())["mlplan-auth-gateway"]
    ((message, urn),) = found
    assert message.startswith(f"{codes.AUTH_ENABLED} endpoint 'my-endpoint' declares "
                              "auth_mode key, but callers reach it through Gateway "
                              "gateways/shared (routerMode gateway-api)")
    assert "Advisory" in message and urn is not None and "HTTPRoute" in urn
    assert "mlplan-auth-enabled" not in violations(project.run())


# --- the same facts as the plan and the Docker target ------------------------------------------


def _comparable(facts: list[EndpointFacts]) -> list[EndpointFacts]:
    """Facts without what differs by nature: where they come from and the target."""
    return [replace(f, where=replace(f.where, file="", line=0, field=""), target="",
                    auth_by="", deployments=tuple(
                        replace(d, where=replace(d.where, file="", line=0, field=""),
                                has_liveness=True) for d in f.deployments))
            for f in facts]


PARITY: list[tuple[str, Callable[[Project], Any], bool]] = [
    # scenario, change, compare with Docker too
    ("fixture", lambda p: None, True),
    ("mirror and production", lambda p: (
        _production(p), p.patch("red", deployment_file("red", instance_count=1)),
        p.patch("endpoint", {"traffic": {"red": 0}, "mirror_traffic": {"red": 20}})), True),
    ("gateway-api", lambda p: p.kubernetes(**GATEWAY), False),
    ("GPU", lambda p: p.patch("blue", {"instance_type": "Standard_NC6s_v3"}), True),
    ("exempt GPU", lambda p: p.patch("blue", {"instance_type": "Standard_NC24ads_A100_v4"}),
     True),
    # Docker does not autoscale: it runs instance_count containers
    ("autoscaled: instances = maxReplicas", lambda p: p.patch("blue", _hpa(2, 8)), False),
]


@pytest.mark.parametrize(("name", "change", "docker"), PARITY, ids=[p[0] for p in PARITY])
def test_facts_equal_the_plan_and_docker(name: str, change: Callable[[Project], Any],
                                         docker: bool, project: Project) -> None:
    change(project)
    kubernetes = facts_from_resources(
        PlainResource(r.type, r.name, r.urn, r.inputs) for r in project.run())
    assert [f.target for f in kubernetes] == ["kubernetes"]
    assert all(d.has_liveness for f in kubernetes for d in f.deployments)
    state, _root = load(project.root, STACK)
    assert _comparable(kubernetes) == _comparable(facts_from_state(state))
    if not docker:
        return
    project.patch("stack", {"config": {"mlplan:target": "docker", "mlplan:kubernetes": None}})
    on_docker = facts_from_resources(
        PlainResource(r.type, r.name, r.urn, r.inputs) for r in project.run())
    assert [f.target for f in on_docker] == ["docker"]
    assert _comparable(kubernetes) == _comparable(on_docker)


def test_a_deployment_without_replicas_or_hpa_runs_one_pod() -> None:
    labels = {"mlplan.dev/endpoint": "e", "mlplan.dev/deployment": "d",
              "mlplan.dev/role": "instance", "mlplan.dev/instance-type": "Standard_DS3_v2"}
    deployment = PlainResource(DEPLOYMENT, "e-d", "urn:pulumi:s::p::x::e-d", {
        "metadata": {"labels": labels}, "spec": {"template": {"spec": {"containers": [
            {"image": "example.io/i:1", "readinessProbe": {"httpGet": {"path": "/"}}}]}}}})
    ((facts,),) = [f.deployments for f in from_kubernetes([deployment])]
    assert (facts.instances, facts.image, facts.has_readiness, facts.has_liveness) == (
        1, "example.io/i:1", True, False)


# --- what is rejected ----------------------------------------------------------------------------


GATEWAY_AUTH = {"mlplan-auth-gateway": {codes.AUTH_ENABLED}}


def _routing(traffic: str, mirror: str) -> Callable[[list[Recorded]], None]:
    """Edit the routing annotations of the nginx router's ConfigMap."""
    def edit(recorded: list[Recorded]) -> None:
        (config,) = [r for r in recorded if r.name == "my-endpoint-router-config"]
        config.inputs["metadata"]["annotations"] = {labels.TRAFFIC: traffic,
                                                    labels.MIRROR: mirror}
    return edit


def _drop_gpu_limit(recorded: list[Recorded]) -> None:
    del inference(recorded, "blue")["resources"]["limits"]["nvidia.com/gpu"]


def _add_gpu_limit(recorded: list[Recorded]) -> None:
    inference(recorded, "blue")["resources"]["limits"]["nvidia.com/gpu"] = "1"


def _drop(probe: str) -> Callable[[list[Recorded]], None]:
    def edit(recorded: list[Recorded]) -> None:
        del inference(recorded, "blue")[probe]
    return edit


BROKEN: list[tuple[str, Callable[[Project], Any], Callable[[list[Recorded]], None] | None,
                   dict[str, dict[str, Any]] | None, dict[str, set[str]]]] = [
    # scenario, project change, edit of the registered objects, policy config, expected
    ("over quota via policy config", lambda p: p.patch("blue", {"instance_count": 10}), None,
     {"mlplan-quota": {"quota": {"standardDSv2Family": 40}}},
     {"mlplan-quota": {codes.QUOTA_FAMILY}, **ADVISORY_GREEN}),
    # the nginx router's config generator refuses a broken split, the HTTPRoute is written
    # as declared; for nginx the routing annotation is edited by hand
    ("split 90/20 (gateway-api)", lambda p: (
        p.kubernetes(**GATEWAY), p.patch("endpoint", {"traffic": {"green": 20}})), None, None,
     {"mlplan-traffic-split": {codes.TRAFFIC_SUM}, **ADVISORY_GREEN, **GATEWAY_AUTH}),
    ("split 90/20 (nginx, edited)", lambda p: None, _routing("blue=90,green=20", "none"), None,
     {"mlplan-traffic-split": {codes.TRAFFIC_SUM}, **ADVISORY_GREEN}),
    ("mirror 60 (gateway-api)", lambda p: (
        p.kubernetes(**GATEWAY), p.patch("endpoint", {"traffic": {"blue": 100, "green": 0},
                                                      "mirror_traffic": {"green": 60}})),
     None, None, {"mlplan-mirror": {codes.MIRROR_PERCENT}, **GATEWAY_AUTH}),
    ("mirror 60 (nginx, edited)", lambda p: p.patch("endpoint", {
        "traffic": {"blue": 100, "green": 0}, "mirror_traffic": {"green": 20}}),
     _routing("blue=100,green=0", "green=60"), None, {"mlplan-mirror": {codes.MIRROR_PERCENT}}),
    ("GPU deployment whose pods lack the GPU limit", lambda p: p.patch(
        "blue", {"instance_type": "Standard_NC6s_v3"}), _drop_gpu_limit, None,
     {"mlplan-gpu-resources": {codes.GPU_RESOURCES}, **ADVISORY_GREEN}),
    ("CPU deployment whose pods take a GPU", lambda p: None, _add_gpu_limit, None,
     {"mlplan-gpu-resources": {codes.GPU_RESOURCES}, **ADVISORY_GREEN}),
    ("no liveness probe (Kubernetes needs one)", lambda p: None, _drop("livenessProbe"), None,
     {"mlplan-probes": {codes.PROBES_PRESENT}, **ADVISORY_GREEN}),
    ("no readiness probe", lambda p: None, _drop("readinessProbe"), None,
     {"mlplan-probes": {codes.PROBES_PRESENT}, **ADVISORY_GREEN}),
    ("2 instances in production", _production, None, None,
     {"mlplan-ha-minimum-production": {codes.HA_MINIMUM}}),
    ("autoscaled to at most 2 in production", lambda p: (
        _production(p), p.patch("green", _hpa(1, 2))), None, None,
     {"mlplan-ha-minimum-production": {codes.HA_MINIMUM}}),
    ("production via policy config, moving image tag", lambda p: p.patch(
        "blue", {"environment": {"image": "example.io/inference:latest"}}), None,
     {name: {"environment": "production"} for name in (
         "mlplan-ha-minimum", "mlplan-ha-minimum-production", "mlplan-image-pinned",
         "mlplan-image-pinned-production")},
     {"mlplan-ha-minimum-production": {codes.HA_MINIMUM},
      "mlplan-image-pinned-production": {codes.IMAGE_PINNED}}),
]


@pytest.mark.parametrize(("name", "change", "edit", "config", "expected"), BROKEN,
                         ids=[b[0] for b in BROKEN])
def test_broken_variants_are_rejected_with_their_codes(
        name: str, change: Callable[[Project], Any],
        edit: Callable[[list[Recorded]], None] | None, config: dict[str, dict[str, Any]] | None,
        expected: dict[str, set[str]], project: Project) -> None:
    change(project)
    recorded = deployed_anyway(project)
    if edit is not None:
        edit(recorded)
    found = violations(recorded, config)
    assert codes_of(found) == expected
    for items in found.values():
        for message, urn in items:
            code = message.split(" ", 1)[0]
            # traffic findings name the endpoint's traffic field, the others their object
            if code not in (codes.TRAFFIC_SUM, codes.MIRROR_PERCENT):
                assert urn is not None and urn.startswith("urn:pulumi:"), message
            assert message.split(" ", 1)[1]


def test_the_program_refuses_what_the_pack_rejects(project: Project) -> None:
    """The broken states above never reach a real preview: the program stops first."""
    project.patch("endpoint", {"traffic": {"green": 20}})
    with pytest.raises(pulumi.RunError, match=codes.TRAFFIC_SUM):
        project.run()


# --- preview-time unknowns -----------------------------------------------------------------------


def _unknowns_as_policy_sees_them(value: Any) -> Any:
    if isinstance(value, pulumi.output.Unknown):
        return UNKNOWN_STRING_VALUE
    if isinstance(value, dict):
        return {k: _unknowns_as_policy_sees_them(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unknowns_as_policy_sees_them(v) for v in value]
    return value


@pytest.mark.parametrize("router", ["nginx", "gateway-api"])
def test_preview_unknowns_do_not_stop_the_rules(router: str, project: Project) -> None:
    """At preview the generated keys are unknown: the keys Secret's data and the router's
    keys checksum annotation (nginx). The rules read labels, so they still judge."""
    if router == "gateway-api":
        project.kubernetes(**GATEWAY).patch("endpoint", {"traffic": {"green": 20}})
    recorded = deployed_anyway(project)
    if router == "nginx":
        _routing("blue=90,green=20", "none")(recorded)
    unknown = [r.name for r in recorded
               if _unknowns_as_policy_sees_them(r.inputs) != r.inputs]
    assert "my-endpoint-keys" in unknown
    resources = as_policy_resources(recorded)
    for resource in resources:
        resource.props = unknown_checking_proxy(_unknowns_as_policy_sees_them(resource.props))
    for name in ("mlplan-traffic-split", "mlplan-probes", "mlplan-auth-enabled"):
        reported: list[str] = []
        POLICIES[name].validate(StackValidationArgs(resources, {}),
                                lambda message, urn=None, r=reported: r.append(message))
        expected = [codes.TRAFFIC_SUM] if name == "mlplan-traffic-split" else []
        assert [m.split(" ", 1)[0] for m in reported] == expected, name
