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
    StackChanges,
    Step,
)
from mlplan.render.document import diagnostic_entry
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


def _step(step: Step) -> dict[str, Any]:
    entry: dict[str, Any] = {"kind": step.kind, "from": step.from_instances,
                             "to": step.to_instances, "summary": step.describe()}
    if step.roll is not None:
        roll = step.roll
        entry.update({
            "order": list(roll.order.verbs), "batch_size": roll.schedule.batch_size,
            "batch_count": roll.schedule.batch_count, "peak_instances": roll.peak,
            "min_serving_instances": roll.min_in_service,
            "batches": [{"batch": i + 1,
                         "instances": [{"name": n, "actions": list(roll.verbs_of(i))}
                                       for n in names]}
                        for i, names in enumerate(roll.batches)],
        })
    return entry


def _pair(before: Any, after: Any) -> dict[str, Any]:
    return {"before": before, "after": after}


def deployment_entry(change: DeploymentChange) -> dict[str, Any]:
    b, a = change.before, change.after
    s = change.share
    return {
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
        },
        "deployments": [deployment_entry(d) for d in change.deployments],
    }


def quota_entry(row: QuotaRow) -> dict[str, Any]:
    return {"family": row.family, "before": cores(row.before_millis),
            "after": cores(row.after_millis), "peak": cores(row.peak_millis),
            "limit_before": _cores(row.limit_before_millis),
            "limit": _cores(row.limit_after_millis), "over": row.over,
            "peak_over": row.peak_over}


def diagnostics_entries(head: Iterable[Diagnostic], base: Iterable[Diagnostic] = ()
                        ) -> list[dict[str, Any]]:
    """Head diagnostics, then the base's, each marked with its ``side``."""
    return ([{"side": "head", **diagnostic_entry(d)} for d in head]
            + [{"side": "base", **diagnostic_entry(d)} for d in base])


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


def stack_entry(stack: str, changes: StackChanges) -> dict[str, Any]:
    """One stack's review from the core's ``StackChanges``."""
    entry: dict[str, Any] = {
        "stack": stack,
        "base": _side(changes.base_present, changes.target_before, changes.environment_before),
        "head": _side(changes.head_present, changes.target_after, changes.environment_after),
        "settings_changes": [field_entry(c) for c in changes.settings_changes],
        "endpoints": [endpoint_entry(e) for e in changes.endpoints],
        "other_resources": [],
        "quota": {"families": [quota_entry(r) for r in changes.quota],
                  "total": quota_entry(changes.quota_total)},
        "diagnostics": diagnostics_entries(changes.diagnostics, changes.base_diagnostics),
    }
    entry["summary"] = summarize(entry)
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


