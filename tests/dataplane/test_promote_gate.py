"""``mlplan promote --apply`` against a real router with a client streaming requests through it
during the whole promotion: the Automation API is faked at its boundary (``up`` renders the
endpoint file's traffic into real nginx, as the Docker target's config container does), the
gate reads the real router's per-request log, real inference servers answer.

Scenarios (the issue's a-d on the router alone): a healthy candidate is promoted with zero
failed requests in the stream; a candidate that fails 5% of its requests, one 600 ms slower
than the 500 ms p99 limit, and one that accepts and never answers (the router's 408 after
1 s) are each aborted at the canary, all traffic back on blue, mirror off, and the stream's
failures are the candidate's only.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from mlplan.domain.names import ROUTING_HEADER
from mlplan.domain.spec import SourceText, parse
from mlplan.edge.program import load
from mlplan.edge.promote_apply import ApplyResult, GateOptions, apply, gate
from mlplan.edge.promote_io import apply_step, write_rollback
from mlplan.planning import promote
from mlplan.planning.gates import Thresholds
from mlplan.router.access_log import Request, requests_between
from mlplan.router.nginx import RouterBackend, RouterConfig
from tests.dataplane.conftest import Fleet
from tests.dataplane.harness import Client, Router, Stream
from tests.targets.projects import make_project

KEY = "k" * 32
ENDPOINT_FILE = "stacks/endpoints/endpoint.yml"
AUTH = {"Authorization": f"Bearer {KEY}"}


class RouterStack:
    """``up`` applies the endpoint file's split to the running router (graceful reload)."""

    def __init__(self, root: Path, router: Router, backends: tuple[RouterBackend, ...]) -> None:
        self.root, self.router, self.backends = root, router, backends
        self.ups = 0

    def up(self) -> None:
        self.ups += 1
        path = self.root / ENDPOINT_FILE
        (endpoint,) = parse([SourceText(ENDPOINT_FILE, path.read_text())]).endpoints
        self.router.apply(RouterConfig(
            endpoint="my-endpoint", listen_port=self.router.port, listen_address="127.0.0.1",
            backends=self.backends, traffic=endpoint.traffic,
            mirror=tuple((n, p) for n, p in endpoint.mirror_traffic if p), keys=(KEY,)))

    def outputs(self) -> Mapping[str, Any]:
        return {"my-endpoint-scoring-uri": f"http://127.0.0.1:{self.router.port}/score",
                "my-endpoint-primary-key": KEY}


class FileLog:
    """The router's access log file, read as the Docker target reads the container's stdout."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def requests(self, since: float, until: float) -> list[Request]:
        return requests_between(self.path.read_text().splitlines(), since, until)


@contextlib.contextmanager
def hanging_port() -> Iterator[int]:
    """A socket that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        for connection in held:
            connection.close()
        server.close()


def promote_under_stream(tmp_path: Path, router: Callable[..., Router],
                         candidate: RouterBackend) -> tuple[ApplyResult, RouterStack, list[Any]]:
    name = candidate.name
    root = make_project(tmp_path, {"blue": {}, name: {}}, traffic={"blue": 100, name: 0})
    blue = FLEET.backend("blue", max_concurrent_requests_per_instance=2)
    backends = (blue, candidate)
    stack = RouterStack(root, router(backends=backends, traffic=(("blue", 100), (name, 0)),
                                     keys=(KEY,)), backends)
    log = FileLog(stack.router.access_log)
    state, _root = load(root, "test")
    plan = promote.plan(state, "my-endpoint", name, steps=(10, 100))
    assert plan.ok
    (endpoint,) = (e.endpoint for e in state.endpoints)
    start = promote.start_state(endpoint, name)
    options = GateOptions(bake_seconds=1.5, thresholds=Thresholds(min_requests=40),
                          body=b'{"data": [[5.1, 3.5, 1.4, 0.2]]}', timeout=3.0)
    with Stream(stack.router.port, threads=4, max_requests=20_000, headers=AUTH) as stream:
        stream.wait_count(50)
        result = apply(
            plan,
            write=lambda step: apply_step(root, ENDPOINT_FILE, step, start, name, []),
            roll_back=lambda: write_rollback(root, ENDPOINT_FILE, start, mirror=False),
            driver=stack,
            run_gate=lambda out, step: gate(out["my-endpoint-scoring-uri"],
                                            out["my-endpoint-primary-key"], name, options,
                                            log=log),
            progress=lambda line: None)
        stream.wait_count(50)
    return result, stack, stream.results


