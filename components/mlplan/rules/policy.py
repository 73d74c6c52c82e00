"""Policy rules (MLP5xx) and the facts they read, shared by ``mlplan plan`` and the policy pack.

Both sides first reduce what they see to ``EndpointFacts``: the plan from the desired state
(``facts_from_state``), the policy pack from the labels and inputs of deployed resources
(each target's ``facts_from_resources``, ``mlplan.targets.registry``). The same functions
then judge the facts, reusing the core's own traffic, quota and limit checks, so a rule is
written once.

Levels: MLP501 (HA minimum) and MLP502 (pinned images) are warnings (advisory) in development
and errors (mandatory) in production; MLP504 is a warning for an endpoint whose callers are
checked by someone else (``auth_by``: a Gateway in routerMode gateway-api); the others are
errors.
Example: production, blue at 90% with 2 instances -> MLP501 error "blue serves 90% of live
traffic with 2 instances; production needs at least 3".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from mlplan.domain import codes, limits
from mlplan.domain.assets import resolve_image
from mlplan.domain.diagnostics import Diagnostic, Location, Severity, error, warning
from mlplan.domain.facts import DeploymentFacts as DeploymentFacts
from mlplan.domain.facts import EndpointFacts as EndpointFacts
from mlplan.domain.model import Deployment, Endpoint, Source
from mlplan.domain.settings import Limits
from mlplan.domain.spec import name_problem
from mlplan.planning import quota, traffic
from mlplan.planning.state import DesiredState
from mlplan.targets import registry

DEFAULT_MIN_INSTANCES = 3
UNPINNED_TAGS = frozenset({"latest", "stable", "main", "master", "dev", "edge", "nightly"})
_TAG = re.compile(r":([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})\Z")


@dataclass(frozen=True)
class RuleOptions:
    min_instances: int = DEFAULT_MIN_INSTANCES
    limits: Limits = field(default_factory=Limits)
    quota_millis: Mapping[str, int] = field(default_factory=dict, hash=False)
    check_liveness: bool = False  # Kubernetes has liveness probes; Docker only a healthcheck


def facts_from_state(state: DesiredState) -> list[EndpointFacts]:
    """The desired state as facts (what the targets will stamp on the resources)."""
    gateway = registry.of(state.settings.target).auth_by(state.settings)
    found = []
    for e in state.endpoints:
        deployments = tuple(
            DeploymentFacts(
                name=d.name, instance_type=d.size.name, instances=d.quota_instances,
                image=resolve_image(d.deployment, state.settings.assets), family=d.size.family,
                cpu_millis=d.size.cpu_millis, exempt=d.size.exempt,
                gpus_expected=d.size.whole_gpus, gpus_requested=d.size.whole_gpus,
                where=d.deployment.source.at("instance_count"),
                image_where=d.deployment.source.at("environment.image"))
            for d in e.deployments)
        found.append(EndpointFacts(
            name=e.name, environment=state.settings.environment, auth_mode=e.endpoint.auth_mode,
            traffic=e.endpoint.traffic, mirror=e.endpoint.mirror_traffic,
            deployments=deployments, where=e.endpoint.source.at("name"),
            target=state.settings.target, auth_by=gateway))
    return found


def image_problem(image: str) -> str:
    """"" when pinned. Examples: ``repo/img@sha256:ab..`` pinned; ``img:1.4`` pinned;
    ``img:20250101.v1`` pinned; ``img``, ``img:latest``, ``img:stable`` not."""
    if not image:
        return "no image"
    if "@sha256:" in image:
        return ""
    match = _TAG.search(image.rsplit("/", 1)[-1])
    if match is None:
        return f"'{image}' has no tag (Docker pulls latest)"
    tag = match.group(1)
    if tag.lower() in UNPINNED_TAGS or not any(ch.isdigit() for ch in tag):
        return f"'{image}' uses the moving tag '{tag}'"
    return ""


def _by_environment(environment: str, code: str, where: Location, message: str) -> Diagnostic:
    if environment == "production":
        return error(code, where, message)
    return warning(code, where, message + " (advisory in development)")


def check_endpoint(facts: EndpointFacts, options: RuleOptions) -> list[Diagnostic]:
    """Every rule about one endpoint: names, traffic and mirror, limits, HA, images, GPUs,
    auth, probes."""
    found: list[Diagnostic] = []
    if problem := name_problem(facts.name):
        found.append(error(codes.INVALID_NAME, facts.where, problem))
    found.extend(traffic.check(_endpoint_model(facts)))
    found.extend(limits.deployments_per_endpoint(
        facts.name, len(facts.deployments), options.limits.deployments_per_endpoint,
        facts.where))
    if facts.auth_mode not in ("key", "aml_token", "aad_token"):
        found.append(error(codes.AUTH_ENABLED, facts.where,
                           f"endpoint '{facts.name}' does not authenticate callers (auth "
                           f"'{facts.auth_mode}'); use auth_mode key or a token mode."))
    elif facts.auth_by:
        found.append(warning(codes.AUTH_ENABLED, facts.where,
                             f"endpoint '{facts.name}' declares auth_mode {facts.auth_mode}, but "
                             f"callers reach it through {facts.auth_by}, which mlplan does not "
                             "configure: make sure it authenticates them (e.g. an API-key "
                             "policy of the Gateway reading the endpoint's keys Secret). "
                             "Advisory: mlplan cannot see Gateway policies."))
    live = dict(facts.traffic)
    for d in facts.deployments:
        label = f"{facts.name}/{d.name}"
        if problem := name_problem(d.name):
            found.append(error(codes.INVALID_NAME, d.where, problem))
        found.extend(limits.instances_per_deployment(
            d.instances, options.limits.instances_per_deployment, d.where))
        if live.get(d.name, 0) > 0 and d.instances < options.min_instances:
            found.append(_by_environment(
                facts.environment, codes.HA_MINIMUM, d.where,
                f"{label} serves {live[d.name]}% of live traffic with {d.instances} "
                f"instance{'s' if d.instances != 1 else ''}; {facts.environment} needs at "
                f"least {options.min_instances} for high availability. Raise instance_count."))
        if problem := image_problem(d.image):
            found.append(_by_environment(
                facts.environment, codes.IMAGE_PINNED, d.image_where or d.where,
                f"{label}: {problem}; pin a version tag or a digest so every instance and "
                "every rollback runs the same image."))
        if d.gpus_expected != d.gpus_requested:
            found.append(error(
                codes.GPU_RESOURCES, d.where,
                f"{label}: instance type {d.instance_type} needs {d.gpus_expected} GPU(s) but "
                f"the instances request {d.gpus_requested}; request exactly the type's GPUs."))
        if not d.has_readiness or (options.check_liveness and not d.has_liveness):
            missing = "readiness" if not d.has_readiness else "liveness"
            found.append(error(codes.PROBES_PRESENT, d.where,
                               f"{label}: instances have no {missing} check; traffic could reach "
                               "an instance that is not ready. Keep the probes."))
    return found


def check_stack(endpoints: Iterable[EndpointFacts], options: RuleOptions) -> list[Diagnostic]:
    """Quota over every endpoint (family and total limits)."""
    uses = [quota.QuotaUse(e.name, d.name, d.family or "custom", d.instances, d.cpu_millis,
                           d.exempt, d.where)
            for e in endpoints for d in e.deployments]
    return list(quota.check(uses, options.quota_millis).diagnostics)


def policy_diagnostics(state: DesiredState, min_instances: int = DEFAULT_MIN_INSTANCES
                       ) -> list[Diagnostic]:
    """The MLP5xx findings of a desired state (the others are already in its diagnostics)."""
    options = RuleOptions(min_instances=min_instances, limits=state.settings.limits)
    return [d for facts in facts_from_state(state) for d in check_endpoint(facts, options)
            if d.code.startswith("MLP5")]


def _endpoint_model(facts: EndpointFacts) -> Endpoint:
    lines = {"traffic": facts.where.line, "mirror_traffic": facts.where.line}
    return Endpoint(
        name=facts.name, kind="managed", traffic=facts.traffic, mirror_traffic=facts.mirror,
        traffic_declared=True,
        deployments=tuple(Deployment(d.name, facts.name, "managed", d.instance_type, d.instances)
                          for d in facts.deployments),
        source=Source(facts.where.file, facts.where.line, lines),
    )


def worst(diagnostics: Iterable[Diagnostic]) -> Severity | None:
    levels = [d.severity for d in diagnostics]
    return max(levels) if levels else None
