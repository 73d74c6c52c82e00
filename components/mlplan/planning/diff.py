"""Changes between two desired states (base -> head): what a reviewer needs, as data.

``plan(base, head)`` compares plain-dict projections of the two states leaf by leaf, then
classifies every changed field (``environment.image``, ``instance_count``) by its effect on the
target and gives each endpoint and deployment one action from a closed set. The replace order is
part of the action (Terraform style); reasons only explain:

====================  ======  ==========================================================
action                symbol  when
====================  ======  ==========================================================
create                ``+``   new endpoint or deployment
update                ``~``   changed in place: traffic (router reload), scale, metadata
create-then-delete    ``+/-`` new copy first, old deleted after: Kubernetes rolling pods
                              (surge), a renamed deployment, a target switch
delete-then-create    ``-/+`` old copy deleted first: Docker instance containers, per batch;
                              Kubernetes pods of SKUs exempt from the 20% quota surge
delete                ``-``   removed; Pulumi runs deletes last, after traffic moved
no-op                         nothing changes
====================  ======  ==========================================================

Example: blue's image changes on 10 instances on Docker -> ``delete-then-create``, roll
``10 instances: 5 batches of 2, peak 10, at least 8 serving``; the same on Kubernetes ->
``create-then-delete``, ``10 instances: 5 batches of 2, peak 12, at least 10 serving`` (for an
exempt SKU such as Standard_NC24ads_A100_v4: ``delete-then-create``, ``..., peak 10, at least 8
serving``, which is what it reserved). instance_count 3 -> 10 alone -> ``update`` (scale); with
an image change too -> scale first, then roll, plus MLP301.

Pure: no I/O. Values of secret-looking fields (``*_KEY``, ``password``, ``token``...) and Pulumi
``secure:`` values are masked before they reach any renderer.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from mlplan.domain import codes, secrets
from mlplan.domain.diagnostics import Diagnostic, Location, error, sort_diagnostics, warning
from mlplan.domain.model import Deployment, Endpoint
from mlplan.domain.names import instance_name
from mlplan.domain.quantity import cores, format_millis
from mlplan.domain.settings import Settings
from mlplan.planning import rollout
from mlplan.planning.quota import DEFAULT_TOTAL_LIMIT_CORES, TOTAL
from mlplan.planning.state import DeploymentState, DesiredState, EndpointState
from mlplan.targets import registry
from mlplan.targets.base import Effect as Effect
from mlplan.targets.base import Target

Scalar = str | int | float | bool
MASK = secrets.MASK


class Action(enum.Enum):
    """What happens to an endpoint or deployment; the replace order is part of the action."""

    CREATE = "create"
    UPDATE = "update"
    CREATE_THEN_DELETE = "create-then-delete"
    DELETE_THEN_CREATE = "delete-then-create"
    DELETE = "delete"
    NO_OP = "no-op"

    @property
    def verbs(self) -> tuple[str, ...]:
        """Terraform-style ``actions``: ``create-then-delete`` -> ``("create", "delete")``."""
        return _VERBS[self]

    @property
    def symbol(self) -> str:
        return _SYMBOLS[self]

    @property
    def replaces(self) -> bool:
        return self in (Action.CREATE_THEN_DELETE, Action.DELETE_THEN_CREATE)

    @classmethod
    def from_verbs(cls, verbs: Iterable[str]) -> Action:
        """``["delete", "create"]`` -> ``DELETE_THEN_CREATE``; unknown lists raise KeyError."""
        return _BY_VERBS[tuple(verbs)]


_VERBS = {
    Action.CREATE: ("create",), Action.UPDATE: ("update",),
    Action.CREATE_THEN_DELETE: ("create", "delete"),
    Action.DELETE_THEN_CREATE: ("delete", "create"),
    Action.DELETE: ("delete",), Action.NO_OP: ("no-op",),
}
_BY_VERBS = {verbs: action for action, verbs in _VERBS.items()}
_SYMBOLS = {
    Action.CREATE: "+", Action.UPDATE: "~", Action.CREATE_THEN_DELETE: "+/-",
    Action.DELETE_THEN_CREATE: "-/+", Action.DELETE: "-", Action.NO_OP: " ",
}
LEGEND: tuple[tuple[Action, str], ...] = (
    (Action.CREATE, "create"),
    (Action.UPDATE, "update in place"),
    (Action.CREATE_THEN_DELETE, "create the new, then delete the old"),
    (Action.DELETE_THEN_CREATE, "delete the old, then create the new"),
    (Action.DELETE, "delete"),
)


class Stage(enum.Enum):
    """Where a traffic change puts a deployment in a blue/green promotion.

    Computed per deployment whose live share, mirror share or existence changes (a missing
    share is 0%), in Azure's safe-rollout order:

    - ``new at 0%``: created with 0% live and no mirror; reachable by the
      ``azureml-model-deployment`` header only. {blue:100} -> {blue:100, green:0}: green.
    - ``mirrored``: 0% live and a mirror share that changed to > 0.
      mirror {} -> {green:10}: green.
    - ``canary``: live share rose to 1..99 from at most 50%. {blue:100, green:0} ->
      {blue:90, green:10}: green; 10 -> 50 is still canary.
    - ``promoted``: live share rose to 100 from at most 50%. {blue:90, green:10} ->
      {blue:0, green:100}: green.
    - ``rolled back``: live share rose from more than 50% (it held the majority, so the
      others were the candidates). {blue:90, green:10} -> {blue:100, green:0}: blue.
    - ``drained``: kept, had live or mirrored traffic, now has neither. In the promotion
      above blue is drained; stopping a mirror drains the mirror target.
    - ``retired``: deleted. {blue:0, green:100} -> {green:100}: blue.

    A live share that only falls (blue 100 -> 90 for a canary) is no stage of its own.
    An endpoint lists its stages most advanced first: retired, promoted, rolled back, canary,
    mirrored, new at 0%, drained.
    """

    RETIRED = "retired"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled back"
    CANARY = "canary"
    MIRRORED = "mirrored"
    NEW = "new at 0%"
    DRAINED = "drained"


_STAGE_ORDER = {stage: rank for rank, stage in enumerate(Stage)}


@dataclass(frozen=True)
class FieldChange:
    """One changed leaf: ``environment.image`` ``a:1`` -> ``a:2``; ``None`` = absent."""

    path: str
    before: Scalar | None
    after: Scalar | None
    effect: Effect
    why: str


@dataclass(frozen=True)
class Roll:
    """A rolling replacement of one deployment's instances, batch by batch.

    ``order`` is ``create-then-delete`` when the target surges (Kubernetes RollingUpdate with
    maxSurge 20%, maxUnavailable 0: peak ``N + batch``, all N keep serving) and
    ``delete-then-create`` when it cannot (Docker: containers keep their names; Kubernetes with
    an exempt SKU: its quota holds no surge; see ``Target.surges``), so a batch is stopped
    before its replacements start: peak N, ``N - batch`` serving.
    Example: 10 on Kubernetes -> ``10 instances: 5 batches of 2, peak 12, at least 10
    serving``; on Docker -> ``10 instances: 5 batches of 2, peak 10, at least 8 serving``.
    """

    schedule: rollout.RolloutSchedule
    order: Action
    batches: tuple[tuple[str, ...], ...]  # per batch: container names, or Kubernetes replicas

    @property
    def surge(self) -> bool:
        return self.order is Action.CREATE_THEN_DELETE

    @property
    def peak(self) -> int:
        return self._schedule.peak_instances

    @property
    def min_in_service(self) -> int:
        return self._schedule.min_serving

    @property
    def _schedule(self) -> rollout.RolloutSchedule:
        """The schedule in this roll's order (surge or delete-first)."""
        return rollout.RolloutSchedule.of(self.schedule.instances, self.surge)

    def describe(self) -> str:
        return self._schedule.describe()


