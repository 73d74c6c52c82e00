"""The action model of a review: ``Action`` (the closed set, replace order included) and the
change records ``review`` returns (and a preview's reading, ``planning.preview``), from one
changed field (``FieldChange``) up to the stack (``StackChanges``). Example: blue's image on 10
Docker instances -> a ``DeploymentChange`` with action ``create-then-delete`` and one
``ReviewStep`` whose ``Roll`` reads ``10 instances: 5 batches of 2, peak 12, at least 10
serving``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

from mlplan.domain.diagnostics import Diagnostic
from mlplan.planning import rollout
from mlplan.planning.diff.projections import Scalar
from mlplan.planning.diff.stages import Share, Stage
from mlplan.planning.port import Effect


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
    maxSurge 20%, maxUnavailable 0; Docker's surge batch: peak ``N + batch``, all N keep
    serving) and ``delete-then-create`` when it cannot (an exempt SKU: its quota holds no
    surge; see ``Target.surges``), so a batch is stopped before its replacements start: peak
    N, ``N - batch`` serving. ``batch_verbs`` says per batch what happens to its containers
    (``Target.batch_orders``: on Docker batch 1 is created first, later batches are replaced
    delete-first while it stands in). ``batches`` lists only instances that exist before the
    change: after ``scale 3 -> 10`` the new 3-9 are created with the new configuration, and
    only 0-2 are replaced.
    Example: 10 on Kubernetes -> ``10 instances: 5 batches of 2, peak 12, at least 10
    serving``; the same on Docker; exempt -> ``10 instances: 5 batches of 2, peak 10, at least
    8 serving``.
    """

    schedule: rollout.RolloutSchedule
    order: Action
    batches: tuple[tuple[str, ...], ...]  # per batch: instance names, or Kubernetes replicas
    batch_verbs: tuple[tuple[str, ...], ...] = ()  # per batch; () = every batch in ``order``

    def verbs_of(self, batch: int) -> tuple[str, ...]:
        """What happens to the containers of ``batch`` (0-based)."""
        if batch < len(self.batch_verbs):
            return self.batch_verbs[batch]
        return self.order.verbs

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
class ReviewStep:
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
class ShownBatch:
    """One batch of a roll as a Pulumi preview shows it: its number (``None``: the instances
    carry neither a batch label nor an index) and each instance with its own action."""

    number: int | None
    instances: tuple[tuple[str, Action], ...]


@dataclass(frozen=True)
class ShownStep:
    """A ``scale`` or ``roll`` step read from a Pulumi preview, which shows the changed
    resources but not the instance counts. ``order`` is ``None`` when the batches differ;
    ``schedule`` is the plan's schedule when the preview shows all of the roll (every
    instance, batch by batch), else ``None``.
    Example: 3 of 3 containers replaced delete-first in 3 batches -> summary ``3 instances: 3
    batches of 1, peak 3, at least 2 serving``, schedule RolloutSchedule.of(3, surge=False).
    """

    kind: rollout.StepKind
    summary: str
    order: Action | None = None
    schedule: rollout.RolloutSchedule | None = None
    batches: tuple[ShownBatch, ...] = ()


@dataclass(frozen=True)
class ResourceChange:
    """One concrete resource of a Pulumi preview: ``docker:index/container:Container``
    ``my-endpoint-router`` ``update`` because ``changes labels``."""

    name: str
    type: str
    urn: str
    action: Action
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Shown:
    """What a review read from a Pulumi preview knows of a deployment, beside the shared
    record: the instance types its labels name (``None``: no label on either side), whether
    its traffic is known (labels), and its changed resources other than instances. Instance
    counts and reserved cores are not in a preview (``None`` in the document)."""

    instance_type: tuple[str | None, str | None] | None
    traffic_known: bool
    resources: tuple[ResourceChange, ...]


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
    steps: tuple[ReviewStep, ...] = ()
    before: Sized | None = None
    after: Sized | None = None
    share: Share = field(default_factory=Share)
    stage: Stage | None = None
    renamed_from: str = ""
    source: str = ""
    shown: Shown | None = None  # read from a Pulumi preview (else from two desired states)
    shown_steps: tuple[ShownStep, ...] = ()  # a preview's steps (``steps`` stays empty)

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
    #: a preview's verdict, whose sides may be unknown; ``None``: compare the two sides
    shown_changed: bool | None = None

    @property
    def changed(self) -> bool:
        if self.shown_changed is not None:
            return self.shown_changed
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
    #: read from a Pulumi preview: its own changed resources (``None``: from desired states)
    resources: tuple[ResourceChange, ...] | None = None
    traffic_known: bool = True  # a preview without traffic labels: ``False``

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
