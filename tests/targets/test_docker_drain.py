"""Drain before stop on Docker (issue 25 item 2): which batches get a drain container, what its
upstream block routes, when the engine runs it again, and how a drain fails.

First the pure plan (``docker_containers.plan_drains`` through ``plan_endpoint``) as tables of
named scenarios, comparing one project root's plans before and after a change (a drain's inputs
are what the engine diffs); then the drain program itself, run with ``/bin/sh`` and the host's
nginx against a stand-in router that never serves the new generation: it must stop within its
bound and say which endpoint, deployment and batch it waited for."""

from __future__ import annotations

import http.server
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from mlplan.edge import io, pipeline
from mlplan.router.drain import UNCONFIRMED_EXIT, RoutingWriter, config_program, drain_program
from mlplan.router.nginx import RouterBackend, RouterConfig, render_files
from mlplan.router.nginx import render_upstream as upstream_block
from mlplan.targets.docker import containers as docker_containers
from mlplan.targets.docker import settings as docker_settings
from mlplan.targets.docker.containers import EndpointContainers
from tests.lib.host_nginx import host_nginx, scratch_runtime
from tests.targets.projects import make_project

A100 = "Standard_NC24ads_A100_v4"  # exempt from the 20% surge reservation


def plan(root: Path, deployments: dict[str, Any], traffic: dict[str, int]
         ) -> EndpointContainers:
    if root.exists():
        shutil.rmtree(root)
    make_project(root, deployments, traffic=traffic)
    loaded = io.load_stack(root, "test")
    state = pipeline.planned(loaded.endpoints, loaded.settings, loaded.diagnostics)
    return docker_containers.plan_endpoint(
        state.endpoints[0], "development", docker_settings.of(loaded.settings),
        loaded.settings.assets, absolute=lambda p: str(root / p), is_file=lambda p: False)


def drains_of(planned: EndpointContainers, deployment: str = "blue") -> dict[int, Any]:
    found = next(d for d in planned.deployments if d.name == deployment)
    return {d.batch: d for d in found.drains}


def servers(block: str) -> list[str]:
    return [line.split(None, 1)[1].rstrip(";") for line in block.splitlines()
            if line.strip().startswith("server ")]


WHICH = [
    # name, blue's spec, drained batches
    ("ten instances: the surge batch (0, 1) is not drained, batches 2-5 are",
     {"count": 10}, [2, 3, 4, 5]),
    ("eleven: batches of 3, the last of 2", {"count": 11}, [2, 3, 4]),
    ("exempt instance type: every batch, the first too", {"count": 5, "sku": A100},
     [1, 2, 3, 4, 5]),
    ("one instance: only the surge batch, nothing to drain", {"count": 1}, []),
    ("one exempt instance: its only batch", {"count": 1, "sku": A100}, [1]),
]


@pytest.mark.parametrize(("name", "spec", "drained"), WHICH, ids=[w[0] for w in WHICH])
def test_which_batches_are_drained(name: str, spec: dict[str, Any], drained: list[int],
                                   tmp_path: Path) -> None:
    """Each drain marks exactly its batch down, routes every other instance (the surge batch by
    its alias, where the old and the new container answer together), names its batch's
    containers and carries the deployment's revision."""
    planned = plan(tmp_path / "p", {"blue": spec}, {"blue": 100})
    blue = next(d for d in planned.deployments if d.name == "blue")
    found = drains_of(planned)
    assert sorted(found) == drained
    for number, drain in found.items():
        batch = blue.batches[number - 1]
        assert drain.instances == tuple(c.name for c in batch)
        assert drain.revision == blue.revision
        assert drain.name == f"my-endpoint-blue-batch-{number}-drain"
        listed = servers(drain.upstream_conf)
        assert len(listed) == len(blue.containers)
        down = {s.split()[0] for s in listed if s.endswith(" down")}
        assert down == {f"{c.name}:{c.port}" for c in batch}
        surge = [c for c in blue.containers if c.surge]
        assert all(f"{c.alias}:{c.port}" in {s.split()[0] for s in listed} for c in surge)
        assert "upstream mlplan_blue {" in drain.upstream_conf
        assert f"mlplan-drain: my-endpoint/blue batch {number}" in drain.command


def test_an_exempt_single_instance_drain_leaves_no_server_up(tmp_path: Path) -> None:
    """The documented choice: the only server is marked down, so the router answers its 502 at
    once while the container is replaced (it had nothing else to serve with)."""
    (drain,) = drains_of(plan(tmp_path / "p", {"blue": {"count": 1, "sku": A100}},
                              {"blue": 100})).values()
    assert [s.endswith(" down") for s in servers(drain.upstream_conf)] == [True]