@dataclass(frozen=True)
class Step:
    """Azure's order for an update: ``scale`` first, then ``roll`` at the new size."""

    kind: rollout.StepKind
    from_instances: int
    to_instances: int
    roll: Roll | None = None

    def describe(self) -> str:
        """``scale 3 -> 10`` or the roll's schedule."""
        if self.roll is not None:
            return self.roll.describe()
        return f"scale {self.from_instances} -> {self.to_instances}"


@dataclass(frozen=True)
class Share:
    """A deployment's live and mirrored percent before and after (0 when absent)."""

    live_before: int = 0
    live_after: int = 0
    mirror_before: int = 0
    mirror_after: int = 0

    @property
    def changed(self) -> bool:
        return (self.live_before, self.mirror_before) != (self.live_after, self.mirror_after)


@dataclass(frozen=True)
class Sized:
    """Instance count, type and reserved cores on one side (``None`` sides are absent)."""

    instances: int
    instance_type: str
    reserved_millis: int | None  # None: size unknown (an error diagnostic says why)


@dataclass(frozen=True)
class DeploymentChange:
    endpoint: str
    name: str
    action: Action
    reasons: tuple[str, ...]
    changes: tuple[FieldChange, ...] = ()
    steps: tuple[Step, ...] = ()
    before: Sized | None = None
    after: Sized | None = None
    share: Share = Share()
    stage: Stage | None = None
    renamed_from: str = ""
    source: str = ""

    @property
    def roll(self) -> Roll | None:
        return next((s.roll for s in self.steps if s.roll is not None), None)


