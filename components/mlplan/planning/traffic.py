"""Traffic rules of an endpoint, Azure's semantics.

- Live ``traffic`` percentages sum to exactly 0 (endpoint disabled) or 100, and name only
  declared deployments. Example: blue 90 + green 10 = 100 is valid; blue 90 + green 20 is not.
- ``mirror_traffic`` names at most one deployment, at most 50%, and that deployment has 0% live
  traffic (a deployment gets live OR mirrored traffic, never both); mirroring copies live-split
  requests, so it needs some live traffic to copy.
- A field reported as invalid (``endpoint.skipped``) and deployments whose files were reported
  unusable (``endpoint.unusable_deployments``) are not judged again: no "sum is 90" after
  ``traffic.green: 110`` was reported, no "add its deployment file" for a file with errors.
- The ``azureml-model-deployment`` header reaches any declared deployment whatever its weight;
  such requests are never mirrored (a router concern, not a rule here).
"""

from __future__ import annotations

from mlplan.domain import codes
from mlplan.domain.diagnostics import Diagnostic, error, warning
from mlplan.domain.model import Endpoint, skips
from mlplan.domain.names import MAX_MIRROR_PERCENT


def check(endpoint: Endpoint) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    declared = {d.name for d in endpoint.deployments}
    src = endpoint.source
    listed = ", ".join(sorted(declared)) or "none"
    declared |= endpoint.unusable_deployments
    anyone = "*" in endpoint.unusable_deployments  # a file without a usable name
    live_known = not skips(endpoint.skipped, "traffic")
    for name, _percent in endpoint.traffic:
        if name not in declared and not anyone:
            found.append(error(codes.TRAFFIC_UNKNOWN_DEPLOYMENT, src.at(f"traffic.{name}"),
                               f"traffic names deployment '{name}', which endpoint "
                               f"'{endpoint.name}' does not declare (deployments: {listed}); "
                               "remove it or add its deployment file."))
    total = sum(p for _n, p in endpoint.traffic)
    if total not in (0, 100) and live_known:
        split = " + ".join(f"{n} {p}" for n, p in endpoint.traffic)
        found.append(error(codes.TRAFFIC_SUM, src.at("traffic"),
                           f"live traffic sums to {total} ({split}); it must be 100 (or 0 to "
                           "disable the endpoint). Adjust the percentages."))
    mirrors = [(n, p) for n, p in endpoint.mirror_traffic if p > 0]
    if len(mirrors) > 1:
        names = ", ".join(n for n, _p in mirrors)
        found.append(error(codes.MIRROR_SINGLE, src.at("mirror_traffic"),
                           f"mirror_traffic names {len(mirrors)} deployments ({names}); Azure "
                           "mirrors to one deployment at a time. Keep one."))
    live = endpoint.traffic_map
    for name, percent in endpoint.mirror_traffic:
        where = src.at(f"mirror_traffic.{name}")
        if name not in declared and not anyone:
            found.append(error(codes.MIRROR_UNKNOWN_DEPLOYMENT, where,
                               f"mirror_traffic names deployment '{name}', which endpoint "
                               f"'{endpoint.name}' does not declare (deployments: {listed})."))
        if percent > MAX_MIRROR_PERCENT:
            found.append(error(codes.MIRROR_PERCENT, where,
                               f"mirror_traffic {name} is {percent}%; the most is "
                               f"{MAX_MIRROR_PERCENT}%. Lower it."))
        if percent > 0 and live.get(name, 0) > 0:
            found.append(error(codes.MIRROR_LIVE, where,
                               f"'{name}' gets {live[name]}% live traffic and {percent}% mirrored; "
                               "a deployment gets live or mirrored traffic, not both. Set its "
                               "live traffic to 0 or remove the mirror."))
    if mirrors and total == 0 and live_known:
        found.append(warning(codes.NO_LIVE_DEPLOYMENT, src.at("mirror_traffic"),
                             "mirror_traffic is set but no deployment gets live traffic, so "
                             "nothing is mirrored; route live traffic or remove the mirror."))
    return found