RERUNS = [
    # name, before (blue's spec, traffic), after, drains whose inputs change, added, removed
    ("traffic only: no drain runs again",
     ({"count": 5}, {"blue": 100, "green": 0}), ({"count": 5}, {"blue": 0, "green": 100}),
     set(), set(), set()),
    ("a new image: every drain runs again (a new revision)",
     ({"count": 5}, {"blue": 100, "green": 0}),
     ({"count": 5, "image": "example.io/infer:2.0"}, {"blue": 100, "green": 0}),
     {2, 3, 4, 5}, set(), set()),
    ("scale 5 -> 10: batches of 1 -> 2, every drain's members change, none is added",
     ({"count": 5}, {"blue": 100, "green": 0}), ({"count": 10}, {"blue": 100, "green": 0}),
     {2, 3, 4, 5}, set(), set()),
    ("scale 3 -> 5: the two new batches get drains, the old ones' blocks list the new servers",
     ({"count": 3}, {"blue": 100, "green": 0}), ({"count": 5}, {"blue": 100, "green": 0}),
     {2, 3}, {4, 5}, set()),
    ("scale 5 -> 4: the last batch's drain goes",
     ({"count": 5}, {"blue": 100, "green": 0}), ({"count": 4}, {"blue": 100, "green": 0}),
     {2, 3, 4}, set(), {5}),
]


@pytest.mark.parametrize(("name", "before", "after", "changed", "added", "removed"), RERUNS,
                         ids=[r[0] for r in RERUNS])
def test_when_a_drain_runs_again(name: str, before: tuple[dict[str, Any], dict[str, int]],
                                 after: tuple[dict[str, Any], dict[str, int]], changed: set[int],
                                 added: set[int], removed: set[int], tmp_path: Path) -> None:
    """A drain's inputs (name, command, upstream block, revision) change exactly when its batch
    is replaced or its members change; a traffic change never runs one (it would take a batch
    out of the routing for nothing). Same project root both times (the revision covers the
    mounts' host paths)."""
    root = tmp_path / "p"
    green = {"count": 1}
    first = drains_of(plan(root, {"blue": before[0], "green": green}, before[1]))
    second = drains_of(plan(root, {"blue": after[0], "green": green}, after[1]))
    assert set(second) - set(first) == added
    assert set(first) - set(second) == removed
    assert {b for b in set(first) & set(second) if first[b] != second[b]} == changed


# ---------------------------------------------------------------------------------------------


class _StaleRouter(http.server.BaseHTTPRequestHandler):
    """A router that serves (``/-/healthy``) but never loads a new routing: its generation is
    always ``stale``."""

    def do_GET(self) -> None:
        body = b"stale" if self.path == "/-/generation" else b'{"status": "Healthy"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def stale_router() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _StaleRouter)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    thread.join(5)


def test_a_drain_the_router_never_serves_fails_within_its_bound(stale_router: int,
                                                                tmp_path: Path) -> None:
    """The drain writes the file (the router will load it when it can) but cannot confirm it:
    it exits ``UNCONFIRMED_EXIT`` after ``wait_s``, naming the endpoint, deployment and batch,
    and ``pulumi up`` then stops before the batch (``resources.router_config_accepted``)."""
    nginx = host_nginx("wget")
    live, staging = tmp_path / "live", tmp_path / "staging"
    live.mkdir()
    staging.mkdir()
    runtime = scratch_runtime(staging, tmp_path)
    backend = RouterBackend(name="blue", instances=("127.0.0.1:5001", "127.0.0.1:5002"))
    config = RouterConfig(endpoint="e", listen_port=18091, listen_address="127.0.0.1",
                          backends=(backend,), traffic=(("blue", 100),), keys=("k" * 20,))
    files = render_files(config, runtime)
    (staging / "nginx.conf").write_text(files["nginx.conf"])
    for name in ("keys.conf", "routing.conf"):
        (live / name).write_text(files[name])
    (staging / "upstream.conf").write_text(
        upstream_block(backend, runtime, frozenset({"127.0.0.1:5002"})))
    writer = RoutingWriter(conf_dir=str(live), staging_dir=str(staging), router="127.0.0.1",
                           listen_port=stale_router, health_path="/-/healthy",
                           control_port=stale_router, wait_s=2)
    command = drain_program(writer, "mlplan-drain: e/blue batch 2", "mlplan_blue").replace(
        "nginx -t", f"{nginx} -p {tmp_path} -t")
    done = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True,
                          check=False, timeout=30)
    assert done.returncode == UNCONFIRMED_EXIT, done.stdout + done.stderr
    assert "mlplan-drain: e/blue batch 2: the router 127.0.0.1 did not serve routing " \
           "generation" in done.stderr
    assert "within 2 s (it answers 'stale'" in done.stderr
    written = (live / "routing.conf").read_text()
    assert "server 127.0.0.1:5002 max_fails=3 fail_timeout=5s down;" in written
    assert "server 127.0.0.1:5001 max_fails=3 fail_timeout=5s;" in written
    # the config writer of the same endpoint waits the same way
    again = subprocess.run(["/bin/sh", "-c", config_program(
        replace(writer, wait_s=1), "mlplan-router-config: endpoint e").replace(
            "nginx -t", f"{nginx} -p {tmp_path} -t")], capture_output=True, text=True,
        check=False, timeout=30)
    assert again.returncode == UNCONFIRMED_EXIT, again.stdout + again.stderr
