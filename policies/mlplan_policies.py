"""The mlplan policies, importable without starting a policy server (``__main__.py`` does that).

Every policy is a stack policy: it turns all resources into ``EndpointFacts`` (from the labels
the targets stamp) and runs the core rules, then reports only its own codes, each violation
as ``<code> <message>`` on the resource it concerns. Same codes and messages as ``mlplan plan``.

Both targets: the facts come from the Docker containers or the Kubernetes objects (each target's
``facts_from_resources`` in ``mlplan.targets.registry``). Kubernetes instances must also have
liveness probes (``check_liveness`` is set per endpoint for Kubernetes facts). An endpoint whose
callers are checked by a Gateway (routerMode gateway-api) gets MLP504 as a warning, reported by
the advisory ``mlplan-auth-gateway`` (the pack cannot see Gateway policies);
``mlplan-auth-enabled`` reports the MLP504 errors (an endpoint without auth).

Configuration (``--policy-pack-config``): every policy takes ``enforcementLevel``; besides,
``mlplan-quota`` takes ``quota: {<family>: cores, total: cores}``, ``mlplan-limits`` takes
``deploymentsPerEndpoint``/``instancesPerDeployment``, the HA policies take ``minInstances`` and
``environment`` (overrides the ``mlplan.dev/environment`` label), the image policies
``environment``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from mlplan.domain import codes
from mlplan.domain.diagnostics import Diagnostic, Severity
from mlplan.domain.facts import EndpointFacts
from mlplan.domain.settings import Limits, quota_from_cores
from mlplan.rules.policy import (
    DEFAULT_MIN_INSTANCES,
    RuleOptions,
    check_endpoint,
    check_stack,
)
from mlplan.targets import registry
from mlplan.targets.base import PlainResource

ADVISORY, MANDATORY = EnforcementLevel.ADVISORY, EnforcementLevel.MANDATORY


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    level: EnforcementLevel
    codes: frozenset[str]
    environments: frozenset[str] = frozenset({"development", "production"})
    stack_level: bool = False  # quota: judged over all endpoints at once
    schema: Mapping[str, Any] | None = None
    severities: frozenset[Severity] = frozenset(Severity)  # which findings of its codes


RULES: tuple[Rule, ...] = (
    Rule("mlplan-quota", "Reserved cores (ceil(1.2 x instances) x cores) within the quota.",
         MANDATORY, frozenset({codes.QUOTA_FAMILY, codes.QUOTA_TOTAL}), stack_level=True,
         schema={"quota": {"type": "object", "additionalProperties": {"type": "number"}}}),
    Rule("mlplan-traffic-split", "Live traffic sums to 0 or 100 over declared deployments.",
         MANDATORY, frozenset({codes.TRAFFIC_SUM, codes.TRAFFIC_UNKNOWN_DEPLOYMENT})),
    Rule("mlplan-mirror", "One mirror target, at most 50%, with 0% live traffic.", MANDATORY,
         frozenset({codes.MIRROR_SINGLE, codes.MIRROR_PERCENT, codes.MIRROR_LIVE,
                    codes.MIRROR_UNKNOWN_DEPLOYMENT}), severities=frozenset({Severity.ERROR})),
    Rule("mlplan-mirror-without-live", "A mirror copies nothing while no deployment is live.",
         ADVISORY, frozenset({codes.NO_LIVE_DEPLOYMENT}), severities=frozenset({Severity.WARNING})),
    Rule("mlplan-limits", "Deployments per endpoint and instances per deployment.", MANDATORY,
         frozenset({codes.TOO_MANY_DEPLOYMENTS, codes.TOO_MANY_INSTANCES}),
         schema={"deploymentsPerEndpoint": {"type": "integer", "minimum": 1},
                 "instancesPerDeployment": {"type": "integer", "minimum": 1}}),
    Rule("mlplan-ha-minimum", "Live deployments have enough instances (development: advisory).",
         ADVISORY, frozenset({codes.HA_MINIMUM}), frozenset({"development"}),
         schema={"minInstances": {"type": "integer", "minimum": 1},
                 "environment": {"type": "string", "enum": ["development", "production"]}}),
    Rule("mlplan-ha-minimum-production", "Live deployments have enough instances in production.",
         MANDATORY, frozenset({codes.HA_MINIMUM}), frozenset({"production"}),
         schema={"minInstances": {"type": "integer", "minimum": 1},
                 "environment": {"type": "string", "enum": ["development", "production"]}}),
    Rule("mlplan-image-pinned", "Images pinned by digest or version tag (development: advisory).",
         ADVISORY, frozenset({codes.IMAGE_PINNED}), frozenset({"development"}),
         schema={"environment": {"type": "string", "enum": ["development", "production"]}}),
    Rule("mlplan-image-pinned-production", "Images pinned by digest or version tag in production.",
         MANDATORY, frozenset({codes.IMAGE_PINNED}), frozenset({"production"}),
         schema={"environment": {"type": "string", "enum": ["development", "production"]}}),
    Rule("mlplan-gpu-resources", "GPU instance types get GPUs; CPU types none.", MANDATORY,
         frozenset({codes.GPU_RESOURCES})),
    Rule("mlplan-auth-enabled", "Endpoints authenticate callers (key or token).", MANDATORY,
         frozenset({codes.AUTH_ENABLED}), severities=frozenset({Severity.ERROR})),
    Rule("mlplan-auth-gateway", "Gateway-api endpoints: callers are checked by the Gateway, "
         "which the pack cannot see (advisory).", ADVISORY, frozenset({codes.AUTH_ENABLED}),
         severities=frozenset({Severity.WARNING})),
    Rule("mlplan-probes", "Instances have readiness (and on Kubernetes liveness) checks.",
         MANDATORY, frozenset({codes.PROBES_PRESENT})),
    Rule("mlplan-names", "Endpoint and deployment names follow Azure's rules.", MANDATORY,
         frozenset({codes.INVALID_NAME})),
)


def known(value: Any) -> Any:
    """A plain copy of policy props in which values unknown during preview become ``None``.

    pulumi_policy raises ``UnknownValueError`` when an unknown value is read (for example the
    config container's uploads, computed from generated keys); the rules only need labels and
    a few inputs that are known at preview, so the rest must not stop them.
    """
    if isinstance(value, str | bytes | int | float | bool) or value is None:
        return value
    if hasattr(value, "keys"):
        return {key: _read(value, key) for key in list(value.keys())}
    if hasattr(value, "__len__") and hasattr(value, "__getitem__"):
        return [_read(value, index) for index in range(len(value))]
    return value


def _read(container: Any, key: Any) -> Any:
    try:
        return known(container[key])
    except UnknownValueError:
        return None


def plain(resources: Iterable[Any]) -> list[PlainResource]:
    """pulumi_policy ``PolicyResource``s -> plain values for the pure core."""
    return [PlainResource(r.resource_type, r.name, r.urn, known(r.props or {}))
            for r in resources]


def options_from(config: Mapping[str, Any]) -> RuleOptions:
    limits = Limits()
    if "deploymentsPerEndpoint" in config:
        limits = replace(limits, deployments_per_endpoint=int(config["deploymentsPerEndpoint"]))
    if "instancesPerDeployment" in config:
        limits = replace(limits, instances_per_deployment=int(config["instancesPerDeployment"]))
    return RuleOptions(
        min_instances=int(config.get("minInstances", DEFAULT_MIN_INSTANCES)),
        limits=limits,
        quota_millis=quota_from_cores(dict(config.get("quota") or {})),
    )


def findings(
    rule: Rule, facts: list[EndpointFacts], config: Mapping[str, Any]
) -> list[Diagnostic]:
    """The diagnostics this rule reports for these facts under this policy config."""
    options = options_from(config)
    environment = config.get("environment")
    if environment:
        facts = [replace(f, environment=str(environment)) for f in facts]
    if rule.stack_level:
        found = check_stack(facts, options)
    else:
        found = [d for f in facts if f.environment in rule.environments
                 for d in check_endpoint(f, replace(
                     options, check_liveness=registry.of(f.target).liveness_probes))]
    return [d for d in found if d.code in rule.codes and d.severity in rule.severities]


def validator(rule: Rule) -> Callable[[StackValidationArgs, ReportViolation], None]:
    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        facts = registry.facts_from_resources(plain(args.resources))
        for d in findings(rule, facts, args.get_config()):
            urn = d.location.field if d.location.field.startswith("urn:") else None
            report(f"{d.code} {d.message}", urn)

    return validate


def policies() -> list[StackValidationPolicy]:
    return [
        StackValidationPolicy(
            name=rule.name, description=rule.description, validate=validator(rule),
            enforcement_level=rule.level,
            config_schema=PolicyConfigSchema(properties=dict(rule.schema)) if rule.schema
            else None)
        for rule in RULES
    ]
