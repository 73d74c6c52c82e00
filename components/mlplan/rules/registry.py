"""The rules ``mlplan`` checks over ``EndpointFacts``: one ``Rule`` per code (id, title, check),
in one registry (``RULES``) that the plan's checks (``rules.policy.policy_diagnostics``, run by
``mlplan.check`` for the CLI and the program) and the policy pack (each policy names its rules)
share.

A rule's check judges one endpoint's facts (``scope`` ``endpoint``) or every endpoint at once
(``stack``: quota). Rules reuse the core's own checks (traffic, limits, quota) and keep only
their own code of what those report, so ``traffic.check`` stays the one place that knows the
traffic rules. Levels: MLP501 (HA minimum) and MLP502 (pinned images) are warnings (advisory)
in development and errors (mandatory) in production; MLP504 is a warning for an endpoint whose
callers are checked by someone else (``auth_by``: a Gateway in routerMode gateway-api).
Example: ``by_id("MLP501").check`` on production facts with blue at 90% on 2 instances ->
an error "blue serves 90% of live traffic with 2 instances; production needs at least 3".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from mlplan.domain import codes, limits
from mlplan.domain.diagnostics import Diagnostic, Location, error, warning
from mlplan.domain.facts import EndpointFacts
from mlplan.domain.model import Deployment, Endpoint, Source
from mlplan.domain.settings import Limits
from mlplan.domain.spec import name_problem
from mlplan.planning import quota, traffic

DEFAULT_MIN_INSTANCES = 3
UNPINNED_TAGS = frozenset({"latest", "stable", "main", "master", "dev", "edge", "nightly"})
_TAG = re.compile(r":([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})\Z")
_TITLES = {r.code: r.title for r in codes.catalogue()}


@dataclass(frozen=True)
class RuleOptions:
    min_instances: int = DEFAULT_MIN_INSTANCES
    limits: Limits = field(default_factory=Limits)
    quota_millis: Mapping[str, int] = field(default_factory=dict, hash=False)
    check_liveness: bool = False  # Kubernetes has liveness probes; Docker only a healthcheck


EndpointCheck = Callable[[EndpointFacts, RuleOptions], list[Diagnostic]]
StackCheck = Callable[[Sequence[EndpointFacts], RuleOptions], list[Diagnostic]]


@dataclass(frozen=True)
class Rule:
    """One code and the check that reports it; ``title`` is the catalogue's (``codes``)."""

    id: str
    check: EndpointCheck | StackCheck
    scope: Literal["endpoint", "stack"] = "endpoint"

    @property
    def title(self) -> str:
        return _TITLES[self.id]


def image_problem(image: str) -> str:
    """"" when pinned. Examples: ``repo/img@sha256:ab..`` pinned; ``img:1.4`` pinned;
    ``img:20250101.v1`` pinned; ``img``, ``img:latest``, ``img:stable`` not. No image at all
    is not this rule's: a no-code deployment is MLP131, an unmapped environment MLP117, and an
    image built on the Docker host (``environment.build``) is the host's own."""
    if not image:
        return ""
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


def _endpoint_model(facts: EndpointFacts) -> Endpoint:
    lines = {"traffic": facts.where.line, "mirror_traffic": facts.where.line}
    return Endpoint(
        name=facts.name, kind="managed", traffic=facts.traffic, mirror_traffic=facts.mirror,
        traffic_declared=True,
        deployments=tuple(Deployment(d.name, facts.name, "managed", d.instance_type, d.instances)
                          for d in facts.deployments),
        source=Source(facts.where.file, facts.where.line, lines),
    )


def _names(facts: EndpointFacts, _options: RuleOptions) -> list[Diagnostic]:
    found = [error(codes.INVALID_NAME, facts.where, p) for p in [name_problem(facts.name)] if p]
    found.extend(error(codes.INVALID_NAME, d.where, p)
                 for d in facts.deployments for p in [name_problem(d.name)] if p)
    return found


def _traffic(code: str) -> EndpointCheck:
    """The findings of ``traffic.check`` with this code."""
    def check(facts: EndpointFacts, _options: RuleOptions) -> list[Diagnostic]:
        return [d for d in traffic.check(_endpoint_model(facts)) if d.code == code]
    return check


def _deployments_limit(facts: EndpointFacts, options: RuleOptions) -> list[Diagnostic]:
    return limits.deployments_per_endpoint(
        facts.name, len(facts.deployments), options.limits.deployments_per_endpoint,
        facts.where)


def _instances_limit(facts: EndpointFacts, options: RuleOptions) -> list[Diagnostic]:
    return [f for d in facts.deployments for f in limits.instances_per_deployment(
        d.instances, options.limits.instances_per_deployment, d.where)]


