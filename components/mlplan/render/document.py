"""The plan as one JSON-ready document; the text and Markdown renderers read the same document,
so the three formats cannot disagree.

``mlplan plan`` is a review against an empty base: every action in the document is the one
``planning.diff.review(None, state)`` gives (``create`` for each endpoint and deployment), so the
plan and the review share one action model; the document keeps its own shape (sizes, rollout,
quota per family: ``FORMAT_VERSION``), which consumers of ``mlplan plan --format json`` read.

Numbers: cores are whole numbers where whole (48), else decimals (0.2); GPUs likewise (1/6 of a
GPU shows as 0.1667). Lists are sorted; keys are emitted sorted by ``json.dumps``.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from mlplan.domain.diagnostics import Diagnostic, Severity
from mlplan.domain.quantity import cores
from mlplan.planning.diff import DeploymentChange, EndpointChange, review
from mlplan.planning.quota import reserved_instances
from mlplan.planning.state import DeploymentState, DesiredState, EndpointState
from mlplan.render import safe
from mlplan.version import __version__

#: 2: names say what they count (reserved_instances/reserved_cores, batch_count,
#: min_serving_instances, reserved_cores/limit_cores in quota); 1 had quota_instances (the
#: count the reservation is computed from, not the instances reserved) and quota_cores.
FORMAT_VERSION = 2


def gpus(value: Fraction) -> int | float:
    return int(value) if value.denominator == 1 else round(float(value), 4)


def diagnostic_entry(d: Diagnostic) -> dict[str, Any]:
    return {"severity": str(d.severity), "code": d.code, "path": d.path, "message": d.message}


def _deployment(state: DeploymentState, change: DeploymentChange) -> dict[str, Any]:
    dep = state.deployment
    size = state.size
    scale = dep.scale_settings
    return {
        "name": dep.name,
        "action": change.action.value,
        "kind": dep.kind,
        "source": dep.source.file,
        "instance_type": size.name if not dep.instance_type else dep.instance_type,
        "instance_count": dep.instance_count,
        "cores_per_instance": cores(size.cpu_millis),
        "memory_mib_per_instance": size.memory_mib,
        "gpus_per_instance": gpus(size.gpus),
        "family": size.family,
        "exempt": size.exempt,
        "reserved_instances": reserved_instances(state.most_instances, size.exempt),
        "reserved_cores": cores(state.reserved_millis),
        "scale": {"type": scale.type, "min_instances": scale.min_instances,
                  "max_instances": scale.max_instances,
                  "target_utilization_percentage": scale.target_utilization_percentage},
        "request_timeout_ms": dep.request_settings.request_timeout_ms,
        "rollout": {
            "batch_size": state.rollout.batch_size,
            "batch_count": state.rollout.batch_count,
            "peak_instances": state.rollout.peak_instances,
            "min_serving_instances": state.rollout.min_serving,
            "summary": state.rollout.summary(),
        },
    }


def _endpoint(state: EndpointState, change: EndpointChange) -> dict[str, Any]:
    endpoint = state.endpoint
    deployments = {d.name: d for d in change.deployments}
    return {
        "name": endpoint.name,
        "action": change.action.value,
        "kind": endpoint.kind,
        "source": endpoint.source.file,
        "auth_mode": endpoint.auth_mode,
        "traffic": dict(endpoint.traffic),
        "mirror_traffic": dict(endpoint.mirror_traffic),
        "deployments": [_deployment(d, deployments[d.name]) for d in state.deployments],
    }


def plan_document(state: DesiredState, stack: str = "") -> dict[str, Any]:
    report = state.quota
    errors = sum(1 for d in state.diagnostics if d.severity is Severity.ERROR)
    warnings = sum(1 for d in state.diagnostics if d.severity is Severity.WARNING)
    changes = {e.name: e for e in review(None, state).endpoints}
    endpoints = [_endpoint(e, changes[e.name]) for e in state.endpoints]
    deployments = sum(len(e.deployments) for e in state.endpoints)
    created = sum(e["action"] == "create" for e in endpoints) + sum(
        d["action"] == "create" for e in endpoints for d in e["deployments"])
    instances = sum(d.deployment.instance_count for e in state.endpoints for d in e.deployments)
    return {
        "format_version": FORMAT_VERSION,
        "tool": {"name": "mlplan", "version": __version__},
        "stack": stack or None,
        "target": state.settings.target,
        "environment": state.settings.environment,
        "summary": {
            "endpoints": len(endpoints),
            "deployments": deployments,
            "instances": instances,
            "to_create": created,
            "errors": errors,
            "warnings": warnings,
        },
        "endpoints": endpoints,
        "quota": {
            "families": [
                {"family": f.family, "reserved_cores": cores(f.reserved_millis),
                 "limit_cores": cores(f.limit_millis) if f.limit_millis is not None else None,
                 "users": list(f.users)}
                for f in report.families
            ],
            "total_reserved_cores": cores(report.total_reserved_millis),
            "total_limit_cores": cores(report.total_limit_millis),
        },
        "diagnostics": [diagnostic_entry(d) for d in state.diagnostics],
    }


def render_json(document: dict[str, Any]) -> str:
    """JSON text; strings masked and capped, control characters escaped, keys sorted
    (``safe.json_text``, the text of ``json.dumps(safe.for_json(document), indent=2,
    sort_keys=True)``)."""
    return safe.json_text(document) + "\n"
