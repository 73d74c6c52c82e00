"""Deployed resources (as a policy pack sees them) -> ``EndpointFacts`` for the core rules.

Pure: a resource is its type, name, URN and input properties (camelCase, as the engine sends
them). Everything comes from the plain labels the targets stamp (``components.core.labels``)
and a few inputs (GPU requests, health checks); nothing is inferred from names.

Docker: the config container (role ``config``) carries an endpoint's traffic, mirror, auth mode
and environment; each instance container (role ``instance``) its deployment, instance type,
image, expected GPUs and CPU; its ``deviceRequests`` and ``healthcheck`` are what it asks of
the runtime. Example: three containers labelled ``mlplan.dev/deployment=blue`` with
``instance-type=Standard_DS3_v2`` -> ``DeploymentFacts("blue", "Standard_DS3_v2", 3, ...)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from components.core import labels
from components.core.catalog import DEFAULT_CATALOG
from components.core.diagnostics import Location
from components.core.rules import DeploymentFacts, EndpointFacts

DOCKER_CONTAINER = "docker:index/container:Container"


@dataclass(frozen=True)
class PlainResource:
    type: str
    name: str
    urn: str
    props: Mapping[str, Any] = field(default_factory=dict)


def docker_labels(props: Mapping[str, Any]) -> dict[str, str]:
    """``[{label, value}, ...]`` -> dict; entries that are not plain text are skipped."""
    found: dict[str, str] = {}
    for item in props.get("labels") or []:
        if isinstance(item, Mapping):
            key, value = item.get("label"), item.get("value")
            if isinstance(key, str) and isinstance(value, str):
                found[key] = value
    return found


def parse_split(text: str) -> tuple[tuple[str, int], ...]:
    """``"blue=90,green=10"`` -> ``(("blue", 90), ("green", 10))``; ``"none"`` -> ``()``."""
    pairs: list[tuple[str, int]] = []
    for part in text.split(","):
        name, sep, value = part.partition("=")
        if sep and value.strip().lstrip("-").isdigit():
            pairs.append((name.strip(), int(value)))
    return tuple(pairs)


def _where(resource: PlainResource) -> Location:
    return Location("", 0, resource.urn or resource.name)


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


@dataclass
class _Group:
    first: PlainResource
    found: dict[str, str]
    count: int = 0
    gpus_requested: int = 0
    readiness: bool = True


def _deployment_facts(name: str, group: _Group) -> DeploymentFacts:
    found = group.found
    instance_type = found.get(labels.INSTANCE_TYPE, "")
    known = DEFAULT_CATALOG.get(instance_type)
    cpu = found.get(labels.CPU_MILLIS, "")
    gpus = found.get(labels.GPUS, "")
    return DeploymentFacts(
        name=name, instance_type=instance_type, instances=group.count,
        image=found.get(labels.IMAGE, ""),
        family=known.family if known else "custom",
        cpu_millis=int(cpu) if cpu.isdigit() else (known.cpu_millis if known else 0),
        exempt=known.exempt if known else False,
        gpus_expected=int(gpus) if gpus.isdigit() else (known.whole_gpus if known else 0),
        gpus_requested=group.gpus_requested,
        has_readiness=group.readiness, has_liveness=group.readiness,
        where=_where(group.first),
    )


def from_docker(resources: Iterable[PlainResource]) -> list[EndpointFacts]:
    endpoints: dict[str, tuple[PlainResource, dict[str, str]]] = {}
    groups: dict[tuple[str, str], _Group] = {}
    for resource in resources:
        if resource.type != DOCKER_CONTAINER:
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
            group = groups.setdefault(key, _Group(resource, found))
            group.count += 1
            group.gpus_requested = max(group.gpus_requested, _requested_gpus(resource.props))
            group.readiness = group.readiness and _has_healthcheck(resource.props)
    result: list[EndpointFacts] = []
    for endpoint in sorted({e for e, _d in groups} | set(endpoints)):
        config, found = endpoints.get(endpoint, (None, {}))
        deployments = tuple(_deployment_facts(d, groups[(e, d)])
                            for e, d in sorted(groups) if e == endpoint)
        result.append(EndpointFacts(
            name=endpoint,
            environment=found.get(labels.ENVIRONMENT, "development"),
            auth_mode=found.get(labels.AUTH_MODE, "key" if config else "none"),
            traffic=parse_split(found.get(labels.TRAFFIC, "")),
            mirror=parse_split(found.get(labels.MIRROR, "")),
            deployments=deployments,
            where=_where(config) if config else Location("", 0, endpoint),
        ))
    return result


def facts_from_resources(resources: Iterable[PlainResource]) -> list[EndpointFacts]:
    """Facts of every endpoint found on either target."""
    return from_docker(list(resources))
