"""mlplan's Kubernetes target applied by the real pulumi-kubernetes provider to the test cluster
(no ``renderYamlTo``): each test has its own namespace and ``file://`` backend.

What is decided by Kubernetes' own controllers here: the provider's await (every Deployment
available), the Deployment controller's rolling update (watched pod by pod), the scheduler's
placement, ResourceQuota admission, and garbage collection on destroy.
"""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from mlplan.domain import labels
from mlplan.edge.program import load
from mlplan.planning.rollout import batch_size
from mlplan.targets.kubernetes import choices as ko
from mlplan.targets.kubernetes.settings import parse_kubernetes_settings
from tests.engine.kube import cluster as kube
from tests.engine.kube.api import Api, ApiError, Recorder, wait_for
from tests.engine.kube.observe import pod_timeline, rs_sequence
from tests.engine.kube.project import (
    IMAGE_V2,
    bind,
    edit_deployment,
    edit_endpoint,
    mlplan,
    review,
    reviewed_deployment,
    snapshot,
    write_endpoint,
    write_stack,
)

ENDPOINT = "my-endpoint"
#: Readiness probe that fails fast (kwok marks pods Ready at once; the probe only sizes the
#: await budget: ko.await_seconds).
FAST_PROBE = {"initial_delay": 1, "period": 1, "timeout": 1, "failure_threshold": 3}
REPORT: list[str] = []


def note(line: str) -> None:
    """A line for the suite's summary (printed at the end of the session by conftest)."""
    REPORT.append(line)
    print(line, flush=True)


def ns_path(ns: str, kind: str, name: str = "") -> str:
    group = {"deployments": "/apis/apps/v1", "replicasets": "/apis/apps/v1",
             "poddisruptionbudgets": "/apis/policy/v1",
             "horizontalpodautoscalers": "/apis/autoscaling/v2",
             "httproutes": "/apis/gateway.networking.k8s.io/v1",
             "networkpolicies": "/apis/networking.k8s.io/v1"}.get(kind, "/api/v1")
    return f"{group}/namespaces/{ns}/{kind}" + (f"/{name}" if name else "")


def names(api: Api, ns: str, kind: str) -> set[str]:
    return {o["metadata"]["name"] for o in api.items(ns_path(ns, kind))}


def up(pulumi: Any, *args: str) -> float:
    start = time.monotonic()
    pulumi.run("up", "--yes", "--skip-preview", *args)
    return time.monotonic() - start


def planned_quota(project: Path, stack: str) -> dict[str, str]:
    state, _root = load(project, stack)
    settings, problems = parse_kubernetes_settings(state.settings.target_values["kubernetes"],
                                                   state.settings.file)
    assert not problems, problems
    return dict(ko.namespace_quota(state, settings))


def mlplan_objects(api: Api, ns: str) -> list[str]:
    """Every object in ``ns`` carrying an ``mlplan.dev/endpoint`` label."""
    found = []
    for kind in ("deployments", "replicasets", "pods", "services", "configmaps", "secrets",
                 "poddisruptionbudgets", "horizontalpodautoscalers", "httproutes",
                 "networkpolicies"):
        for obj in api.items(ns_path(ns, kind) + f"?labelSelector={labels.ENDPOINT}"):
            found.append(f"{kind}/{obj['metadata']['name']}")
    return sorted(found)


# --- (a) the prod example and the sample on a real API server --------------------------------


