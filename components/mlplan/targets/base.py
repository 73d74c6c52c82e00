"""What a target is, as the planner, the rules and the renderers need to know it: a ``Target``
descriptor per target (``targets/docker/target.py``, ``targets/kubernetes/target.py``),
registered in ``targets/registry.py``. Pure: it imports only ``mlplan.domain``, so the layers
below the targets' plans (planning, rules, render) can ask it instead of testing
``target == "kubernetes"``.

A descriptor names, per target: its typed settings (``settings_of``), its roll strategy
(``surges``: start a batch of new instances before stopping a batch of old ones?), how review
names a roll's batches (``batch_names``), how a changed deployment field reaches its running
instances (``field_effect``), which deployment fields its router config holds, the Pulumi type
strings of its resources (``resource_types``, ``delete_first_types``) and how the policy pack
reads ``EndpointFacts`` back from those resources (``facts_from_resources``).

This module also holds what both targets' fact readers share: ``PlainResource`` (a resource as
the policy pack sees it) and ``endpoint_facts`` (facts from per-deployment groups).
Example: ``registry.of("kubernetes").surges(exempt=False)`` -> True; ``registry.of("docker")
.batch_names("my-endpoint", "blue", (0, 1), settings)`` -> ``("my-endpoint-blue-0",
"my-endpoint-blue-1")``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlplan.domain import labels
from mlplan.domain.catalog import DEFAULT_CATALOG
from mlplan.domain.diagnostics import Location
from mlplan.domain.facts import DeploymentFacts, EndpointFacts
from mlplan.domain.settings import Settings


class Effect(enum.Enum):
    """What a changed field does to a running deployment."""

    ROLL = "replace instances"  # the instances are replaced, batch by batch
    SCALE = "scale"  # instances are added or removed; the others keep running
    IN_PLACE = "in place"  # router reload, autoscaler or metadata; no instance replaced


#: Deployment fields whose effect is not "roll" (the instances are replaced), on a target that
#: rolls its instances to apply instance configuration (prefix, effect, why); a target
#: overrides rows in ``Target.field_effects``.
FIELD_EFFECTS: tuple[tuple[str, Effect, str], ...] = (
    ("instance_count", Effect.SCALE, "instances added or removed"),
    ("scale_settings", Effect.IN_PLACE, "autoscaler settings"),
    ("request_settings.request_timeout_ms", Effect.IN_PLACE,
     "router setting (config reload, no restart)"),
    ("request_settings.max_queue_wait_ms", Effect.IN_PLACE, "deprecated by Azure; no effect"),
    ("request_settings.max_concurrent_requests_per_instance", Effect.ROLL,
     "worker count of each instance and the router's overload limit"),
    ("liveness_probe", Effect.ROLL, "health check"),
    ("readiness_probe", Effect.ROLL, "health check"),
    ("size.memory_mib", Effect.ROLL, "memory limit"),
    ("size.family", Effect.IN_PLACE, "quota family"),
    ("size.exempt", Effect.IN_PLACE, "quota reservation rule"),
    ("description", Effect.IN_PLACE, "metadata"),
    ("tags", Effect.IN_PLACE, "metadata"),
    ("app_insights_enabled", Effect.IN_PLACE, "metadata (Azure only)"),
    ("egress_public_network_access", Effect.IN_PLACE, "metadata (Azure only)"),
)
#: Anything else is instance configuration and rolls.
ROLL_WHY = "instance configuration"
#: Deployment fields every target's router config holds (timeouts, overload limit): a change
#: to one updates the endpoint too.
ROUTER_FIELDS = ("request_settings.request_timeout_ms",
                 "request_settings.max_concurrent_requests_per_instance")


@dataclass(frozen=True)
class PlainResource:
    """A deployed resource as a policy pack sees it: type, name, URN and input properties
    (camelCase, as the engine sends them)."""

    type: str
    name: str
    urn: str
    props: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Target:
    """One target's knowledge the pure layers share (see the module docstring)."""

    name: str
    title: str
    settings_of: Callable[[Settings], object]
    surges: Callable[[bool], bool]
    batch_names: Callable[[str, str, Sequence[int], Settings], tuple[str, ...]]
    facts_from_resources: Callable[[Iterable[PlainResource]], list[EndpointFacts]]
    #: why a roll runs as it does: (rolled fields, surges?, instances after) -> reasons
    roll_reasons: Callable[[str, bool, int], list[str]]
    #: per batch, the verbs of its containers: (surges?, batches) -> (("create", "delete"), ...);
    #: by default every batch in the roll's order
    batch_orders: Callable[[bool, int], tuple[tuple[str, ...], ...]] = (
        lambda surge, count: ((("create", "delete") if surge else ("delete", "create")),) * count)
    #: rows of ``FIELD_EFFECTS`` this target applies differently: prefix -> (effect, why)
    field_effects: Mapping[str, tuple[Effect, str]] = field(default_factory=dict)
    #: deployment fields its router config holds besides ``ROUTER_FIELDS``
    router_fields: tuple[str, ...] = ()
    #: its surge batch's instances are containers named by revision: an instance that joins or
    #: leaves the first batch because scaling changes the batch size is recreated (Docker)
    surge_batch_by_name: bool = False
    #: Pulumi type strings of the resources it registers, by role
    resource_types: Mapping[str, str] = field(default_factory=dict)
    #: types its provider replaces delete-first (the preview does not say so)
    delete_first_types: frozenset[str] = frozenset()
    #: its instances have liveness probes besides readiness checks (rule MLP505)
    liveness_probes: bool = False
    #: who checks callers instead of mlplan's router ("" when the router does; MLP504)
    auth_by: Callable[[Settings], str] = lambda _settings: ""

    def field_effect(self, path: str) -> tuple[Effect, str]:
        """Effect of a changed deployment field on this target, and why.

        Examples: ``environment.image`` -> ROLL; ``instance_count`` -> SCALE;
        ``liveness_probe.period`` -> IN_PLACE on Docker, ROLL on Kubernetes.
        """
        for prefix, effect, why in FIELD_EFFECTS:
            if path == prefix or path.startswith(prefix + "."):
                return self.field_effects.get(prefix, (effect, why))
        return Effect.ROLL, ROLL_WHY

    def touches_router(self, path: str) -> bool:
        """True if the endpoint's router config changes with this deployment field.

        Examples: ``request_settings.request_timeout_ms`` -> True; ``environment.image`` ->
        False; ``instance_count`` -> True on Docker (named upstream servers), False on
        Kubernetes.
        """
        return any(path == f or path.startswith(f + ".")
                   for f in ROUTER_FIELDS + self.router_fields)


# --- facts from resources: what both readers share --------------------------------------------


def where(resource: PlainResource) -> Location:
    return Location("", 0, resource.urn or resource.name)


@dataclass
class Group:
    """The resources of one deployment as a reader found them."""

    first: PlainResource
    found: dict[str, str]
    count: int = 0
    gpus_requested: int = 0
    readiness: bool = True
    liveness: bool = True


def _deployment_facts(name: str, group: Group) -> DeploymentFacts:
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
        where=where(group.first),
    )


def endpoint_facts(endpoints: Mapping[str, tuple[PlainResource, dict[str, str]]],
                   groups: Mapping[tuple[str, str], Group], target: str,
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
            where=where(config) if config else Location("", 0, endpoint),
            target=target,
            auth_by=(auth_by or {}).get(endpoint, ""),
        ))
    return result
