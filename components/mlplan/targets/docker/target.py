"""The Docker target as the planner knows it (``planning.port.Target``): settings
``mlplan:docker``, surge unless exempt, batches named by their instances, health checks and
memory changed in place, the resource types of pulumi-docker and the reader of their labels.

Roll (``surges``): like Azure and the Kubernetes target, unless the instance type is exempt
from the 20% surge reservation. The first batch is the surge batch: its new containers are
created and healthy beside the old ones (peak ``N + batch``); every later batch is then drained
(taken out of the router's routing) and replaced delete-first while the surge batch stands in
for it (at least N serving); the old containers of the first batch are taken out of the routing
and removed at the end of the update (``docker_containers`` module docstring). Exempt: every
batch drained, then replaced delete-first (peak N, ``N - batch`` serving). Review names a batch
by its instances (the containers' network aliases), with the stack's ``namePrefix`` as the
Docker plan names them: (``my-endpoint``, ``blue``, (0, 1)) with prefix ``pr-`` ->
``("pr-my-endpoint-blue-0", "pr-my-endpoint-blue-1")``.

Facts (``from_docker``): the config container (role ``config``) carries an endpoint's traffic,
mirror, auth mode and environment; each instance container (role ``instance``) its deployment,
instance type, image, expected GPUs and CPU; its ``deviceRequests`` and ``healthcheck`` are
what it asks of the runtime. Example: three containers labelled ``mlplan.dev/deployment=blue``
with ``instance-type=Standard_DS3_v2`` -> ``DeploymentFacts("blue", "Standard_DS3_v2", 3,
...)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mlplan.domain import labels
from mlplan.domain.diagnostics import Location
from mlplan.domain.facts import EndpointFacts
from mlplan.domain.names import instance_name
from mlplan.domain.settings import Settings
from mlplan.planning.port import Effect, PlainResource, Target
from mlplan.targets.base import Group, endpoint_facts
from mlplan.targets.docker import settings as docker_settings

CONTAINER = "docker:index/container:Container"
_HEALTH_WHY = "Docker health check: recorded now, applies to new containers"


def docker_labels(props: Mapping[str, Any]) -> dict[str, str]:
    """``[{label, value}, ...]`` -> dict; entries that are not plain text are skipped."""
    found: dict[str, str] = {}
    for item in props.get("labels") or []:
        if isinstance(item, Mapping):
            key, value = item.get("label"), item.get("value")
            if isinstance(key, str) and isinstance(value, str):
                found[key] = value
    return found


def _requested_gpus(props: Mapping[str, Any]) -> int:
    total = 0
    for request in props.get("deviceRequests") or []:
        if isinstance(request, Mapping):
            count = request.get("count")
            total += int(count) if isinstance(count, int | float) and count > 0 else 0
    if props.get("gpus"):
        total = max(total, 1)
    return total


def _has_healthcheck(props: Mapping[str, Any]) -> bool:
    check = props.get("healthcheck")
    return isinstance(check, Mapping) and bool(check.get("tests"))


def from_docker(resources: Iterable[PlainResource]) -> list[EndpointFacts]:
    """Facts of the endpoints the Docker target registered (see the module docstring)."""
    endpoints: dict[str, tuple[PlainResource, dict[str, str]]] = {}
    groups: dict[tuple[str, str], Group] = {}
    for resource in resources:
        if resource.type != CONTAINER:
            continue
        found = docker_labels(resource.props)
        endpoint = found.get(labels.ENDPOINT)
        role = found.get(labels.ROLE)
        if not endpoint:
            continue
        if role == "config":
            endpoints[endpoint] = (resource, found)
        elif role == "instance" and labels.DEPLOYMENT in found:
            key = (endpoint, found[labels.DEPLOYMENT])
            group = groups.setdefault(key, Group(resource, found))
            group.count += 1
            group.gpus_requested = max(group.gpus_requested, _requested_gpus(resource.props))
            group.readiness = group.readiness and _has_healthcheck(resource.props)
            group.liveness = group.readiness  # Docker has one healthcheck, no liveness probe
    return endpoint_facts(endpoints, groups, "docker")


def _batch_names(endpoint: str, deployment: str, indexes: Sequence[int],
                 settings: Settings) -> tuple[str, ...]:
    prefix = docker_settings.of(settings).name_prefix
    return tuple(instance_name(endpoint, deployment, i, prefix) for i in indexes)


def surges(exempt: bool) -> bool:
    """Whether a roll surges (a surge batch of new containers before any old one stops): yes
    unless the instance type is exempt from the 20% surge reservation (module docstring)."""
    return not exempt


def batch_orders(surge: bool, batches: int) -> tuple[tuple[str, ...], ...]:
    """Per batch, what happens to each of its containers: with surge, batch 1 is created, then
    its old containers deleted (at the end of the update); later batches are deleted, then
    recreated (the surge batch serves for them). Example: surge, 3 batches -> (("create",
    "delete"), ("delete", "create"), ("delete", "create")); exempt -> all delete first."""
    return tuple(("create", "delete") if surge and number == 0 else ("delete", "create")
                 for number in range(batches))


def _roll_reasons(rolled: str, surge: bool, instances: int) -> list[str]:
    if surge:
        return [f"rolling replacement ({rolled}): Docker cannot change these in a running "
                "container; the first batch's new containers start beside the old ones and "
                "are healthy and routed before any old one stops, then each later batch is "
                "taken out of the routing (drained) and replaced (delete, then create) while "
                "they stand in, and the first batch's old containers are taken out of the "
                "routing and removed at the end of the update"]
    found = [f"rolling replacement ({rolled}): Docker cannot change these in a running "
             "container, so each batch is taken out of the routing (drained), deleted, then "
             "recreated (the instance type is exempt from the 20% surge reservation, so the "
             "quota has no room for extra containers); the other instances serve meanwhile"]
    if instances == 1:
        found.append("only 1 instance: the deployment does not answer while it is replaced; "
                     "use 2+ instances or a blue/green deployment")
    return found


DOCKER = Target(
    name="docker",
    surges=surges,
    batch_names=_batch_names,
    batch_orders=batch_orders,
    surge_batch_by_name=True,
    roll_reasons=_roll_reasons,
    facts_from_resources=from_docker,
    field_effects={
        "liveness_probe": (Effect.IN_PLACE, _HEALTH_WHY),
        "readiness_probe": (Effect.IN_PLACE, _HEALTH_WHY),
        "size.memory_mib": (Effect.IN_PLACE, "Docker updates a container's memory limit in place"),
    },
    # the instance containers are the router's named upstream servers
    router_fields=("instance_count",),
    # pulumi-docker replaces a container delete-first (a surge batch is new containers instead)
    delete_first_types=frozenset({CONTAINER}),
    resources="mlplan.targets.docker.resources",
    parse_settings=lambda raw, file, line_of: docker_settings.parse_settings(
        raw, Location(file, line_of(()), "mlplan:docker"), line_of),
)
