"""A single-machine Kubernetes cluster for the e2e suite: etcd, kube-apiserver,
kube-controller-manager, kube-scheduler (all built by ``tests/engine/kube/build.sh``) and kwok
for the nodes, on 127.0.0.1 only, with a CA, certificates, tokens and a kubeconfig made at start.

The Deployment controller, ReplicaSet controller, scheduler, ResourceQuota admission, PDBs and
garbage collector are Kubernetes' own; kwok only plays the kubelets: it keeps the nodes Ready
(heartbeat stage) and marks scheduled pods Running/Ready at once (no containers run).

Nodes (``NODES``): 3 CPU nodes ``cpu-0..2`` (64 cores, 256Gi) and 2 GPU nodes ``gpu-0..1``
(192 cores, 2Ti, 8 ``nvidia.com/gpu``) with the label ``nvidia.com/gpu.present=true`` and
the taint ``nvidia.com/gpu:NoSchedule``, the target's defaults. Gateway API v1.3 CRDs
(standard channel) are installed.

With ``real_node=True`` there are no kwok nodes: one real node instead (``node.py``).

Usage: ``python -m tests.engine.kube.cluster [--real-node]`` starts one and waits for Ctrl-C
(prints the kubeconfig path); the suite's session fixtures call :func:`start` and
:meth:`Cluster.stop`.
Start takes about 20 s on a quiet 2-core machine.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.engine.kube import node as real
from tests.engine.kube.api import Api, ApiError, wait_for
from tests.engine.kube.node import RealNode

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
K8S_VERSION = "v1.34.2"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
START_TIMEOUT_S = 90
STOP_TIMEOUT_S = 15
SERVICE_CIDR = "10.96.0.0/16"
GPU_LABEL = ("nvidia.com/gpu.present", "true")
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
FRONT_PROXY_CLIENT = "front-proxy-client"
#: The real-node cluster's HPA timing (kube-controller-manager; defaults 15 s and 5 min): a
#: decision every 5 s and a scale-in 20 s after the last higher recommendation, so a test sees
#: a deployment scale out and back in within a minute or two. The HPA object itself has no
#: per-object sync period (see README "Autoscaling").
HPA_SYNC_PERIOD = "5s"
HPA_DOWNSCALE_STABILIZATION = "20s"


@dataclass(frozen=True)
class NodeSpec:
    name: str
    cpu: str
    memory: str
    gpus: int = 0

    def manifest(self) -> dict[str, Any]:
        labels = {"kubernetes.io/hostname": self.name, "kubernetes.io/os": "linux",
                  "kubernetes.io/arch": "amd64", "type": "kwok",
                  "mlplan.test/pool": "gpu" if self.gpus else "cpu"}
        spec: dict[str, Any] = {}
        if self.gpus:
            labels[GPU_LABEL[0]] = GPU_LABEL[1]
            spec["taints"] = [GPU_TAINT]
        resources = {"cpu": self.cpu, "memory": self.memory, "pods": "110"}
        if self.gpus:
            resources["nvidia.com/gpu"] = str(self.gpus)
        return {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": self.name, "labels": labels,
                             "annotations": {"kwok.x-k8s.io/node": "fake",
                                             "node.alpha.kubernetes.io/ttl": "0"}},
                "spec": spec,
                "status": {"capacity": resources, "allocatable": resources}}


NODES = (
    *(NodeSpec(f"cpu-{i}", "64", "256Gi") for i in range(3)),
    *(NodeSpec(f"gpu-{i}", "192", "2Ti", gpus=8) for i in range(2)),
)


def cache_root() -> Path:
    base = os.environ.get("MLPLAN_KUBE_CACHE") or str(Path.home() / ".cache" / "mlplan-kube")
    return Path(base) / K8S_VERSION


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {proc.stderr.strip()[-800:]}")


def make_pki(pki: Path) -> None:
    """A CA, the apiserver's serving certificate (127.0.0.1, localhost, the service IP), the
    service-account key pair, the real node's kubelet serving certificate and the aggregation
    layer's certificates."""
    pki.mkdir(parents=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
             "ca.crt", "-days", "2", "-subj", "/CN=mlplan-test-ca", cwd=pki)
    (pki / "san.cnf").write_text(
        "[ext]\nsubjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,"
        "DNS:kubernetes.default,DNS:kubernetes.default.svc,"
        "DNS:kubernetes.default.svc.cluster.local\nextendedKeyUsage=serverAuth\n"
        "keyUsage=digitalSignature,keyEncipherment\n", encoding="utf-8")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "apiserver.key", "-out",
             "apiserver.csr", "-subj", "/CN=kube-apiserver", cwd=pki)
    _openssl("x509", "-req", "-in", "apiserver.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "apiserver.crt", "-days", "2", "-extfile", "san.cnf",
             "-extensions", "ext", cwd=pki)
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=pki)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)
    # the apiserver's client certificate at the real node's kubelet (pod logs, exec)
    (pki / "client.cnf").write_text("[ext]\nextendedKeyUsage=clientAuth\n", encoding="utf-8")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "kubelet-client.key", "-out",
             "kubelet-client.csr", "-subj", "/O=system:masters/CN=kube-apiserver-kubelet-client",
             cwd=pki)
    _openssl("x509", "-req", "-in", "kubelet-client.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "kubelet-client.crt", "-days", "2", "-extfile",
             "client.cnf", "-extensions", "ext", cwd=pki)
    # the real node's kubelet serving certificate (node.KUBELET_SERVING), verifiable with the CA
    (pki / "kubelet-san.cnf").write_text(
        f"[ext]\nsubjectAltName=IP:{real.NODE_IP},DNS:{real.NODE_NAME}\n"
        "extendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n",
        encoding="utf-8")
    crt, key = real.KUBELET_SERVING
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", "kubelet-serving.csr",
             "-subj", f"/CN={real.NODE_NAME}", cwd=pki)
    _openssl("x509", "-req", "-in", "kubelet-serving.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", "kubelet-san.cnf",
             "-extensions", "ext", cwd=pki)
    _aggregation_pki(pki)


