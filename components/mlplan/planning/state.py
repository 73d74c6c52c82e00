"""Desired state: endpoints + settings -> what should run, with every rule checked once.

The same ``DesiredState`` feeds the offline plan, the PR review, the Pulumi components and the
policies, so they cannot disagree. Per deployment it resolves the instance size, the quota it
reserves, the rolling schedule and the instance names; per endpoint the traffic; for the stack
the quota report and all diagnostics (sorted, deterministic).

Sizing rules: an Azure SKU or custom type from ``mlplan:instanceTypes``; a Kubernetes deployment's
``resources`` override the size (limits, else requests). Autoscaled deployments
(``target_utilization``) reserve quota for ``max_instances``, the most they can run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from mlplan.domain import codes, limits
from mlplan.domain.catalog import Catalog, InstanceType
from mlplan.domain.diagnostics import (
    Diagnostic,
    Location,
    Severity,
    error,
    sort_diagnostics,
    warning,
)
from mlplan.domain.model import Deployment, Endpoint, skips
from mlplan.domain.names import instance_name
from mlplan.domain.settings import Settings
from mlplan.planning import quota, traffic
from mlplan.planning.port import Target
from mlplan.planning.rollout import RolloutSchedule

#: fields a deployment's instances and cores follow from; one reported invalid leaves the
#: deployment out of the quota and the plan (its instance type is still checked)
SIZING_FIELDS = ("type", "instance_count", "scale_settings", "resources")

KUBERNETES_NAME_MIN, KUBERNETES_NAME_MAX = 6, 62


@dataclass(frozen=True)
class DeploymentState:
    deployment: Deployment
    size: InstanceType
    rollout: RolloutSchedule
    most_instances: int  # the most it runs: max_instances if autoscaled (quota reserves for it)
    reserved_millis: int

    @property
    def name(self) -> str:
        return self.deployment.name

    @property
    def instance_names(self) -> tuple[str, ...]:
        """``my-endpoint-blue-0`` ... one per instance."""
        dep = self.deployment
        return tuple(instance_name(dep.endpoint_name, dep.name, i)
                     for i in range(dep.instance_count))


@dataclass(frozen=True)
class EndpointState:
    endpoint: Endpoint
    deployments: tuple[DeploymentState, ...]

    @property
    def name(self) -> str:
        return self.endpoint.name


@dataclass(frozen=True)
class DesiredState:
    settings: Settings
    endpoints: tuple[EndpointState, ...]
    quota: quota.QuotaReport
    diagnostics: tuple[Diagnostic, ...]
    #: the target it is planned for (``settings.target``, looked up in ``targets.registry``)
    target: Target


def desired(
    endpoints: Iterable[Endpoint],
    settings: Settings,
    diagnostics: Iterable[Diagnostic] = (),
    *,
    target: Target,
) -> DesiredState:
    """Resolve sizes, check limits, traffic and quota on ``target``; collect every diagnostic.

    MLP122 (no endpoint) only when the inputs had no error: a missing stack file, a missing
    endpoint path or files that failed to parse already say why nothing is declared.
    """
    catalog = settings.catalog
    found: list[Diagnostic] = list(diagnostics)
    states: list[EndpointState] = []
    uses: list[quota.QuotaUse] = []
    all_endpoints = list(endpoints)
    if not all_endpoints and not any(d.severity is Severity.ERROR for d in found):
        found.append(warning(codes.NO_ENDPOINTS, Location(settings.file, 0, "mlplan:endpoints"),
                             "no online endpoint is declared in the inputs; point "
                             "mlplan:endpoints (or the PATHs) at endpoint YAML files."))
    found.extend(_stack_limits(all_endpoints, settings))
    for endpoint in all_endpoints:
        found.extend(traffic.check(endpoint))
        found.extend(_endpoint_limits(endpoint, settings))
        deployments: list[DeploymentState] = []
        for dep in endpoint.deployments:
            found.extend(_deployment_limits(endpoint, dep, settings, target))
            if skips(dep.skipped, "instance_type"):
                continue  # reported as invalid: no size, no quota, not planned
            size = _size(dep, catalog, found)
            if size is None or skips(dep.skipped, *SIZING_FIELDS):
                continue  # the instances it needs are unknown: not counted, not planned
            most_instances = dep.instance_count
            if dep.scale_settings.type == "target_utilization":
                most_instances = max(dep.instance_count, dep.scale_settings.max_instances)
            use = quota.QuotaUse(endpoint.name, dep.name, size.family or "custom",
                                 most_instances, size.cpu_millis, size.exempt,
                                 dep.source.at("instance_count"))
            uses.append(use)
            surge = target.surges(size.exempt)
            deployments.append(DeploymentState(dep, size,
                                               RolloutSchedule.of(dep.instance_count, surge),
                                               most_instances, use.reserved_millis))
        states.append(EndpointState(endpoint, tuple(deployments)))
    report = quota.check(uses, settings.quota_millis)
    found.extend(report.diagnostics)
    return DesiredState(settings, tuple(states), report, tuple(sort_diagnostics(found)), target)


def _size(dep: Deployment, catalog: Catalog, found: list[Diagnostic]) -> InstanceType | None:
    known = catalog.get(dep.instance_type) if dep.instance_type else None
    res = dep.resources
    if res is not None and dep.kind == "kubernetes":
        cpu = res.limits_cpu_millis or res.requests_cpu_millis
        memory = res.limits_memory_mib or res.requests_memory_mib
        base = known or InstanceType(name=dep.instance_type or "resources", cpu_millis=cpu,
                                     memory_mib=memory, family="kubernetes", custom=True)
        return replace(base, cpu_millis=cpu or base.cpu_millis,
                       memory_mib=memory or base.memory_mib,
                       gpus=base.gpus if not res.limits_gpus else type(base.gpus)(res.limits_gpus))
    if known is not None:
        return known
    hints = catalog.suggest(dep.instance_type)
    hint = f"did you mean {' or '.join(hints)}? " if hints else ""
    found.append(error(codes.UNKNOWN_INSTANCE_TYPE, dep.source.at("instance_type"),
                       f"unknown instance_type '{dep.instance_type}'; {hint}Use an Azure SKU "
                       "(e.g. Standard_DS3_v2) or declare it under mlplan:instanceTypes in the "
                       "stack config."))
    return None


def _stack_limits(endpoints: list[Endpoint], settings: Settings) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    limits = settings.limits
    if len(endpoints) > limits.endpoints:
        found.append(error(codes.TOO_MANY_ENDPOINTS, endpoints[limits.endpoints].source.at("name"),
                           f"{len(endpoints)} endpoints declared; the limit is {limits.endpoints}. "
                           "Split the stack or raise mlplan:limits.endpoints."))
    total = sum(len(e.deployments) for e in endpoints)
    if total > limits.deployments:
        found.append(error(codes.TOO_MANY_ENDPOINTS, endpoints[-1].source.at("name"),
                           f"{total} deployments declared; the limit is {limits.deployments}. "
                           "Split the stack or raise mlplan:limits.deployments."))
    return found


def _endpoint_limits(endpoint: Endpoint, settings: Settings) -> list[Diagnostic]:
    return limits.deployments_per_endpoint(endpoint.name, len(endpoint.deployments),
                                           settings.limits.deployments_per_endpoint,
                                           endpoint.source.at("name"))


def _deployment_limits(endpoint: Endpoint, dep: Deployment, settings: Settings,
                       target: Target) -> list[Diagnostic]:
    caps = settings.limits
    most = max(dep.instance_count, dep.scale_settings.max_instances)
    field = "instance_count" if dep.instance_count >= most else "scale_settings.max_instances"
    found: list[Diagnostic] = []
    if not skips(dep.skipped, *SIZING_FIELDS):
        found.extend(limits.instances_per_deployment(most, caps.instances_per_deployment,
                                                     dep.source.at(field)))
    kubernetes = dep.kind == "kubernetes" or target.kubernetes_compute
    max_timeout = (caps.request_timeout_ms_kubernetes if kubernetes
                   else caps.request_timeout_ms_managed)
    timeout = dep.request_settings.request_timeout_ms
    if timeout > max_timeout:
        kind = "Kubernetes" if kubernetes else "managed"
        found.append(error(codes.REQUEST_TIMEOUT_LIMIT,
                           dep.source.at("request_settings.request_timeout_ms"),
                           f"request_timeout_ms {timeout} is above the {kind} maximum "
                           f"{max_timeout}; lower it."))
    length = len(endpoint.name) + len(dep.name)
    if kubernetes and not KUBERNETES_NAME_MIN <= length <= KUBERNETES_NAME_MAX:
        found.append(error(codes.KUBERNETES_NAME_LENGTH, dep.source.at("name"),
                           f"on Kubernetes, endpoint and deployment names together must have "
                           f"{KUBERNETES_NAME_MIN}-{KUBERNETES_NAME_MAX} characters; "
                           f"'{endpoint.name}' + '{dep.name}' has {length}. Shorten one."))
    return found
