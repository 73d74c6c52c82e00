"""mlplan's Kubernetes target on a real node (``real_cluster``: containerd, kubelet, kube-proxy;
``node.py``): the inference and router pods run the e2e images (real azmlinfsrv, real nginx),
readiness comes from real probes, and a client on the host streams requests through the router
Service's ClusterIP (kube-proxy) while ``pulumi up`` changes the endpoint.

Each scenario: requests counted and failed, pods watched through the API (``observe.py``:
peak pods, fewest Ready), printed in the suite's summary.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlplan.domain import labels
from mlplan.planning.rollout import batch_size
from mlplan.targets.kubernetes import choices as ko
from tests.dataplane.harness import Client, Stream, chi_square_p, failures
from tests.engine.conftest import VENV
from tests.engine.kube import cluster as kube
from tests.engine.kube.api import Api, Recorder
from tests.engine.kube.node import NODE_NAME
from tests.engine.kube.observe import pod_timeline, rs_sequence
from tests.engine.kube.project import (
    bind,
    edit_deployment,
    edit_endpoint,
    write_endpoint,
    write_stack,
)
from tests.engine.kube.test_endpoints import note, ns_path

pytestmark = pytest.mark.e2e

ENDPOINT = "real"
HEADER = "azureml-model-deployment"
#: A size that fits the 2-core node: 5 instances + a surge pod + 2 routers + 1 surge router.
SMALL = {"e2e-small": {"cpu": "200m", "memory": "384Mi", "family": "e2eSmallFamily"}}
PROBE = {"initial_delay": 2, "period": 2, "timeout": 2, "failure_threshold": 60}
LIVENESS = {"initial_delay": 60, "period": 10, "timeout": 5, "failure_threshold": 30}
BLUE_ANSWER = 2.049
STREAM_RATE = 8  # requests per second per stream thread (bounded load on a shared machine)
STREAM_CAP = 20_000


def declare(project: Path, namespace: str, cluster: kube.Cluster,
            deployments: dict[str, dict[str, Any]], traffic: dict[str, int],
            mirror: dict[str, int] | None = None, **settings: Any) -> Path:
    """The endpoint ``real`` with ``deployments`` (small instances of the e2e inference image,
    fast real probes) and the stack ``k`` on the real cluster (the e2e router image);
    ``settings`` go to ``mlplan:kubernetes``."""
    specs = {name: {"instance_type": "e2e-small", "readiness_probe": PROBE,
                    "liveness_probe": LIVENESS,
                    "environment": {"image": cluster.images["inference"]}, **fields}
             for name, fields in deployments.items()}
    folder = write_endpoint(project, "real", ENDPOINT, specs, traffic, mirror)
    write_stack(project, "k", namespace, endpoints=["stacks/real/endpoints"],
                quota={"e2eSmallFamily": 4, "total": 4}, routerReplicas=2,
                routerImage=cluster.images["router"], **settings)
    stack = project / "stacks" / "Pulumi.k.yaml"
    doc = yaml.safe_load(stack.read_text("utf-8"))
    doc["config"]["mlplan:instanceTypes"] = SMALL
    doc["config"]["mlplan:environment"] = "development"
    stack.write_text(yaml.safe_dump(doc, sort_keys=False), "utf-8")
    return folder


def up(pulumi: Any) -> float:
    start = time.monotonic()
    pulumi.run("up", "--yes", "--skip-preview")
    return time.monotonic() - start


def router_client(api: Api, ns: str) -> tuple[str, int]:
    """The router Service's ClusterIP and port (reached from the host through kube-proxy)."""
    service = api.get(ns_path(ns, "services", ko.router_name(ENDPOINT)))
    return service["spec"]["clusterIP"], ko.ROUTER_SERVICE_PORT


def primary_key(api: Api, ns: str) -> str:
    secret = api.get(ns_path(ns, "secrets", ko.keys_secret_name(ENDPOINT)))
    return base64.b64decode(secret["data"]["primary-key"]).decode()


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def pods(api: Api, ns: str, selector: str) -> list[dict[str, Any]]:
    return [p for p in api.items(ns_path(ns, "pods") + f"?labelSelector={selector}")
            if not p["metadata"].get("deletionTimestamp")]


