"""The target descriptors (``mlplan.targets.registry``): what the planner, the rules and the
renderers ask a target instead of testing its name."""

from __future__ import annotations

import pytest

from mlplan.domain.settings import Settings
from mlplan.domain.spec import SourceText, parse
from mlplan.edge import pipeline
from mlplan.planning.diff import review
from mlplan.planning.port import Effect, Target
from mlplan.planning.state import DesiredState
from mlplan.targets import registry
from mlplan.targets.docker.settings import DockerSettings

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
    settings = Settings(target_settings=DockerSettings(name_prefix=prefix))
    assert registry.of(target).batch_names("my-endpoint", "blue", (0, 1), settings) == expected


def test_delete_first_types_are_docker_containers() -> None:
    assert registry.delete_first_types() == {"docker:index/container:Container"}


def test_every_target_is_registered_under_its_settings_name() -> None:
    assert sorted(registry.TARGETS) == ["docker", "kubernetes"]
    assert all(registry.of(n).name == n for n in registry.TARGETS)


# --- a target plugged in: one folder (tests/targets/toy) + one registry line -----------------


TOY_ENDPOINT = """\
$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json
name: {name}
auth_mode: key
traffic: {{blue: 100}}
"""
TOY_BLUE = """\
$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json
name: blue
endpoint_name: {name}
model: {{path: ./m}}
environment: {{image: example.io/infer:{tag}}}
instance_type: Standard_DS3_v2
instance_count: 3
readiness_probe: {{period: {period}}}
"""


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> Target:
    from tests.targets.toy.target import TOY

    monkeypatch.setitem(registry.TARGETS, TOY.name, TOY)  # the registry line
    return TOY


def toy_state(name: str = "my-endpoint", tag: str = "1", period: int = 10) -> DesiredState:
    parsed = parse([SourceText("e.yml", TOY_ENDPOINT.format(name=name)),
                    SourceText("blue.yml", TOY_BLUE.format(name=name, tag=tag, period=period))])
    settings = Settings(target="toy")  # type: ignore[arg-type]  # the settings schema: not yet
    return pipeline.checked_state(parsed.endpoints, settings, parsed.diagnostics)


TOY_CHANGES = [
    # scenario, head image tag, head readiness period, effect, rolled batches
    ("image: rolls, surging, batches as the toy names them", "2", 10, Effect.ROLL,
     ("slot 0",)),
    ("health check: in place on the toy", "1", 20, Effect.IN_PLACE, ()),
]


@pytest.mark.parametrize(("name", "tag", "period", "effect", "first_batch"), TOY_CHANGES,
                         ids=[c[0] for c in TOY_CHANGES])
def test_a_new_target_plans_and_reviews_through_the_port(
        name: str, tag: str, period: int, effect: Effect, first_batch: tuple[str, ...],
        toy: Target) -> None:
    base, head = toy_state(), toy_state(tag=tag, period=period)
    assert head.target is toy and head.diagnostics == ()
    (blue,) = head.endpoints[0].deployments
    assert blue.rollout.surge and blue.rollout.peak_instances == 4  # ceil(1.2 * 3)
    (endpoint,) = review(base, head).endpoints
    (change,) = endpoint.deployments
    assert {c.effect for c in change.changes} == {effect}
    batches = change.roll.batches[0] if change.roll and change.roll.batches else ()
    assert batches == first_batch


def test_a_new_target_checks_the_stack_and_is_deployed_through_its_resources(
        toy: Target) -> None:
    assert [d.code for d in toy_state("forbidden").diagnostics] == ["MLP118"]
    assert registry.resources(toy).stack_diagnostics(toy_state(), None) == []