@dataclass(frozen=True)
class TrafficChange:
    """The endpoint's split before -> after, the stages it represents, deletion order."""

    live_before: tuple[tuple[str, int], ...] = ()
    live_after: tuple[tuple[str, int], ...] = ()
    mirror_before: tuple[tuple[str, int], ...] = ()
    mirror_after: tuple[tuple[str, int], ...] = ()
    stages: tuple[tuple[Stage, str], ...] = ()  # (stage, deployment), most advanced first
    moves_before_delete: tuple[str, ...] = ()  # deleted deployments that had traffic

    @property
    def changed(self) -> bool:
        return (self.live_before, self.mirror_before) != (self.live_after, self.mirror_after)


@dataclass(frozen=True)
class EndpointChange:
    name: str
    action: Action
    reasons: tuple[str, ...]
    changes: tuple[FieldChange, ...]
    traffic: TrafficChange
    deployments: tuple[DeploymentChange, ...]
    renamed_from: str = ""
    source: str = ""

    @property
    def has_changes(self) -> bool:
        """The endpoint or one of its deployments changes (``action`` is the endpoint's own:
        ``no-op`` when only a deployment's instances roll)."""
        return self.action is not Action.NO_OP or any(
            d.action is not Action.NO_OP for d in self.deployments)


@dataclass(frozen=True)
class QuotaRow:
    """Reserved cores of one family (or ``total``) before, after and at the peak of the change.

    Peak: deletes run last, so a removed or renamed deployment still holds its reservation
    while new ones start; per deployment the larger of before and after counts.
    Example: rename blue (16 cores) to blue2 -> before 16, after 16, peak 32.
    """

    family: str
    before_millis: int
    after_millis: int
    peak_millis: int
    limit_before_millis: int | None
    limit_after_millis: int | None

    @property
    def over(self) -> bool:
        return self.limit_after_millis is not None and self.after_millis > self.limit_after_millis

    @property
    def peak_over(self) -> bool:
        """Within the limit after the change, but not while old deployments wait for deletion."""
        limit = self.limit_after_millis
        return limit is not None and not self.over and self.peak_millis > limit


@dataclass(frozen=True)
class StackChanges:
    """Everything ``mlplan review`` shows for one stack."""

    base_present: bool
    head_present: bool
    target_before: str
    target_after: str
    environment_before: str
    environment_after: str
    endpoints: tuple[EndpointChange, ...]
    settings_changes: tuple[FieldChange, ...]
    quota: tuple[QuotaRow, ...]
    quota_total: QuotaRow
    diagnostics: tuple[Diagnostic, ...]  # head state plus what the change adds (MLP301)
    base_diagnostics: tuple[Diagnostic, ...]

    @property
    def has_changes(self) -> bool:
        return bool(self.settings_changes) or any(e.has_changes for e in self.endpoints)


# --- projections: plain dicts of what matters, without file/line bookkeeping -------------------


_SCALARS = (str, int, float, bool)
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def _plain(value: Any) -> Any:
    """A dataclass or mapping as a nested dict; a list or tuple as its JSON text (``()`` ->
    ``"[]"``), so it compares as one leaf; ``None`` as ``{}``."""
    if value is None:
        return {}
    cls = type(value)
    if cls in _SCALARS:
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: _plain(getattr(value, name)) for name in _field_names(cls)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return json.dumps(_jsonable(value), sort_keys=True) if value else "[]"
    return value


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


