"""Issue 27 items 7 and 9 on a real API server: the instance NetworkPolicy and the deployment
environment's Secret are accepted as mlplan plans them (admission and schema are the API
server's), the instance pods are the ones the policy selects, the router's are not, and the
Deployment reads its variables by ``secretKeyRef``. kwok runs no container and enforces no
policy, so whether a non-router pod is refused is for a cluster with a network plugin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlplan.domain import labels
from tests.engine.kube import cluster as kube
from tests.engine.kube.api import Api
from tests.engine.kube.project import bind, edit_deployment, write_stack
from tests.engine.kube.test_endpoints import ENDPOINT, note, ns_path

MESH = [{"namespaceSelector": {"matchLabels": {"istio-injection": "enabled"}}}]


def _policies(api: Api, ns: str) -> list[dict[str, Any]]:
    return api.items(ns_path(ns, "networkpolicies"))


def _selects(selector: dict[str, str], pod_labels: dict[str, str]) -> bool:
    return all(pod_labels.get(k) == v for k, v in selector.items())


@pytest.mark.parametrize(("settings", "peers"), [
    pytest.param({}, None, id="router-pods"),
    pytest.param({"networkPolicy": {"allowFrom": MESH}}, MESH, id="mesh-peers"),
])
def test_network_policy_and_env_secret_are_accepted(
    settings: dict[str, Any], peers: list[dict[str, Any]] | None, cluster: kube.Cluster,
    api: Api, namespace: str, project_copy: Path, pulumi_in: Any,
) -> None:
    write_stack(project_copy, "k", namespace, base="dev", **settings)
    edit_deployment(project_copy / "stacks" / "endpoints" / ENDPOINT, "green",
                    environment_variables={"DB_PASSWORD": "hunter2-e2e", "SCORE_SCALE": "1.1"})
    pulumi = bind(pulumi_in(project_copy), cluster)
    pulumi.run("stack", "init", "k")
    pulumi.run("up", "--yes", "--skip-preview")

    (policy,) = _policies(api, namespace)
    assert policy["metadata"]["name"] == f"{ENDPOINT}-instances"
    spec = policy["spec"]
    assert spec["policyTypes"] == ["Ingress"]
    router = {labels.ENDPOINT: ENDPOINT, labels.ROLE: "router"}
    expected = peers or [{"podSelector": {"matchLabels": router}}]
    assert spec["ingress"] == [{"from": expected}]
    selector = spec["podSelector"]["matchLabels"]
    pods = api.items(ns_path(namespace, "pods"))
    instances = [p for p in pods if p["metadata"]["labels"].get(labels.ROLE) == "instance"]
    routers = [p for p in pods if p["metadata"]["labels"].get(labels.ROLE) == "router"]
    assert instances and routers
    assert all(_selects(selector, p["metadata"]["labels"]) for p in instances)
    assert not any(_selects(selector, p["metadata"]["labels"]) for p in routers)
    if peers is None:  # the admitted peers are exactly this endpoint's router pods
        assert all(_selects(router, p["metadata"]["labels"]) for p in routers)

    (green,) = [d for d in api.items(ns_path(namespace, "deployments"))
                if d["metadata"]["name"] == f"{ENDPOINT}-green"]
    env = {e["name"]: e for e in green["spec"]["template"]["spec"]["containers"][0]["env"]}
    ref = env["DB_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert "hunter2-e2e" not in repr(green)
    secret = next(s for s in api.items(ns_path(namespace, "secrets"))
                  if s["metadata"]["name"] == ref["name"])
    assert secret.get("immutable") is True and ref["key"] in secret["data"]
    note(f"item 7/9 ({'mesh' if peers else 'router'}): NetworkPolicy {policy['metadata']['name']}"
         f" accepted, selects {len(instances)} instance pods and no router pod; env Secret "
         f"{ref['name']} read by secretKeyRef")
