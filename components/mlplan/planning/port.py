"""The target port: what the planner asks a target, owned by the planning layer.

A target (``targets/<name>/``) implements it with one ``Target`` value in its ``target.py``,
registered in ``targets/registry.py``: the only module that knows every target and the only
place a target's name is looked up. The planner, the rules and the renderers are handed a
``Target`` (``planning.state.desired(..., target=...)``, ``DesiredState.target``) and ask it
instead of testing ``target == "kubernetes"``.

A ``Target`` answers: its roll strategy (``surges``: start a batch of new instances before
stopping a batch of old ones?), how review names a roll's batches (``batch_names``) and why a
roll runs as it does (``roll_reasons``), how a changed deployment field reaches its running
instances (``field_effect``), which deployment fields its router config holds
(``touches_router``), its capabilities (liveness probes, who checks callers, Azure's
Kubernetes compute limits, models served from volumes), the checks only it makes on a desired
state (``stack_checks``, pure), the parser of its settings ``mlplan:<name>``
(``parse_settings``), the Pulumi types its provider replaces delete-first, how the policy pack
reads ``EndpointFacts`` back from its resources, and where its edge code lives,
imported only when used: ``resources`` (the Pulumi adapter: ``deploy_endpoint``,
``stack_diagnostics``, ``shared_stack``) and ``reader`` (what reads the project's files for
``stack_checks``).

Adding a target = one folder ``targets/<name>/`` (``target.py`` with its ``Target``, a pure
plan, ``resources.py``) + one line in ``targets/registry.py``; ``tests/targets/test_registry.py``
plugs in a toy target that way.
Example: ``registry.of("kubernetes").surges(exempt=False)`` -> True; ``registry.of("docker")
.batch_names("my-endpoint", "blue", (0, 1), settings)`` -> ``("my-endpoint-blue-0",
"my-endpoint-blue-1")``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlplan.domain.diagnostics import Diagnostic
from mlplan.domain.facts import EndpointFacts
from mlplan.domain.settings import Settings
from mlplan.domain.yamlsource import FieldPath


class Effect(enum.Enum):
    """What a changed field does to a running deployment."""

    ROLL = "replace instances"  # the instances are replaced, batch by batch
    SCALE = "scale"  # instances are added or removed; the others keep running
    IN_PLACE = "in place"  # router reload, autoscaler or metadata; no instance replaced
    REPLACE_RESOURCE = "replaces the resource"  # a preview's resource is replaced


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
                 "request_settings.max_concurrent_requests_per_instance",
                 "environment.scoring_route")  # the path the router maps /score to


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
    """One target as the planner, the rules and the edges ask it (see the module docstring)."""

    name: str
    surges: Callable[[bool], bool]
    batch_names: Callable[[str, str, Sequence[int], Settings], tuple[str, ...]]
    facts_from_resources: Callable[[Iterable[PlainResource]], list[EndpointFacts]]
    #: why a roll runs as it does: (rolled fields, surges?, instances after) -> reasons
    roll_reasons: Callable[[str, bool, int], list[str]]
    #: per batch, the verbs of its instances: (surges?, batches) -> (("create", "delete"), ...);
    #: by default every batch in the roll's order
    batch_orders: Callable[[bool, int], tuple[tuple[str, ...], ...]] = (
        lambda surge, count: ((("create", "delete") if surge else ("delete", "create")),) * count)
    #: its surge batch's instances are containers named by revision: an instance that joins or
    #: leaves the first batch because scaling changes the batch size is recreated (Docker)
    surge_batch_by_name: bool = False
    #: rows of ``FIELD_EFFECTS`` this target applies differently: prefix -> (effect, why)
    field_effects: Mapping[str, tuple[Effect, str]] = field(default_factory=dict)
    #: deployment fields its router config holds besides ``ROUTER_FIELDS``
    router_fields: tuple[str, ...] = ()
    #: types its provider replaces delete-first (the preview does not say so)
    delete_first_types: frozenset[str] = frozenset()
    #: its instances have liveness probes besides readiness checks (rule MLP505)
    liveness_probes: bool = False
    #: who checks callers instead of mlplan's router ("" when the router does; MLP504)
    auth_by: Callable[[Settings], str] = lambda _settings: ""
    #: Azure's limits of Kubernetes online deployments apply (request timeout, name length)
    kubernetes_compute: bool = False
    #: models (Azure ML references or paths) it serves from volumes, not from local files
    served_models: Callable[[Settings], frozenset[str]] = lambda _settings: frozenset()
    #: the checks only it makes on a desired state (pure): (``DesiredState``, what ``reader``
    #: made for the project, or None when the files are not at hand: checks needing them are
    #: skipped) -> diagnostics. (The state's type is not named here: it holds a ``Target``.)
    stack_checks: Callable[[Any, Any], list[Diagnostic]] = lambda _state, _read: []
    #: ``module:function`` making the project reader of ``stack_checks`` from the project's
    #: root (imported when used; "" for none)
    reader: str = ""
    #: the module of its Pulumi adapter (imported when used)
    resources: str = ""
    #: its own settings ``mlplan:<name>``: (mapping, file, line of a path below it) ->
    #: (parsed settings, MLP120 problems); read back through its settings module's ``of``
    parse_settings: Callable[[Mapping[str, Any], str, Callable[[FieldPath], int]],
                             tuple[Any, list[Diagnostic]]] = lambda _raw, _file, _line: (None, [])

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