def ready_seconds(pod: dict[str, Any]) -> float:
    """Pod creation to Ready=True (the API's second-resolution timestamps)."""
    from datetime import datetime

    created = datetime.fromisoformat(pod["metadata"]["creationTimestamp"].replace("Z", "+00:00"))
    ready = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
    when = datetime.fromisoformat(ready["lastTransitionTime"].replace("Z", "+00:00"))
    return (when - created).total_seconds()


def instance_selector(deployment: str) -> str:
    return f"{labels.DEPLOYMENT}={deployment},{labels.ROLE}=instance"


def router_selector() -> str:
    return f"{labels.ENDPOINT}={ENDPOINT},{labels.ROLE}=router"


def summary(results: list[Any]) -> str:
    bad = failures(results)
    kinds = Counter(r.status if r.status else r.error.split("(")[0] for r in bad)
    return f"{len(results)} requests, {len(bad)} failed {dict(kinds)}"


def test_up_on_real_pods_answers_with_keys(
    real_cluster: kube.Cluster, real_api: Api, real_namespace: str, project_copy: Path,
    pulumi_in: Any,
) -> None:
    """(a) blue + green come up on the real node: pods Running and Ready from real readiness
    probes against azmlinfsrv; through the router Service the key scores with the model, no key
    is 401, the header pins green."""
    api, ns = real_api, real_namespace
    declare(project_copy, ns, real_cluster, {
        "blue": {"instance_count": 1},
        "green": {"instance_count": 1, "environment_variables": {"SCORE_SCALE": "1.1"}}},
        {"blue": 90, "green": 10})
    pulumi = bind(pulumi_in(project_copy), real_cluster)
    pulumi.run("stack", "init", "k")
    took = up(pulumi)
    started: dict[str, float] = {}
    for name in ("blue", "green"):
        (pod,) = pods(api, ns, instance_selector(name))
        assert pod["spec"]["nodeName"] == NODE_NAME
        assert pod["status"]["phase"] == "Running"
        (status,) = pod["status"]["containerStatuses"]
        assert status["ready"] and status["started"], status
        started[name] = ready_seconds(pod)
    routers = pods(api, ns, router_selector())
    assert len(routers) == 2 and all(p["status"]["phase"] == "Running" for p in routers)
    host, port = router_client(api, ns)
    key = primary_key(api, ns)
    client = Client(port, host=host, timeout=15)
    answer = client.request(headers=auth(key))
    assert answer.status == 200, answer
    assert answer.deployment in ("blue", "green")
    assert answer.json()["predictions"] in ([BLUE_ANSWER], [round(1.1 * BLUE_ANSWER, 6)])
    assert client.request().status == 401
    assert client.request(headers=auth("not-the-key-" + "x" * 20)).status == 401
    pinned = client.request(headers={**auth(key), HEADER: "green"})
    assert (pinned.status, pinned.deployment) == (200, "green")
    assert pinned.json()["predictions"] == [round(1.1 * BLUE_ANSWER, 6)]
    pulumi.run("preview", "--expect-no-changes")
    note(f"(real a) pulumi up {took:.0f} s; pod creation to Ready {started}; scoring through "
         f"the router Service {host}:{port}: 200 with the key, 401 without, header -> green")


