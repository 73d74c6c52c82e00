"""A review as one JSON-ready document; the text and Markdown renderers read the same document,
whether it came from two desired states (``mlplan review --base``) or from a Pulumi preview
(``--preview-json``), so the formats cannot disagree.

Actions are Terraform-style verb lists: ``["create"]``, ``["update"]``, ``["create", "delete"]``
(create-then-delete), ``["delete", "create"]`` (delete-then-create), ``["delete"]``,
``["no-op"]``. Cores are numbers (48, 2.5). Lists are sorted; ``json.dumps`` sorts keys.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mlplan.domain.diagnostics import Diagnostic, Severity
from mlplan.domain.quantity import cores
from mlplan.planning.diff import (
    DeploymentChange,
    EndpointChange,
    FieldChange,
    QuotaRow,
    ReviewStep,
    StackChanges,
)
from mlplan.planning.diff.actions import ResourceChange, ShownStep
from mlplan.planning.preview import Finding, ShownQuotaRow, StackPreview
from mlplan.render.document import diagnostic_entry, finding_entry
from mlplan.version import __version__

#: 2: per deployment reserved_cores (was quota_cores); per roll peak_instances,
#: min_serving_instances and batch_count (were peak, min_in_service)
FORMAT_VERSION = 2
COUNTED = ("create", "update", "replace", "delete", "no-op")


def _cores(millis: int | None) -> int | float | None:
    return None if millis is None else cores(millis)


def category(actions: list[str]) -> str:
    """``["delete", "create"]`` -> ``replace``; ``["update"]`` -> ``update``."""
    return "replace" if len(actions) == 2 else actions[0]


def counts(actions: Iterable[list[str]]) -> dict[str, int]:
    """How many of each category, plus ``total``."""
    out = dict.fromkeys(COUNTED, 0)
    total = 0
    for verbs in actions:
        out[category(verbs)] += 1
        total += 1
    out["total"] = total
    return out


def field_entry(change: FieldChange) -> dict[str, Any]:
    return {"path": change.path, "before": change.before, "after": change.after,
            "effect": change.effect.value, "why": change.why}


def _step_entry(kind: str, from_: int | None, to: int | None, summary: str,
                **roll: Any) -> dict[str, Any]:
    """The one writer of a step's keys; a roll adds order, its numbers and batches."""
    return {"kind": kind, "from": from_, "to": to, "summary": summary, **roll}


def _batch_entry(number: int | None, instances: Iterable[tuple[str, tuple[str, ...]]]
                 ) -> dict[str, Any]:
    return {"batch": number, "instances": [{"name": n, "actions": list(verbs)}
                                           for n, verbs in instances]}


def _schedule_numbers(batch_size: int, batch_count: int, peak: int, min_serving: int
                      ) -> dict[str, int]:
    return {"batch_size": batch_size, "batch_count": batch_count, "peak_instances": peak,
            "min_serving_instances": min_serving}


def _step(step: ReviewStep) -> dict[str, Any]:
    if step.roll is None:
        return _step_entry(step.kind, step.from_instances, step.to_instances, step.describe())
    roll = step.roll
    return _step_entry(
        step.kind, step.from_instances, step.to_instances, step.describe(),
        order=list(roll.order.verbs),
        **_schedule_numbers(roll.schedule.batch_size, roll.schedule.batch_count, roll.peak,
                            roll.min_in_service),
        batches=[_batch_entry(i + 1, ((n, roll.verbs_of(i)) for n in names))
                 for i, names in enumerate(roll.batches)])


def _shown_step(step: ShownStep) -> dict[str, Any]:
    """A step read from a preview: no instance counts; a roll's numbers only when the preview
    shows all of it; a scale step's batches are empty."""
    if step.kind == "scale":
        return _step_entry(step.kind, None, None, step.summary, batches=[])
    plan = step.schedule
    numbers = (_schedule_numbers(plan.batch_size, plan.batch_count, plan.peak_instances,
                                 plan.min_serving) if plan is not None else {})
    return _step_entry(
        step.kind, None, None, step.summary, **numbers,
        order=list(step.order.verbs) if step.order is not None else None,
        batches=[_batch_entry(b.number, ((n, a.verbs) for n, a in b.instances))
                 for b in step.batches])


def resource_entry(change: ResourceChange) -> dict[str, Any]:
    return {"name": change.name, "type": change.type, "urn": change.urn,
            "actions": list(change.action.verbs), "reasons": list(change.reasons)}


