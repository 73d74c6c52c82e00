"""``mlplan status``: an endpoint's deployments as declared beside what its router saw.

Per deployment: instances ready / declared; live share declared vs observed (its requests
routed by the split over all split-routed requests); mirror share declared vs observed (its
mirror copies over all split-routed requests); its requests (split and header-pinned, real and
probes) with success rate, p50 / p95 / p99 and the status mix (``gates.figures``). Requests
the router answered before choosing a deployment (a wrong key's 401, an unknown deployment's
404) are one more row, ``(router)``.

Shares are percents with one decimal: 89 of 100 split requests -> 89.0; no split requests
-> None (printed ``-``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mlplan.planning.gates import Figures, figures, summarize
from mlplan.planning.state import EndpointState
from mlplan.router.access_log import Request

ROUTER_ROW = "(router)"


@dataclass(frozen=True)
class DeploymentStatus:
    name: str
    instances_ready: int | None  # None: not asked (no instance listing)
    instances_declared: int | None  # None: not declared (the router's own row, a leftover)
    live_declared: int
    live_observed: float | None
    mirror_declared: int
    mirror_observed: float | None
    live: Figures  # split and header-pinned requests
    mirror: Figures  # mirror copies (answers dropped)


@dataclass(frozen=True)
class EndpointStatus:
    endpoint: str
    window_seconds: float
    requests: int  # every logged request in the window, the router's own answers included
    deployments: tuple[DeploymentStatus, ...]


def _share(part: int, whole: int) -> float | None:
    """Percent with one decimal: (89, 100) -> 89.0; (1, 3) -> 33.3; (_, 0) -> None."""
    return round(100.0 * part / whole, 1) if whole else None


def endpoint_status(state: EndpointState, ready: Iterable[tuple[str, bool]] | None,
                    requests: Sequence[Request], window_seconds: float) -> EndpointStatus:
    """The status of one endpoint from its declared state, its instances (deployment, ready)
    when they could be listed, and the requests its router logged in the window."""
    endpoint = state.endpoint
    ready_by: Counter[str] = Counter()
    for deployment, is_ready in ready or ():
        ready_by[deployment] += is_ready
    live = summarize(requests)
    mirror = summarize(requests, via=("mirror",))
    split = Counter(r.deployment for r in requests if r.via == "split")
    split_total = sum(split.values())
    declared = {d.name: d.deployment.instance_count for d in state.deployments}
    names = [*declared, *sorted(n for n in {*live, *mirror} if n not in declared)]
    rows = [DeploymentStatus(
        name=name, instances_ready=None if ready is None else ready_by[name],
        instances_declared=declared.get(name),
        live_declared=endpoint.traffic_map.get(name, 0),
        live_observed=_share(split[name], split_total),
        mirror_declared=endpoint.mirror_map.get(name, 0),
        mirror_observed=_share(mirror[name].requests, split_total) if name in mirror else (
            0.0 if split_total else None),
        live=live.get(name, figures(())), mirror=mirror.get(name, figures(())))
        for name in names]
    own = [r for r in requests if r.via == "router" or not r.deployment]
    if own:
        rows.append(DeploymentStatus(ROUTER_ROW, None, None, 0, None, 0, None, figures(own),
                                     figures(())))
    return EndpointStatus(endpoint.name, window_seconds, len(requests), tuple(rows))
