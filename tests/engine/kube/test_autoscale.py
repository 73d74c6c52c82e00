"""(real f) ``target_utilization`` scale settings on the real node: the HorizontalPodAutoscaler
mlplan renders scales a deployment out under a CPU load from the host and back in when it stops,
reading real CPU use through metrics-server (``metrics_server.py``), under the ResourceQuota
mlplan renders from its quota check (``resourceQuota: true``).

The load: the deployment's scoring script burns ``BURN_MS`` of CPU per request (its own thread's
CPU time, so a slow shared machine changes the wall time, not the work) and a closed-loop
stream from the host (2 threads, at most 8 requests/s each, through the router Service's
ClusterIP) asks for it: about 16 x 15 ms = 240m of CPU with the server's own work, more than one
200m instance can give, and 40% each over 3 instances, above the 30% target. Idle, an instance
uses a few millicores (readiness probes), far under the 10% that lets the HPA come back to one.

The HPA's timing is the cluster's (``cluster.HPA_SYNC_PERIOD``, ``HPA_DOWNSCALE_STABILIZATION``):
an HPA has no per-object sync period, and mlplan renders Azure's ``polling_interval`` as nothing
(README "Autoscaling").
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlplan.planning.rollout import batch_size
from mlplan.targets.kubernetes import choices as ko
from tests.dataplane.harness import Stream, failures
from tests.engine.kube import cluster as kube
from tests.engine.kube import metrics_server
from tests.engine.kube.api import Api, Recorder
from tests.engine.kube.metrics_server import millis
from tests.engine.kube.observe import Event, pod_timeline
from tests.engine.kube.project import bind, edit_deployment, mlplan
from tests.engine.kube.test_endpoints import note, ns_path, planned_quota
from tests.engine.kube.test_real_pods import (
    auth,
    declare,
    instance_selector,
    primary_key,
    router_client,
    summary,
    up,
)

pytestmark = pytest.mark.e2e

MIN_INSTANCES, MAX_INSTANCES, TARGET_PERCENT = 1, 3, 30
BURN_MS = 10
INSTANCE_CPU = 200  # e2e-small (test_real_pods.SMALL), millicores
KUBERNETES_SCHEMA = ("https://azuremlschemas.azureedge.net/latest/"
                     "kubernetesOnlineDeployment.schema.json")
SCALE_TIMEOUT_S = 180
ROUTERS = 2
BURN_SCORE = '''\
"""Scores like the sample model's script after burning BURN_MS of this thread's CPU time."""
import os
import time


def init():
    pass


def run(raw_data):
    end = time.thread_time() + float(os.environ.get("BURN_MS", "0")) / 1000
    spins = 0
    while time.thread_time() < end:
        spins += 1
    return {"deployment": os.environ.get("MLPLAN_DEPLOYMENT", "unknown"), "predictions": [spins]}
'''


@pytest.fixture
def metrics(real_cluster: kube.Cluster) -> Iterator[metrics_server.MetricsServer]:
    """metrics-server for this test (started and stopped around it; never a skip)."""
    begun = time.monotonic()
    started = metrics_server.start(kube.cache_root() / "bin", real_cluster.run_dir,
                                   real_cluster.api, kube.free_port())
    note(f"(real f) metrics-server serving the node's metrics {time.monotonic() - begun:.0f} s "
         "after its start")
    try:
        yield started
    finally:
        started.stop()


class Scale:
    """The deployment's count as the API reports it, polled once a second: ``trace`` holds
    every change of (HPA desired, Deployment replicas, ready replicas, HPA's CPU %)."""

    def __init__(self, api: Api, ns: str, deployment: str) -> None:
        self.api, self.ns, self.name = api, ns, deployment
        self.trace: list[tuple[float, int, int, int, int | None]] = []
        self.start = time.monotonic()

    def read(self) -> tuple[int, int, int, int | None]:
        hpa = self.api.get(ns_path(self.ns, "horizontalpodautoscalers", self.name))["status"]
        dep = self.api.get(ns_path(self.ns, "deployments", self.name))
        cpu = next((m["resource"]["current"].get("averageUtilization")
                    for m in hpa.get("currentMetrics") or [] if m.get("type") == "Resource"),
                   None)
        state = (hpa.get("desiredReplicas", 0), dep["spec"]["replicas"],
                 dep["status"].get("readyReplicas", 0), cpu)
        if not self.trace or self.trace[-1][1:] != state:
            self.trace.append((round(time.monotonic() - self.start, 1), *state))
        return state

    def wait(self, what: str, done: Any, timeout_s: float = SCALE_TIMEOUT_S) -> float:
        """Seconds until ``done(desired, replicas, ready, cpu)``; AssertionError after
        ``timeout_s`` with the trace so far."""
        begun = time.monotonic()
        while not done(*self.read()):
            if time.monotonic() - begun > timeout_s:
                raise AssertionError(f"{what}: not within {timeout_s} s; (t, desired, replicas, "
                                     f"ready, cpu%) {self.trace}")
            time.sleep(1)
        return time.monotonic() - begun

    def describe(self) -> str:
        return " -> ".join(f"{t:.0f}s {r}/{ready} ({cpu}%)" for t, _d, r, ready, cpu in self.trace)


def declare_autoscaled(project: Path, ns: str, cluster: kube.Cluster) -> Path:
    """blue: a Kubernetes deployment of the burning script, ``target_utilization``
    MIN..MAX at TARGET_PERCENT, under ``resourceQuota: true``. Returns the endpoint folder."""
    folder = project / "stacks" / "burn-score"
    folder.mkdir()
    (folder / "score.py").write_text(BURN_SCORE, encoding="utf-8")
    scale = {"type": "target_utilization", "min_instances": MIN_INSTANCES,
             "max_instances": MAX_INSTANCES, "target_utilization_percentage": TARGET_PERCENT,
             "polling_interval": 1}
    return declare(project, ns, cluster, {"blue": {
        "$schema": KUBERNETES_SCHEMA, "instance_count": MIN_INSTANCES, "scale_settings": scale,
        "environment_variables": {"BURN_MS": str(BURN_MS)},
        "code_configuration": {"code": "../../../burn-score", "scoring_script": "score.py"}}},
        {"blue": 100}, resourceQuota=True)


def planned_blue(project: Path, reserved: int) -> dict[str, Any]:
    """``mlplan plan --stack k --format json``'s blue, whose reservation is ``reserved``
    instances at max_instances: one roll's peak there (MAX + ceil(0.2 MAX))."""
    plan = mlplan(project, "plan", "--stack", "k", "--format", "json")
    assert plan.returncode == 0, plan.stdout[-3000:] + plan.stderr[-3000:]
    (planned,) = json.loads(plan.stdout)["endpoints"][0]["deployments"]
    assert planned["reserved_instances"] == reserved == MAX_INSTANCES + batch_size(
        MAX_INSTANCES), planned
    assert planned["reserved_cores"] == reserved * INSTANCE_CPU / 1000, planned
    found: dict[str, Any] = planned
    return found


def live_quota_is_planned(api: Api, ns: str, project: Path, reserved: int) -> dict[str, str]:
    """The live ResourceQuota's ``hard``, checked equal to the plan's (``namespace_quota``) and
    to the arithmetic: ``reserved`` instances + ROUTERS + 1 router pods."""
    hard: dict[str, str] = api.get(ns_path(ns, "resourcequotas", "mlplan-quota"))["spec"]["hard"]
    assert hard == planned_quota(project, "k"), hard
    router_cpu = ko.ROUTER_RESOURCES.requests.cpu_millis
    assert int(hard["pods"]) == reserved + ROUTERS + 1, hard
    assert millis(hard["requests.cpu"]) == (
        reserved * INSTANCE_CPU + (ROUTERS + 1) * router_cpu), hard
    return hard


def terminating(events: list[Event]) -> list[str]:
    """Each deleted pod's window from the first watch event that shows its
    ``deletionTimestamp`` to its DELETED event, UTC ``HH:MM:SS-HH:MM:SS`` (how the Events'
    timestamps are written)."""
    from datetime import UTC, datetime

    offset = time.time() - time.monotonic()
    since: dict[str, float] = {}
    found = []
    for t, kind, pod in sorted(events, key=lambda e: e[0]):
        uid = pod["metadata"]["uid"]
        if pod["metadata"].get("deletionTimestamp"):
            since.setdefault(uid, t)
        if kind == "DELETED" and uid in since:
            start, end = (datetime.fromtimestamp(x + offset, UTC) for x in (since[uid], t))
            found.append(f"{start:%H:%M:%S}-{end:%H:%M:%S}")
    return found


def test_hpa_scales_out_and_in_under_the_planned_quota(
    real_cluster: kube.Cluster, real_api: Api, metrics: metrics_server.MetricsServer,
    real_namespace: str, project_copy: Path, pulumi_in: Any,
) -> None:
    """(real f) blue with ``target_utilization`` 1..3 at 30% and ``resourceQuota: true``:

    - under the host's load the HPA scales blue out to ``max_instances`` (3 Ready pods through
      the API) and, when the load stops, back in to ``min_instances`` (1); the stream through
      the router sees no failed request;
    - the quota check's reservation at ``max_instances`` holds against the real ResourceQuota,
      meaning: (1) the quota's ``hard`` is exactly the plan's: ``pods`` = reserved instances
      ``ceil(1.2 x 3)`` = 4 + 3 router pods (2 + 1 surge), ``requests.cpu`` = 4 x 200m + 3 x
      100m = 1100m (``mlplan plan --format json``: ``reserved_instances`` 4, ``reserved_cores``
      0.8);
      (2) at ``max_instances`` an image roll's surge (``ceil(0.2 x 3)`` = 1 pod: 4 instance
      pods, the plan's ``reserved_instances``) is admitted by the API server and never more:
      the roll completes (``pulumi up`` returns, every pod on the new image) with a peak of
      exactly 4 instance pods, terminating ones included, and the stream sees no failure. A
      creation refused in between (``FailedCreate ... exceeded quota``: the Deployment
      controller asks for the next surge pod as soon as it has deleted an old one, and the
      quota counts that old pod until it is gone: preStop pause, then azmlinfsrv's exit) is
      retried by the ReplicaSet controller and admitted; those are counted and reported, not
      failures; (3) nothing more fits: at
      3 instances and 2 routers the quota's room (``hard - used``) is exactly one surge
      instance and one surge router pod.
    """
    api, ns = real_api, real_namespace
    endpoint = declare_autoscaled(project_copy, ns, real_cluster)
    reserved, surge = math.ceil(1.2 * MAX_INSTANCES), batch_size(MAX_INSTANCES)
    planned = planned_blue(project_copy, reserved)
    pulumi = bind(pulumi_in(project_copy), real_cluster)
    pulumi.run("stack", "init", "k")
    took_up = up(pulumi)
    name = "real-blue"
    hard = live_quota_is_planned(api, ns, project_copy, reserved)
    instance_cpu, router_cpu = INSTANCE_CPU, ko.ROUTER_RESOURCES.requests.cpu_millis
    watch = Recorder(api, ns_path(ns, "pods") + f"?labelSelector={instance_selector('blue')}")
    watch.start()
    tracker = Scale(api, ns, name)
    tracker.wait("the HPA reading blue's CPU", lambda d, r, ready, cpu: cpu is not None, 90)
    selector = instance_selector("blue")
    idle = metrics.pods_cpu_millis(ns, selector)
    host, port = router_client(api, ns)
    key = primary_key(api, ns)
    with Stream(port, threads=2, host=host, headers=auth(key), rate=8,
                max_requests=20_000) as stream:
        load_start = time.monotonic()
        out_s = tracker.wait(f"blue scaled out to {MAX_INSTANCES} Ready",
                             lambda d, r, ready, cpu: r == ready == MAX_INSTANCES)
        loaded = metrics.pods_cpu_millis(ns, selector)  # the pods that have a CPU rate yet
        used = api.get(ns_path(ns, "resourcequotas", "mlplan-quota"))["status"]["used"]
        room = {"pods": int(hard["pods"]) - int(used["pods"]),
                "cpu": millis(hard["requests.cpu"]) - millis(used["requests.cpu"])}
        at_max = stream.count()
        edit_deployment(endpoint, "blue", image=real_cluster.images["inference_r2"])
        roll_s = up(pulumi)
        during_roll = stream.count() - at_max
        load_s = time.monotonic() - load_start
    results = stream.results
    in_s = tracker.wait(f"blue scaled back in to {MIN_INSTANCES}",
                        lambda d, r, ready, cpu: r == ready == MIN_INSTANCES)
    time.sleep(1)  # the last deletions reach the watch
    pod_events = watch.stop()
    seen = pod_timeline(pod_events)
    refusals = [e for e in api.items(ns_path(ns, "events"))
                if e.get("reason") == "FailedCreate" and "exceeded quota" in e["message"]]
    refused = sum(int(e.get("count") or 1) for e in refusals)
    spans = sorted({(e.get("firstTimestamp"), e.get("lastTimestamp")) for e in refusals})
    note(f"(real f) HPA {MIN_INSTANCES}..{MAX_INSTANCES} at {TARGET_PERCENT}%: pulumi up "
         f"{took_up:.0f} s; scaled out to {MAX_INSTANCES} Ready in {out_s:.0f} s of load, image "
         f"roll at max {roll_s:.0f} s ({during_roll} requests), back in to {MIN_INSTANCES} "
         f"{in_s:.0f} s after the load stopped ({load_s:.0f} s of load); {summary(results)}; "
         f"instance CPU (metrics API) idle {idle}, loaded {loaded}; replicas/ready (HPA cpu%) "
         f"{tracker.describe()}; pods {seen.describe()}; quota hard {hard}, room at max "
         f"{room}; {refused} pod creations refused by the quota during the roll ({spans}), "
         f"retried and admitted; old pods terminating (deletion to gone) "
         f"{terminating(pod_events)}; first: {refusals[0]['message'] if refusals else '-'}")
    assert not failures(results), summary(results)
    # the surge at max is admitted, and never more than the reservation exists (terminating
    # pods included)
    assert seen.peak_pods == seen.peak_present == planned["reserved_instances"], seen.describe()
    assert room == {"pods": surge + 1, "cpu": surge * instance_cpu + router_cpu}, (room, used)
    assert seen.images == {real_cluster.images["inference_r2"]: MIN_INSTANCES}, seen.images
