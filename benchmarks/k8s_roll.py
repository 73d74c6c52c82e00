"""An image roll of the Kubernetes target on real pods under a request stream: roll time, its
batches and their phases, what the clients saw.

Uses what the cluster suite's real-node scenarios use (``tests/engine/kube``: the control
plane and the node's kubelet / kube-proxy from ``build.sh``, containerd with the e2e images,
the engine from ``tests/engine/build.sh``). One stack: endpoint ``real`` with blue N instances
(``--instances``, default 5; 200m CPU each) behind 2 router pods; ``pulumi up``, then an
image change of blue under 2 streams of ``--rate`` requests/s each through the router
Service's ClusterIP (kube-proxy). Figures from the pods' watch events (arrival times):

- per batch (new pods in creation order, ``ceil(0.2 N)`` each): gap (the previous batch's
  last Ready -> this batch's first pod added: the controllers' reaction), create (pod added ->
  scheduled and started: first container running), ready (running -> Ready=True), drain of
  the old pods it replaces (terminating -> deleted);
- ``roll_s``: ``pulumi up``'s wall time; ``roll_efficiency`` = sum over batches of (first
  create -> last Ready) / ``roll_s`` (issue 29 item 2's Kubernetes counterpart: what is not
  pod start time is the controller's, the probes' and Pulumi's own);
- requests, failures, p50 / p99 of the stream, peak pods, fewest Ready.

The last line is name=value pairs.

    flock /tmp/mlplan-kube-e2e.lock .venv/bin/python benchmarks/k8s_roll.py [--instances 5]
"""

from __future__ import annotations

import argparse
import base64
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml

from mlplan.domain import labels
from mlplan.planning.rollout import batch_size
from mlplan.targets.kubernetes import choices as ko
from tests.dataplane.harness import Stream, failures, percentile
from tests.engine.conftest import Engine, Pulumi, cache_root, copy_project, engine_env
from tests.engine.kube import cluster as kube
from tests.engine.kube.api import Recorder
from tests.engine.kube.observe import pod_timeline

REPO = Path(__file__).resolve().parents[1]
Event = tuple[float, str, dict[str, Any]]


def _ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in pod.get("status", {}).get("conditions", []))


def _running(pod: dict[str, Any]) -> bool:
    return any("running" in (s.get("state") or {})
               for s in pod.get("status", {}).get("containerStatuses") or [])


def pod_moments(events: list[Event]) -> dict[str, dict[str, float]]:
    """Per pod UID the arrival time of its first event (``added``), first running container
    (``running``), first Ready=True (``ready``), deletion mark (``terminating``) and DELETED
    (``deleted``); listed pods have no ``added``."""
    moments: dict[str, dict[str, float]] = {}
    for t, kind, pod in sorted(events, key=lambda e: e[0]):
        seen = moments.setdefault(pod["metadata"]["uid"], {})
        if kind == "ADDED":
            seen.setdefault("added", t)
        if _running(pod):
            seen.setdefault("running", t)
        if _ready(pod):
            seen.setdefault("ready", t)
        if pod["metadata"].get("deletionTimestamp"):
            seen.setdefault("terminating", t)
        if kind == "DELETED":
            seen.setdefault("deleted", t)
    return moments


def batch_phases(events: list[Event], n: int) -> list[dict[str, float]]:
    """The roll's batches: new pods (those ADDED during it) in creation order, ``batch_size(n)``
    at a time, each with its create / ready seconds (slowest pod) and span (first added ->
    last Ready); the old pods in termination order, as many per batch, with their drain."""
    moments = pod_moments(events)
    new = sorted((m for m in moments.values() if "added" in m and "ready" in m),
                 key=lambda m: m["added"])
    old = sorted((m for m in moments.values() if "added" not in m and "terminating" in m),
                 key=lambda m: m["terminating"])
    size = batch_size(n)
    out = []
    last_ready = min((m["added"] for m in new), default=0.0)
    for index in range(0, len(new), size):
        batch, gone = new[index:index + size], old[index:index + size]
        first = min(m["added"] for m in batch)
        out.append({
            "gap_s": first - last_ready,
            "create_s": max(m.get("running", m["ready"]) - m["added"] for m in batch),
            "ready_s": max(m["ready"] - m.get("running", m["ready"]) for m in batch),
            "span_s": max(m["ready"] for m in batch) - min(m["added"] for m in batch),
            "drain_s": max((m["deleted"] - m["terminating"] for m in gone if "deleted" in m),
                           default=float("nan")),
        })
        last_ready = max(m["ready"] for m in batch)
    return out


def declare(project: Path, namespace: str, images: dict[str, str], image: str, n: int) -> None:
    from tests.engine.kube.project import write_endpoint, write_stack
    from tests.engine.kube.test_real_pods import LIVENESS, PROBE, SMALL

    write_endpoint(project, "real", "real", {"blue": {
        "instance_type": "e2e-small", "instance_count": n, "readiness_probe": PROBE,
        "liveness_probe": LIVENESS, "environment": {"image": images[image]}}}, {"blue": 100})
    write_stack(project, "k", namespace, endpoints=["stacks/real/endpoints"],
                quota={"e2eSmallFamily": 8, "total": 8}, routerReplicas=2,
                routerImage=images["router"])
    stack = project / "stacks" / "Pulumi.k.yaml"
    doc = yaml.safe_load(stack.read_text("utf-8"))
    doc["config"]["mlplan:instanceTypes"] = SMALL
    doc["config"]["mlplan:environment"] = "development"
    stack.write_text(yaml.safe_dump(doc, sort_keys=False), "utf-8")