@pytest.mark.parametrize(("base", "expected"), [
    # prod: blue 3 + green 3 x DS3_v2 (4 cores, 14Gi), 3 routers (100m/64Mi, limits 1/256Mi):
    # ceil(1.2 x 3) = 4 pods each + routers 3 + 1 = 12 pods; cpu 2 x 4 x 4 + 4 x 0.1.
    pytest.param("prod", {"pods": "12", "requests.cpu": "32400m",
                          "requests.memory": "114944Mi", "requests.nvidia.com/gpu": "0",
                          "limits.cpu": "36", "limits.memory": "113Gi"}, id="prod-example"),
    pytest.param("dev", None, id="sample-endpoint"),
])
def test_up_applies_every_object_and_is_stable(
    base: str, expected: dict[str, str] | None, cluster: kube.Cluster, api: Api,
    namespace: str, project_copy: Path, pulumi_in: Any,
) -> None:
    """``pulumi up``: the provider awaits every Deployment available; Services, PDBs, Secret,
    router and (prod) ResourceQuota exist as planned; ``preview --expect-no-changes`` passes."""
    extra: dict[str, Any] = {"resourceQuota": True} if base == "prod" else {}
    write_stack(project_copy, "k", namespace, base=base, **extra)
    pulumi = bind(pulumi_in(project_copy), cluster)
    pulumi.run("stack", "init", "k")
    took = up(pulumi)
    deps = {d["metadata"]["name"]: d for d in api.items(ns_path(namespace, "deployments"))}
    want = {f"{ENDPOINT}-blue", f"{ENDPOINT}-green", ENDPOINT}
    assert set(deps) == want
    for name, dep in deps.items():
        status = dep["status"]
        assert status.get("availableReplicas") == dep["spec"]["replicas"] == \
            status.get("updatedReplicas"), (name, status)
    assert deps[ENDPOINT]["spec"]["replicas"] == (3 if base == "prod" else 2)
    assert names(api, namespace, "services") == want
    assert names(api, namespace, "poddisruptionbudgets") == want
    assert f"{ENDPOINT}-keys" in names(api, namespace, "secrets")
    quotas = api.items(ns_path(namespace, "resourcequotas"))
    if expected is None:
        assert quotas == []
    else:
        (quota,) = quotas
        assert quota["spec"]["hard"] == expected == planned_quota(project_copy, "k")
    pulumi.run("preview", "--expect-no-changes")
    note(f"(a) {base}: pulumi up {took:.0f} s, deployments {sorted(deps)} available; "
         f"preview --expect-no-changes passed")


def test_autoscaled_deployment_gets_its_hpa(
    cluster: kube.Cluster, api: Api, namespace: str, project_copy: Path, pulumi_in: Any,
) -> None:
    """A ``target_utilization`` deployment: an HPA ``min..max`` at the CPU target, no replicas
    in the Deployment (the HPA owns them), and the apply is still stable."""
    write_endpoint(project_copy, "hpa", "auto", {"web": {
        "$schema": "https://azuremlschemas.azureedge.net/latest/"
                   "kubernetesOnlineDeployment.schema.json",
        "instance_count": 2, "readiness_probe": FAST_PROBE,
        "scale_settings": {"type": "target_utilization", "min_instances": 2,
                           "max_instances": 4, "target_utilization_percentage": 70}}},
        {"web": 100})
    write_stack(project_copy, "k", namespace, endpoints=["stacks/hpa/endpoints"])
    pulumi = bind(pulumi_in(project_copy), cluster)
    pulumi.run("stack", "init", "k")
    up(pulumi)
    hpa = api.get(ns_path(namespace, "horizontalpodautoscalers", "auto-web"))
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 4)
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 70
    dep = api.get(ns_path(namespace, "deployments", "auto-web"))
    assert dep["status"].get("availableReplicas", 0) >= 1, dep["status"]
    pulumi.run("preview", "--expect-no-changes")


# --- (b) rolling updates watched through the API ----------------------------------------------


ROLLS = [
    # (id, instance type, N, quota limits): the quota is exactly what mlplan reserves, and the
    # namespace ResourceQuota is on, so the API server admits no pod beyond the reservation.
    pytest.param("Standard_DS3_v2", 10, {"standardDSv2Family": 48, "total": 48},
                 id="ds3-10-surge"),
    pytest.param("Standard_NC24ads_A100_v4", 10,
                 {"standardNCADSA100v4Family": 240, "total": 240}, id="a100-10-exempt"),
]


