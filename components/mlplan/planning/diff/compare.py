"""The comparison: ``review(base, head)`` gives each endpoint and deployment of two desired states
one action (see the package docstring), with reasons, roll steps, stages and quota rows.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlplan.domain import codes
from mlplan.domain.diagnostics import Diagnostic, Location, error, sort_diagnostics, warning
from mlplan.domain.model import Deployment
from mlplan.domain.quantity import format_millis
from mlplan.domain.settings import Settings
from mlplan.planning import rollout
from mlplan.planning.diff.actions import (
    Action,
    DeploymentChange,
    EndpointChange,
    FieldChange,
    QuotaRow,
    ReviewStep,
    Roll,
    Sized,
    StackChanges,
    TrafficChange,
)
from mlplan.planning.diff.projections import (
    deployment_projection,
    endpoint_projection,
    field_changes,
    same_deployment_projection,
    settings_projection,
)
from mlplan.planning.diff.prose import (
    TRAFFIC_FIRST,
    endpoint_why,
    instance_names,
    span,
    traffic_reasons,
)
from mlplan.planning.diff.stages import STAGE_ORDER, Share, Stage, stage_of
from mlplan.planning.port import Effect, Target
from mlplan.planning.quota import DEFAULT_TOTAL_LIMIT_CORES, TOTAL
from mlplan.planning.state import DeploymentState, DesiredState, EndpointState


@dataclass(frozen=True)
class _Side:
    """One deployment on one side: its spec, resolved state and traffic."""

    dep: Deployment
    state: DeploymentState | None
    live: int
    mirror: int
    settings: Settings

    @functools.cached_property
    def projection(self) -> Mapping[str, Any]:
        """Computed when compared (a created or deleted deployment needs none)."""
        return deployment_projection(self.dep, self.state, self.settings)


def _sides(endpoint: EndpointState | None, settings: Settings) -> dict[str, _Side]:
    if endpoint is None:
        return {}
    states = {d.name: d for d in endpoint.deployments}
    live, mirror = endpoint.endpoint.traffic_map, endpoint.endpoint.mirror_map
    return {
        dep.name: _Side(dep, states.get(dep.name), live.get(dep.name, 0),
                        mirror.get(dep.name, 0), settings)
        for dep in endpoint.endpoint.deployments
    }


def _unchanged(old: _Side, new: _Side) -> bool:
    """One deployment object on both sides (an unchanged file, parsed once) whose projection
    reads the same size and assets on each: no field changes, without computing them."""
    return old.dep is new.dep and same_deployment_projection(
        old.dep, (old.state, old.settings), (new.state, new.settings))


def _sized(side: _Side | None) -> Sized | None:
    if side is None:
        return None
    reserved = side.state.reserved_millis if side.state else None
    instance_type = side.dep.instance_type or (side.state.size.name if side.state else "")
    return Sized(side.dep.instance_count, instance_type, reserved)


#: the most instances a roll lists by name, whatever ``mlplan:limits`` allows
MAX_LISTED_INSTANCES = 10_000


def _roll(endpoint: str, deployment: str, instances: int, existing: int, target: Target,
          exempt: bool, settings: Settings | None) -> Roll:
    """The order (``Target.surges``), the batches as the target names them
    (``Target.batch_names``: Docker's instances with the stack's ``namePrefix``, Kubernetes'
    replicas) with what happens to each (``Target.batch_orders``). Only the ``existing``
    instances (those before the change; scaling runs first) are listed: a batch of the
    ``instances`` layout keeps its members below ``existing``, empty batches are left out.
    Example: 3 -> 10 with a new image: batches of 2 of which 0, 1 and 2 exist -> [0, 1], [2]."""
    surge = target.surges(exempt)
    order = Action.CREATE_THEN_DELETE if surge else Action.DELETE_THEN_CREATE
    limits = (settings or Settings()).limits
    # a deployment over the instance limit has its MLP113 error; its roll is summed up, never
    # listed name by name (1,000,000 instances took 10 s and 800 MB, 20,000,000 was killed)
    listed = instances <= min(limits.instances_per_deployment, MAX_LISTED_INSTANCES)
    layout = rollout.batches(instances) if listed else ()
    verbs = target.batch_orders(surge, len(layout))
    kept = [(tuple(i for i in b if i < existing), v) for b, v in zip(layout, verbs, strict=True)]
    kept = [(b, v) for b, v in kept if b]
    batches = tuple(target.batch_names(endpoint, deployment, b, settings or Settings())
                    for b, _v in kept)
    schedule = rollout.RolloutSchedule.of(instances, surge=surge)
    return Roll(schedule, order, batches, tuple(v for _b, v in kept))


def _regrouped(endpoint: str, deployment: str, before: int, after: int) -> list[str]:
    """Instances that join or leave the surge batch when scaling changes the batch size (a
    target whose surge batch is named by revision recreates them: a new container first, the
    old one removed at the end of the update). Example: 5 -> 6 (batches of 1 -> 2): instance 1
    joins it; 6 -> 5: instance 1 leaves it; 3 -> 4: nothing."""
    old_first = set(rollout.batches(before)[0]) if before else set()
    new_first = set(rollout.batches(after)[0]) if after else set()
    kept = min(before, after)
    found = []
    for verb, moved in (("join", new_first - old_first), ("leave", old_first - new_first)):
        indexes = sorted(i for i in moved if i < kept)
        if indexes:
            names = instance_names(endpoint, deployment, indexes)
            found.append(f"{span(names)} {verb}{'s' if len(names) == 1 else ''} the surge batch "
                         f"(batches of {rollout.batch_size(before)} -> "
                         f"{rollout.batch_size(after)}): recreated, the new container first, "
                         "the old one removed at the end of the update; nothing else changes")
    return found


def _deployment_change(  # noqa: C901, PLR0912, PLR0915
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
                   *(() if whole_endpoint else traffic_reasons(name, old.live, old.mirror))]
        return DeploymentChange(action=Action.DELETE, reasons=tuple(reasons), **common), []
    assert new is not None
    if old is None:
        n = new.dep.instance_count
        where = f"{new.live}% live" + (f", {new.mirror}% mirrored" if new.mirror else "")
        size = common["after"].instance_type or "the default size"
        reasons = [f"new: {n} instance{'s' if n != 1 else ''} of {size}, {where}"]
        return DeploymentChange(action=Action.CREATE, reasons=tuple(reasons), **common), []
    changes = () if _unchanged(old, new) else tuple(
        FieldChange(path, b, a, *target.field_effect(path))
        for path, b, a in field_changes(old.projection, new.projection))
    if replaced_because:
        reasons = [replaced_because, *(traffic_reasons(renamed_from, old.live, old.mirror)
                                       if renamed_from else [])]
        return DeploymentChange(action=Action.CREATE_THEN_DELETE, reasons=tuple(reasons),
                                changes=changes, **common), []
    effects = {c.effect for c in changes}
    rolls = Effect.ROLL in effects
    before_n, after_n = old.dep.instance_count, new.dep.instance_count
    exempt = new.state is not None and new.state.size.exempt
    surge = target.surges(exempt)
    steps = tuple(
        ReviewStep(s.kind, s.from_instances, s.to_instances,
             _roll(endpoint, name, s.to_instances, min(before_n, after_n), target, exempt,
                   settings)
             if s.kind == "roll" else None)
        for s in rollout.update_steps(before_n, after_n, rolls))
    reasons = []
    found: list[Diagnostic] = []
    if after_n != before_n:
        verb = "added" if after_n > before_n else "removed"
        low, high = sorted((before_n, after_n))
        names = instance_names(endpoint, name, sorted({low, high - 1}))  # first .. last
        reasons.append(f"scale {before_n} -> {after_n}: {high - low} instance"
                       f"{'s' if high - low != 1 else ''} {verb} ({span(names)}); the others "
                       "keep running")
    if after_n != before_n and surge and not rolls and target.surge_batch_by_name:
        reasons.extend(_regrouped(endpoint, name, before_n, after_n))
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
    planned = head or base
    assert planned is not None  # an endpoint is on one side at least
    target = planned.target
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
    fields = tuple(FieldChange(p, b, a, Effect.IN_PLACE, endpoint_why(p))
                   for p, b, a in field_changes(endpoint_projection(old.endpoint),
                                                endpoint_projection(new.endpoint))
                   ) if old and new else ()
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
    stages.sort(key=lambda s: (STAGE_ORDER[s[0]], s[1]))
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
        owned = "router, network and deployments" if target.name == "docker" else \
            "router and deployments"  # a Docker endpoint owns its bridge network
        reasons.append(f"removed: its {owned} are deleted")
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
            reasons.append(f"{TRAFFIC_FIRST}: the router stops sending to "
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
    # per family: reserved before, after, and at the peak (each deployment's larger side in
    # its family; one whose family changed counts in each: max(before, 0) and max(0, after))
    before, after, peaks = (dict.fromkeys(families, 0) for _ in range(3))
    for key in set(b) | set(h):
        old, new = b.get(key), h.get(key)
        if old:
            before[old[0]] += old[1]
        if new:
            after[new[0]] += new[1]
        if old and new and old[0] == new[0]:
            peaks[old[0]] += max(old[1], new[1])
            continue
        for side in (old, new):
            if side:
                peaks[side[0]] += max(side[1], 0)
    rows = []
    for family in families:
        rows.append(QuotaRow(
            family, before[family], after[family], peaks[family],
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


def review(base: DesiredState | None, head: DesiredState | None) -> StackChanges:
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
