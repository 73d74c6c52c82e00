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
from mlplan.edge.pipeline import planned
from mlplan.planning import diff
from mlplan.planning.diff import Action, DeploymentChange
from mlplan.planning.state import DeploymentState, DesiredState
from mlplan.targets.docker import containers as docker_containers
from mlplan.targets.docker.settings import of as settings_of
from mlplan.targets.kubernetes import choices as kubernetes_choices

QUOTA = {"standardDSv2Family": 400_000, "standardNCADSA100v4Family": 480_000, "total": 900_000}
DS3, A100 = "Standard_DS3_v2", "Standard_NC24ads_A100_v4"


def state(target: str, sku: str, count: int, image: str, scale: str = "",
          docker: dict[str, str] | None = None) -> DesiredState:
    deployment = (f"name: blue\nendpoint_name: my-endpoint\ninstance_type: {sku}\n"
                  f"instance_count: {count}\nenvironment: {{image: {image}}}\n{scale}")
    parsed = parse([SourceText("ep/endpoint.yml", "name: my-endpoint\ntraffic: {blue: 100}\n"),
                    SourceText("ep/blue.yml", deployment)])
    assert parsed.diagnostics == ()
    docker_settings, problems = docker_containers.parse_settings(docker or {},
                                                                 Location("Pulumi.yaml"))
    assert problems == []
    settings = Settings(target=target, quota_millis=QUOTA,
                        target_values={"docker": docker or {}}, target_settings=docker_settings)
    return planned(parsed.endpoints, settings, ())


def review(target: str, sku: str, count: int, scale: str = "",
           docker: dict[str, str] | None = None) -> tuple[DeploymentChange, DeploymentState]:
    base = state(target, sku, count, "example/scorer:1", scale, docker)
    head = state(target, sku, count, "example/scorer:2", scale, docker)
    (endpoint,) = diff.review(base, head).endpoints
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
    surge, unavailable = kubernetes_choices.rolling_strategy(deployment)
    roll = change.roll
    assert roll is not None
    extra = pods(surge, n, up=True)
    expected_order = Action.CREATE_THEN_DELETE if extra else Action.DELETE_THEN_CREATE
    assert (roll.order, roll.peak, roll.min_in_service) == \
        (expected_order, n + extra, n - pods(unavailable, n, up=False))
    assert roll.peak == kubernetes_choices.peak_pods(deployment, n)
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
    """Review's Docker roll is the containers': surge unless the instance type is exempt (the
    surge batch's containers are named by revision, a new container each, created before the
    later batches are replaced delete-first), batches by instance (the containers' aliases;
    routing.conf names the containers), peak and fewest serving as the containers make them."""
    change, deployment = review("docker", sku, n, docker=docker)
    head = state("docker", sku, n, "example/scorer:2", docker=docker)
    planned = docker_containers.plan_endpoint(head.endpoints[0], "development",
                                        settings_of(head.settings), head.settings.assets,
                                        lambda p: f"/project/{p}", lambda _p: True)
    (containers,) = planned.deployments
    roll = change.roll
    assert roll is not None
    surge = sku != A100
    assert roll.order is (Action.CREATE_THEN_DELETE if surge else Action.DELETE_THEN_CREATE)
    assert roll.batches == tuple(tuple(c.alias for c in batch) for batch in containers.batches)
    assert [roll.verbs_of(i) == ("create", "delete") for i in range(len(roll.batches))] == \
        [all(c.surge for c in batch) for batch in containers.batches]
    size = len(containers.batches[0])
    assert (roll.peak, roll.min_in_service) == ((n + size, n) if surge else (n, n - size))
    # routing.conf names each container (a surge container by its revision's name, so the
    # old surge containers are out of the routing before they are deleted; issue 25)
    assert planned.addresses(deployment) == tuple(f"{c.name}:{c.port}"
                                                  for c in containers.containers)