@pytest.mark.parametrize(("instance_type", "n", "quota"), ROLLS)
def test_rolling_update_matches_review(
    instance_type: str, n: int, quota: dict[str, int], cluster: kube.Cluster, api: Api,
    namespace: str, project_copy: Path, pulumi_in: Any, tmp_path: Path,
) -> None:
    """An image change of N instances, watched pod by pod: the observed peak and the fewest
    ready pods are what ``mlplan review`` printed for the change, and the peak is what the
    quota check reserved (the ResourceQuota, sized the same, lets the roll through)."""
    folder = write_endpoint(project_copy, "roll", "roll", {"big": {
        "instance_type": instance_type, "instance_count": n,
        "readiness_probe": FAST_PROBE}}, {"big": 100})
    write_stack(project_copy, "k", namespace, endpoints=["stacks/roll/endpoints"], quota=quota,
                resourceQuota=True, routerReplicas=2)
    pulumi = bind(pulumi_in(project_copy), cluster)
    pulumi.run("stack", "init", "k")
    up(pulumi)
    base = snapshot(project_copy, tmp_path / "base")
    edit_deployment(folder, "big", image=IMAGE_V2)
    doc = review(project_copy, base, "k")
    dep = reviewed_deployment(doc, "roll", "big")
    (roll,) = [s for s in dep["steps"] if s["kind"] == "roll"]
    family = next(f for f in doc["stacks"][0]["quota"]["families"])
    selector = f"{labels.DEPLOYMENT}=big,{labels.ROLE}=instance"
    pods = Recorder(api, ns_path(namespace, "pods") + f"?labelSelector={selector}").start()
    sets = Recorder(api, ns_path(namespace, "replicasets") +
                    f"?labelSelector={selector}").start()
    events = Recorder(api, ns_path(namespace, "events")).start()
    took = up(pulumi)
    # when pulumi up returns the rollout is complete: no old pod serves any more
    status = api.get(ns_path(namespace, "deployments", "roll-big"))["status"]
    old_serving = [p["metadata"]["name"] for p in api.items(
        ns_path(namespace, "pods") + f"?labelSelector={selector}")
        if not p["metadata"].get("deletionTimestamp")
        and p["spec"]["containers"][0]["image"] != IMAGE_V2]
    time.sleep(1)  # the last pod deletions reach the watch
    seen = pod_timeline(pods.stop())
    replica_sets = rs_sequence(sets.stop())
    refusals = [e["message"] for _t, kind, e in events.stop()
                if kind == "ADDED" and e.get("reason") == "FailedCreate"]
    cores = {"Standard_DS3_v2": 4, "Standard_NC24ads_A100_v4": 24}[instance_type]
    note(f"(b) {instance_type} x {n}: review {dep['actions']} '{roll['summary']}' peak "
         f"{roll['peak_instances']} min serving {roll['min_serving_instances']}, quota peak "
         f"{family['peak']} cores; observed {seen.describe()}; ReplicaSets (old, new) "
         f"{replica_sets}; pulumi up {took:.0f} s; FailedCreate events {len(refusals)}")
    assert old_serving == [], old_serving
    assert (status["updatedReplicas"], status["replicas"], status["availableReplicas"]) == \
        (n, n, n), status
    assert seen.final_pods == seen.final_ready == n, seen
    assert seen.images == {IMAGE_V2: n}, seen.images
    assert seen.peak_pods == roll["peak_instances"], seen.describe()
    assert seen.min_ready == roll["min_serving_instances"], seen.describe()
    assert family["peak"] == roll["peak_instances"] * cores, (family, roll)
    # At the exact limit a surge pod can be refused for a moment: quota admission counts a
    # deleted pod until the quota controller has released it (a terminating pod counts until
    # it is gone). The ReplicaSet controller retries; the roll completes within the limit.
    assert all("exceeded quota: mlplan-quota" in m for m in refusals), refusals
    assert seen.peak_present <= roll["peak_instances"], seen.describe()
    if instance_type == "Standard_DS3_v2":  # Azure's rule for surging SKUs
        assert roll["peak_instances"] == n + batch_size(n)
        assert roll["min_serving_instances"] == n


def test_surging_roll_of_exempt_sku_is_refused_by_the_quota(
    cluster: kube.Cluster, api: Api, namespace: str, project_copy: Path, pulumi_in: Any,
) -> None:
    """Why exempt SKUs roll without surge: they reserve only N, so with the namespace quota the
    API server refuses a surge pod, and a maxSurge/maxUnavailable 0 roll cannot move at all.
    (Patched by hand past mlplan; the manifests mlplan writes roll with maxSurge 0.)"""
    write_endpoint(project_copy, "exempt", "exempt", {"big": {
        "instance_type": "Standard_NC24ads_A100_v4", "instance_count": 5,
        "readiness_probe": FAST_PROBE}}, {"big": 100})
    write_stack(project_copy, "k", namespace, endpoints=["stacks/exempt/endpoints"],
                quota={"standardNCADSA100v4Family": 120, "total": 120}, resourceQuota=True,
                routerReplicas=2)
    pulumi = bind(pulumi_in(project_copy), cluster)
    pulumi.run("stack", "init", "k")
    up(pulumi)
    path = ns_path(namespace, "deployments", "exempt-big")
    assert api.get(path)["spec"]["strategy"]["rollingUpdate"] == \
        {"maxSurge": 0, "maxUnavailable": 1}
    api.strategic_patch(path, {"spec": {
        "strategy": {"rollingUpdate": {"maxSurge": "20%", "maxUnavailable": 0}},
        "template": {"spec": {"containers": [{"name": "inference", "image": IMAGE_V2}]}}}})

    def refused() -> list[str]:
        return [e["message"] for e in api.items(ns_path(namespace, "events"))
                if e.get("reason") == "FailedCreate" and "exceeded quota" in e["message"]]

    messages = wait_for("a quota refusal of the surge pod", refused, 30)
    time.sleep(5)
    dep = api.get(path)["status"]
    note(f"(b) exempt x 5 forced to maxSurge 20%: {messages[0][:160]}...; after 5 s "
         f"updatedReplicas={dep.get('updatedReplicas', 0)} ready={dep.get('readyReplicas')}")
    assert dep.get("updatedReplicas", 0) == 0 and dep.get("readyReplicas") == 5, dep


