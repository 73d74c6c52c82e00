"""The test cluster itself: versions, nodes (capacity, GPU label and taint), CRDs, and the real
scheduler keeping plain pods off the tainted GPU nodes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine.kube import cluster as kube
from tests.engine.kube.api import Api, ApiError, wait_for


def test_control_plane_versions_and_nodes(api: Api) -> None:
    version = api.get("/version")
    assert version["gitVersion"] == kube.K8S_VERSION, version
    nodes = {n["metadata"]["name"]: n for n in api.items("/api/v1/nodes")}
    assert sorted(nodes) == sorted(n.name for n in kube.NODES)
    for spec in kube.NODES:
        node = nodes[spec.name]
        alloc = node["status"]["allocatable"]
        assert (alloc["cpu"], alloc["memory"]) == (spec.cpu, spec.memory), alloc
        assert alloc.get("nvidia.com/gpu", "0") == str(spec.gpus), alloc
        ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
        assert ready and ready[0]["status"] == "True", node["status"]["conditions"]
        gpu = node["metadata"]["labels"].get(kube.GPU_LABEL[0]) == kube.GPU_LABEL[1]
        assert gpu == bool(spec.gpus)
        assert (node["spec"].get("taints") == [kube.GPU_TAINT]) == bool(spec.gpus)
    crds = {c["metadata"]["name"] for c in
            api.items("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")}
    assert "httproutes.gateway.networking.k8s.io" in crds, crds
    assert api.get("/apis/gateway.networking.k8s.io/v1")["groupVersion"] == \
        "gateway.networking.k8s.io/v1"


def _pod(name: str, gpus: int = 0, tolerate: bool = False) -> dict[str, Any]:
    resources: dict[str, Any] = {"requests": {"cpu": "1", "memory": "1Gi"}}
    if gpus:
        resources["limits"] = {"nvidia.com/gpu": str(gpus)}
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "example.invalid/x:1",
                                            "resources": resources}]}
    if tolerate:
        spec["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists",
                                "effect": "NoSchedule"}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


@pytest.mark.parametrize(("pods", "expected"), [
    pytest.param([("plain", 0, False)], {"plain": "cpu"}, id="plain-pod-on-cpu-node"),
    pytest.param([("gpu", 1, True)], {"gpu": "gpu"}, id="gpu-pod-on-gpu-node"),
    pytest.param([("no-toleration", 1, False)], {"no-toleration": "Pending"},
                 id="gpu-pod-without-toleration-pending"),
    pytest.param([("too-many", 9, True)], {"too-many": "Pending"},
                 id="more-gpus-than-a-node-pending"),
])
def test_scheduler_places_pods(api: Api, namespace: str,
                               pods: list[tuple[str, int, bool]],
                               expected: dict[str, str]) -> None:
    base = f"/api/v1/namespaces/{namespace}/pods"
    for name, gpus, tolerate in pods:
        api.create(base, _pod(name, gpus, tolerate))

    def placed() -> dict[str, str] | None:
        found = {}
        for pod in api.items(base):
            node = pod["spec"].get("nodeName", "")
            cond = {c["type"]: c for c in pod.get("status", {}).get("conditions", [])}
            if node:
                found[pod["metadata"]["name"]] = node.split("-")[0]
            elif cond.get("PodScheduled", {}).get("reason") == "Unschedulable":
                found[pod["metadata"]["name"]] = "Pending"
        return found if len(found) == len(pods) else None

    assert wait_for("pods placed or unschedulable", placed, 30) == expected


def test_token_is_required(cluster: kube.Cluster) -> None:
    anonymous = Api(cluster.server, "not-a-token", str(cluster.ca_file))
    with pytest.raises(ApiError) as info:
        anonymous.get("/api/v1/namespaces")
    assert info.value.status == 401
