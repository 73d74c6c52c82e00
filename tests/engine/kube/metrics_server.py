"""The resource metrics API (``metrics.k8s.io``) on the real-node cluster, for the tests whose
HorizontalPodAutoscaler scales on CPU: ``metrics-server`` (``build.sh``: sigs.k8s.io/metrics-server
v0.8.0) as a host process beside the control plane, registered behind the apiserver's aggregation
layer (``cluster.py``: front-proxy CA, ``--requestheader-*``, ``--proxy-client-*``,
``--enable-aggregator-routing``).

How the pieces meet:

- metrics-server serves on ``NODE_IP:<free port>`` (the suite's own bridge address: an
  Endpoints address may not be loopback) with a certificate from the cluster CA for
  ``metrics-server.kube-system.svc``; the selectorless Service ``kube-system/metrics-server``,
  its Endpoints (that address) and the APIService ``v1beta1.metrics.k8s.io`` (``caBundle``: the
  cluster CA) send the apiserver there. It authenticates the apiserver's front-proxy client
  certificate and asks the apiserver to authorise each request (delegated authn/authz, through
  the cluster's kubeconfig).
- it scrapes the real node's kubelet (``/metrics/resource`` on the port in the node's status,
  ``KUBELET_PORT``) every ``RESOLUTION`` with the kubeconfig's token, which the kubelet checks by
  webhook (TokenReview, SubjectAccessReview: ``node.py`` configures both), and verifies the
  kubelet's serving certificate (``node.KUBELET_SERVING``, from the cluster CA for ``NODE_IP``,
  made by ``cluster.make_pki``) with ``--kubelet-certificate-authority``: no
  ``--kubelet-insecure-tls``.

Nothing of the host changes: one process, three API objects, all removed by ``stop()`` (the
APIService first: an unavailable aggregated API would stall namespace deletion's discovery).
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.engine.kube.api import Api, ApiError
from tests.engine.kube.node import NODE_IP, NODE_NAME, stop_process

NAMESPACE, NAME = "kube-system", "metrics-server"
APISERVICE = "v1beta1.metrics.k8s.io"
RESOLUTION = "10s"  # metrics-server's minimum; the HPA reads a 10 s CPU rate
SCRAPE_TIMEOUT = "5s"  # must be below RESOLUTION (metrics-server refuses to start otherwise)
START_TIMEOUT_S = 90
STOP_TIMEOUT_S = 15


class MetricsServerError(RuntimeError):
    """metrics-server did not start or serve (the message says why, with its log)."""


def _objects(port: int, ca_bundle: str) -> list[tuple[str, dict[str, Any]]]:
    """(collection path, object): the Service, its Endpoints and the APIService."""
    meta = {"name": NAME, "namespace": NAMESPACE, "labels": {"app.kubernetes.io/name": NAME}}
    return [
        (f"/api/v1/namespaces/{NAMESPACE}/services", {
            "apiVersion": "v1", "kind": "Service", "metadata": meta,
            "spec": {"ports": [{"name": "https", "port": 443, "targetPort": port}]}}),
        (f"/api/v1/namespaces/{NAMESPACE}/endpoints", {
            "apiVersion": "v1", "kind": "Endpoints", "metadata": meta,
            "subsets": [{"addresses": [{"ip": NODE_IP}],
                         "ports": [{"name": "https", "port": port}]}]}),
        ("/apis/apiregistration.k8s.io/v1/apiservices", {
            "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
            "metadata": {"name": APISERVICE, "labels": meta["labels"]},
            "spec": {"group": "metrics.k8s.io", "version": "v1beta1",
                     "service": {"name": NAME, "namespace": NAMESPACE, "port": 443},
                     "caBundle": ca_bundle, "groupPriorityMinimum": 100,
                     "versionPriority": 100}}),
    ]


def _delete_objects(api: Api) -> None:
    for path in (f"/apis/apiregistration.k8s.io/v1/apiservices/{APISERVICE}",
                 f"/api/v1/namespaces/{NAMESPACE}/endpoints/{NAME}",
                 f"/api/v1/namespaces/{NAMESPACE}/services/{NAME}"):
        try:
            api.delete(path)
        except ApiError as e:
            if e.status != 404:
                raise


def _available(api: Api) -> str:
    """"" when the APIService is Available, else its condition's reason and message."""
    found = api.get(f"/apis/apiregistration.k8s.io/v1/apiservices/{APISERVICE}")
    for c in (found.get("status") or {}).get("conditions") or []:
        if c["type"] == "Available":
            return "" if c["status"] == "True" else f"{c.get('reason')}: {c.get('message')}"
    return "no Available condition yet"