# --- (c) placement by the real scheduler ------------------------------------------------------


def test_gpu_and_cpu_placement_and_unschedulable_gpu_deployment(
    cluster: kube.Cluster, api: Api, namespace: str, project_copy: Path, pulumi_in: Any,
) -> None:
    """GPU pods land only on GPU nodes, CPU pods never there; a deployment that needs more GPUs
    than the cluster has stays Pending and ``pulumi up`` fails (within its await budget) naming
    it, while the pods of the other deployments are untouched."""
    write_endpoint(project_copy, "place", "place", {
        "cpu": {"instance_type": "Standard_DS3_v2", "instance_count": 3,
                "readiness_probe": FAST_PROBE},
        "gpu": {"instance_type": "Standard_NC6s_v3", "instance_count": 4,
                "readiness_probe": FAST_PROBE}}, {"cpu": 50, "gpu": 50})
    write_stack(project_copy, "k", namespace, endpoints=["stacks/place/endpoints"],
                quota={"standardDSv2Family": 100, "standardNCSv3Family": 400, "total": 500},
                routerReplicas=2)
    pulumi = bind(pulumi_in(project_copy), cluster)
    pulumi.run("stack", "init", "k")
    up(pulumi)
    table: Counter[tuple[str, str]] = Counter()
    before: dict[str, str] = {}
    for pod in api.items(ns_path(namespace, "pods")):
        meta = pod["metadata"]
        role = meta["labels"].get(labels.DEPLOYMENT, meta["labels"].get(labels.ROLE, "?"))
        table[(role, pod["spec"]["nodeName"].split("-")[0])] += 1
        before[meta["uid"]] = meta["name"]
    note(f"(c) placement (deployment, node pool) -> pods: {dict(sorted(table.items()))}")
    assert table == {("cpu", "cpu"): 3, ("gpu", "gpu"): 4, ("router", "cpu"): 2}, table
    # 2 GPU nodes x 8 = 16 GPUs, 4 in use: 13 more cannot all be placed.
    write_endpoint(project_copy, "place", "place", {"huge": {
        "instance_type": "Standard_NC6s_v3", "instance_count": 13,
        "readiness_probe": FAST_PROBE}}, {"cpu": 50, "gpu": 50, "huge": 0})
    state, _root = load(project_copy, "k")
    (huge,) = [d for e in state.endpoints for d in e.deployments if d.name == "huge"]
    budget = ko.await_seconds(huge)  # the Deployment's customTimeouts: 600 s (the floor)
    start = time.monotonic()
    # The harness's usual 600 s command timeout equals this budget: give pulumi its own.
    failed = subprocess.run(["pulumi", "up", "--yes", "--skip-preview", "--non-interactive"],
                            cwd=pulumi.cwd, env=pulumi.env, capture_output=True, text=True,
                            timeout=budget + 300, check=False)
    took = time.monotonic() - start
    out = failed.stdout + failed.stderr
    pending = [p for p in api.items(ns_path(namespace, "pods") +
                                    f"?labelSelector={labels.DEPLOYMENT}=huge")
               if not p["spec"].get("nodeName")]
    note(f"(c) 13 x NC6s_v3 beyond 16 GPUs: pulumi up exit {failed.returncode} after "
         f"{took:.0f} s (budget {budget} s), {len(pending)} pods Pending")
    assert failed.returncode != 0, out[-3000:]
    assert took < budget + 120, took
    assert "place-huge" in out, out[-3000:]
    # ended by the controller's verdict one batch budget in, not by the Pulumi timeout
    assert "Deployment place-huge: the rollout stalled (ProgressDeadlineExceeded" in out, \
        out[-3000:]
    assert len(pending) == 1, [p["metadata"]["name"] for p in pending]
    after = {p["metadata"]["uid"]: p["metadata"]["name"]
             for p in api.items(ns_path(namespace, "pods"))
             if p["metadata"]["labels"].get(labels.DEPLOYMENT) != "huge"}
    assert after == before


