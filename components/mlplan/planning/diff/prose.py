"""The sentences a review gives as reasons that do not depend on the target (the target's own
are ``Target.roll_reasons``). Example: ``traffic_reasons("blue", 90, 0)`` -> ``["blue had 90%
live traffic: traffic moves first, delete after (...)"]``.
"""

from __future__ import annotations

from collections.abc import Iterable

from mlplan.domain.names import instance_name

#: why a deleted deployment's traffic is not lost: the one wording of plan, review, preview
TRAFFIC_FIRST = "traffic moves first, delete after"


def instance_names(endpoint: str, deployment: str, indexes: Iterable[int]) -> tuple[str, ...]:
    return tuple(instance_name(endpoint, deployment, i) for i in indexes)


def span(names: tuple[str, ...]) -> str:
    return names[0] if len(names) == 1 else f"{names[0]} .. {names[-1]}"


def traffic_reasons(name: str, live: int, mirror: int) -> list[str]:
    found = []
    if live > 0:
        found.append(f"{name} had {live}% live traffic: {TRAFFIC_FIRST} "
                     "(the router is updated in this change; Pulumi runs deletes last)")
    if mirror > 0:
        found.append(f"{name} was mirrored {mirror}%: the mirror stops first, delete after")
    return found


def endpoint_why(path: str) -> str:
    if path.startswith(("traffic", "mirror_traffic")):
        return "router config reload: no restart, no dropped requests"
    if path.startswith(("description", "tags")):
        return "metadata"
    return "router setting (config reload)"
