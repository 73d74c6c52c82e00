"""Deployed resources (as a policy pack sees them) -> ``EndpointFacts`` for the core rules.

Pure: a resource is its type, name, URN and input properties (camelCase, as the engine sends
them). Everything comes from the plain labels the targets stamp (``mlplan.domain.labels``)
and a few inputs (GPU requests, health checks); nothing is inferred from names. Both targets
give the same facts for the same desired state (what ``rules.facts_from_state`` gives).

Docker: the config container (role ``config``) carries an endpoint's traffic, mirror, auth mode
and environment; each instance container (role ``instance``) its deployment, instance type,
image, expected GPUs and CPU; its ``deviceRequests`` and ``healthcheck`` are what it asks of
the runtime. Example: three containers labelled ``mlplan.dev/deployment=blue`` with
``instance-type=Standard_DS3_v2`` -> ``DeploymentFacts("blue", "Standard_DS3_v2", 3, ...)``.

Kubernetes (``from_kubernetes``):

- the endpoint: the object carrying its routing, the router ConfigMap (nginx mode) or the
  HTTPRoute (gateway-api mode): labels ``mlplan.dev/auth-mode`` and ``mlplan.dev/environment``,
  annotations ``mlplan.dev/traffic`` / ``mlplan.dev/mirror`` (``blue=90,green=10``). For an
  HTTPRoute, callers are checked by its Gateway (``auth_by``: ``Gateway <ns>/<name>`` of its
  first ``parentRef``), which the pack cannot see: MLP504 is then advisory;
- a deployment: its ``apps/v1`` Deployment (role ``instance``): labels deployment,
  instance type, ``cpu-millis``, ``gpus`` (what the type needs), annotation ``mlplan.dev/image``
  (else the first container's image); instances = ``spec.replicas`` or, when an autoscaling/v2
  HPA with the same endpoint/deployment labels manages it, its ``maxReplicas`` (the plan
  reserves quota for ``max_instances`` and judges HA on the same number; a Deployment with
  neither runs Kubernetes' default 1); GPUs requested = the pod template containers'
  ``nvidia.com/gpu`` limits (requests when there are no limits); readiness and liveness = every
  container of the template has ``readinessProbe`` / ``livenessProbe``.

Example: Deployment ``my-endpoint-blue`` labelled ``deployment=blue``, ``instance-type=
Standard_DS3_v2``, ``cpu-millis=4000``, ``gpus=0``, ``replicas: 3`` with both probes ->
``DeploymentFacts("blue", "Standard_DS3_v2", 3, ..., has_liveness=True)``, target
``kubernetes``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlplan.domain import labels
from mlplan.domain.catalog import DEFAULT_CATALOG
from mlplan.domain.diagnostics import Location
from mlplan.rules.policy import DeploymentFacts, EndpointFacts

DOCKER_CONTAINER = "docker:index/container:Container"
K8S_DEPLOYMENT = "kubernetes:apps/v1:Deployment"
K8S_HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
K8S_CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
K8S_HTTPROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
GPU_RESOURCE = "nvidia.com/gpu"


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
    liveness: bool = True


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
        has_readiness=group.readiness, has_liveness=group.liveness,
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
            group.liveness = group.readiness  # Docker has one healthcheck, no liveness probe
    return _endpoint_facts(endpoints, groups, "docker")


def _endpoint_facts(endpoints: Mapping[str, tuple[PlainResource, dict[str, str]]],
                    groups: Mapping[tuple[str, str], _Group], target: str,
                    auth_by: Mapping[str, str] | None = None) -> list[EndpointFacts]:
    """Facts per endpoint from its routing carrier (labels merged with annotations) and its
    deployments' groups."""
    result: list[EndpointFacts] = []
    for endpoint in sorted({e for e, _d in groups} | set(endpoints)):
        config, found = endpoints.get(endpoint, (None, {}))
        deployments = tuple(_deployment_facts(d, groups[(e, d)])
                            for e, d in sorted(groups) if e == endpoint)
        result.append(EndpointFacts(
            name=endpoint,
            environment=found.get(labels.ENVIRONMENT, "development"),
            auth_mode=found.get(labels.AUTH_MODE, "key" if config else "none"),
            traffic=labels.parse_split(found.get(labels.TRAFFIC, "")),
            mirror=labels.parse_split(found.get(labels.MIRROR, "")),
            deployments=deployments,
            where=_where(config) if config else Location("", 0, endpoint),
            target=target,
            auth_by=(auth_by or {}).get(endpoint, ""),
        ))
    return result


# --- Kubernetes --------------------------------------------------------------------------------