# --- (d) quota admission ----------------------------------------------------------------------


def test_quota_admits_the_plan_and_refuses_what_mlplan_rejects(
    cluster: kube.Cluster, api: Api, namespace: str, project_copy: Path, pulumi_in: Any,
) -> None:
    """With ``resourceQuota: true`` the planned change (a scale-up with its surge room) is
    admitted; a scale that mlplan rejects (MLP401) is refused by the API server when forced
    past mlplan (``kubectl scale``-style patch), and so is a pod beyond the reservation."""
    folder = write_endpoint(project_copy, "quota", "quota", {
        "blue": {"instance_count": 3, "readiness_probe": FAST_PROBE}}, {"blue": 100})
    write_stack(project_copy, "k", namespace, endpoints=["stacks/quota/endpoints"],
                quota={"standardDSv2Family": 32, "total": 32}, resourceQuota=True,
                routerReplicas=2)
    pulumi = bind(pulumi_in(project_copy), cluster)
    pulumi.run("stack", "init", "k")
    up(pulumi)
    # Planned: 3 -> 5 (ceil(1.2 x 5) = 6 x 4 = 24 <= 32 cores) and an image change rolling
    # with its surge: admitted.
    edit_deployment(folder, "blue", instance_count=5)
    assert mlplan(project_copy, "plan", "--stack", "k").returncode == 0
    up(pulumi)
    edit_deployment(folder, "blue", image=IMAGE_V2)
    up(pulumi)
    quota = api.get(ns_path(namespace, "resourcequotas", "mlplan-quota"))
    hard, used = quota["spec"]["hard"], quota["status"]["used"]
    note(f"(d) planned 3 -> 5 then image roll admitted; quota hard {hard}, used {used}")
    # Rejected by mlplan: 5 -> 7 needs ceil(8.4) = 9 x 4 = 36 > 32 (MLP401).
    edit_deployment(folder, "blue", instance_count=7)
    plan = mlplan(project_copy, "plan", "--stack", "k")
    assert plan.returncode == 1 and "MLP401" in plan.stdout + plan.stderr, plan.stdout
    # Forced past mlplan: the ResourceQuota (6 blue pods, 3 routers) lets one more blue pod in.
    api.merge_patch(ns_path(namespace, "deployments", "quota-blue"), {"spec": {"replicas": 7}})

    def refused() -> list[str]:
        return [e["message"] for e in api.items(ns_path(namespace, "events"))
                if e.get("reason") == "FailedCreate" and "exceeded quota" in e["message"]]

    messages = wait_for("the API server refusing blue's 7th pod", refused, 30)
    time.sleep(3)
    blue = [p for p in api.items(ns_path(namespace, "pods") +
                                 f"?labelSelector={labels.DEPLOYMENT}=blue")
            if not p["metadata"].get("deletionTimestamp")]
    direct = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "extra"},
              "spec": {"containers": [{"name": "c", "image": "x", "resources": {
                  "requests": {"cpu": "4", "memory": "14Gi"},
                  "limits": {"cpu": "4", "memory": "14Gi"}}}]}}
    with pytest.raises(ApiError) as info:
        api.create(ns_path(namespace, "pods"), direct)
    note(f"(d) forced 5 -> 7 past mlplan (MLP401): {len(blue)} blue pods admitted, refusal: "
         f"{messages[0][:200]}; a direct pod: {info.value.status} {info.value.message[:160]}")
    assert len(blue) == 6, len(blue)
    assert info.value.status == 403 and "exceeded quota" in info.value.message


# --- (e) a split change restarts no instance -------------------------------------------------