@dataclass
class MetricsServer:
    """The running metrics-server; ``stop()`` removes it and its API objects."""

    proc: subprocess.Popen[bytes]
    log: Path
    api: Api

    def tail(self, lines: int = 25) -> str:
        text = self.log.read_text(errors="replace") if self.log.is_file() else ""
        return "\n".join(text.splitlines()[-lines:])

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise MetricsServerError(f"metrics-server exited with {self.proc.returncode}; last "
                                     f"lines of its log:\n{self.tail()}")

    def node_cpu_millis(self) -> int:
        """The real node's CPU use as the metrics API reports it (``NODE_NAME``)."""
        usage = self.api.get(f"/apis/metrics.k8s.io/v1beta1/nodes/{NODE_NAME}")["usage"]["cpu"]
        return millis(usage)

    def pods_cpu_millis(self, ns: str, selector: str) -> dict[str, int]:
        """CPU use of the pods of ``ns`` matching ``selector`` (pod name -> millicores), as the
        metrics API reports it (what the HPA reads)."""
        found = self.api.items(f"/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods"
                               f"?labelSelector={selector}")
        return {p["metadata"]["name"]: sum(millis(c["usage"]["cpu"]) for c in p["containers"])
                for p in found}

    def stop(self) -> None:
        try:
            _delete_objects(self.api)
        finally:
            stop_process(self.proc, STOP_TIMEOUT_S)


def millis(quantity: str) -> int:
    """A CPU quantity in millicores: ``"1500m"`` -> 1500, ``"2"`` -> 2000, ``"12345678n"`` ->
    12 (rounded down), ``"250u"`` -> 0."""
    units = {"n": 1e-6, "u": 1e-3, "m": 1.0}
    if quantity[-1:] in units:
        return int(float(quantity[:-1]) * units[quantity[-1]])
    return int(float(quantity) * 1000)


def start(bin_dir: Path, run_dir: Path, api: Api, port: int) -> MetricsServer:
    """Start metrics-server for the cluster whose run folder is ``run_dir`` (its ``pki``,
    ``kubeconfig``, ``logs``); returns once the APIService is Available and the metrics API
    reports the real node's CPU (a first rate needs two scrapes: about 2 x ``RESOLUTION``)."""
    import base64

    binary = bin_dir / "metrics-server"
    if not binary.is_file():
        raise MetricsServerError(f"not built: {binary} (run bash tests/engine/kube/build.sh)")
    pki, kubeconfig = run_dir / "pki", str(run_dir / "kubeconfig")
    _delete_objects(api)  # left by a killed run
    log = run_dir / "logs" / "metrics-server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(binary), "--kubeconfig", kubeconfig, "--authentication-kubeconfig", kubeconfig,
             "--authorization-kubeconfig", kubeconfig, "--bind-address", NODE_IP,
             "--secure-port", str(port), "--tls-cert-file", str(pki / "metrics-server.crt"),
             "--tls-private-key-file", str(pki / "metrics-server.key"),
             "--kubelet-certificate-authority", str(pki / "ca.crt"),
             "--kubelet-use-node-status-port",
             "--kubelet-preferred-address-types", "InternalIP",
             "--metric-resolution", RESOLUTION, "--kubelet-request-timeout", SCRAPE_TIMEOUT,
             "--v", "2"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
    server = MetricsServer(proc, log, api)
    try:
        ca_bundle = base64.b64encode((pki / "ca.crt").read_bytes()).decode()
        for path, body in _objects(port, ca_bundle):
            api.create(path, body)
        _wait(server)
    except BaseException:
        with contextlib.suppress(Exception):
            server.stop()
        raise
    return server


def _wait(server: MetricsServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    last = "not started"
    while True:
        server.check_alive()
        try:
            last = _available(server.api)
            if not last:
                last = "Available, but no metrics of the node yet"
                server.node_cpu_millis()
                return
        except (ApiError, KeyError, OSError) as e:
            last = f"{type(e).__name__}: {e}"
        if time.monotonic() > deadline:
            raise MetricsServerError(
                f"the metrics API did not serve the node {NODE_NAME} within {START_TIMEOUT_S} s "
                f"({last}); last lines of metrics-server's log:\n{server.tail()}")
        time.sleep(1)