def build(script: Path) -> None:
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{script} failed (exit {proc.returncode}): "
                         f"{(proc.stderr or proc.stdout)[-2000:]}")


def report(n: int, started: float, create_s: float, roll_s: float, results: list[Any],
           events: list[Event]) -> dict[str, Any]:
    """Print the roll's figures; return them for the last line."""
    seen = pod_timeline(events)
    phases = batch_phases(events, n)
    efficiency = sum(p["span_s"] for p in phases) / roll_s if roll_s else float("nan")
    latencies = [r.seconds * 1000 for r in results if not r.error]
    print(f"cluster with the real node up in {started:.1f} s; first pulumi up {create_s:.1f} s")
    print(f"image roll of {n} instances (batches of {batch_size(n)}): {roll_s:.1f} s; "
          f"{seen.describe()}")
    for index, p in enumerate(phases, 1):
        print(f"  batch {index}: waited {p['gap_s']:.1f} s after the previous batch's last "
              f"Ready, create {p['create_s']:.1f} s, ready {p['ready_s']:.1f} s, "
              f"first create -> last ready {p['span_s']:.1f} s, drain {p['drain_s']:.1f} s")
    print(f"stream: {len(results)} requests, {len(failures(results))} failed, p50 "
          f"{percentile(latencies, 50):.1f} ms, p99 {percentile(latencies, 99):.1f} ms")
    figures = {
        "instances": n, "cluster_start_s": round(started, 1), "first_up_s": round(create_s, 1),
        "roll_s": round(roll_s, 1), "batches": len(phases),
        "batch_span_mean_s": round(sum(p["span_s"] for p in phases) / max(1, len(phases)), 1),
        "drain_mean_s": round(sum(p["drain_s"] for p in phases) / max(1, len(phases)), 1),
        "gap_mean_s": round(sum(p["gap_s"] for p in phases[1:]) / max(1, len(phases) - 1), 1),
        "roll_efficiency": round(efficiency, 3), "requests": len(results),
        "failed": len(failures(results)),
        "p99_ms": round(percentile(latencies, 99), 1), "peak_pods": seen.peak_pods,
        "min_ready": seen.min_ready,
    }
    print(json.dumps(figures))
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=5)
    parser.add_argument("--rate", type=float, default=8.0, help="requests/s per stream thread")
    args = parser.parse_args()
    n = args.instances
    build(REPO / "tests" / "engine" / "build.sh")
    build(REPO / "tests" / "engine" / "kube" / "build.sh")
    engine = Engine(cache_root() / "bin")
    with tempfile.TemporaryDirectory(prefix="k8s-roll-") as tmp:
        work = Path(tmp)
        begun = time.monotonic()
        cluster = kube.start(work / "cluster", say=lambda line: print(line, flush=True),
                             real_node=True)
        started = time.monotonic() - begun
        try:
            namespace = kube.new_namespace(cluster.api, "roll")
            project = copy_project(work / "project")
            declare(project, namespace, cluster.images, "inference", n)
            pulumi = Pulumi(project, engine_env(engine, work / "engine"))
            pulumi.env["KUBECONFIG"] = str(cluster.kubeconfig)
            pulumi.run("stack", "init", "k")
            t0 = time.monotonic()
            pulumi.run("up", "--yes", "--skip-preview")
            create_s = time.monotonic() - t0
            where = f"/api/v1/namespaces/{namespace}"
            service = cluster.api.get(f"{where}/services/{ko.router_name('real')}")
            host, port = service["spec"]["clusterIP"], ko.ROUTER_SERVICE_PORT
            secret = cluster.api.get(f"{where}/secrets/{ko.keys_secret_name('real')}")
            key = base64.b64decode(secret["data"]["primary-key"]).decode()
            declare(project, namespace, cluster.images, "inference_r2", n)
            watch = Recorder(cluster.api, f"{where}/pods?labelSelector={labels.DEPLOYMENT}=blue,"
                             f"{labels.ROLE}=instance").start()
            with Stream(port, threads=2, host=host, rate=args.rate, max_requests=50_000,
                        headers={"Authorization": f"Bearer {key}"}) as stream:
                stream.wait_count(20, timeout=60)
                t0 = time.monotonic()
                pulumi.run("up", "--yes", "--skip-preview")
                roll_s = time.monotonic() - t0
                stream.wait_count(20, timeout=60)
            gone = time.monotonic() + 60  # the last old pods terminate (preStop, grace)
            while time.monotonic() < gone and len(cluster.api.items(
                    f"{where}/pods?labelSelector={labels.DEPLOYMENT}=blue")) > n:
                time.sleep(0.5)
            time.sleep(1)
            events = watch.stop()
        finally:
            cluster.stop()
    figures = report(n, started, create_s, roll_s, stream.results, events)
    print(" ".join(f"{k}={v}" for k, v in figures.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
