"""Review predicts exactly what the target's plan renders (issue 15): for every named roll, the
order, peak, fewest serving and batches that ``mlplan review`` prints for an image change are
those of the Kubernetes manifests' RollingUpdate strategy and of the Docker containers' batches.

Kubernetes rounds ``maxSurge`` up and ``maxUnavailable`` down (a percent of N), so a strategy
(``"20%"``, 0) on 10 pods peaks at 12 with 10 serving, and (0, 2) peaks at 10 with 8 serving.
Both bugs of the issue were a mismatch of this kind: an exempt SKU that review rolled with a
surge while the manifests did not; routing that named unprefixed Docker containers.
"""

from __future__ import annotations

import math

import pytest

from mlplan.domain.diagnostics import Location
from mlplan.domain.settings import Settings
from mlplan.domain.spec import SourceText, parse
from mlplan.planning.diff import Action, DeploymentChange, plan
from mlplan.planning.state import DeploymentState, DesiredState, desired
from mlplan.targets.docker import plan as docker_plan
from mlplan.targets.kubernetes import plan as kubernetes_plan

QUOTA = {"standardDSv2Family": 400_000, "standardNCADSA100v4Family": 480_000, "total": 900_000}
DS3, A100 = "Standard_DS3_v2", "Standard_NC24ads_A100_v4"


def state(target: str, sku: str, count: int, image: str, scale: str = "",
          docker: dict[str, str] | None = None) -> DesiredState:
    deployment = (f"name: blue\nendpoint_name: my-endpoint\ninstance_type: {sku}\n"
                  f"instance_count: {count}\nenvironment: {{image: {image}}}\n{scale}")
    parsed = parse([SourceText("ep/endpoint.yml", "name: my-endpoint\ntraffic: {blue: 100}\n"),
                    SourceText("ep/blue.yml", deployment)])
    assert parsed.diagnostics == ()
    docker_settings, problems = docker_plan.parse_settings(docker or {}, Location("Pulumi.yaml"))
    assert problems == []
    settings = Settings(target=target, quota_millis=QUOTA,  # type: ignore[arg-type]
                        docker=docker or {}, docker_settings=docker_settings)
    return desired(parsed.endpoints, settings, ())


def review(target: str, sku: str, count: int, scale: str = "",
           docker: dict[str, str] | None = None) -> tuple[DeploymentChange, DeploymentState]:
    base = state(target, sku, count, "example/scorer:1", scale, docker)
    head = state(target, sku, count, "example/scorer:2", scale, docker)
    (endpoint,) = plan(base, head).endpoints
    (change,) = endpoint.deployments
    (deployment,) = head.endpoints[0].deployments
    return change, deployment


def pods(value: int | str, n: int, *, up: bool) -> int:
    """A RollingUpdate bound in pods: ``"20%"`` of 10 -> 2; a percent rounds up for maxSurge,
    down for maxUnavailable, as the Deployment controller does."""
    if isinstance(value, int):
        return value
    share = int(value.rstrip("%")) * n / 100
    return math.ceil(share) if up else math.floor(share)


AUTOSCALED = ("type: kubernetes\n"
              "scale_settings: {type: target_utilization, min_instances: 1, max_instances: 10}\n")
ROLLS = [  # (name, sku, instances, scale settings)
    ("one surging instance", DS3, 1, ""),
    ("three surging instances", DS3, 3, ""),
    ("ten surging instances", DS3, 10, ""),
    ("one exempt instance", A100, 1, ""),
    ("three exempt instances", A100, 3, ""),
    ("ten exempt instances (the issue's scenario)", A100, 10, ""),
    ("ten autoscaled surging instances", DS3, 10, AUTOSCALED),
]


@pytest.mark.parametrize(("name", "sku", "n", "scale"), ROLLS, ids=[r[0] for r in ROLLS])
def test_kubernetes_review_is_the_manifests_strategy(name: str, sku: str, n: int,
                                                      scale: str) -> None:
    change, deployment = review("kubernetes", sku, n, scale)
    surge, unavailable = kubernetes_plan.rolling_strategy(deployment)
    roll = change.roll
    assert roll is not None
    extra = pods(surge, n, up=True)
    expected_order = Action.CREATE_THEN_DELETE if extra else Action.DELETE_THEN_CREATE
    assert (roll.order, roll.peak, roll.min_in_service) == \
        (expected_order, n + extra, n - pods(unavailable, n, up=False))
    assert roll.peak == kubernetes_plan.peak_pods(deployment, n)
    assert len(roll.batches) == math.ceil(n / max(1, pods(surge, n, up=True) or
                                                  pods(unavailable, n, up=False)))


DOCKER_ROLLS = [  # (name, sku, instances, mlplan:docker)
    ("one instance", DS3, 1, {}),
    ("three instances", DS3, 3, {}),
    ("ten instances", DS3, 10, {}),
    ("ten exempt instances", A100, 10, {}),
    ("three instances, namePrefix pr- (the issue's scenario)", DS3, 3, {"namePrefix": "pr-"}),
]


@pytest.mark.parametrize(("name", "sku", "n", "docker"), DOCKER_ROLLS,
                         ids=[r[0] for r in DOCKER_ROLLS])
def test_docker_review_is_the_containers_batches(name: str, sku: str, n: int,
                                                 docker: dict[str, str]) -> None:
    """Docker stops a batch before its replacements start (names are kept): review's batches
    are the containers' batches, by name, and what routing.conf names."""
    change, deployment = review("docker", sku, n, docker=docker)
    head = state("docker", sku, n, "example/scorer:2", docker=docker)
    planned = docker_plan.plan_endpoint(head.endpoints[0], "development",
                                        head.settings.docker_settings, head.settings.assets,
                                        lambda p: f"/project/{p}", lambda _p: True)
    (containers,) = planned.deployments
    roll = change.roll
    assert roll is not None
    assert roll.order is Action.DELETE_THEN_CREATE
    assert roll.batches == tuple(tuple(c.name for c in batch) for batch in containers.batches)
    assert (roll.peak, roll.min_in_service) == (n, n - len(containers.batches[0]))
    assert planned.addresses(deployment) == tuple(f"{c.name}:{c.port}"
                                                  for c in containers.containers)
