"""Custom containers' routes through the real router: ``inference_config.scoring_route`` maps
the endpoint's scoring URI ``/score`` to each deployment's own path and port, every other path
(probes, Triton's ``/v2/...``) passes through unchanged, the header and the mirror use the same
mapping, and the Docker healthcheck asks the readiness route.

The deployments are Azure-style YAML (the shapes of ``azureml-examples``
``cli/endpoints/online/custom-container``: TorchServe, TF Serving, Triton) planned by mlplan;
the servers are ``tests/docker/images/custom/custom-server`` processes on 127.0.0.1 listening
only on the declared port and answering only the declared paths (404 elsewhere).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlplan.domain.settings import Settings
from mlplan.domain.spec import SourceText, parse
from mlplan.edge.pipeline import planned
from mlplan.planning.routing import probe_route, router_config, scoring_route
from mlplan.planning.state import DeploymentState, EndpointState
from mlplan.targets.docker.containers import healthcheck
from tests.dataplane.harness import REPO, Client, Proc, free_port, port_open, wait_for

CUSTOM_SERVER = REPO / "tests" / "docker" / "images" / "custom" / "custom-server"
HEADER = "azureml-model-deployment"

ENDPOINT = """\
$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json
name: custom-endpoint
auth_mode: key
traffic: {torch: 100, tfs: 0, triton: 0}
mirror_traffic: {tfs: 50}
"""
# (deployment, scoring path, liveness path, readiness path) as in Azure's custom-container examples
SHAPES = {
    "torch": ("/predictions/densenet161", "/ping", "/ping"),
    "tfs": ("/v1/models/half_plus_two:predict", "/v1/models/half_plus_two",
            "/v1/models/half_plus_two"),
    "triton": ("/", "/v2/health/live", "/v2/health/ready"),
}


def deployment_yaml(name: str, port: int) -> str:
    scoring, live, ready = SHAPES[name]
    return f"""\
$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json
name: {name}
endpoint_name: custom-endpoint
environment:
  image: registry.example.com/{name}:1.0
  inference_config:
    liveness_route: {{port: {port}, path: "{live}"}}
    readiness_route: {{port: {port}, path: "{ready}"}}
    scoring_route: {{port: {port}, path: "{scoring}"}}