def test_image_change_rolls_real_pods_without_a_failed_request(
    real_cluster: kube.Cluster, real_api: Api, real_namespace: str, project_copy: Path,
    pulumi_in: Any,
) -> None:
    """(b) An image change of 5 instances under a request stream: batches of ceil(0.2 x 5) = 1
    surge pod, never fewer than 5 Ready, every request answered, ``pulumi up`` returns when
    the roll is complete."""
    api, ns, n = real_api, real_namespace, 5
    folder = declare(project_copy, ns, real_cluster, {"blue": {"instance_count": n}},
                     {"blue": 100})
    pulumi = bind(pulumi_in(project_copy), real_cluster)
    pulumi.run("stack", "init", "k")
    up(pulumi)
    host, port = router_client(api, ns)
    key = primary_key(api, ns)
    selector = instance_selector("blue")
    edit_deployment(folder, "blue", image=real_cluster.images["inference_r2"])
    watch = Recorder(api, ns_path(ns, "pods") + f"?labelSelector={selector}").start()
    sets = Recorder(api, ns_path(ns, "replicasets") + f"?labelSelector={selector}").start()
    with Stream(port, threads=2, host=host, headers=auth(key), rate=STREAM_RATE,
                max_requests=STREAM_CAP) as stream:
        stream.wait_count(20, timeout=60)
        took = up(pulumi)
        stream.wait_count(20, timeout=60)
    results = stream.results
    time.sleep(1)  # the last deletions reach the watch
    seen = pod_timeline(watch.stop())
    replica_sets = rs_sequence(sets.stop())
    batch = batch_size(n)
    note(f"(real b) image change of {n}: {summary(results)}; pulumi up {took:.0f} s; observed "
         f"{seen.describe()}; ReplicaSets (old, new) {replica_sets}")
    assert len(results) < STREAM_CAP
    assert failures(results) == [], summary(results)
    assert seen.images == {real_cluster.images["inference_r2"]: n}, seen.images
    assert seen.final_pods == seen.final_ready == n
    assert seen.min_ready >= n, seen.describe()
    assert seen.peak_pods == n + batch, seen.describe()
    news = [s[-1] for s in replica_sets if len(s) == 2]
    assert all(b - a <= batch for a, b in itertools.pairwise(news)), replica_sets


def test_split_and_mirror_change_roll_only_the_router(
    real_cluster: kube.Cluster, real_api: Api, real_namespace: str, project_copy: Path,
    pulumi_in: Any,
) -> None:
    """(c) 90/10 -> 50/50, then blue 100 with a 10% mirror to green, under a request stream:
    only the router pods are replaced, the instance pods keep their UIDs, no request fails; the
    50/50 split measured (chi-square) and the mirrored share counted in green's own log."""
    api, ns = real_api, real_namespace
    folder = declare(project_copy, ns, real_cluster, {
        "blue": {"instance_count": 1},
        "green": {"instance_count": 1, "environment_variables": {"SCORE_SCALE": "1.1"}}},
        {"blue": 90, "green": 10})
    pulumi = bind(pulumi_in(project_copy), real_cluster)
    pulumi.run("stack", "init", "k")
    up(pulumi)
    host, port = router_client(api, ns)
    key = primary_key(api, ns)
    instance_sel = f"{labels.ENDPOINT}={ENDPOINT},{labels.ROLE}=instance"
    uids_before = {p["metadata"]["uid"] for p in pods(api, ns, instance_sel)}
    routers_before = {p["metadata"]["uid"] for p in pods(api, ns, router_selector())}
    outcome: dict[str, str] = {}
    for step, change in (("split 50/50", {"traffic": {"blue": 50, "green": 50}}),
                         ("mirror 10%", {"traffic": {"blue": 100, "green": 0},
                                         "mirror_traffic": {"green": 10}})):
        edit_endpoint(folder, **change)
        with Stream(port, threads=2, host=host, headers=auth(key), rate=STREAM_RATE,
                    max_requests=STREAM_CAP) as stream:
            stream.wait_count(10, timeout=60)
            took = up(pulumi)
            stream.wait_count(10, timeout=60)
        results = stream.results
        outcome[step] = f"{summary(results)}, pulumi up {took:.0f} s"
        assert failures(results) == [], (step, summary(results))
        assert {p["metadata"]["uid"] for p in pods(api, ns, instance_sel)} == uids_before
        routers_after = {p["metadata"]["uid"] for p in pods(api, ns, router_selector())}
        assert routers_after and not routers_after & routers_before, step
        routers_before = routers_after
    # the mirror, counted in green's own access log: 400 requests, 10% expected there
    (green,) = pods(api, ns, instance_selector("green"))
    before = scored(real_cluster, green)
    client = Client(port, host=host, timeout=15)
    answered = Counter(client.request(headers=auth(key)).deployment for _ in range(400))
    time.sleep(2)  # mirrored copies are sent in the background
    mirrored = scored(real_cluster, green) - before
    p = chi_square_p({"mirrored": mirrored, "not": 400 - mirrored},
                     {"mirrored": 0.1, "not": 0.9})
    note(f"(real c) {outcome}; then 400 requests: answered by {dict(answered)}, {mirrored} "
         f"mirrored to green (its access log), chi-square p = {p:.3f}")
    assert set(answered) == {"blue"}, answered  # green serves no live traffic
    assert p > 0.001, (mirrored, p)