def _aggregation_pki(pki: Path) -> None:
    """The aggregation layer's certificates: a front-proxy CA and the apiserver's client
    certificate under it (``front-proxy-client``: the identity an aggregated API server such as
    metrics-server trusts for the ``X-Remote-*`` headers), and the serving certificate of
    ``metrics_server.py`` from the cluster CA for the name the aggregator checks
    (``metrics-server.kube-system.svc``; the APIService's ``caBundle`` is the cluster CA)."""
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "front-proxy-ca.key",
             "-out", "front-proxy-ca.crt", "-days", "2", "-subj", "/CN=mlplan-front-proxy-ca",
             cwd=pki)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "front-proxy-client.key",
             "-out", "front-proxy-client.csr", "-subj", f"/CN={FRONT_PROXY_CLIENT}", cwd=pki)
    _openssl("x509", "-req", "-in", "front-proxy-client.csr", "-CA", "front-proxy-ca.crt",
             "-CAkey", "front-proxy-ca.key", "-CAcreateserial", "-out", "front-proxy-client.crt",
             "-days", "2", "-extfile", "client.cnf", "-extensions", "ext", cwd=pki)
    (pki / "metrics-san.cnf").write_text(
        "[ext]\nsubjectAltName=DNS:metrics-server.kube-system.svc\n"
        "extendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n",
        encoding="utf-8")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "metrics-server.key", "-out",
             "metrics-server.csr", "-subj", "/CN=metrics-server", cwd=pki)
    _openssl("x509", "-req", "-in", "metrics-server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "metrics-server.crt", "-days", "2", "-extfile",
             "metrics-san.cnf", "-extensions", "ext", cwd=pki)


def kubeconfig(server: str, ca_file: Path, token: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": "mlplan-test",
        "clusters": [{"name": "mlplan-test", "cluster": {
            "server": server,
            "certificate-authority-data": base64.b64encode(ca_file.read_bytes()).decode()}}],
        "users": [{"name": "admin", "user": {"token": token}}],
        "contexts": [{"name": "mlplan-test",
                      "context": {"cluster": "mlplan-test", "user": "admin"}}],
    }


