"""Kubernetes target, issue 27 items 7 and 9: a NetworkPolicy admits only the router (or the
Gateway's namespace, or configured peers) to instance pods, and a deployment's
``environment_variables`` live in an immutable Secret read by ``secretKeyRef`` (the Deployment
holds names only); on Docker they are a secret input of the container. Pure plan functions and
the registered resource graph (Pulumi mocks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlplan.domain import labels
from mlplan.targets.kubernetes.settings import parse_kubernetes_settings
from tests.targets.harness import by_type, one
from tests.targets.projects import make_project
from tests.targets.test_docker import CONTAINER
from tests.targets.test_docker import program as docker_program
from tests.targets.test_kubernetes import (  # noqa: F401  (the fixture)
    DEPLOYMENT,
    GATEWAY,
    SECRET,
    Project,
    project,
)

POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
INSTANCES = {labels.ENDPOINT: "my-endpoint", labels.ROLE: "instance"}
ROUTER = {labels.ENDPOINT: "my-endpoint", labels.ROLE: "router"}
MESH = [{"namespaceSelector": {"matchLabels": {"istio-injection": "enabled"}}}]

# name, mlplan:kubernetes settings, expected peers (None: no NetworkPolicy)
POLICIES: list[tuple[str, dict[str, Any], list[dict[str, Any]] | None]] = [
    ("nginx router: the endpoint's router pods", {}, [{"podSelector": {"matchLabels": ROUTER}}]),
    ("gateway-api: the Gateway's namespace", GATEWAY,
     [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "gateways"}}}]),
    ("a mesh: configured peers", {"networkPolicy": {"allowFrom": MESH}}, MESH),
    ("turned off", {"networkPolicy": {"enabled": False}}, None),
]


@pytest.mark.parametrize(("settings", "peers"), [p[1:] for p in POLICIES],
                         ids=[p[0] for p in POLICIES])
def test_network_policy(project: Project, settings: dict[str, Any],  # noqa: F811
                        peers: list[dict[str, Any]] | None) -> None:
    recorded = project.kubernetes(**settings).run()
    policies = by_type(recorded, POLICY)
    if peers is None:
        assert policies == []
        return
    (policy,) = policies
    assert policy.inputs["metadata"]["name"] == "my-endpoint-instances"
    spec = policy.inputs["spec"]
    assert spec["podSelector"] == {"matchLabels": INSTANCES}
    assert spec["policyTypes"] == ["Ingress"]
    assert spec["ingress"] == [{"from": peers}]
    # the policy selects exactly the instance pods: every Deployment's pod labels match it,
    # the router's do not (it stays reachable from its Service)
    for deployment in by_type(recorded, DEPLOYMENT):
        pod = deployment.inputs["spec"]["template"]["metadata"]["labels"]
        matches = all(pod.get(k) == v for k, v in INSTANCES.items())
        assert matches is (deployment.name != "my-endpoint-router"), deployment.name


SETTINGS = [
    ("an empty peer", {"networkPolicy": {"allowFrom": [{}]}},
     "mlplan:kubernetes.networkPolicy.allowFrom[0]", "an empty peer would admit nothing"),
    ("an empty list", {"networkPolicy": {"allowFrom": []}},
     "mlplan:kubernetes.networkPolicy.allowFrom", "would cut the router off"),
    ("an unknown peer key", {"networkPolicy": {"allowFrom": [{"pods": {}}]}},
     "mlplan:kubernetes.networkPolicy.allowFrom[0].pods", "unknown setting"),
]


@pytest.mark.parametrize(("values", "field", "message"), [s[1:] for s in SETTINGS],
                         ids=[s[0] for s in SETTINGS])
def test_network_policy_settings(values: dict[str, Any], field: str, message: str) -> None:
    _settings, found = parse_kubernetes_settings(values)
    assert [(d.location.field, message in d.message) for d in found] == [(field, True)], found


def test_environment_variables_are_a_secret(project: Project) -> None:  # noqa: F811
    project.patch("green", {"environment_variables": {
        "SCORE_SCALE": "1.1", "DB_URL": "postgres://app:hunter2@db/x", "MLPLAN_ENDPOINT": "x"}})
    recorded = project.run()
    secret = one(recorded, SECRET, "my-endpoint-green-env")
    assert "stringData" in secret.secret_inputs
    assert secret.inputs["immutable"] is True
    assert secret.inputs["stringData"] == {"DB_URL": "postgres://app:hunter2@db/x",
                                           "SCORE_SCALE": "1.1"}
    name = secret.inputs["metadata"]["name"]
    assert name.startswith("my-endpoint-green-env-") and len(name) == len(
        "my-endpoint-green-env-") + 10
    green = one(recorded, DEPLOYMENT, "my-endpoint-green-deployment")
    env = {e["name"]: e for e in
           green.inputs["spec"]["template"]["spec"]["containers"][0]["env"]}
    for variable in ("DB_URL", "SCORE_SCALE"):
        assert env[variable] == {"name": variable, "valueFrom": {"secretKeyRef": {
            "name": name, "key": variable}}}
    assert env["MLPLAN_ENDPOINT"] == {"name": "MLPLAN_ENDPOINT", "value": "my-endpoint"}
    assert "hunter2" not in repr(green.inputs)
    assert secret.urn in green.dependencies
    # a changed value is a new Secret name, so the pods roll as a changed env did
    project.patch("green", {"environment_variables": {"SCORE_SCALE": "1.2"}})
    again = one(project.run(), SECRET, "my-endpoint-green-env").inputs["metadata"]["name"]
    assert again != name
    blue = by_type(recorded, SECRET)
    assert "my-endpoint-blue-env" not in {r.name for r in blue}  # blue has no variables


def test_docker_environment_is_a_secret_input(tmp_path: Path) -> None:
    recorded = docker_program(make_project(tmp_path, {"blue": {
        "count": 1, "extra": "environment_variables:\n  API_TOKEN: t0ps3cret\n"}}))
    blue0 = one(recorded, CONTAINER, "my-endpoint-blue-0")
    assert "envs" in blue0.secret_inputs