def scored(cluster: kube.Cluster, pod: dict[str, Any]) -> int:
    """POST /score requests ``pod``'s inference container answered: its gunicorn access lines
    in the log the kubelet writes on the real node."""
    assert cluster.node is not None
    meta = pod["metadata"]
    folder = cluster.node.pod_logs / f"{meta['namespace']}_{meta['name']}_{meta['uid']}"
    text = "".join(p.read_text(errors="replace") for p in folder.glob("inference/*.log"))
    return len(re.findall(r'gunicorn\.access - .*"POST /score HTTP/1\.[01]" \d{3}', text))


def test_split_is_measured_on_real_pods(
    real_cluster: kube.Cluster, real_api: Api, real_namespace: str, project_copy: Path,
    pulumi_in: Any,
) -> None:
    """The router's 50/50 split over real pods: 400 requests, chi-square p > 0.001."""
    api, ns = real_api, real_namespace
    declare(project_copy, ns, real_cluster, {
        "blue": {"instance_count": 1},
        "green": {"instance_count": 1, "environment_variables": {"SCORE_SCALE": "1.1"}}},
        {"blue": 50, "green": 50})
    pulumi = bind(pulumi_in(project_copy), real_cluster)
    pulumi.run("stack", "init", "k")
    up(pulumi)
    host, port = router_client(api, ns)
    client = Client(port, host=host, timeout=15)
    key = primary_key(api, ns)
    answered = Counter(client.request(headers=auth(key)).deployment for _ in range(400))
    p = chi_square_p(answered, {"blue": 0.5, "green": 0.5})
    note(f"(real split) 50/50: {dict(answered)}, chi-square p = {p:.3f}")
    assert set(answered) == {"blue", "green"} and p > 0.001, (answered, p)


#: Scenario (e)'s readiness probe: one batch's budget, the Deployment's progressDeadlineSeconds,
#: is 2 + 2 x 10 + 2 + 50 = 74 s (``ko.progress_deadline_seconds``).
FAIL_FAST_PROBE = {"initial_delay": 2, "period": 2, "timeout": 2, "failure_threshold": 10}
BROKEN = [
    # scenario, the broken image (from the cluster's images)
    ("image that cannot be pulled", lambda images: "127.0.0.1:9/mlplan-e2e/missing:1"),
    ("wrong image: runs, never Ready on the scoring port", lambda images: images["router"]),
]


