"""Issue 27 items 7 and 9 on a real API server: the instance NetworkPolicy and the deployment
environment's Secret are accepted as mlplan plans them (admission and schema are the API
server's), the instance pods are the ones the policy selects, the router's are not, and the
Deployment reads its variables by ``secretKeyRef`` (kwok's cluster). On the real node, with
NetworkPolicy enforced (``policy_enforcer.py``: kube-network-policies as a host process), a pod
of the namespace that is not the router is refused at an instance's port while the router still
reaches it, and the same pod reaches the instance once the policy is turned off."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlplan.domain import labels
from mlplan.planning.routing import INFERENCE_PORT
from mlplan.targets.kubernetes import choices as ko
from tests.dataplane.harness import Client
from tests.engine.kube import cluster as kube
from tests.engine.kube import policy_enforcer
from tests.engine.kube.api import Api, wait_for
from tests.engine.kube.project import bind, edit_deployment, write_stack
from tests.engine.kube.test_endpoints import ENDPOINT, note, ns_path
from tests.engine.kube.test_real_pods import ENDPOINT as REAL_ENDPOINT
from tests.engine.kube.test_real_pods import (
    auth,
    declare,
    instance_selector,
    pods,
    primary_key,
    router_client,
    router_selector,
    up,
)

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


# --- enforced on the real node ------------------------------------------------------------------

#: Runs in a pod: one TCP connection per ``host:port`` argument (3 s), ``GET /`` on it; prints
#: ``PROBE {target: "answered <status line>" | "timeout" | "refused" | "error ..."}``.
PROBE_SCRIPT = """
import json, socket, sys
out = {}
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    s = socket.socket()
    s.settimeout(3)
    try:
        s.connect((host, int(port)))
        s.sendall(b"GET / HTTP/1.0\\r\\nHost: probe\\r\\n\\r\\n")
        line = s.recv(128).split(b"\\r\\n")[0].decode("latin-1")
        out[target] = "answered " + line
    except socket.timeout:
        out[target] = "timeout"
    except ConnectionRefusedError:
        out[target] = "refused"
    except OSError as e:
        out[target] = "error " + type(e).__name__
    finally:
        s.close()
