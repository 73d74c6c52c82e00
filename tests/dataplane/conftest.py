"""Fixtures of the data-plane suite: one fleet of azmlinfsrv instances per session, one nginx per
test (started in tens of milliseconds), everything on 127.0.0.1 and stopped in finalizers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlplan.router.nginx import RouterBackend, RouterConfig
from tests.dataplane.harness import (
    PROBE_SCRIPT,
    Instance,
    Router,
    free_port,
    nginx_binary,
    start_instances,
    stop_all,
)
from tests.lib.ci import in_ci


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.dataplane)


@pytest.fixture(scope="session", autouse=True)
def _needs_nginx() -> None:
    if nginx_binary() is None:
        message = "nginx is not installed (apt-get install nginx)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)


@dataclass
class Fleet:
    """Running instances by deployment; ``ghost`` is a port where nothing listens."""

    instances: dict[str, list[Instance]]
    ghost_port: int

    def backend(self, name: str, **settings: int) -> RouterBackend:
        if name == "ghost":
            addresses: tuple[str, ...] = (f"127.0.0.1:{self.ghost_port}",)
        else:
            addresses = tuple(i.address for i in self.instances[name])
        return RouterBackend(name=name, instances=addresses, **settings)

    def offsets(self, name: str) -> list[int]:
        return [i.log_size() for i in self.instances[name]]

    def scored_since(self, name: str, offsets: list[int]) -> int:
        return sum(i.scored_since(o) for i, o in zip(self.instances[name], offsets, strict=True))


@pytest.fixture(scope="session")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """blue x5 and green x2 run the bundled score.py; slow x2, flaky and late x2 run
    probe_score.py (flaky fails every 20th request, late sleeps 600 ms)."""
    workdir = tmp_path_factory.mktemp("fleet")
    plan = {
        "blue": [Instance("blue", workdir) for _ in range(5)],
        "green": [Instance("green", workdir) for _ in range(2)],
        "slow": [Instance("slow", workdir, script=PROBE_SCRIPT, workers=2) for _ in range(2)],
        # candidates that fail 5% of real requests, or answer 600 ms late (promotion gates)
        "flaky": [Instance("flaky", workdir, script=PROBE_SCRIPT, env={"MLPLAN_FAIL_EVERY":
                                                                       "20"})],
        "late": [Instance("late", workdir, script=PROBE_SCRIPT, workers=2,
                          env={"MLPLAN_SLEEP_MS": "600"})],
    }
    everything = [i for group in plan.values() for i in group]
    try:
        start_instances(everything)
        yield Fleet(plan, free_port())
    finally:
        stop_all(everything)


@pytest.fixture()
def router(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Router]]:
    """``router(config_kwargs..., workers=1)`` starts nginx on a free port with that config."""
    started: list[Router] = []

    def start(workers: int = 1, **kwargs: object) -> Router:
        directory = tmp_path_factory.mktemp("router")
        instance = Router(directory, worker_processes=workers)
        config = RouterConfig(
            endpoint="my-endpoint", listen_port=free_port(), listen_address="127.0.0.1", **kwargs
        )  # type: ignore[arg-type]
        started.append(instance)
        return instance.start(config)

    yield start
    for instance in started:
        instance.stop()
