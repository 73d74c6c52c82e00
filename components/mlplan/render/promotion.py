"""A promotion plan -> text (a table of steps) or a JSON-ready document."""

from __future__ import annotations

from typing import Any

from mlplan.domain.quantity import cores
from mlplan.planning.promote import Promotion
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