print("PROBE " + json.dumps(out), flush=True)
"""
#: Pods that are not the router: a plain workload, and one labelled like an instance of another
#: deployment of the same endpoint (instances do not reach each other either).
INTRUDERS = {
    "plain": {"app": "intruder"},
    "instance-lookalike": {labels.ENDPOINT: REAL_ENDPOINT, labels.ROLE: "instance",
                           labels.DEPLOYMENT: "other"},
}


@pytest.fixture(scope="module")
def enforced(real_cluster: kube.Cluster) -> Iterator[policy_enforcer.Enforcer]:
    """kube-network-policies enforcing NetworkPolicy on the real node for this module only."""
    assert real_cluster.node is not None
    try:
        enforcer = policy_enforcer.start(real_cluster.node.bin_dir, real_cluster.kubeconfig,
                                         real_cluster.run_dir / "logs")
    except (policy_enforcer.EnforcerError, AssertionError) as e:
        pytest.fail(f"NetworkPolicy enforcement did not start: {e}")
    try:
        yield enforcer
    finally:
        enforcer.stop()


def probe_from_pod(cluster: kube.Cluster, api: Api, ns: str, name: str,
                   pod_labels: dict[str, str], targets: list[str]) -> dict[str, str]:
    """Run ``PROBE_SCRIPT`` in a pod ``name`` of ``ns`` (the e2e inference image, which has
    python3) and return its outcome per target; the pod is deleted afterwards."""
    assert cluster.node is not None
    api.create(ns_path(ns, "pods"), {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": pod_labels},
        "spec": {"restartPolicy": "Never", "automountServiceAccountToken": False,
                 "enableServiceLinks": False, "terminationGracePeriodSeconds": 1,
                 "containers": [{
                     "name": "probe", "image": cluster.images["inference"],
                     "imagePullPolicy": "IfNotPresent",
                     "command": ["python3", "-c", PROBE_SCRIPT, *targets],
                     "resources": {"requests": {"cpu": "50m", "memory": "64Mi"},
                                   "limits": {"cpu": "200m", "memory": "128Mi"}}}]}})
    try:
        done = wait_for(f"probe pod {name}", lambda: (
            p if (p := api.get(ns_path(ns, "pods", name)))["status"].get("phase")
            in ("Succeeded", "Failed") else None), 120)
        meta = done["metadata"]
        folder = cluster.node.pod_logs / f"{meta['namespace']}_{meta['name']}_{meta['uid']}"
        text = "".join(p.read_text(errors="replace") for p in folder.glob("probe/*.log"))
        found = [line.split("PROBE ", 1)[1] for line in text.splitlines() if "PROBE " in line]
        assert done["status"]["phase"] == "Succeeded" and found, (done["status"], text[-2000:])
        outcome: dict[str, str] = json.loads(found[-1])
        return outcome
    finally:
        api.delete(ns_path(ns, "pods", name))


def test_only_the_router_reaches_instances_on_a_real_node(
    enforced: policy_enforcer.Enforcer, real_cluster: kube.Cluster, real_api: Api,
    real_namespace: str, project_copy: Path, pulumi_in: Any,
) -> None:
    """Issue 27 item 7 with the policy enforced: pods of the namespace that are not the router
    (a plain pod, a pod labelled like another deployment's instance) get no connection to an
    instance pod's port, neither by pod IP nor through the deployment's Service, while they do
    reach a router pod (their network works); the router reaches the instance (scoring with the
    key answers 200, without it 401). With ``networkPolicy.enabled: false`` the same probe
    reaches the instance: the refusal is the policy's."""
    api, ns = real_api, real_namespace
    declare(project_copy, ns, real_cluster, {"blue": {"instance_count": 1}}, {"blue": 100})
    pulumi = bind(pulumi_in(project_copy), real_cluster)
    pulumi.run("stack", "init", "k")
    took = up(pulumi)
    (instance,) = pods(api, ns, instance_selector("blue"))
    routers = pods(api, ns, router_selector())
    service = api.get(ns_path(ns, "services", ko.deployment_name(REAL_ENDPOINT, "blue")))
    instance_ip = instance["status"]["podIP"]
    targets = {"instance pod": f"{instance_ip}:{INFERENCE_PORT}",
               "instance Service": f"{service['spec']['clusterIP']}:{INFERENCE_PORT}",
               "router pod": f"{routers[0]['status']['podIP']}:{ko.ROUTER_LISTEN_PORT}"}
    enforced.check_alive()

    seen: dict[str, dict[str, str]] = {}
    for n, (who, pod_labels) in enumerate(INTRUDERS.items()):
        outcome = probe_from_pod(real_cluster, api, ns, f"intruder-{n}", pod_labels,
                                 list(targets.values()))
        seen[who] = {what: outcome[t] for what, t in targets.items()}
    log = enforced.drops()[-10:]
    for who, outcome in seen.items():
        assert outcome["instance pod"] in ("timeout", "refused"), (who, outcome, log)
        assert outcome["instance Service"] in ("timeout", "refused"), (who, outcome, log)
        assert re.fullmatch(r"answered HTTP/1\.[01] \d{3} .*", outcome["router pod"]), (
            who, outcome, log)

    host, port = router_client(api, ns)
    client = Client(port, host=host, timeout=15)
    key = primary_key(api, ns)
    answers = [client.request(headers=auth(key)) for _ in range(20)]
    assert [a.status for a in answers] == [200] * 20, (
        [(a.status, a.deployment, a.error) for a in answers], enforced.drops()[-10:])
    assert client.request().status == 401
    enforced.check_alive()

    stack = project_copy / "stacks" / "Pulumi.k.yaml"
    doc = yaml.safe_load(stack.read_text("utf-8"))
    doc["config"]["mlplan:kubernetes"]["networkPolicy"] = {"enabled": False}
    stack.write_text(yaml.safe_dump(doc, sort_keys=False), "utf-8")
    up(pulumi)
    assert _policies(api, ns) == []
    opened = probe_from_pod(real_cluster, api, ns, "intruder-open", INTRUDERS["plain"],
                            [targets["instance pod"]])
    assert re.fullmatch(r"answered HTTP/1\.[01] 200 .*", opened[targets["instance pod"]]), (
        opened, enforced.drops()[-10:])
    refused = "; ".join(f"{who}: {o['instance pod']} / {o['instance Service']}"
                        for who, o in seen.items())
    note(f"item 7 (real node, kube-network-policies): pulumi up {took:.0f} s; non-router pods "
         f"-> instance pod / Service: {refused}; -> router pod: {seen['plain']['router pod']}; "
         f"through the router with the key: 20 x 200, without: 401; policy disabled -> "
         f"instance pod {opened[targets['instance pod']]}")
