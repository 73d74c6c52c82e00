"""observe.py: counts of a watched rollout (pure, no cluster)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine.kube.observe import Event, pod_timeline, rs_sequence


def pod(uid: str, ready: bool = True, terminating: bool = False,
        image: str = "v1") -> dict[str, Any]:
    meta: dict[str, Any] = {"uid": uid, "name": f"p-{uid}"}
    if terminating:
        meta["deletionTimestamp"] = "2026-12-01T00:00:00Z"
    return {"metadata": meta, "spec": {"containers": [{"image": image}], "nodeName": "cpu-0"},
            "status": {"conditions": [{"type": "Ready", "status": str(ready)}]}}


def events(*steps: tuple[str, dict[str, Any]]) -> list[Event]:
    """Listed objects at t=0 (as Recorder lists them), then one event per second."""
    return [(0.0 if kind == "LISTED" else float(i + 1), kind, obj)
            for i, (kind, obj) in enumerate(steps)]


SCENARIOS = [
    ("surge: new pod first, then the old one goes",
     events(("ADDED", pod("a")), ("ADDED", pod("b", ready=False, image="v2")),
            ("MODIFIED", pod("b", image="v2")), ("MODIFIED", pod("a", terminating=True)),
            ("DELETED", pod("a", terminating=True))),
     [(1, 1), (2, 1), (2, 2), (1, 1)], 2, 2, 1, {"v2": 1}),
    ("delete first: one fewer ready, never more pods",
     events(("LISTED", pod("a")), ("LISTED", pod("b")), ("MODIFIED", pod("a", terminating=True)),
            ("ADDED", pod("c", ready=False, image="v2")), ("MODIFIED", pod("c", image="v2")),
            ("DELETED", pod("a", terminating=True))),
     [(2, 2), (1, 1), (2, 1), (2, 2)], 2, 3, 1, {"v1": 1, "v2": 1}),
    ("the listing is one state: its pods are not counted one by one",
     events(*(("LISTED", pod(u)) for u in "abc"), ("ADDED", pod("d", ready=False))),
     [(3, 3), (4, 3)], 4, 4, 3, {"v1": 4}),
]


@pytest.mark.parametrize(("name", "seen", "sequence", "peak", "present", "fewest", "images"),
                         SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_pod_timeline(name: str, seen: list[Event], sequence: list[tuple[int, int]], peak: int,
                      present: int, fewest: int, images: dict[str, int]) -> None:
    line = pod_timeline(seen)
    assert line.sequence == sequence
    assert (line.peak_pods, line.peak_present, line.min_ready) == (peak, present, fewest)
    assert line.images == images


def test_rs_sequence_orders_by_creation() -> None:
    def rs(uid: str, created: str, replicas: int) -> dict[str, Any]:
        return {"metadata": {"uid": uid, "name": uid, "creationTimestamp": created},
                "spec": {"replicas": replicas}}

    seq = rs_sequence(events(("ADDED", rs("old", "2026-01-01T00:00:00Z", 10)),
                             ("ADDED", rs("new", "2026-01-02T00:00:00Z", 2)),
                             ("MODIFIED", rs("old", "2026-01-01T00:00:00Z", 8)),
                             ("MODIFIED", rs("old", "2026-01-01T00:00:00Z", 8))))
    assert seq == [(10,), (10, 2), (8, 2)]