FLEET: Fleet


@pytest.fixture(autouse=True)
def _fleet(fleet: Fleet) -> None:
    global FLEET
    FLEET = fleet


def test_a_healthy_candidate_is_promoted_with_no_failed_request(
        tmp_path: Path, router: Callable[..., Router]) -> None:
    # 4 stream threads and a probe at 100%: room for 8 in flight (2 instances x 2 x 2)
    green = FLEET.backend("green", max_concurrent_requests_per_instance=2)
    result, stack, results = promote_under_stream(tmp_path, router, green)
    assert result.ok, result.reason
    assert [r for r in results if r.status != 200] == []
    assert stack.ups == 3  # canary, promoted, retire
    for _step, gate_result in result.gates:  # every gate judged real requests, and says so
        assert gate_result.source == "router log" and gate_result.real > 0
        assert f"({gate_result.real} real" in gate_result.reason
    assert "green: 100" in (stack.root / ENDPOINT_FILE).read_text()


FAILING = [
    ("fails 5% of requests", "flaky", "success_rate", {500}),
    ("600 ms slower", "late", "p99_ms", set()),
    ("hangs: the router's 408s", "hang", "success_rate", {408}),  # and maybe 429s
]


@pytest.mark.parametrize(("name", "deployment", "metric", "statuses"), FAILING,
                         ids=[f[0] for f in FAILING])
def test_a_failing_candidate_is_aborted_and_all_traffic_returns(
        tmp_path: Path, router: Callable[..., Router], name: str, deployment: str,
        metric: str, statuses: set[int]) -> None:
    with contextlib.ExitStack() as stack_:
        if deployment == "hang":
            port = stack_.enter_context(hanging_port())
            candidate = RouterBackend(name="hang", instances=(f"127.0.0.1:{port}",),
                                      request_timeout_ms=1000)
        else:
            candidate = FLEET.backend(deployment, max_concurrent_requests_per_instance=4)
        result, stack, results = promote_under_stream(tmp_path, router, candidate)
        assert not result.ok and result.rolled_back
        assert result.failed_step is not None and result.failed_step.stage == "canary"
        assert result.reason.startswith("step 1 (canary): gate failed:")
        (_step, verdict_gate), = result.gates
        assert verdict_gate.verdict is not None
        assert metric in [c.metric for c in verdict_gate.verdict.failed], result.reason
        assert f"{metric} " in result.reason
        # the stream's failures are the candidate's only, of the expected kind
        failed = [r for r in results if r.status != 200]
        assert {r.headers.get(ROUTING_HEADER) for r in failed} <= {deployment}
        # (a hanging candidate also fills its in-flight limit: the router's 429s)
        assert statuses <= {r.status for r in failed} <= statuses | {429}
        if statuses:
            assert verdict_gate.verdict.candidate.failures >= 1
        # all traffic back on blue, mirror off; blue alone serves
        (endpoint,) = parse([SourceText(ENDPOINT_FILE,
                                        (stack.root / ENDPOINT_FILE).read_text())]).endpoints
        assert endpoint.traffic_map == {"blue": 100, deployment: 0}
        assert endpoint.mirror_map == {}
        client = Client(stack.router.port)
        after = [client.request(headers=AUTH) for _ in range(30)]
        client.close()
        assert {(r.status, r.headers.get(ROUTING_HEADER)) for r in after} == {(200, "blue")}
