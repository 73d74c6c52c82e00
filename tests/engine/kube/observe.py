"""What a rollout looked like, from the watch events of its pods and ReplicaSets.

After every pod event the counts are taken again:

- ``pods``: pods of the Deployment that exist and are not terminating (no
  ``deletionTimestamp``): what the Deployment controller bounds with ``maxSurge``;
- ``present``: every pod object that still exists, terminating ones included (what a
  ResourceQuota may still count while a pod terminates);
- ``ready``: pods with condition Ready=True and not terminating (what a Service routes to).

``Timeline.sequence`` is the list of distinct ``(pods, ready)`` states in order, e.g.
``[(10, 10), (12, 10), (12, 12), (10, 10), ...]``; the ReplicaSets' ``spec.replicas`` give
``rs_sequence`` (old, new) e.g. ``[(10, 0), (10, 2), (8, 2), ...]``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

Event = tuple[float, str, dict[str, Any]]


def _ready(pod: dict[str, Any]) -> bool:
    if pod["metadata"].get("deletionTimestamp"):
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in pod.get("status", {}).get("conditions", []))


@dataclass
class Timeline:
    sequence: list[tuple[int, int]] = field(default_factory=list)
    peak_pods: int = 0
    peak_present: int = 0
    min_ready: int = 0
    final_pods: int = 0
    final_ready: int = 0
    images: dict[str, int] = field(default_factory=dict)  # image -> pods at the end
    nodes: dict[str, str] = field(default_factory=dict)  # pod -> node at the end
    uids: set[str] = field(default_factory=set)  # every pod UID seen

    def describe(self) -> str:
        steps = " -> ".join(f"{p}/{r}" for p, r in self.sequence)
        return (f"pods/ready: {steps}; peak {self.peak_pods} pods ({self.peak_present} with "
                f"terminating), at least {self.min_ready} ready")


def pod_timeline(events: Iterable[Event]) -> Timeline:
    """Counts after every event. ``LISTED`` events (the state before the change) are applied
    together and give the first state; peaks and the ready minimum cover it and all later
    states."""
    live: dict[str, dict[str, Any]] = {}
    out = Timeline()
    ordered = sorted(events, key=lambda e: (e[0], e[1] != "LISTED"))
    listed = sum(1 for e in ordered if e[1] == "LISTED")
    measured = False
    for index, (_t, kind, pod) in enumerate(ordered):
        uid = pod["metadata"]["uid"]
        out.uids.add(uid)
        if kind == "DELETED":
            live.pop(uid, None)
        else:
            live[uid] = pod
        if index + 1 < listed:
            continue  # the listing is one state
        pods = sum(1 for p in live.values() if not p["metadata"].get("deletionTimestamp"))
        ready = sum(1 for p in live.values() if _ready(p))
        state = (pods, ready)
        if not out.sequence or out.sequence[-1] != state:
            out.sequence.append(state)
        out.peak_pods = max(out.peak_pods, pods)
        out.peak_present = max(out.peak_present, len(live))
        out.min_ready = min(out.min_ready, ready) if measured else ready
        measured = True
    current = [p for p in live.values() if not p["metadata"].get("deletionTimestamp")]
    out.final_pods = len(current)
    out.final_ready = sum(1 for p in current if _ready(p))
    for p in current:
        image = p["spec"]["containers"][0]["image"]
        out.images[image] = out.images.get(image, 0) + 1
        out.nodes[p["metadata"]["name"]] = p["spec"].get("nodeName", "")
    return out


def rs_sequence(events: Iterable[Event]) -> list[tuple[int, ...]]:
    """``spec.replicas`` of the ReplicaSets (oldest first) after each event, distinct states;
    the ``LISTED`` ones give the first state."""
    replicas: dict[str, tuple[str, int]] = {}
    seq: list[tuple[int, ...]] = []
    ordered = sorted(events, key=lambda e: (e[0], e[1] != "LISTED"))
    listed = sum(1 for e in ordered if e[1] == "LISTED")
    for index, (_t, kind, rs) in enumerate(ordered):
        meta = rs["metadata"]
        if kind == "DELETED":
            replicas.pop(meta["uid"], None)
        else:
            replicas[meta["uid"]] = (meta["creationTimestamp"] + meta["name"],
                                     int(rs["spec"].get("replicas", 0)))
        if index + 1 < listed:
            continue
        state = tuple(n for _k, n in sorted(replicas.values()))
        if not seq or seq[-1] != state:
            seq.append(state)
    return seq