@dataclass
class Cluster:
    """A running cluster: ``kubeconfig`` (a file), ``api`` (admin client), ``run_dir`` (logs)."""

    run_dir: Path
    server: str
    token: str
    ca_file: Path
    kubeconfig: Path
    procs: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    node: RealNode | None = None  # the real node (``real_node=True``)
    images: dict[str, str] = field(default_factory=dict)  # its imported e2e images

    @property
    def api(self) -> Api:
        return Api(self.server, self.token, str(self.ca_file))

    def log_tail(self, name: str, lines: int = 20) -> str:
        path = self.run_dir / "logs" / f"{name}.log"
        if not path.is_file():
            return ""
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])

    def check_alive(self) -> None:
        """AssertionError naming a control-plane process that has exited, with its log tail."""
        if self.node is not None:
            self.node.check_alive()
        for name, proc in self.procs:
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.returncode}; last lines of its "
                                     f"log:\n{self.log_tail(name)}")

    def stop(self) -> None:
        """The real node first (its own cleanup), then SIGTERM in reverse start order, SIGKILL
        after STOP_TIMEOUT_S."""
        node, self.node = self.node, None
        try:
            if node is not None:
                node.stop()
        finally:
            self._stop_control_plane()

    def _stop_control_plane(self) -> None:
        for _name, proc in reversed(self.procs):
            real.stop_process(proc, STOP_TIMEOUT_S)
        self.procs.clear()


def _spawn(cluster: Cluster, name: str, argv: list[str]) -> None:
    log = open(cluster.run_dir / "logs" / f"{name}.log", "wb")  # noqa: SIM115 (child keeps it)
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            cwd=cluster.run_dir, start_new_session=True)
    log.close()
    cluster.procs.append((name, proc))


def _ready(cluster: Cluster, name: str, check: Callable[[], Any], usual_s: int,
           say: Callable[[str], None]) -> None:
    start = time.monotonic()
    say(f"kube cluster: waiting for {name} (usually about {usual_s} s)")
    deadline = start + START_TIMEOUT_S
    beat = start
    last = "not ready"
    while True:
        cluster.check_alive()
        try:
            if check():
                break
        except (OSError, ApiError, ValueError, KeyError, TypeError) as e:
            last = f"{type(e).__name__}: {e}"
        now = time.monotonic()
        if now > deadline:
            raise AssertionError(f"{name} was not ready after {START_TIMEOUT_S} s ({last}); last "
                                 f"lines of its log:\n{cluster.log_tail(name.split()[0])}")
        if now - beat >= 30:
            beat = now
            say(f"kube cluster: still waiting for {name} ({now - start:.0f} s so far)")
        time.sleep(0.3)
    say(f"kube cluster: {name} ready in {time.monotonic() - start:.1f} s")


def missing_binaries(bin_dir: Path) -> list[str]:
    return [b for b in BINARIES if not os.access(bin_dir / b, os.X_OK)]


def start(run_dir: Path, root: Path | None = None, say: Callable[[str], None] = print,
          real_node: bool = False) -> Cluster:
    """Start the cluster in ``run_dir`` (state, certificates, logs) from the binaries under
    ``root`` (default: the build cache); stopped again if any step fails.

    ``real_node``: instead of kwok's simulated nodes, one real node (``node.py``: containerd,
    kubelet, kube-proxy, CNI bridge) with the e2e Docker images imported (``Cluster.images``:
    name -> tag)."""
    root = root or cache_root()
    bin_dir, share = root / "bin", root / "share"
    missing = missing_binaries(bin_dir)
    if missing:
        raise AssertionError(f"not built: {', '.join(missing)} in {bin_dir} "
                             "(run bash tests/engine/kube/build.sh)")
    t0 = time.monotonic()
    (run_dir / "logs").mkdir(parents=True)
    pki = run_dir / "pki"
    make_pki(pki)
    token = secrets.token_hex(24)
    (pki / "tokens.csv").write_text(f"{token},admin,admin-uid,system:masters\n",
                                    encoding="utf-8")
    etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
    server = f"https://127.0.0.1:{api_port}"
    cfg = run_dir / "kubeconfig"
    cluster = Cluster(run_dir, server, token, pki / "ca.crt", cfg)
    try:
        _start(cluster, bin_dir, share, pki, etcd_port, peer_port, api_port, say,
               simulated_nodes=not real_node)
        if real_node:
            cluster.images, archives = real.saved_images(root / "images", say)
            node_run = Path(tempfile.mkdtemp(prefix="mlpk-", dir="/tmp"))
            cluster.node = real.start(node_run, cluster.run_dir / "logs" / "node", bin_dir,
                                      cluster.api, cluster.kubeconfig, cluster.ca_file,
                                      archives, say)
    except BaseException:
        cluster.stop()
        raise
    say(f"kube cluster: up in {time.monotonic() - t0:.1f} s ({server}, kubeconfig {cfg})")
    return cluster


