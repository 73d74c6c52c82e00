"""``mlplan status`` -> a table (text) or one JSON document."""

from __future__ import annotations

from typing import Any

from mlplan.planning.traffic_status import DeploymentStatus, EndpointStatus
from mlplan.render import safe
from mlplan.render.promotion import figures_entry
from mlplan.render.text import table


def _share(declared: int, observed: float | None) -> str:
    """``90% / 89.7%``; nothing observed -> ``90% / -``."""
    return f"{declared}% / {'-' if observed is None else f'{observed:g}%'}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _row(row: DeploymentStatus) -> tuple[str, ...]:
    live = row.live
    instances = "-" if row.instances_declared is None else (
        f"{'?' if row.instances_ready is None else row.instances_ready}/"
        f"{row.instances_declared}")
    rate = live.success_rate
    mix = " ".join(f"{code}:{count}" for code, count in live.statuses) or "-"
    return (row.name, instances,
            "-" if row.instances_declared is None else _share(row.live_declared,
                                                              row.live_observed),
            "-" if row.instances_declared is None else _share(row.mirror_declared,
                                                              row.mirror_observed),
            str(live.requests), f"{live.real}",
            "-" if rate is None else f"{rate:.2f}%", _ms(live.p50_ms), _ms(live.p95_ms),
            _ms(live.p99_ms), mix)


def render_text(status: EndpointStatus, stack: str) -> str:
    """One row per deployment; shares are ``declared / observed``."""
    head = (f"{status.endpoint} (stack {stack}): {status.requests} requests in the last "
            f"{status.window_seconds:g} s, from the router's log")
    lines = [head, ""]
    lines += table(("Deployment", "Instances", "Live", "Mirror", "Requests", "Real", "Success",
                    "p50 ms", "p95 ms", "p99 ms", "Statuses"),
                   [_row(r) for r in status.deployments])
    lines += ["", "Instances: ready/declared. Live and mirror: declared / observed share of "
                  "split-routed requests. Requests: split and header-pinned (Real: not "
                  "mlplan's probes); success: 2xx of those that were not the caller's 4xx."]
    return "".join(f"{safe.text(line)}\n" for line in lines)


def document(status: EndpointStatus, stack: str) -> dict[str, Any]:
    return {
        "format_version": 2, "endpoint": status.endpoint, "stack": stack,
        "window_seconds": status.window_seconds, "requests": status.requests,
        "deployments": [{
            "name": r.name,
            "instances": {"ready": r.instances_ready, "declared": r.instances_declared},
            "live_share": {"declared": r.live_declared, "observed": r.live_observed},
            "mirror_share": {"declared": r.mirror_declared, "observed": r.mirror_observed},
            "requests": figures_entry(r.live),
            "mirror_copies": figures_entry(r.mirror),
        } for r in status.deployments],
    }
