"""``mlplan status`` / ``mlplan logs`` without a running endpoint: every refusal names what is
wrong, exits 1, prints nothing on stdout and never a traceback; the Kubernetes reader against a
stand-in of the client's CoreV1Api. (The live Docker reads are in
tests/engine/test_docker_promote.py.)"""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from mlplan.domain import labels
from mlplan.edge.cli import main
from mlplan.edge.traffic_log import Instance, KubernetesEndpoint, container_of_instance
from tests.targets.projects import make_project

CASES = [
    ("endpoint not declared", "docker", ["status", "nope"],
     "endpoint 'nope' is not declared in stack 'test' (endpoints: my-endpoint)"),
    ("no Docker host", "docker", ["status", "my-endpoint"],
     "cannot read the Docker host unix:///nonexistent/docker.sock"),
    ("kubernetes: no credentials", "kubernetes", ["status", "my-endpoint"],
     "no Kubernetes credentials for the current context"),
    ("logs: no Docker host", "docker", ["logs", "my-endpoint", "blue"],
     "cannot read the Docker host"),
    ("logs: kubernetes, no credentials", "kubernetes", ["logs", "my-endpoint", "blue"],
     "no Kubernetes credentials"),
    ("logs: deployment not declared, checked before connecting", "docker",
     ["logs", "my-endpoint", "nope"],
     "deployment 'nope' is not declared on 'my-endpoint' (deployments: blue)"),
    ("logs: instance out of range, checked before connecting", "kubernetes",
     ["logs", "my-endpoint", "blue", "--instance", "3"],
     "--instance 3: blue has 3 instance(s), 0 to 2"),
    ("logs: --lines 0", "docker", ["logs", "my-endpoint", "--lines", "0"],
     "argument --lines: 0 must be 1 to 100000"),
    ("logs: --lines 1.5", "docker", ["logs", "my-endpoint", "--lines", "1.5"],
     "argument --lines: '1.5' is not a whole number"),
    ("bad --since", "docker", ["status", "my-endpoint", "--since", "5 minutes"],
     "argument --since: '5 minutes' is not a duration like 30s, 5m or 1h"),
]


@pytest.mark.parametrize(("name", "target", "args", "says"), CASES, ids=[c[0] for c in CASES])
def test_refusals_name_the_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str], name: str, target: str,
                                   args: list[str], says: str) -> None:
    root = make_project(tmp_path, {"blue": {}}, traffic={"blue": 100}, target=target)
    monkeypatch.chdir(root)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    code = main([*args, "--stack", "test"])
    out, err = capsys.readouterr()
    assert code == 1 and out == "" and says in err, err
    assert "Traceback" not in err


class Pod:
    """The fields of the client's V1Pod that the reader uses."""

    def __init__(self, name: str, labels: dict[str, str], ready: bool = True) -> None:
        self.metadata = SimpleNamespace(name=name, labels=labels)
        self.status = SimpleNamespace(conditions=[SimpleNamespace(
            type="Ready", status="True" if ready else "False")])


class CoreV1:
    """A stand-in for ``kubernetes.client.CoreV1Api`` at the two calls the reader makes."""

    def __init__(self, pods: list[Pod], logs: dict[str, str]) -> None:
        self.pods, self.logs = pods, logs
        self.calls: list[tuple[str, dict[str, object]]] = []

    def list_namespaced_pod(self, namespace: str, label_selector: str) -> SimpleNamespace:
        self.calls.append(("list", {"namespace": namespace, "selector": label_selector}))
        wanted = dict(part.split("=") for part in label_selector.split(","))
        return SimpleNamespace(items=[p for p in self.pods if all(
            p.metadata.labels.get(k) == v for k, v in wanted.items())])

    def read_namespaced_pod_log(self, name: str, namespace: str, **kwargs: object) -> str:
        self.calls.append(("log", {"name": name, **kwargs}))
        return self.logs[name]


def line(deployment: str, status: int, at: float) -> str:
    return json.dumps({"msec": at, "status": status, "request_time": 0.01,
                       "deployment": deployment, "via": "split", "probe": ""})


def test_kubernetes_reader_merges_every_router_pod() -> None:
    ep, role, dep = labels.ENDPOINT, labels.ROLE, labels.DEPLOYMENT
    now = time.time()
    api = CoreV1([
        Pod("my-endpoint-7d9-a", {ep: "my-endpoint", role: "router"}),
        Pod("my-endpoint-7d9-b", {ep: "my-endpoint", role: "router"}),
        Pod("my-endpoint-blue-5c-x", {ep: "my-endpoint", role: "instance", dep: "blue"}),
        Pod("my-endpoint-blue-5c-y", {ep: "my-endpoint", role: "instance", dep: "blue"},
            ready=False),
        Pod("other-7d9-a", {ep: "other", role: "router"}),
    ], {"my-endpoint-7d9-a": line("blue", 200, now - 1) + "\n" + line("blue", 503, now - 1),
        "my-endpoint-7d9-b": line("blue", 200, now - 2) + "\nnginx notice\n",
        "my-endpoint-blue-5c-y": "server log\n"})
    reader = KubernetesEndpoint("my-endpoint", "mlplan", api, "the current context")
    got = reader.requests(now - 60, now + 1)
    assert sorted(r.status for r in got) == [200, 200, 503]
    assert [(i.name, i.ready) for i in reader.instances()] == [
        ("my-endpoint-blue-5c-x", True), ("my-endpoint-blue-5c-y", False)]
    assert reader.instance_of("blue", 1) == "my-endpoint-blue-5c-y"
    assert reader.instance_of("blue", 2) is None
    assert reader.instance_log("my-endpoint-blue-5c-y", 10) == "server log\n"
    logs = [kwargs for kind, kwargs in api.calls if kind == "log"]
    assert logs[0]["container"] == "router" and 60 <= logs[0]["since_seconds"] <= 62
    assert logs[-1] == {"name": "my-endpoint-blue-5c-y", "container": "inference",
                        "tail_lines": 10}


SURGE = [
    # name, the host's containers (name, ready), the container expected
    ("plain name", [("e-blue-0", True)], "e-blue-0"),
    ("surge batch: the revision", [("e-blue-0-1a2b3c4d", True)], "e-blue-0-1a2b3c4d"),
    ("mid-roll: the ready one", [("e-blue-0", False), ("e-blue-0-1a2b3c4d", True)],
     "e-blue-0-1a2b3c4d"),
    ("mid-roll, both ready: by name", [("e-blue-0-1a2b3c4d", True), ("e-blue-0", True)],
     "e-blue-0"),
    ("instance 10 is not instance 1", [("e-blue-10", True), ("e-blue-1x", True)], None),
    ("not a revision", [("e-blue-0-zzzzzzzz", True), ("e-blue-0-1a2b3c4", True)], None),
    ("none", [], None),
]


@pytest.mark.parametrize(("name", "host", "expected"), SURGE, ids=[c[0] for c in SURGE])
def test_logs_find_an_instance_by_name_or_surge_revision(
        name: str, host: list[tuple[str, bool]], expected: str | None) -> None:
    base = "e-blue-1" if name == "instance 10 is not instance 1" else "e-blue-0"
    instances = [Instance(n, "blue", ready) for n, ready in host]
    assert container_of_instance(instances, base) == expected