def _start(cluster: Cluster, bin_dir: Path, share: Path, pki: Path, etcd_port: int,  # noqa: C901
           peer_port: int, api_port: int, say: Callable[[str], None],
           simulated_nodes: bool = True) -> None:
    etcd_url, peer_url = f"http://127.0.0.1:{etcd_port}", f"http://127.0.0.1:{peer_port}"
    _spawn(cluster, "etcd", [
        str(bin_dir / "etcd"), "--name", "default", "--data-dir", str(cluster.run_dir / "etcd"),
        "--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url,
        "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
        "--initial-cluster", f"default={peer_url}", "--log-level", "warn",
        "--quota-backend-bytes", str(2 * 1024**3)])

    def etcd_health() -> bool:
        import urllib.request
        with urllib.request.urlopen(f"{etcd_url}/health", timeout=2) as r:
            return bool(json.load(r).get("health") == "true")

    _ready(cluster, "etcd", etcd_health, 2, say)
    _spawn(cluster, "kube-apiserver", [
        str(bin_dir / "kube-apiserver"), "--etcd-servers", etcd_url,
        "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
        "--secure-port", str(api_port), "--endpoint-reconciler-type", "none",
        "--tls-cert-file", str(pki / "apiserver.crt"),
        "--tls-private-key-file", str(pki / "apiserver.key"),
        "--client-ca-file", str(pki / "ca.crt"),
        "--token-auth-file", str(pki / "tokens.csv"),
        "--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
        "--service-account-key-file", str(pki / "sa.pub"),
        "--service-account-signing-key-file", str(pki / "sa.key"),
        "--service-cluster-ip-range", SERVICE_CIDR,
        "--authorization-mode", "Node,RBAC", "--allow-privileged=true",
        "--kubelet-client-certificate", str(pki / "kubelet-client.crt"),
        "--kubelet-client-key", str(pki / "kubelet-client.key"),
        "--kubelet-preferred-address-types", "InternalIP",
        "--cert-dir", str(cluster.run_dir / "apiserver-certs"),
        # the aggregation layer (metrics.k8s.io from metrics_server.py, a host process: the
        # apiserver dials the APIService's endpoint address, there being no Service network)
        "--requestheader-client-ca-file", str(pki / "front-proxy-ca.crt"),
        "--requestheader-allowed-names", FRONT_PROXY_CLIENT,
        "--requestheader-username-headers", "X-Remote-User",
        "--requestheader-group-headers", "X-Remote-Group",
        "--requestheader-extra-headers-prefix", "X-Remote-Extra-",
        "--proxy-client-cert-file", str(pki / "front-proxy-client.crt"),
        "--proxy-client-key-file", str(pki / "front-proxy-client.key"),
        "--enable-aggregator-routing=true"])
    api = cluster.api

    def readyz() -> bool:
        conn = api._conn(timeout=2)
        try:
            conn.request("GET", "/readyz", headers={"Authorization": f"Bearer {cluster.token}"})
            return conn.getresponse().status == 200
        finally:
            conn.close()

    _ready(cluster, "kube-apiserver", readyz, 15, say)
    cluster.kubeconfig.write_text(yaml.safe_dump(kubeconfig(cluster.server, cluster.ca_file,
                                                            cluster.token)), encoding="utf-8")
    cluster.kubeconfig.chmod(0o600)
    kc = str(cluster.kubeconfig)
    _spawn(cluster, "kube-controller-manager", [
        str(bin_dir / "kube-controller-manager"), "--kubeconfig", kc,
        "--leader-elect=false", "--bind-address", "127.0.0.1", "--secure-port", "0",
        "--service-account-private-key-file", str(pki / "sa.key"),
        "--root-ca-file", str(pki / "ca.crt"), "--use-service-account-credentials=false",
        "--service-cluster-ip-range", SERVICE_CIDR, "--controllers", "*",
        *(() if simulated_nodes else (
            f"--horizontal-pod-autoscaler-sync-period={HPA_SYNC_PERIOD}",
            f"--horizontal-pod-autoscaler-downscale-stabilization={HPA_DOWNSCALE_STABILIZATION}"
        ))])
    _spawn(cluster, "kube-scheduler", [
        str(bin_dir / "kube-scheduler"), "--kubeconfig", kc, "--leader-elect=false",
        "--bind-address", "127.0.0.1", "--secure-port", "0"])
    stages = sorted((share / "kwok-stages").glob("*.yaml"))
    if not stages:
        raise AssertionError(f"no kwok stage files in {share / 'kwok-stages'} "
                             "(run bash tests/engine/kube/build.sh)")
    # kwok plays only its own nodes (annotated ``kwok.x-k8s.io/node: fake``), never a real one
    _spawn(cluster, "kwok", [
        str(bin_dir / "kwok"), "--kubeconfig", kc,
        "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
        "--server-address", f"127.0.0.1:{free_port()}",
        *(f"--config={s}" for s in stages)])
    nodes = NODES if simulated_nodes else ()
    for node in nodes:
        body = node.manifest()
        api.create("/api/v1/nodes", body)
        api.merge_patch(f"/api/v1/nodes/{node.name}/status", {"status": body["status"]})
    for crd in sorted((share / "gateway-api").glob("*.yaml")):
        for doc in yaml.safe_load_all(crd.read_text(encoding="utf-8")):
            if doc:
                api.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", doc)

    def nodes_ready() -> bool:
        nodes = api.items("/api/v1/nodes")
        ready = [n for n in nodes if any(c["type"] == "Ready" and c["status"] == "True"
                                         for c in (n.get("status") or {}).get("conditions") or [])]
        return len(ready) == len(nodes)

    if nodes:
        _ready(cluster, "kwok nodes", nodes_ready, 3, say)

    def crds_established() -> bool:
        crds = api.items("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
        return bool(crds) and all(
            any(c["type"] == "Established" and c["status"] == "True"
                for c in (crd.get("status") or {}).get("conditions") or []) for crd in crds)

    _ready(cluster, "Gateway API CRDs", crds_established, 2, say)
    _ready(cluster, "kube-controller-manager (default service account)",
           lambda: api.exists("/api/v1/namespaces/default/serviceaccounts/default"), 5, say)
    for node in nodes:  # the status patch above may have raced kwok's initialize stage
        got = api.get(f"/api/v1/nodes/{node.name}")["status"]["allocatable"]
        if got.get("cpu") != node.cpu:
            api.merge_patch(f"/api/v1/nodes/{node.name}/status",
                            {"status": node.manifest()["status"]})


def delete_namespace(api: Api, name: str, timeout_s: float = 120) -> None:
    """Delete ``name`` and wait until it is gone (its pods no longer hold node capacity)."""
    try:
        api.delete(f"/api/v1/namespaces/{name}")
    except ApiError as e:
        if e.status != 404:
            raise
    wait_for(f"namespace {name} to be deleted",
             lambda: not api.exists(f"/api/v1/namespaces/{name}"), timeout_s, 1.0)


def new_namespace(api: Api, name: str) -> str:
    """Create namespace ``name`` and wait for its default service account (pods need it)."""
    api.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                       "metadata": {"name": name}})
    wait_for(f"service account default in {name}",
             lambda: api.exists(f"/api/v1/namespaces/{name}/serviceaccounts/default"), 30)
    return name


def main() -> int:
    run = Path(tempfile.mkdtemp(prefix="mlplan-kube-"))
    cluster = start(run, real_node="--real-node" in sys.argv[1:])
    print(f"export KUBECONFIG={cluster.kubeconfig}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            cluster.check_alive()
            time.sleep(2)
    cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
