"""A promotion plan -> text (a table of steps) or a JSON-ready document."""

from __future__ import annotations

from typing import Any

from mlplan.domain.quantity import cores
from mlplan.planning.gates import Figures, Verdict
from mlplan.planning.promote import Promotion, PromotionStep
from mlplan.render import safe
from mlplan.render.document import diagnostic_entry
from mlplan.render.tables import split_text
from mlplan.render.text import table


def _split(pairs: tuple[tuple[str, int], ...]) -> str:
    return split_text(dict(pairs), empty="-")


def render_text(promotion: Promotion) -> str:
    head = (f"mlplan promote {promotion.endpoint} --to {promotion.to}: "
            f"{len(promotion.steps)} steps, retiring {', '.join(promotion.retired) or 'nothing'}")
    rows = [
        (str(s.number), s.stage, _split(s.traffic), _split(s.mirror),
         ", ".join(f"{n} x{c}" for n, c in s.deployments),
         f"{cores(s.quota_millis)} / {cores(s.quota_limit_millis)}",
         "ok" if s.ok else "INVALID")
        for s in promotion.steps
    ]
    lines = [head, ""]
    if rows:
        lines += table(("Step", "Stage", "Traffic", "Mirror", "Deployments", "Reserved cores",
                        "Check"), rows)
        lines += ["", f"Peak: {cores(promotion.peak_quota_millis)} reserved cores (both "
                      "deployments count until the retire step). Traffic moves first; retired "
                      "deployments are deleted after."]
    lines += [f"Skipped {what}: {why}." for what, why in promotion.skipped]
    return "".join(f"{safe.text(line)}\n" for line in lines)


def diagnostics_text(promotion: Promotion) -> str:
    found = [*promotion.diagnostics,
             *(d for s in promotion.steps for d in s.diagnostics)]
    unique = list(dict.fromkeys(found))
    return "".join(f"{safe.text(str(d))}\n" for d in unique)


def document(promotion: Promotion) -> dict[str, Any]:
    return {
        "format_version": 2,  # 2: reserved_cores, limit_cores, peak_reserved_cores, skipped
        "endpoint": promotion.endpoint,
        "to": promotion.to,
        "retired": list(promotion.retired),
        "ok": promotion.ok,
        "peak_reserved_cores": cores(promotion.peak_quota_millis),
        "steps": [{"number": s.number, "stage": s.stage, "traffic": dict(s.traffic),
                   "mirror_traffic": dict(s.mirror), "instances": dict(s.deployments),
                   "reserved_cores": cores(s.quota_millis),
                   "limit_cores": cores(s.quota_limit_millis),
                   "diagnostics": [diagnostic_entry(d) for d in s.diagnostics]}
                  for s in promotion.steps],
        "skipped": [{"step": what, "reason": why} for what, why in promotion.skipped],
        "diagnostics": [diagnostic_entry(d) for d in promotion.diagnostics],
    }


def figures_entry(figures: Figures | None) -> dict[str, Any] | None:
    """One deployment's window as JSON: requests, real, outcomes, latency, status mix."""
    if figures is None:
        return None
    return {"requests": figures.requests, "real": figures.real,
            "judged": figures.judged, "successes": figures.successes,
            "failures": figures.failures, "real_failures": figures.real_failures,
            "caller_errors": figures.caller_errors,
            "success_rate": _rounded(figures.success_rate),
            "p50_ms": _rounded(figures.p50_ms), "p95_ms": _rounded(figures.p95_ms),
            "p99_ms": _rounded(figures.p99_ms),
            "statuses": {str(code): count for code, count in figures.statuses}}


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _gate_entry(step: PromotionStep, gate: Any) -> dict[str, Any]:
    verdict: Verdict | None = gate.verdict
    return {"step": step.number, "stage": step.stage, "ok": gate.ok, "source": gate.source,
            "window_seconds": gate.window_seconds, "real_requests": gate.real,
            "probes": gate.probes, "reason": gate.reason,
            "candidate": figures_entry(verdict.candidate if verdict else None),
            "stable": figures_entry(verdict.stable if verdict else None),
            "checks": [{"metric": c.metric, "value": c.value, "threshold": c.threshold,
                        "ok": c.ok, "note": c.note}
                       for c in (verdict.checks if verdict else ())]}


def apply_document(promotion: Promotion, result: Any) -> dict[str, Any]:
    """``promote --apply --format json``: the plan, then each gate's thresholds and measured
    values, and how it ended (``failed_step``: where a gate or pulumi up stopped it)."""
    failed = result.failed_step
    return {**document(promotion), "applied": {
        "ok": result.ok, "completed_steps": result.completed,
        "rolled_back": result.rolled_back, "reason": result.reason,
        "failed_step": failed.number if failed else None,
        "gates": [_gate_entry(step, gate) for step, gate in result.gates]}}


def gates_text(result: Any) -> str:
    """Each gate as lines: its window, then one line per check with value and threshold.
    Example: ``step 2 canary: 120 green requests judged (20 real, 100 probes) ...`` then
    ``  success_rate 100, needs >= 99: ok``."""
    lines = ["", "Gates:"]
    for step, gate in result.gates:
        lines.append(f"  step {step.number} {step.stage}: "
                     f"{'passed' if gate.ok else 'FAILED'}: {gate.reason}")
        verdict: Verdict | None = gate.verdict
        lines += [f"    {check.describe()}" for check in (verdict.checks if verdict else ())]
    return "".join(f"{safe.text(line)}\n" for line in lines)
