"""Fixtures of the cluster suite: the control plane built by ``build.sh`` (cached outside the
repository), one cluster per test session, a fresh namespace and a fresh ``file://`` backend
per test (``pulumi_in``, ``project_copy`` come from ``tests/engine/conftest.py``).

When the binaries or the engine cannot be built here (build.sh exit 2: no Go, module proxy
unreachable) the tests are skipped with the reason, except with ``CI=true``, where they fail
with it. A build that fails (exit 1) or a cluster that does not start always fails them.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.engine.conftest import BUILD_TIMEOUT_S, Engine
from tests.engine.conftest import HERE as ENGINE_HERE
from tests.engine.conftest import cache_root as engine_cache_root
from tests.engine.kube import cluster as kube
from tests.engine.kube.api import Api
from tests.lib import phases
from tests.lib.ci import in_ci

HERE = Path(__file__).resolve().parent


def _build(script: Path, what: str) -> None:
    bash = shutil.which("bash")
    if bash is None:
        pytest.fail("bash is not installed") if in_ci() else pytest.skip("bash is not installed")
    proc = subprocess.run([bash, str(script)], capture_output=True, text=True,
                          timeout=BUILD_TIMEOUT_S, check=False)
    if proc.returncode == 0:
        return
    reason = (proc.stderr.strip() or proc.stdout.strip())[-3000:]
    if proc.returncode == 2 and not in_ci():
        pytest.skip(f"{what} cannot be built here: {reason}")
    pytest.fail(f"{script} failed (exit {proc.returncode}); {what} is needed by the cluster "
                f"suite:\n{reason}")


@pytest.fixture(scope="session")
def engine() -> Engine:
    """The Pulumi engine (tests/engine/build.sh), but failing rather than skipping in CI."""
    _build(ENGINE_HERE / "build.sh", "the Pulumi engine")
    found = Engine(engine_cache_root() / "bin")
    for plugin in ("kubernetes", "random"):
        reason = found.unavailable(plugin)
        if reason:
            pytest.fail(reason) if in_ci() else pytest.skip(reason)
    return found


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[kube.Cluster]:
    """One cluster for the session (build first: a no-op when the stamps match)."""
    _build(HERE / "build.sh", "the Kubernetes control plane")
    run = tmp_path_factory.mktemp("kube-cluster")
    try:
        begun = time.monotonic()
        started = kube.start(run, say=lambda line: print(line, flush=True))
        phases.record("kube cluster start", time.monotonic() - begun)
    except (AssertionError, RuntimeError, OSError) as e:
        pytest.fail(f"the test cluster did not start: {e}")
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="session")
def real_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[kube.Cluster]:
    """A second cluster for the session whose one node is real (``node.py``: containerd,
    kubelet, kube-proxy; the e2e images imported). Where a node cannot run, the tests fail
    with the reason (never skip)."""
    _build(HERE / "build.sh", "the Kubernetes control plane and node")
    run = tmp_path_factory.mktemp("kube-real")
    try:
        started = kube.start(run, say=lambda line: print(line, flush=True), real_node=True)
    except (AssertionError, RuntimeError, OSError) as e:
        pytest.fail(f"the real-node cluster did not start: {e}")
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def real_api(real_cluster: kube.Cluster) -> Api:
    real_cluster.check_alive()
    return real_cluster.api


@pytest.fixture
def real_namespace(real_api: Api, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace on the real-node cluster (deleted and waited for afterwards)."""
    base = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())
    name = f"r{next(_COUNTER)}-{base}"[:50].strip("-")
    yield kube.new_namespace(real_api, name)
    kube.delete_namespace(real_api, name, timeout_s=180)


@pytest.fixture
def api(cluster: kube.Cluster) -> Api:
    cluster.check_alive()
    return cluster.api


_COUNTER = iter(range(1, 10_000))


@pytest.fixture
def namespace(api: Api, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace per test: ``t<N>-<test name>`` (a DNS label), deleted afterwards (and
    waited for, so its pods free the nodes for the next test)."""
    base = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())
    name = f"t{next(_COUNTER)}-{base}"[:50].strip("-")
    yield kube.new_namespace(api, name)
    kube.delete_namespace(api, name)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The observations of the cluster suite (rollout sequences, placement, quota...)."""
    from tests.engine.kube.test_endpoints import REPORT

    if REPORT:
        terminalreporter.section("kube cluster observations")
        for line in REPORT:
            terminalreporter.write_line(line)