def _strings(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}


def _metadata(props: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """(labels, annotations) of a Kubernetes object; values not plain text are skipped."""
    meta = props.get("metadata")
    if not isinstance(meta, Mapping):
        return {}, {}
    return _strings(meta.get("labels")), _strings(meta.get("annotations"))


def _count(value: Any) -> int | None:
    """A non-negative whole number from a manifest (numbers arrive as floats, quantities as
    text): ``3.0`` -> 3, ``"2"`` -> 2, ``None`` / ``"1Gi"`` -> None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and value >= 0 and float(value).is_integer():
        return int(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _mapping(value: Any, *keys: str) -> Mapping[str, Any]:
    for key in keys:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def _containers(props: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = _mapping(props, "spec", "template", "spec").get("containers")
    return [c for c in found if isinstance(c, Mapping)] if isinstance(found, list) else []


def _pod_gpus(containers: list[Mapping[str, Any]]) -> int:
    total = 0
    for container in containers:
        res = _mapping(container, "resources")
        amount = _mapping(res, "limits").get(GPU_RESOURCE)
        if amount is None:
            amount = _mapping(res, "requests").get(GPU_RESOURCE)
        total += _count(amount) or 0
    return total


def _every(containers: list[Mapping[str, Any]], probe: str) -> bool:
    return bool(containers) and all(isinstance(c.get(probe), Mapping) and c.get(probe)
                                    for c in containers)


def _gateway(props: Mapping[str, Any]) -> str:
    """``Gateway <namespace>/<name>`` of an HTTPRoute's first parentRef (its own namespace
    when the ref has none)."""
    refs = _mapping(props, "spec").get("parentRefs")
    first = refs[0] if isinstance(refs, list) and refs else None
    if not isinstance(first, Mapping) or not isinstance(first.get("name"), str):
        return "its Gateway"
    namespace = first.get("namespace") or _mapping(props, "metadata").get("namespace") or ""
    kind = first.get("kind") if isinstance(first.get("kind"), str) else "Gateway"
    return f"{kind} {namespace}/{first['name']}" if namespace else f"{kind} {first['name']}"


def from_kubernetes(resources: Iterable[PlainResource]) -> list[EndpointFacts]:
    """Facts of the endpoints the Kubernetes target registered (see the module docstring)."""
    endpoints: dict[str, tuple[PlainResource, dict[str, str]]] = {}
    auth_by: dict[str, str] = {}
    deployments: dict[tuple[str, str], tuple[PlainResource, dict[str, str]]] = {}
    max_replicas: dict[tuple[str, str], int] = {}
    for resource in resources:
        found, notes = _metadata(resource.props)
        endpoint = found.get(labels.ENDPOINT)
        if not endpoint:
            continue
        deployment = found.get(labels.DEPLOYMENT, "")
        if resource.type in (K8S_CONFIG_MAP, K8S_HTTPROUTE) and labels.TRAFFIC in notes:
            endpoints[endpoint] = (resource, {**found, **notes})
            if resource.type == K8S_HTTPROUTE:
                auth_by[endpoint] = f"{_gateway(resource.props)} (routerMode gateway-api)"
        elif (resource.type == K8S_DEPLOYMENT and deployment
              and found.get(labels.ROLE) == "instance"):
            deployments[(endpoint, deployment)] = (resource, {**found, **notes})
        elif resource.type == K8S_HPA and deployment:
            most = _count(_mapping(resource.props, "spec").get("maxReplicas"))
            if most is not None:
                max_replicas[(endpoint, deployment)] = most
    groups: dict[tuple[str, str], _Group] = {}
    for key, (resource, found) in deployments.items():
        containers = _containers(resource.props)
        replicas = _count(_mapping(resource.props, "spec").get("replicas"))
        if not found.get(labels.IMAGE) and containers:
            image = containers[0].get("image")
            found = {**found, labels.IMAGE: image if isinstance(image, str) else ""}
        groups[key] = _Group(
            resource, found,
            count=max(replicas or 0, max_replicas.get(key, 0)) or (
                1 if replicas is None else 0),
            gpus_requested=_pod_gpus(containers),
            readiness=_every(containers, "readinessProbe"),
            liveness=_every(containers, "livenessProbe"),
        )
    return _endpoint_facts(endpoints, groups, "kubernetes", auth_by)


def facts_from_resources(resources: Iterable[PlainResource]) -> list[EndpointFacts]:
    """Facts of every endpoint found on either target, sorted by name."""
    found = list(resources)
    return sorted(from_docker(found) + from_kubernetes(found), key=lambda f: f.name)