def _pair(before: Any, after: Any) -> dict[str, Any]:
    return {"before": before, "after": after}


def deployment_entry(change: DeploymentChange) -> dict[str, Any]:
    """From two desired states every side is known (``None``: absent); from a preview
    (``change.shown``) instance counts and cores are unknown (``None``), the type and traffic
    are known only from labels, and the changed resources besides instances are listed."""
    b, a = change.before, change.after
    s = change.share
    shown = change.shown
    entry = {
        "name": change.name,
        "renamed_from": change.renamed_from or None,
        "actions": list(change.action.verbs),
        "source": change.source or None,
        "reasons": list(change.reasons),
        "changes": [field_entry(c) for c in change.changes],
        "instances": _pair(b.instances if b else None, a.instances if a else None),
        "instance_type": _pair(b.instance_type if b else None, a.instance_type if a else None),
        "reserved_cores": _pair(_cores(b.reserved_millis) if b else None,
                             _cores(a.reserved_millis) if a else None),
        "traffic": {"live": _pair(s.live_before if b else None, s.live_after if a else None),
                    "mirror": _pair(s.mirror_before if b else None,
                                    s.mirror_after if a else None)},
        "stage": change.stage.value if change.stage else None,
        "steps": [_step(step) for step in change.steps],
    }
    if shown is not None:
        entry.update({
            "instances": None, "reserved_cores": None,
            "instance_type": _pair(*shown.instance_type) if shown.instance_type else None,
            "traffic": ({"live": _pair(s.live_before, s.live_after),
                         "mirror": _pair(s.mirror_before, s.mirror_after)}
                        if shown.traffic_known else None),
            "steps": [_shown_step(step) for step in change.shown_steps],
            "resources": [resource_entry(r) for r in shown.resources],
        })
    return entry


def endpoint_entry(change: EndpointChange) -> dict[str, Any]:
    t = change.traffic
    return {
        "name": change.name,
        "renamed_from": change.renamed_from or None,
        "actions": list(change.action.verbs),
        "changed": change.has_changes,
        "source": change.source or None,
        "reasons": list(change.reasons),
        "changes": [field_entry(c) for c in change.changes],
        "traffic": {
            "live": _pair(dict(t.live_before), dict(t.live_after)),
            "mirror": _pair(dict(t.mirror_before), dict(t.mirror_after)),
            "changed": t.changed,
            "stages": [{"stage": stage.value, "deployment": name} for stage, name in t.stages],
            "delete_after_traffic": list(t.moves_before_delete),
        } if change.traffic_known else None,
        "deployments": [deployment_entry(d) for d in change.deployments],
        **({"resources": [resource_entry(r) for r in change.resources]}
           if change.resources is not None else {}),
    }


def _quota_entry(family: str, before: float, after: float, peak: float,
                 limit_before: float | None, limit: float | None, over: bool, peak_over: bool
                 ) -> dict[str, Any]:
    return {"family": family, "before": before, "after": after, "peak": peak,
            "limit_before": limit_before, "limit": limit, "over": over,
            "peak_over": peak_over}


def quota_entry(row: QuotaRow) -> dict[str, Any]:
    return _quota_entry(row.family, cores(row.before_millis), cores(row.after_millis),
                        cores(row.peak_millis), _cores(row.limit_before_millis),
                        _cores(row.limit_after_millis), row.over, row.peak_over)


def shown_quota_entry(row: ShownQuotaRow) -> dict[str, Any]:
    """A preview's row: its peak is the larger side, never over by the peak alone."""
    return _quota_entry(row.family, row.before, row.after, row.peak, row.limit_before,
                        row.limit, row.over, False)


def diagnostics_entries(head: Iterable[Diagnostic], base: Iterable[Diagnostic] = ()
                        ) -> list[dict[str, Any]]:
    """Head diagnostics, then the base's, each marked with its ``side``."""
    return ([{"side": "head", **diagnostic_entry(d)} for d in head]
            + [{"side": "base", **diagnostic_entry(d)} for d in base])


def finding_entries(findings: Iterable[Finding]) -> list[dict[str, Any]]:
    """A preview's findings, on the head side, in ``diagnostic_entry``'s keys."""
    return [{"side": "head", **finding_entry(f.severity, f.code, f.path, f.message)}
            for f in findings]