@pytest.mark.parametrize(("name", "broken"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_image_fails_up_at_the_first_batch(
    name: str, broken: Any, real_cluster: kube.Cluster, real_api: Api, real_namespace: str,
    project_copy: Path, pulumi_in: Any,
) -> None:
    """(e) A broken image for 3 instances under a request stream: the controller stalls at the
    first surge batch (ceil(0.2 x 3) = 1 pod), marks the rollout ``ProgressDeadlineExceeded``
    one batch budget later, and ``pulumi up`` fails then with that reason (not the Pulumi
    timeout of every batch); the old pods keep serving, the stream sees no failure. Reverting
    the image rolls back with ``pulumi up``."""
    api, ns, n = real_api, real_namespace, 3
    folder = declare(project_copy, ns, real_cluster, {
        "blue": {"instance_count": n, "readiness_probe": FAIL_FAST_PROBE}}, {"blue": 100})
    pulumi = bind(pulumi_in(project_copy), real_cluster)
    pulumi.run("stack", "init", "k")
    up(pulumi)
    host, port = router_client(api, ns)
    key = primary_key(api, ns)
    selector = instance_selector("blue")
    serving = {p["metadata"]["uid"] for p in pods(api, ns, selector)}
    deployment = ko.deployment_name(ENDPOINT, "blue")
    spec = api.get(f"/apis/apps/v1/namespaces/{ns}/deployments/{deployment}")["spec"]
    deadline = spec["progressDeadlineSeconds"]
    edit_deployment(folder, "blue", image=broken(real_cluster.images))
    watch = Recorder(api, ns_path(ns, "pods") + f"?labelSelector={selector}").start()
    with Stream(port, threads=2, host=host, headers=auth(key), rate=STREAM_RATE,
                max_requests=STREAM_CAP) as stream:
        stream.wait_count(20, timeout=60)
        start = time.monotonic()
        failed = pulumi.run("up", "--yes", "--skip-preview", check=False)
        took = time.monotonic() - start
        stream.wait_count(20, timeout=60)
    results = stream.results
    time.sleep(1)
    seen = pod_timeline(watch.stop())
    out = failed.stdout + failed.stderr
    still = {p["metadata"]["uid"] for p in pods(api, ns, selector)
             if p["metadata"]["uid"] in serving and p["status"].get("containerStatuses")
             and all(c["ready"] for c in p["status"]["containerStatuses"])}
    edit_deployment(folder, "blue", image=real_cluster.images["inference"])
    back = up(pulumi)
    final = pod_timeline(Recorder(api, ns_path(ns, "pods") + f"?labelSelector={selector}")
                         .start().stop())
    note(f"(real e) {name}: pulumi up exit {failed.returncode} after {took:.0f} s "
         f"(progressDeadlineSeconds {deadline}, Pulumi timeout "
         f"{ko.DEFAULT_AWAIT_S}+); {summary(results)}; observed {seen.describe()}; "
         f"revert rolled back in {back:.0f} s")
    assert failed.returncode != 0, out[-3000:]
    assert f"Deployment {deployment}: the rollout stalled (ProgressDeadlineExceeded" in out, \
        out[-3000:]
    assert "Traceback" not in out, out[-3000:]  # a pulumi.RunError: the message alone
    assert failures(results) == [], summary(results)
    assert still == serving, (still, serving)  # every old pod Ready after the failed up
    assert seen.min_ready >= n, seen.describe()
    assert seen.peak_pods == n + batch_size(n), seen.describe()  # the first batch only
    assert final.final_pods == final.final_ready == n, final.describe()
    assert final.images == {real_cluster.images["inference"]: n}, final.images


PROMOTIONS = [
    # scenario, candidate, its variables (tests/engine/test_docker_promote.py's script), exit,
    # the gates' stages when promoted (None: rolled back at the canary)
    ("a healthy candidate is promoted through every step", "green", {"SCORE_SCALE": "1.1"}, 0,
     ["canary", "step", "promoted"]),
    ("a candidate failing 5% is rolled back by the canary gate", "red",
     {"CANDIDATE_MODE": "fail-5-percent"}, 1, None),
]


@pytest.mark.parametrize(("name", "candidate", "variables", "exit_code", "stages"), PROMOTIONS,
                         ids=[p[0] for p in PROMOTIONS])
def test_promote_apply_on_real_pods(
    name: str, candidate: str, variables: dict[str, str], exit_code: int,
    stages: list[str] | None, real_cluster: kube.Cluster, real_api: Api, real_namespace: str,
    project_copy: Path, pulumi_in: Any, tmp_path: Path,
) -> None:
    """(d) ``mlplan promote --apply`` 10 -> 50 -> 100 under a request stream: each step a real
    ``pulumi up`` (the router pods roll), each gate judging the candidate's real requests read
    from the router pods' logs through the Kubernetes API; the scoring URI is the stack's
    ``hostname`` (the node's bridge address, forwarded to the router Service as an ingress
    would). A healthy candidate ends with all traffic and no failed request; a failing one
    is stopped at the canary and all live traffic returns to blue."""
    from tests.engine.kube.forward import Forward
    from tests.engine.kube.node import NODE_IP
    from tests.engine.test_docker_promote import CANDIDATE_SCORE

    api, ns = real_api, real_namespace
    code: dict[str, Any] = {}
    if candidate == "red":
        folder = project_copy / "stacks" / "candidate-score"
        folder.mkdir(exist_ok=True)
        (folder / "score.py").write_text(CANDIDATE_SCORE, encoding="utf-8")
        code = {"code_configuration": {"code": "../../../candidate-score",
                                       "scoring_script": "score.py"}}
    folder = declare(project_copy, ns, real_cluster, {
        "blue": {"instance_count": 1},
        candidate: {"instance_count": 1, "environment_variables": variables, **code}},
        {"blue": 100, candidate: 0}, hostname=NODE_IP)
    pulumi = bind(pulumi_in(project_copy), real_cluster)
    pulumi.run("stack", "init", "k")
    up(pulumi)
    host, port = router_client(api, ns)
    key = primary_key(api, ns)
    sample = tmp_path / "sample.json"
    sample.write_text('{"data": [[5.1, 3.5, 1.4, 0.2]]}', encoding="utf-8")
    with Forward((NODE_IP, 80), (host, port)), Stream(
            port, threads=2, host=host, headers=auth(key), rate=STREAM_RATE,
            max_requests=STREAM_CAP) as stream:
        stream.wait_count(20, timeout=60)
        start = time.monotonic()
        done = subprocess.run(
            [str(VENV / "bin" / "mlplan"), "promote", ENDPOINT, "--to", candidate, "--stack",
             "k", "--apply", "--steps", "10,50,100", "--bake", "6", "--sample", str(sample),
             "--format", "json"], cwd=project_copy, env=dict(pulumi.env), capture_output=True,
            text=True, timeout=1200, check=False)
        took = time.monotonic() - start
        stream.wait_count(20, timeout=60)
    results = stream.results
    assert done.stdout.strip(), done.stderr[-3000:]
    applied = json.loads(done.stdout)["applied"]
    gates = [f"{g['stage']} {'passed' if g['ok'] else 'FAILED'} ({g['real_requests']} real, "
             f"{g['source']})" for g in applied["gates"]]
    answered = Counter(r.deployment for r in results if not r.error)
    note(f"(real d) {name}: promote exit {done.returncode} in {took:.0f} s; {summary(results)}; "
         f"answered by {dict(answered)}; gates {gates}")
    assert done.returncode == exit_code, done.stderr[-3000:]
    for gate in applied["gates"]:
        assert gate["source"] == "router log" and gate["real_requests"] > 0, gate
    endpoint = yaml.safe_load((folder / "endpoint.yml").read_text("utf-8"))
    client = Client(port, host=host, timeout=15)
    after = Counter(client.request(headers=auth(key)).deployment for _ in range(30))
    if stages is not None:
        assert [g["stage"] for g in applied["gates"]] == stages, applied["gates"]
        assert failures(results) == [], summary(results)
        assert endpoint["traffic"][candidate] == 100, endpoint
        assert set(after) == {candidate}, after
        return
    assert applied["rolled_back"] and applied["failed_step"] == 1, applied
    assert "all live traffic is back on blue 100%, mirror off" in done.stderr, done.stderr[-3000:]
    # a 500 has no JSON body: the router's response header names who answered
    assert {r.headers.get(HEADER) for r in failures(results)} <= {candidate}, summary(results)
    assert endpoint["traffic"] == {"blue": 100, candidate: 0}, endpoint
    assert set(after) == {"blue"}, after