def head_containers(head: DesiredState) -> docker_containers.DeploymentContainers:
    planned = docker_containers.plan_endpoint(head.endpoints[0], "development",
                                        settings_of(head.settings), {},
                                        lambda p: f"/project/{p}", lambda _p: True)
    (containers,) = planned.deployments
    return containers


def docker_order(head: DesiredState, base: DesiredState | None, cpus: int = 2) -> tuple[
        docker_containers.DeploymentContainers, docker_containers.InstanceOrder]:
    """The Docker plan's instance order when the host has the base's containers."""
    containers = head_containers(head)
    names = frozenset(c.name for c in head_containers(base).containers) if base else frozenset()
    return containers, docker_containers.instance_order(
        containers, docker_containers.KnownHost(cpus, names))


DOCKER_UPDATES = [  # (name, instances before (0: new deployment), after, image changed)
    ("roll of three", 3, 3, True),
    ("roll of ten", 10, 10, True),
    ("scale 3 -> 10 with a roll (MLP301)", 3, 10, True),
    ("scale 3 -> 10 alone", 3, 10, False),
    ("new deployment of five", 0, 5, False),
]


@pytest.mark.parametrize(("name", "before", "after", "rolls"), DOCKER_UPDATES,
                         ids=[u[0] for u in DOCKER_UPDATES])
def test_docker_review_order_is_the_instance_order(name: str, before: int, after: int,
                                                   rolls: bool) -> None:
    """What review says of the order is what the containers' ``depends_on`` do, the host
    holding the base's containers: a roll goes batch by batch over the containers the host has
    (review's batches); instances review lists as added (scale) or new are created in waves,
    chained to nothing that exists, and the existing batches wait for the last wave (review:
    scale first, then roll)."""
    image = "example.io/scorer:2" if rolls else "example.io/scorer:1"
    head = state("docker", DS3, after, image)
    base = state("docker", DS3, before, "example.io/scorer:1") if before else None
    containers, order = docker_order(head, base, cpus=8)
    on_host = {c.name for c in head_containers(base).containers} if base else set()
    new = [c.name for c in containers.containers if c.name not in on_host]
    assert [n for wave in order.waves for n in wave] == new
    assert all(len(w) == 2 for w in order.waves[:-1])  # floor(8 CPUs / 4 cores)
    if base is None:  # review: "create", its instances new; the plan: all in waves, no chain
        (endpoint,) = diff.review(planned((), head.settings, ()), head).endpoints
        (change,) = endpoint.deployments
        assert change.action is Action.CREATE and change.steps == ()
        assert all(not order.waits[n] for n in order.waves[0])
        return
    (endpoint,) = diff.review(base, head).endpoints
    (change,) = endpoint.deployments
    kinds = [s.kind for s in change.steps]
    assert kinds == (["scale"] if before != after else []) + (["roll"] if rolls else [])
    last_wave = set(order.waves[-1]) if order.waves else set()
    chained = [(number, [c.name for c in batch if c.name in on_host])
               for number, batch in enumerate(containers.batches, start=1)]
    chained_batches = [b for _number, b in chained if b]
    previous: set[str] = last_wave
    for number, batch in chained:
        if not batch:
            continue
        # a batch replaced in place waits for its drain, which waits for what the batch
        # would have waited for (issue 25: out of the routing before its containers stop)
        drain = containers.drain_of(number)
        if drain is not None:
            assert set(order.waits[drain.name]) == previous, drain.name
            previous = {drain.name}
        for member in batch:
            assert set(order.waits[member]) == previous, member
        previous = set(batch)
    if rolls:  # review's replaced instances: the surge batch (new containers), then the chain
        roll = change.steps[-1].roll
        assert roll is not None
        surged = [c.alias for c in containers.batches[0] if c.surge and c.index < before]
        assert [list(b) for b in roll.batches] == [surged, *chained_batches]
        assert all(name in new for c in containers.batches[0] if c.surge
                   for name in [c.name])  # created beside the old ones, in the first wave(s)