def _severity_counts(diagnostics: list[dict[str, Any]], side: str) -> tuple[int, int]:
    chosen = [d for d in diagnostics if d["side"] == side]
    return (sum(1 for d in chosen if d["severity"] == str(Severity.ERROR)),
            sum(1 for d in chosen if d["severity"] == str(Severity.WARNING)))


def summarize(stack: dict[str, Any]) -> dict[str, Any]:
    """Counts, quota headline and diagnostics counts of a stack entry (fills ``summary``)."""
    endpoints = stack["endpoints"]
    deployments = [d for e in endpoints for d in e["deployments"]]
    errors, warnings = _severity_counts(stack["diagnostics"], "head")
    base_errors, base_warnings = _severity_counts(stack["diagnostics"], "base")
    total = stack["quota"]["total"] if stack.get("quota") else None
    changes = (any(e["changed"] for e in endpoints)
               or bool(stack.get("settings_changes")) or bool(stack.get("other_resources")))
    return {
        "endpoints": counts(e["actions"] for e in endpoints),
        "deployments": counts(d["actions"] for d in deployments),
        "changes": changes,
        "quota": ({"before": total["before"], "after": total["after"], "limit": total["limit"],
                   "over": sorted(f["family"] for f in [*stack["quota"]["families"], total]
                                  if f["over"]),
                   "peak_over": sorted(f["family"] for f in [*stack["quota"]["families"], total]
                                       if f["peak_over"])}
                  if total else None),
        "errors": errors, "warnings": warnings,
        "base_errors": base_errors, "base_warnings": base_warnings,
    }


def _side(present: bool, target: str, environment: str) -> dict[str, Any] | None:
    return {"target": target, "environment": environment} if present else None


def _stack_entry(stack: str, base: dict[str, Any] | None, head: dict[str, Any] | None,
                 settings_changes: list[dict[str, Any]], endpoints: list[dict[str, Any]],
                 other_resources: list[dict[str, Any]], quota: dict[str, Any] | None,
                 diagnostics: list[dict[str, Any]]) -> dict[str, Any]:
    """The one writer of a stack entry's keys (``summary`` filled from the rest)."""
    entry: dict[str, Any] = {
        "stack": stack, "base": base, "head": head, "settings_changes": settings_changes,
        "endpoints": endpoints, "other_resources": other_resources, "quota": quota,
        "diagnostics": diagnostics,
    }
    entry["summary"] = summarize(entry)
    return entry


def stack_entry(stack: str, changes: StackChanges) -> dict[str, Any]:
    """One stack's review from the core's ``StackChanges``."""
    return _stack_entry(
        stack,
        _side(changes.base_present, changes.target_before, changes.environment_before),
        _side(changes.head_present, changes.target_after, changes.environment_after),
        [field_entry(c) for c in changes.settings_changes],
        [endpoint_entry(e) for e in changes.endpoints], [],
        {"families": [quota_entry(r) for r in changes.quota],
         "total": quota_entry(changes.quota_total)},
        diagnostics_entries(changes.diagnostics, changes.base_diagnostics))


def preview_stack_entry(preview: StackPreview) -> dict[str, Any]:
    """One stack's review from a Pulumi preview (``planning.preview.stack_preview``): no base
    or head settings; resources outside endpoints; ``summary.resources`` counts every concrete
    resource shown."""
    rows = [shown_quota_entry(r) for r in preview.quota]
    entry = _stack_entry(
        preview.stack, None, None, [], [endpoint_entry(e) for e in preview.endpoints],
        [resource_entry(r) for r in preview.other_resources],
        {"families": rows[:-1], "total": rows[-1]} if rows else None,
        finding_entries(preview.findings))
    entry["summary"]["resources"] = counts(list(a.verbs) for a in preview.resource_actions)
    return entry


def review_document(stacks: list[dict[str, Any]], *, source: str, base: str, head: str
                    ) -> dict[str, Any]:
    """The whole review: ``source`` is ``desired-state`` or ``pulumi-preview``."""
    return {
        "format_version": FORMAT_VERSION,
        "tool": {"name": "mlplan", "version": __version__},
        "kind": "review",
        "source": source,
        "base": base,
        "head": head,
        "summary": {
            "stacks": len(stacks),
            "changes": any(s["summary"]["changes"] for s in stacks),
            "errors": sum(s["summary"]["errors"] for s in stacks),
            "warnings": sum(s["summary"]["warnings"] for s in stacks),
        },
        "stacks": stacks,
    }