instance_type: Standard_DS2_v2
instance_count: 1
"""


class Servers:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.ports = {name: free_port() for name in SHAPES}
        self.procs: dict[str, Proc] = {}

    def start(self) -> None:
        for name, port in self.ports.items():
            scoring, live, ready = SHAPES[name]
            env = dict(os.environ, CUSTOM_HOST="127.0.0.1", CUSTOM_PORT=str(port),
                       CUSTOM_SCORING_PATH=scoring, CUSTOM_LIVENESS_PATH=live,
                       CUSTOM_READINESS_PATH=ready, MLPLAN_DEPLOYMENT=name)
            proc = Proc([sys.executable, str(CUSTOM_SERVER)], self.log(name), env)
            proc.start()
            self.procs[name] = proc
        for port in self.ports.values():
            wait_for(lambda p=port: port_open(p), 15, f"custom-server on {port}")

    def log(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def requests_seen(self, name: str, line: str) -> int:
        return self.log(name).read_text(errors="replace").count(line)

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.stop()


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    running = Servers(tmp_path_factory.mktemp("custom"))
    try:
        running.start()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def endpoint(servers: Servers) -> EndpointState:
    sources = [SourceText("ep/endpoint.yml", ENDPOINT)]
    sources += [SourceText(f"ep/{name}.yml", deployment_yaml(name, port))
                for name, port in servers.ports.items()]
    parsed = parse(sources)
    state = planned(parsed.endpoints, Settings(), parsed.diagnostics)
    assert [d for d in state.diagnostics if d.severity.name == "ERROR"] == []
    return state.endpoints[0]


@pytest.fixture()
def nginx(router, endpoint: EndpointState):  # type: ignore[no-untyped-def]
    def at_declared_port(dep: DeploymentState) -> tuple[str, ...]:
        return (f"127.0.0.1:{scoring_route(dep.deployment).port}",)

    config = router_config(endpoint, at_declared_port, (), 1)
    return router(backends=config.backends, traffic=config.traffic, mirror=config.mirror)


# (scenario, method, path sent to the endpoint, header, deployment, route, path it reached, query)
CASES = [
    ("scoring-uri-to-torchserve-route", "POST", "/score", None,
     "torch", "scoring", "/predictions/densenet161", ""),
    ("scoring-uri-keeps-query", "POST", "/score?top_k=3&x=%2F", None,
     "torch", "scoring", "/predictions/densenet161", "top_k=3&x=%2F"),
    ("azure-scoring-uri-path-passes", "POST", "/predictions/densenet161", None,
     "torch", "scoring", "/predictions/densenet161", ""),
    ("liveness-path-passes-unchanged", "GET", "/ping", None, "torch", "liveness", "/ping", ""),
    ("header-to-tf-serving-route", "POST", "/score", "tfs",
     "tfs", "scoring", "/v1/models/half_plus_two:predict", ""),
    ("header-tf-serving-probe-path", "GET", "/v1/models/half_plus_two", "tfs",
     "tfs", "liveness", "/v1/models/half_plus_two", ""),
    ("triton-root-route", "POST", "/score", "triton", "triton", "scoring", "/", ""),
    ("triton-v2-paths-pass", "GET", "/v2/health/ready", "triton",
     "triton", "readiness", "/v2/health/ready", ""),
]


@pytest.mark.parametrize(
    ("method", "path", "header", "deployment", "route", "reached", "query"),
    [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_request_reaches_the_declared_route(nginx, method: str, path: str, header: str | None,
                                            deployment: str, route: str, reached: str,
                                            query: str) -> None:
    body = b'{"data": [1]}' if method == "POST" else None
    result = Client(nginx.port).request(method, path, body=body,
                                        headers={HEADER: header} if header else None)

    assert result.status == 200, result.body
    answer = result.json()
    assert (answer["deployment"], answer["route"], answer["path"], answer["query"]) == (
        deployment, route, reached, query)
    assert result.headers[HEADER] == deployment
    if method == "POST":
        assert answer["body_bytes"] == len(body or b"")


def test_other_paths_are_not_rewritten(nginx) -> None:
    """Only the scoring URI is mapped: ``/scored`` and ``/score/x`` reach the server as sent
    (which does not serve them: 404 from the server, not the router)."""
    client = Client(nginx.port)
    for path in ("/scored", "/score/x", "/swagger.json"):
        result = client.request("POST", path)
        assert result.status == 404, path
        assert result.json()["path"] == path


def test_mirror_copies_reach_the_mirror_targets_scoring_route(nginx, servers: Servers) -> None:
    line = '"POST /v1/models/half_plus_two:predict HTTP/1.1" 200'
    before = servers.requests_seen("tfs", line)
    client = Client(nginx.port)
    results = [client.request("POST", "/score") for _ in range(200)]
    assert {r.json()["deployment"] for r in results} == {"torch"}

    def copies() -> int:
        return servers.requests_seen("tfs", line) - before

    deadline = time.monotonic() + 10
    while copies() < 60 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert 60 <= copies() <= 140  # 50% of 200, binomial: 6 standard deviations wide


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_docker_healthcheck_asks_the_readiness_route(endpoint: EndpointState, servers: Servers,
                                                     name: str) -> None:
    """The healthcheck command the Docker target stamps on an instance, run against the real
    server: healthy on the declared readiness route and port; unhealthy on another path."""
    dep = next(d for d in endpoint.deployments if d.name == name)
    ready = probe_route(dep.deployment, "readiness")
    assert ready.port == servers.ports[name] and ready.path == SHAPES[name][2]

    def run(path: str) -> int:
        check = healthcheck(dep, ready.port, path)
        assert check.test[0] == "CMD"  # exec form: the rest is the command line
        return subprocess.run(list(check.test[1:]), capture_output=True,
                              timeout=30, check=False).returncode

    assert run(ready.path) == 0
    assert run("/not-the-readiness-route") != 0