def _auth(facts: EndpointFacts, _options: RuleOptions) -> list[Diagnostic]:
    if facts.auth_mode not in ("key", "aml_token", "aad_token"):
        return [error(codes.AUTH_ENABLED, facts.where,
                      f"endpoint '{facts.name}' does not authenticate callers (auth "
                      f"'{facts.auth_mode}'); use auth_mode key or a token mode.")]
    if facts.auth_by:
        return [warning(codes.AUTH_ENABLED, facts.where,
                        f"endpoint '{facts.name}' declares auth_mode {facts.auth_mode}, but "
                        f"callers reach it through {facts.auth_by}, which mlplan does not "
                        "configure: make sure it authenticates them (e.g. an API-key "
                        "policy of the Gateway reading the endpoint's keys Secret). "
                        "Advisory: mlplan cannot see Gateway policies.")]
    return []


def _ha_minimum(facts: EndpointFacts, options: RuleOptions) -> list[Diagnostic]:
    live = dict(facts.traffic)
    return [_by_environment(
        facts.environment, codes.HA_MINIMUM, d.where,
        f"{facts.name}/{d.name} serves {live[d.name]}% of live traffic with {d.instances} "
        f"instance{'s' if d.instances != 1 else ''}; {facts.environment} needs at "
        f"least {options.min_instances} for high availability. Raise instance_count.")
        for d in facts.deployments
        if live.get(d.name, 0) > 0 and d.instances < options.min_instances]


def _image_pinned(facts: EndpointFacts, _options: RuleOptions) -> list[Diagnostic]:
    return [_by_environment(
        facts.environment, codes.IMAGE_PINNED, d.image_where or d.where,
        f"{facts.name}/{d.name}: {problem}; pin a version tag or a digest so every instance "
        "and every rollback runs the same image.")
        for d in facts.deployments for problem in [image_problem(d.image)] if problem]


def _gpu_resources(facts: EndpointFacts, _options: RuleOptions) -> list[Diagnostic]:
    return [error(
        codes.GPU_RESOURCES, d.where,
        f"{facts.name}/{d.name}: instance type {d.instance_type} needs {d.gpus_expected} "
        f"GPU(s) but the instances request {d.gpus_requested}; request exactly the type's "
        "GPUs.") for d in facts.deployments if d.gpus_expected != d.gpus_requested]


def _probes(facts: EndpointFacts, options: RuleOptions) -> list[Diagnostic]:
    return [error(codes.PROBES_PRESENT, d.where,
                  f"{facts.name}/{d.name}: instances have no "
                  f"{'readiness' if not d.has_readiness else 'liveness'} check; traffic could "
                  "reach an instance that is not ready. Keep the probes.")
            for d in facts.deployments
            if not d.has_readiness or (options.check_liveness and not d.has_liveness)]


def _quota(code: str) -> StackCheck:
    """Reserved cores over every endpoint (``quota.check``), findings with this code."""
    def check(endpoints: Sequence[EndpointFacts], options: RuleOptions) -> list[Diagnostic]:
        uses = [quota.QuotaUse(e.name, d.name, d.family or "custom", d.instances, d.cpu_millis,
                               d.exempt, d.where)
                for e in endpoints for d in e.deployments]
        return [d for d in quota.check(uses, options.quota_millis).diagnostics
                if d.code == code]
    return check


RULES: tuple[Rule, ...] = (
    Rule(codes.INVALID_NAME, _names),
    *(Rule(code, _traffic(code)) for code in (
        codes.TRAFFIC_UNKNOWN_DEPLOYMENT, codes.TRAFFIC_SUM, codes.MIRROR_SINGLE,
        codes.MIRROR_UNKNOWN_DEPLOYMENT, codes.MIRROR_PERCENT, codes.MIRROR_LIVE,
        codes.NO_LIVE_DEPLOYMENT)),
    Rule(codes.TOO_MANY_DEPLOYMENTS, _deployments_limit),
    Rule(codes.TOO_MANY_INSTANCES, _instances_limit),
    Rule(codes.AUTH_ENABLED, _auth),
    Rule(codes.HA_MINIMUM, _ha_minimum),
    Rule(codes.IMAGE_PINNED, _image_pinned),
    Rule(codes.GPU_RESOURCES, _gpu_resources),
    Rule(codes.PROBES_PRESENT, _probes),
    Rule(codes.QUOTA_FAMILY, _quota(codes.QUOTA_FAMILY), "stack"),
    Rule(codes.QUOTA_TOTAL, _quota(codes.QUOTA_TOTAL), "stack"),
)
_BY_ID = {r.id: r for r in RULES}


def by_id(code: str) -> Rule:
    return _BY_ID[code]


def check_endpoint(facts: EndpointFacts, options: RuleOptions,
                   rules: Iterable[Rule] = RULES) -> list[Diagnostic]:
    """The findings of ``rules`` (every endpoint rule unless told) on one endpoint, rule by
    rule in registry order."""
    return [d for rule in rules if rule.scope == "endpoint"
            for d in rule.check(facts, options)]  # type: ignore[arg-type]


def check_stack(endpoints: Iterable[EndpointFacts], options: RuleOptions,
                rules: Iterable[Rule] = RULES) -> list[Diagnostic]:
    """The findings of ``rules`` judged over every endpoint at once (quota)."""
    found = list(endpoints)
    return [d for rule in rules if rule.scope == "stack"
            for d in rule.check(found, options)]  # type: ignore[arg-type]
