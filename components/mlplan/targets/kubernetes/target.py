"""The Kubernetes target as the planner knows it (``planning.port.Target``): settings
``mlplan:kubernetes``, its roll strategy, batches counted in replicas, the resource types of
pulumi-kubernetes and the reader of their labels and annotations.

Roll (``surges``): Kubernetes surges (maxSurge one batch, maxUnavailable 0: peak ``N + batch``,
all N keep serving), paid for by the 20% quota reservation; SKUs exempt from that reservation
hold only N, and a namespace quota sized that way refuses the surge pod (seen on a real API
server: the roll cannot move at all), so they stop a batch first (maxSurge 0, maxUnavailable one
batch: peak N, ``N - batch`` serving), as Docker always does. Examples: Standard_DS3_v2 -> True;
Standard_NC24ads_A100_v4 (exempt) -> False. ``plan.rolling_strategy`` renders this into the
Deployment. The Deployment picks the pods, so review counts a batch in replicas
(``replica 0``, ``replica 1``).

Facts (``from_kubernetes``):

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

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mlplan.domain import labels
from mlplan.domain.diagnostics import Diagnostic
from mlplan.domain.facts import EndpointFacts
from mlplan.domain.settings import Settings
from mlplan.planning.port import PlainResource, Target
from mlplan.planning.state import DesiredState
from mlplan.targets.base import Group, endpoint_facts
from mlplan.targets.kubernetes import plan
from mlplan.targets.kubernetes import settings as kubernetes_settings

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
HTTPROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
GPU_RESOURCE = "nvidia.com/gpu"


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
        if resource.type in (CONFIG_MAP, HTTPROUTE) and labels.TRAFFIC in notes:
            endpoints[endpoint] = (resource, {**found, **notes})
            if resource.type == HTTPROUTE:
                auth_by[endpoint] = f"{_gateway(resource.props)} (routerMode gateway-api)"
        elif (resource.type == DEPLOYMENT and deployment
              and found.get(labels.ROLE) == "instance"):
            deployments[(endpoint, deployment)] = (resource, {**found, **notes})
        elif resource.type == HPA and deployment:
            most = _count(_mapping(resource.props, "spec").get("maxReplicas"))
            if most is not None:
                max_replicas[(endpoint, deployment)] = most
    groups: dict[tuple[str, str], Group] = {}
    for key, (resource, found) in deployments.items():
        containers = _containers(resource.props)
        replicas = _count(_mapping(resource.props, "spec").get("replicas"))
        if not found.get(labels.IMAGE) and containers:
            image = containers[0].get("image")
            found = {**found, labels.IMAGE: image if isinstance(image, str) else ""}
        groups[key] = Group(
            resource, found,
            count=max(replicas or 0, max_replicas.get(key, 0)) or (
                1 if replicas is None else 0),
            gpus_requested=_pod_gpus(containers),
            readiness=_every(containers, "readinessProbe"),
            liveness=_every(containers, "livenessProbe"),
        )
    return endpoint_facts(endpoints, groups, "kubernetes", auth_by)


def _batch_names(_endpoint: str, _deployment: str, indexes: Sequence[int],
                 _settings: Settings) -> tuple[str, ...]:
    return tuple(f"replica {i}" for i in indexes)


def _roll_reasons(rolled: str, surge: bool, _instances: int) -> list[str]:
    if surge:
        return [f"rolling update ({rolled}): Kubernetes starts a batch of new pods, then stops "
                "a batch of old ones (maxSurge 20%, maxUnavailable 0); the Deployment is "
                "updated in place"]
    return [f"rolling update ({rolled}): Kubernetes stops a batch of old pods, then starts "
            "their replacements (maxSurge 0, maxUnavailable one batch: the instance type is "
            "exempt from the 20% surge reservation, so the quota has no room for extra pods); "
            "the Deployment is updated in place"]


def _auth_by(settings: Settings) -> str:
    """Who checks callers: the Gateway in routerMode gateway-api, else mlplan's router."""
    kubernetes = kubernetes_settings.of(settings)
    if kubernetes.router_mode != "gateway-api":
        return ""
    name = kubernetes.gateway_ref.name if kubernetes.gateway_ref else ""
    return f"Gateway {name} (routerMode gateway-api)"


def stack_checks(state: DesiredState, pack: plan.Packer | None) -> list[Diagnostic]:
    """Name conflicts (MLP118) and route limits (MLP112); with the project's files (``pack``)
    also delivery (MLP117, MLP119: a model folder over a ConfigMap's 1 MiB)."""
    settings = kubernetes_settings.of(state.settings)
    if pack is None:
        return [*plan.name_conflicts(state, settings), *plan.route_limits(state, settings)]
    return plan.stack_problems(state, settings, pack)[1]


def _served_models(settings: Settings) -> frozenset[str]:
    """Models served from a volume (``mlplan:kubernetes.models``), not from local files."""
    return frozenset(key for key, _source in kubernetes_settings.of(settings).models)


KUBERNETES = Target(
    name="kubernetes",
    surges=plan.surges,
    batch_names=_batch_names,
    roll_reasons=_roll_reasons,
    facts_from_resources=from_kubernetes,
    liveness_probes=True,
    auth_by=_auth_by,
    kubernetes_compute=True,
    served_models=_served_models,
    stack_checks=stack_checks,
    reader="mlplan.targets.kubernetes.files:packer",
    resources="mlplan.targets.kubernetes.resources",
    parse_settings=kubernetes_settings.parse_kubernetes_settings,
)