def _prune(value: Any) -> Any:
    """Drop unset leaves (``None``, ``""``) and empty mappings; a secure value is masked."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return MASK
        out = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, "", {})}
    return value


def _scale(dep: Deployment) -> dict[str, Any]:
    s = dep.scale_settings
    if s.type != "target_utilization":
        return {"type": s.type}
    return _plain(s)  # type: ignore[no-any-return]


def _asset(settings: Settings, group: str, reference: str) -> Any:
    table = settings.assets.get(group) if reference else None
    return _plain(table.get(reference)) if isinstance(table, Mapping) else None


def deployment_projection(
    dep: Deployment, state: DeploymentState | None, settings: Settings
) -> dict[str, Any]:
    """The fields of a deployment that change what runs, as a plain nested dict.

    Example: blue.yml of the sample -> ``{"kind": "managed", "instance_type":
    "Standard_DS3_v2", "instance_count": 3, "environment": {"image": "mcr...:20250101.v1"},
    ..., "size": {"cores": 4, "memory_mib": 14336, "gpus": "0", "family": ...}}``.
    """
    model = _plain(dep.model)
    environment = _plain(dep.environment)
    if dep.model is not None:
        model["resolved"] = _asset(settings, "models", dep.model.reference)
    if dep.environment is not None:
        environment["resolved"] = _asset(settings, "environments", dep.environment.reference)
    out: dict[str, Any] = {
        "kind": dep.kind,
        "instance_type": dep.instance_type,
        "instance_count": dep.instance_count,
        "model": model,
        "model_mount_path": dep.model_mount_path,
        "code_configuration": _plain(dep.code_configuration),
        "environment": environment,
        "environment_variables": dict(dep.environment_variables),
        "request_settings": _plain(dep.request_settings),
        "liveness_probe": _plain(dep.liveness_probe),
        "readiness_probe": _plain(dep.readiness_probe),
        "scale_settings": _scale(dep),
        "resources": _plain(dep.resources),
        "app_insights_enabled": dep.app_insights_enabled,
        "egress_public_network_access": dep.egress_public_network_access,
        "description": dep.description,
        "tags": dict(dep.tags),
    }
    if state is not None:
        size = state.size
        out["size"] = {"cores": cores(size.cpu_millis), "memory_mib": size.memory_mib,
                       "gpus": str(size.gpus), "family": size.family, "exempt": size.exempt,
                       "node_selector": _plain(size.node_selector),
                       "tolerations": _plain(size.tolerations)}
    return _prune(out)  # type: ignore[no-any-return]


def endpoint_projection(endpoint: Endpoint) -> dict[str, Any]:
    """``{"kind", "auth_mode", "traffic": {"blue": 90, ...}, "mirror_traffic": {...}, ...}``."""
    return _prune({  # type: ignore[no-any-return]
        "kind": endpoint.kind, "auth_mode": endpoint.auth_mode, "compute": endpoint.compute,
        "public_network_access": endpoint.public_network_access,
        "description": endpoint.description, "tags": dict(endpoint.tags),
        "traffic": dict(endpoint.traffic), "mirror_traffic": dict(endpoint.mirror_traffic),
    })


def settings_projection(settings: Settings) -> dict[str, Any]:
    """Stack settings that are not per endpoint. ``mlplan:keys`` appears only as a digest per
    endpoint under ``keys`` (a name that masks its values), so a rotation is a change."""
    return _prune({  # type: ignore[no-any-return]
        "keys": {name: {"digest": digest}
                 for name, digest in sorted(settings.key_digests.items())},
        "target": settings.target, "environment": settings.environment,
        "quota": {k: cores(v) for k, v in sorted(settings.quota_millis.items())},
        "limits": _plain(settings.limits),
        "instance_types": {t.name: _plain(t) for t in settings.instance_types},
        "docker": _plain(settings.docker), "kubernetes": _plain(settings.kubernetes),
        "assets": _plain(settings.assets),
    })


# --- field changes -----------------------------------------------------------------------------


def _leaves(before: Any, after: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...],
                                                                             Any, Any]]:
    """Changed leaves under ``path``; equal subtrees are skipped at once (``==``), so two
    identical projections cost one comparison. A dict against a non-dict yields the scalar
    (removed or added) and every leaf of the dict; lists compare item by item (index as the
    path part). Example: ``{"a": {"b": 1}}`` -> ``{"a": 2}`` gives ``(("a", "b"), 1, None)``
    and ``(("a",), None, 2)``."""
    if before == after:
        return
    if isinstance(before, dict) or isinstance(after, dict):
        b = before if isinstance(before, dict) else {}
        a = after if isinstance(after, dict) else {}
        if not isinstance(before, dict) and before is not None:
            yield path, before, None
        if not isinstance(after, dict) and after is not None:
            yield path, None, after
        for key in sorted(set(b) | set(a)):
            yield from _leaves(b.get(key), a.get(key), (*path, str(key)))
    elif isinstance(before, list) and isinstance(after, list):
        for index in range(max(len(before), len(after))):
            yield from _leaves(before[index] if index < len(before) else None,
                               after[index] if index < len(after) else None,
                               (*path, str(index)))
    else:
        yield path, before, after


def sensitive(name: str) -> bool:
    """Whether a field or variable name looks secret (``secrets.sensitive``): ``API_KEY``,
    ``db_password``, ``token``, ``primaryKey``."""
    return secrets.sensitive(name)


def _masked(path: tuple[str, ...], value: Any) -> Scalar | None:
    if value is None:
        return None
    if any(sensitive(part) for part in path):
        return MASK
    return value if isinstance(value, str | int | float | bool) else str(value)


def field_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[
        tuple[str, Scalar | None, Scalar | None]]:
    """Two projections -> sorted ``(dotted path, before, after)`` leaves (``_leaves``).

    Example: ``{"environment": {"image": "a:1"}}`` -> ``{"environment": {"image": "a:2"}}``
    gives ``[("environment.image", "a:1", "a:2")]``; a whole dict added gives its leaves.
    Values equal by ``==`` are no change (``1`` and ``1.0``).
    """
    found = {(".".join(path), _masked(path, b), _masked(path, a))
             for path, b, a in _leaves(dict(before), dict(after), ())}
    return sorted(found, key=lambda c: c[0])


def touches_router(path: str, target: str) -> bool:
    """True if the endpoint's router config changes with this deployment field on ``target``
    (``targets.base.Target.touches_router``)."""
    return registry.of(target).touches_router(path)


def classify(path: str, target: str) -> tuple[Effect, str]:
    """Effect of a changed deployment field on ``target``, and why
    (``targets.base.Target.field_effect``). Examples: (``environment.image``, docker) -> ROLL;
    (``instance_count``, any) -> SCALE; (``liveness_probe.period``, docker) -> IN_PLACE,
    (..., kubernetes) -> ROLL."""
    return registry.of(target).field_effect(path)


def _endpoint_why(path: str) -> str:
    if path.startswith(("traffic", "mirror_traffic")):
        return "router config reload: no restart, no dropped requests"
    if path.startswith(("description", "tags")):
        return "metadata"
    return "router setting (config reload)"


# --- traffic and stages ------------------------------------------------------------------------


def stage_of(share: Share, existed: bool, exists: bool) -> Stage | None:
    """The promotion stage of one deployment; see ``Stage``. ``None``: no stage of its own.

    Examples: created at 0% -> NEW; live 10 -> 100 -> PROMOTED; live 90 -> 100 -> ROLLED_BACK;
    live 90 -> 0 kept -> DRAINED; deleted -> RETIRED; live 100 -> 90 -> None.
    """
    if existed and not exists:
        return Stage.RETIRED
    if not exists:
        return None
    if share.live_after > share.live_before:
        if share.live_before > 50:
            return Stage.ROLLED_BACK
        return Stage.PROMOTED if share.live_after == 100 else Stage.CANARY
    if share.live_after == 0 and share.mirror_after > 0 and (
            share.mirror_after != share.mirror_before or not existed):
        return Stage.MIRRORED
    if not existed and share.live_after == 0 and share.mirror_after == 0:
        return Stage.NEW
    had = share.live_before > 0 or share.mirror_before > 0
    if existed and had and share.live_after == 0 and share.mirror_after == 0:
        return Stage.DRAINED
    return None


# --- the comparison ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Side:
    """One deployment on one side: its spec, resolved state and traffic."""

    dep: Deployment
    state: DeploymentState | None
    live: int
    mirror: int
    projection: Mapping[str, Any]


def _sides(endpoint: EndpointState | None, settings: Settings) -> dict[str, _Side]:
    if endpoint is None:
        return {}
    states = {d.name: d for d in endpoint.deployments}
    live, mirror = endpoint.endpoint.traffic_map, endpoint.endpoint.mirror_map
    return {
        dep.name: _Side(dep, states.get(dep.name), live.get(dep.name, 0),
                        mirror.get(dep.name, 0),
                        deployment_projection(dep, states.get(dep.name), settings))
        for dep in endpoint.endpoint.deployments
    }


def _sized(side: _Side | None) -> Sized | None:
    if side is None:
        return None
    reserved = side.state.reserved_millis if side.state else None
    instance_type = side.dep.instance_type or (side.state.size.name if side.state else "")
    return Sized(side.dep.instance_count, instance_type, reserved)


def _instance_names(endpoint: str, deployment: str, indexes: Iterable[int]) -> tuple[str, ...]:
    return tuple(instance_name(endpoint, deployment, i) for i in indexes)


def _span(names: tuple[str, ...]) -> str:
    return names[0] if len(names) == 1 else f"{names[0]} .. {names[-1]}"


def _roll(endpoint: str, deployment: str, instances: int, target: Target, exempt: bool,
          settings: Settings | None) -> Roll:
    """The order (``Target.surges``) and the batches as the target names them
    (``Target.batch_names``: Docker's containers with the stack's ``namePrefix``, Kubernetes'
    replicas)."""
    surge = target.surges(exempt)
    order = Action.CREATE_THEN_DELETE if surge else Action.DELETE_THEN_CREATE
    batches = tuple(target.batch_names(endpoint, deployment, b, settings or Settings())
                    for b in rollout.batches(instances))
    schedule = rollout.RolloutSchedule.of(instances, surge=surge)
    return Roll(schedule, order, batches)


def _traffic_reasons(name: str, old: _Side) -> list[str]:
    found = []
    if old.live > 0:
        found.append(f"{name} had {old.live}% live traffic: traffic moves first, delete after "
                     "(the router is updated in this change; Pulumi runs deletes last)")
    if old.mirror > 0:
        found.append(f"{name} was mirrored {old.mirror}%: the mirror stops first, delete after")
    return found


def _deployment_change(  # noqa: C901, PLR0912
    endpoint: str, name: str, old: _Side | None, new: _Side | None, target: Target,
    replaced_because: str, renamed_from: str = "", whole_endpoint: bool = False,
    settings: Settings | None = None,
) -> tuple[DeploymentChange, list[Diagnostic]]:
    """Classify one deployment; ``replaced_because`` forces create-then-delete (rename...).
    ``whole_endpoint``: the endpoint itself is created or deleted (no promotion stages)."""
    share = Share(old.live if old else 0, new.live if new else 0,
                  old.mirror if old else 0, new.mirror if new else 0)
    if whole_endpoint:
        stage = None
    elif renamed_from:  # a new deployment under the new name
        stage = stage_of(Share(0, share.live_after, 0, share.mirror_after), False, True)
    else:
        stage = stage_of(share, old is not None, new is not None)
    present = new or old
    common: dict[str, Any] = {
        "endpoint": endpoint, "name": name, "before": _sized(old), "after": _sized(new),
        "share": share, "stage": stage, "renamed_from": renamed_from,
        "source": present.dep.source.file if present else ""}
    if new is None and old is not None:
        n = old.dep.instance_count
        reasons = [f"removed: its {n} instance{'s' if n != 1 else ''} "
                   f"{'are' if n != 1 else 'is'} deleted at the end of the update",
                   *(() if whole_endpoint else _traffic_reasons(name, old))]
        return DeploymentChange(action=Action.DELETE, reasons=tuple(reasons), **common), []
    assert new is not None
    if old is None:
        n = new.dep.instance_count
        where = f"{new.live}% live" + (f", {new.mirror}% mirrored" if new.mirror else "")
        size = common["after"].instance_type or "the default size"
        reasons = [f"new: {n} instance{'s' if n != 1 else ''} of {size}, {where}"]
        return DeploymentChange(action=Action.CREATE, reasons=tuple(reasons), **common), []
    changes = tuple(
        FieldChange(path, b, a, *target.field_effect(path))
        for path, b, a in field_changes(old.projection, new.projection))
    if replaced_because:
        reasons = [replaced_because, *(_traffic_reasons(renamed_from, old) if renamed_from
                                       else [])]
        return DeploymentChange(action=Action.CREATE_THEN_DELETE, reasons=tuple(reasons),
                                changes=changes, **common), []
    effects = {c.effect for c in changes}
    rolls = Effect.ROLL in effects
    before_n, after_n = old.dep.instance_count, new.dep.instance_count
    exempt = new.state is not None and new.state.size.exempt
    surge = target.surges(exempt)
    steps = tuple(
        Step(s.kind, s.from_instances, s.to_instances,
             _roll(endpoint, name, s.to_instances, target, exempt, settings)
             if s.kind == "roll" else None)
        for s in rollout.update_steps(before_n, after_n, rolls))
    reasons = []
    found: list[Diagnostic] = []
    if after_n != before_n:
        verb = "added" if after_n > before_n else "removed"
        low, high = sorted((before_n, after_n))
        names = _instance_names(endpoint, name, range(low, high))
        reasons.append(f"scale {before_n} -> {after_n}: {high - low} instance"
                       f"{'s' if high - low != 1 else ''} {verb} ({_span(names)}); the others "
                       "keep running")
    if rolls:
        rolled = ", ".join(c.path for c in changes if c.effect is Effect.ROLL)
        reasons.extend(target.roll_reasons(rolled, surge, after_n))
        if after_n != before_n:
            found.append(warning(
                codes.SCALE_WITH_ROLL, new.dep.source.at("instance_count"),
                f"instance_count {before_n} -> {after_n} changes together with {rolled}: "
                f"scaling runs first, then the roll ({steps[-1].describe()}). Azure advises "
                "separate changes in production: scale in one change, roll in the next."))
    for change in changes:
        if change.effect is Effect.IN_PLACE and not (rolls and change.path.startswith("size.")):
            reason = f"{change.path}: {change.why}"
            if reason not in reasons:
                reasons.append(reason)
    if rolls:
        action = Action.CREATE_THEN_DELETE if surge else Action.DELETE_THEN_CREATE
    elif changes:
        action = Action.UPDATE
    else:
        action = Action.NO_OP
    return DeploymentChange(action=action, reasons=tuple(reasons), changes=changes, steps=steps,
                            **common), found


def _renames(gone: dict[str, _Side], added: dict[str, _Side]) -> dict[str, str]:
    """New name -> old name: same source file, else the same projection."""
    pairs: dict[str, str] = {}
    taken: set[str] = set()
    for rule in ("file", "projection"):
        for new_name in sorted(added):
            if new_name in pairs:
                continue
            for old_name in sorted(gone):
                if old_name in taken:
                    continue
                o, n = gone[old_name], added[new_name]
                same = (o.dep.source.file == n.dep.source.file and bool(o.dep.source.file)
                        if rule == "file" else o.projection == n.projection)
                if same:
                    pairs[new_name] = old_name
                    taken.add(old_name)
                    break
    return pairs


def _pairs(mapping: Mapping[str, int]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(mapping.items()))


def _endpoint_change(  # noqa: C901, PLR0912, PLR0915
    name: str, old: EndpointState | None, new: EndpointState | None,
    base: DesiredState | None, head: DesiredState | None, renamed_from: str = "",
) -> tuple[EndpointChange, list[Diagnostic]]:
    target_before = base.settings.target if base else ""
    target_after = head.settings.target if head else target_before
    target = registry.of(target_after or "docker")
    olds = _sides(old, base.settings) if base else {}
    news = _sides(new, head.settings) if head else {}
    replaced = ""
    if old is not None and new is not None:
        if renamed_from:
            replaced = (f"endpoint renamed from {renamed_from}: instance and container names "
                        "derive from it, so new ones are created and the old deleted after")
        elif target_before != target_after:
            replaced = (f"target {target_before} -> {target_after}: created on {target_after}, "
                        f"then deleted from {target_before}")
    renames = {} if replaced else _renames(
        {k: v for k, v in olds.items() if k not in news},
        {k: v for k, v in news.items() if k not in olds})
    found: list[Diagnostic] = []
    changes_out: list[DeploymentChange] = []
    renamed_old = set(renames.values())
    for dep_name in sorted(set(olds) | set(news)):
        if dep_name in renamed_old:
            continue
        o, n = olds.get(dep_name), news.get(dep_name)
        because, was = replaced, ""
        if dep_name in renames:
            was = renames[dep_name]
            o = olds[was]
            because = (f"renamed from {was}: a deployment's name is its identity (instance "
                       f"names derive from it), so {dep_name} is created and {was} deleted "
                       "after traffic moved")
        change, more = _deployment_change(name, dep_name, o, n, target, because, was,
                                          whole_endpoint=old is None or new is None,
                                          settings=head.settings if head else None)
        changes_out.append(change)
        found.extend(more)
    e_old = endpoint_projection(old.endpoint) if old else {}
    e_new = endpoint_projection(new.endpoint) if new else {}
    fields = tuple(FieldChange(p, b, a, Effect.IN_PLACE, _endpoint_why(p))
                   for p, b, a in field_changes(e_old, e_new)) if old and new else ()
    live_b = old.endpoint.traffic_map if old else {}
    live_a = new.endpoint.traffic_map if new else {}
    mirror_b = old.endpoint.mirror_map if old else {}
    mirror_a = new.endpoint.mirror_map if new else {}
    stages: list[tuple[Stage, str]] = []
    if old is not None and new is not None:
        for d in changes_out:
            if d.renamed_from:
                stages.append((Stage.RETIRED, d.renamed_from))
            if d.stage is not None:
                stages.append((d.stage, d.name))
    stages.sort(key=lambda s: (_STAGE_ORDER[s[0]], s[1]))
    moved = tuple(sorted(
        d.renamed_from or d.name for d in changes_out
        if new is not None and (d.action is Action.DELETE or d.renamed_from)
        and (d.share.live_before > 0 or d.share.mirror_before > 0)))
    traffic = TrafficChange(_pairs(live_b), _pairs(live_a), _pairs(mirror_b), _pairs(mirror_a),
                            tuple(stages), moved)
    reasons: list[str] = []
    router = sorted(f"{d.name} {c.path}" for d in changes_out for c in d.changes
                    if target.touches_router(c.path))
    if new is None:
        action = Action.DELETE
        reasons.append("removed: its router, network and deployments are deleted")
    elif old is None:
        action = Action.CREATE
        reasons.append(f"new endpoint with {len(new.endpoint.deployments)} deployment"
                       f"{'s' if len(new.endpoint.deployments) != 1 else ''}")
    elif replaced:
        action = Action.CREATE_THEN_DELETE
        reasons.append(replaced)
    elif fields or traffic.changed or router or any(
            d.action in (Action.CREATE, Action.DELETE) or d.renamed_from for d in changes_out):
        # its own settings, its split, what its router holds of a deployment, or the set of
        # deployments it sends to; a deployment rolled in place leaves the endpoint unchanged
        action = Action.UPDATE
        if router:
            reasons.append(f"router config reload ({', '.join(router)}); no restart")
        if traffic.changed:
            reasons.append("traffic: router config reload; no restart, no dropped requests")
        if moved:
            reasons.append(f"traffic moves first, delete after: the router stops sending to "
                           f"{', '.join(moved)} in this update; deletes run last")
    else:
        action = Action.NO_OP
    source = (new or old).endpoint.source.file if (new or old) else ""  # type: ignore[union-attr]
    return EndpointChange(name, action, tuple(reasons), fields, traffic, tuple(changes_out),
                          renamed_from, source), found


def _endpoint_renames(olds: dict[str, EndpointState], news: dict[str, EndpointState]
                      ) -> dict[str, str]:
    pairs: dict[str, str] = {}
    gone = {k: v for k, v in olds.items() if k not in news}
    for new_name in sorted(k for k in news if k not in olds):
        file = news[new_name].endpoint.source.file
        match = next((o for o in sorted(gone) if file and gone[o].endpoint.source.file == file
                      and o not in pairs.values()), None)
        if match:
            pairs[new_name] = match
    return pairs


def _limit(settings: Settings | None, family: str) -> int | None:
    if settings is None:
        return None
    limits = {k.casefold(): v for k, v in settings.quota_millis.items()}
    if family == TOTAL:
        return limits.get(TOTAL, DEFAULT_TOTAL_LIMIT_CORES * 1000)
    return limits.get(family.casefold())


def _reservations(state: DesiredState | None) -> dict[tuple[str, str], tuple[str, int]]:
    """(endpoint, deployment) -> (family, reserved millicores), as ``state.desired`` counts."""
    if state is None:
        return {}
    return {(e.name, d.name): (d.size.family or "custom", d.reserved_millis)
            for e in state.endpoints for d in e.deployments}


def quota_rows(base: DesiredState | None, head: DesiredState | None
               ) -> tuple[tuple[QuotaRow, ...], QuotaRow]:
    """Per family and in total: before, after, peak (see ``QuotaRow``) and the limits."""
    b, h = _reservations(base), _reservations(head)
    families = sorted({f for f, _m in b.values()} | {f for f, _m in h.values()})
    rows = []
    for family in families:
        def in_family(table: dict[tuple[str, str], tuple[str, int]], key: tuple[str, str],
                      fam: str = family) -> int:
            got = table.get(key)
            return got[1] if got and got[0] == fam else 0

        keys = set(b) | set(h)
        rows.append(QuotaRow(
            family, sum(in_family(b, k) for k in keys), sum(in_family(h, k) for k in keys),
            sum(max(in_family(b, k), in_family(h, k)) for k in keys),
            _limit(base.settings if base else None, family),
            _limit(head.settings if head else None, family) if head else
            _limit(base.settings if base else None, family)))
    total_b = sum(m for _f, m in b.values())
    total_h = sum(m for _f, m in h.values())
    peak = sum(max(b.get(k, ("", 0))[1], h.get(k, ("", 0))[1]) for k in set(b) | set(h))
    limit_after = _limit(head.settings if head else (base.settings if base else None), TOTAL)
    total = QuotaRow(TOTAL, total_b, total_h, peak,
                     _limit(base.settings if base else None, TOTAL), limit_after)
    return tuple(rows), total


def _peak_over(row: QuotaRow, head: DesiredState | None) -> Diagnostic:
    """MLP403: within the limit after the change, but not while it runs (deletes run last, so
    removed and renamed deployments keep their reservation until the new ones are up)."""
    limit = row.limit_after_millis or 0
    what = "in total" if row.family == TOTAL else f"for family {row.family}"
    where = Location(head.settings.file if head else "", 0,
                     "mlplan:quota" if row.family == TOTAL else f"mlplan:quota.{row.family}")
    peak, after = format_millis(row.peak_millis), format_millis(row.after_millis)
    return error(codes.QUOTA_PEAK, where,
                 f"quota exceeded {what} while the change runs: {peak} cores at the peak, "
                 f"limit {format_millis(limit)} (after the change {after}). Split the change: "
                 "first add, then delete in a later step, or raise the limit.")


def plan(base: DesiredState | None, head: DesiredState | None) -> StackChanges:
    """Compare two desired states of one stack; ``None`` is a side where the stack is missing
    (missing at base: everything is created; missing at head: everything is deleted).

    Endpoints and deployments are matched by name; a new name declared in the same file as a
    removed one is a rename (create-then-delete), as is a new name with identical settings.
    Output is sorted by name and deterministic.
    """
    olds = {e.name: e for e in base.endpoints} if base else {}
    news = {e.name: e for e in head.endpoints} if head else {}
    renames = _endpoint_renames(olds, news)
    found: list[Diagnostic] = []
    endpoints: list[EndpointChange] = []
    renamed_old = set(renames.values())
    for name in sorted(set(olds) | set(news)):
        if name in renamed_old:
            continue
        was = renames.get(name, "")
        change, more = _endpoint_change(name, olds.get(was or name), news.get(name), base, head,
                                        was)
        endpoints.append(change)
        found.extend(more)
    settings_changes: tuple[FieldChange, ...] = ()
    if base is not None and head is not None:
        settings_changes = tuple(
            FieldChange(p, b, a, Effect.IN_PLACE, "stack setting")
            for p, b, a in field_changes(settings_projection(base.settings),
                                         settings_projection(head.settings)))
    rows, total = quota_rows(base, head)
    found.extend(_peak_over(row, head) for row in (*rows, total) if row.peak_over)
    diagnostics = tuple(sort_diagnostics([*(head.diagnostics if head else ()), *found]))
    return StackChanges(
        base_present=base is not None, head_present=head is not None,
        target_before=base.settings.target if base else "",
        target_after=head.settings.target if head else "",
        environment_before=base.settings.environment if base else "",
        environment_after=head.settings.environment if head else "",
        endpoints=tuple(endpoints), settings_changes=settings_changes, quota=rows,
        quota_total=total, diagnostics=diagnostics,
        base_diagnostics=base.diagnostics if base else ())