@pytest.mark.parametrize("mode", ["nginx", "gateway-api"])
def test_split_change_keeps_instance_pods(
    mode: str, cluster: kube.Cluster, api: Api, namespace: str, project_copy: Path,
    pulumi_in: Any,
) -> None:
    """90/10 -> 50/50: every instance pod keeps its UID; in nginx mode only the router rolls,
    in gateway-api mode only the HTTPRoute (validated by the real CRD) changes."""
    folder = write_endpoint(project_copy, "split", "split", {
        "blue": {"instance_count": 2, "readiness_probe": FAST_PROBE},
        "green": {"instance_count": 2, "readiness_probe": FAST_PROBE}},
        {"blue": 90, "green": 10})
    settings: dict[str, Any] = {"routerMode": mode, "routerReplicas": 2}
    if mode == "gateway-api":
        settings.update({"gatewayRef": {"name": "gw", "namespace": namespace},
                         "hostname": "{endpoint}.example.test"})
    write_stack(project_copy, "k", namespace, endpoints=["stacks/split/endpoints"], **settings)
    pulumi = bind(pulumi_in(project_copy), cluster)
    pulumi.run("stack", "init", "k")
    up(pulumi)

    def uids(role: str) -> set[str]:
        return {p["metadata"]["uid"] for p in api.items(ns_path(namespace, "pods") +
                                                       f"?labelSelector={labels.ROLE}={role}")
                if not p["metadata"].get("deletionTimestamp")}

    instances, routers = uids("instance"), uids("router")
    route_before = api.get(ns_path(namespace, "httproutes", "split")) if mode != "nginx" else None
    edit_endpoint(folder, traffic={"blue": 50, "green": 50})
    up(pulumi)
    assert uids("instance") == instances
    if mode == "nginx":
        after = uids("router")
        assert len(after) == 2 and not after & routers, (routers, after)
        note(f"(e) nginx: {len(instances)} instance pods kept their UIDs; router pods "
             f"replaced ({len(routers)} -> {len(after)} new)")
    else:
        assert routers == set() == uids("router")
        route = api.get(ns_path(namespace, "httproutes", "split"))
        assert route_before is not None
        weights = {b["name"]: b["weight"] for b in route["spec"]["rules"][-1]["backendRefs"]}
        assert weights == {"split-blue": 50, "split-green": 50}, weights
        assert route["metadata"]["generation"] == route_before["metadata"]["generation"] + 1
        note(f"(e) gateway-api: {len(instances)} instance pods kept their UIDs; HTTPRoute "
             f"generation {route_before['metadata']['generation']} -> "
             f"{route['metadata']['generation']}, weights {weights}")


# --- (f) policy pack against the live cluster, destroy -----------------------------------------


def test_policy_preview_and_destroy_leave_nothing(
    cluster: kube.Cluster, api: Api, namespace: str, project_copy: Path, pulumi_in: Any,
    tmp_path: Path,
) -> None:
    """``pulumi preview --policy-pack policies/`` passes against the live stack (and fails with
    the rule code when the pack's quota is smaller); ``pulumi destroy`` leaves no mlplan-labelled
    object in the namespace."""
    from tests.engine.test_engine_smoke import policy_pack_copy

    write_stack(project_copy, "k", namespace, resourceQuota=True)
    pulumi = bind(pulumi_in(project_copy), cluster)
    pulumi.run("stack", "init", "k")
    up(pulumi)
    assert mlplan_objects(api, namespace)
    pack = policy_pack_copy(tmp_path)
    passing = pulumi.run("preview", "--policy-pack", str(pack), check=False)
    assert passing.returncode == 0, passing.stdout[-3000:] + passing.stderr[-3000:]
    config = tmp_path / "pack-config.json"
    config.write_text('{"mlplan-quota": {"quota": {"total": 10}}}', encoding="utf-8")
    failing = pulumi.run("preview", "--policy-pack", str(pack), "--policy-pack-config",
                         str(config), check=False)
    assert failing.returncode != 0 and "MLP402" in failing.stdout + failing.stderr
    start = time.monotonic()
    pulumi.run("destroy", "--yes", "--skip-preview")
    took = time.monotonic() - start
    wait_for("no mlplan-labelled object", lambda: not mlplan_objects(api, namespace), 60)
    left = mlplan_objects(api, namespace)
    quota_left = api.items(ns_path(namespace, "resourcequotas"))
    note(f"(f) policy preview passed, quota-10 pack failed with MLP402; destroy {took:.0f} s, "
         f"left: {left or 'nothing'}")
    assert left == [] and quota_left == []
