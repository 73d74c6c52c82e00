"""The mlplan policies, importable without starting a policy server (``__main__.py`` does that).

Every policy is a stack policy: it turns all resources into ``EndpointFacts`` (from the labels
the targets stamp) and runs its own rules (``Rule`` objects of ``mlplan.rules.registry``, one per
code, the ones ``mlplan plan`` runs), each violation as ``<code> <message>`` on the resource it
concerns. Same codes and messages as ``mlplan plan``.

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
from mlplan.planning.port import PlainResource
from mlplan.rules.registry import (
    DEFAULT_MIN_INSTANCES,
    Rule,
    RuleOptions,
    by_id,
    check_endpoint,
    check_stack,
)
from mlplan.targets import registry

ADVISORY, MANDATORY = EnforcementLevel.ADVISORY, EnforcementLevel.MANDATORY


@dataclass(frozen=True)
class Policy:
    """One policy of the pack: a name, a level and the rules it runs
    (``mlplan.rules.registry``); ``severities``: which of their findings it reports."""

    name: str
    description: str
    level: EnforcementLevel
    rules: tuple[Rule, ...]
    environments: frozenset[str] = frozenset({"development", "production"})
    schema: Mapping[str, Any] | None = None
    severities: frozenset[Severity] = frozenset(Severity)

    @property
    def codes(self) -> frozenset[str]:
        return frozenset(r.id for r in self.rules)

    @property
    def stack_level(self) -> bool:
        """Quota: judged over all endpoints at once."""
        return any(r.scope == "stack" for r in self.rules)


def _rules(*ids: str) -> tuple[Rule, ...]:
    return tuple(by_id(code) for code in ids)


_HA_SCHEMA = {"minInstances": {"type": "integer", "minimum": 1},
              "environment": {"type": "string", "enum": ["development", "production"]}}
_ENVIRONMENT_SCHEMA = {"environment": {"type": "string", "enum": ["development", "production"]}}
RULES: tuple[Policy, ...] = (
    Policy("mlplan-quota", "Reserved cores (ceil(1.2 x instances) x cores) within the quota.",
           MANDATORY, _rules(codes.QUOTA_FAMILY, codes.QUOTA_TOTAL),
           schema={"quota": {"type": "object", "additionalProperties": {"type": "number"}}}),
    Policy("mlplan-traffic-split", "Live traffic sums to 0 or 100 over declared deployments.",
           MANDATORY, _rules(codes.TRAFFIC_SUM, codes.TRAFFIC_UNKNOWN_DEPLOYMENT)),
    Policy("mlplan-mirror", "One mirror target, at most 50%, with 0% live traffic.", MANDATORY,
           _rules(codes.MIRROR_SINGLE, codes.MIRROR_PERCENT, codes.MIRROR_LIVE,
                  codes.MIRROR_UNKNOWN_DEPLOYMENT), severities=frozenset({Severity.ERROR})),
    Policy("mlplan-mirror-without-live", "A mirror copies nothing while no deployment is live.",
           ADVISORY, _rules(codes.NO_LIVE_DEPLOYMENT), severities=frozenset({Severity.WARNING})),
    Policy("mlplan-limits", "Deployments per endpoint and instances per deployment.", MANDATORY,
           _rules(codes.TOO_MANY_DEPLOYMENTS, codes.TOO_MANY_INSTANCES),
           schema={"deploymentsPerEndpoint": {"type": "integer", "minimum": 1},
                   "instancesPerDeployment": {"type": "integer", "minimum": 1}}),
    Policy("mlplan-ha-minimum", "Live deployments have enough instances (development: "
           "advisory).", ADVISORY, _rules(codes.HA_MINIMUM), frozenset({"development"}),
           schema=_HA_SCHEMA),
    Policy("mlplan-ha-minimum-production", "Live deployments have enough instances in "
           "production.", MANDATORY, _rules(codes.HA_MINIMUM), frozenset({"production"}),
           schema=_HA_SCHEMA),
    Policy("mlplan-image-pinned", "Images pinned by digest or version tag (development: "
           "advisory).", ADVISORY, _rules(codes.IMAGE_PINNED), frozenset({"development"}),
           schema=_ENVIRONMENT_SCHEMA),
    Policy("mlplan-image-pinned-production", "Images pinned by digest or version tag in "
           "production.", MANDATORY, _rules(codes.IMAGE_PINNED), frozenset({"production"}),
           schema=_ENVIRONMENT_SCHEMA),
    Policy("mlplan-gpu-resources", "GPU instance types get GPUs; CPU types none.", MANDATORY,
           _rules(codes.GPU_RESOURCES)),
    Policy("mlplan-auth-enabled", "Endpoints authenticate callers (key or token).", MANDATORY,
           _rules(codes.AUTH_ENABLED), severities=frozenset({Severity.ERROR})),
    Policy("mlplan-auth-gateway", "Gateway-api endpoints: callers are checked by the Gateway, "
           "which the pack cannot see (advisory).", ADVISORY, _rules(codes.AUTH_ENABLED),
           severities=frozenset({Severity.WARNING})),
    Policy("mlplan-probes", "Instances have readiness (and on Kubernetes liveness) checks.",
           MANDATORY, _rules(codes.PROBES_PRESENT)),
    Policy("mlplan-names", "Endpoint and deployment names follow Azure's rules.", MANDATORY,
           _rules(codes.INVALID_NAME)),
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
    policy: Policy, facts: list[EndpointFacts], config: Mapping[str, Any]
) -> list[Diagnostic]:
    """The diagnostics this policy reports for these facts under this policy config."""
    options = options_from(config)
    environment = config.get("environment")
    if environment:
        facts = [replace(f, environment=str(environment)) for f in facts]
    found = check_stack(facts, options, policy.rules) + [
        d for f in facts if f.environment in policy.environments
        for d in check_endpoint(f, replace(
            options, check_liveness=registry.of(f.target).liveness_probes), policy.rules)]
    return [d for d in found if d.severity in policy.severities]


def validator(policy: Policy) -> Callable[[StackValidationArgs, ReportViolation], None]:
    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        facts = registry.facts_from_resources(plain(args.resources))
        for d in findings(policy, facts, args.get_config()):
            urn = d.location.field if d.location.field.startswith("urn:") else None
            report(f"{d.code} {d.message}", urn)

    return validate


def policies() -> list[StackValidationPolicy]:
    return [
        StackValidationPolicy(
            name=policy.name, description=policy.description, validate=validator(policy),
            enforcement_level=policy.level,
            config_schema=PolicyConfigSchema(properties=dict(policy.schema)) if policy.schema
            else None)
        for policy in RULES
    ]
