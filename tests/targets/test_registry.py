"""The target descriptors (``mlplan.targets.registry``): what the planner, the rules and the
renderers ask a target instead of testing its name."""

from __future__ import annotations

import pytest

from mlplan.domain.docker_settings import DockerSettings
from mlplan.domain.settings import Settings
from mlplan.planning.port import Effect
from mlplan.targets import registry

EFFECTS = [
    # name, target, path, effect, why
    ("image rolls on docker", "docker", "environment.image", Effect.ROLL,
     "instance configuration"),
    ("health check in place on docker", "docker", "readiness_probe.period", Effect.IN_PLACE,
     "Docker health check: recorded now, applies to new containers"),
    ("health check rolls on kubernetes", "kubernetes", "readiness_probe.period", Effect.ROLL,
     "health check"),
    ("memory in place on docker", "docker", "size.memory_mib", Effect.IN_PLACE,
     "Docker updates a container's memory limit in place"),
    ("count scales on kubernetes", "kubernetes", "instance_count", Effect.SCALE,
     "instances added or removed"),
]


@pytest.mark.parametrize(("name", "target", "path", "effect", "why"), EFFECTS,
                         ids=[e[0] for e in EFFECTS])
def test_field_effect(name: str, target: str, path: str, effect: Effect, why: str) -> None:
    assert registry.of(target).field_effect(path) == (effect, why)


ROUTER = [
    ("timeout on docker", "docker", "request_settings.request_timeout_ms", True),
    ("count on docker: named upstreams", "docker", "instance_count", True),
    ("count on kubernetes: one Service", "kubernetes", "instance_count", False),
    ("image on kubernetes", "kubernetes", "environment.image", False),
]


@pytest.mark.parametrize(("name", "target", "path", "expected"), ROUTER,
                         ids=[r[0] for r in ROUTER])
def test_touches_router(name: str, target: str, path: str, expected: bool) -> None:
    assert registry.of(target).touches_router(path) is expected


BATCHES = [
    ("docker names containers", "docker", "", ("my-endpoint-blue-0", "my-endpoint-blue-1")),
    ("docker with namePrefix", "docker", "pr-",
     ("pr-my-endpoint-blue-0", "pr-my-endpoint-blue-1")),
    ("kubernetes counts replicas", "kubernetes", "pr-", ("replica 0", "replica 1")),
]


@pytest.mark.parametrize(("name", "target", "prefix", "expected"), BATCHES,
                         ids=[b[0] for b in BATCHES])
def test_batch_names(name: str, target: str, prefix: str, expected: tuple[str, ...]) -> None:
    settings = Settings(docker_settings=DockerSettings(name_prefix=prefix))
    assert registry.of(target).batch_names("my-endpoint", "blue", (0, 1), settings) == expected


def test_delete_first_types_are_docker_containers() -> None:
    assert registry.delete_first_types() == {"docker:index/container:Container"}


def test_every_target_is_registered_under_its_settings_name() -> None:
    assert sorted(registry.TARGETS) == ["docker", "kubernetes"]
    assert all(registry.of(n).name == n for n in registry.TARGETS)
