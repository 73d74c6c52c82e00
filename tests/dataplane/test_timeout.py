"""Request timeout -> 408 (Azure's status), never retried; overload -> 429."""

from __future__ import annotations

import threading
from collections import Counter

from tests.dataplane.harness import Client, Result, wait_for
from tests.dataplane.test_mirror import body_with_sleep

TIMEOUT_MS = 300


def test_scoring_slower_than_request_timeout_is_408_and_not_retried(fleet, router) -> None:
    nginx = router(
        backends=(fleet.backend("slow", request_timeout_ms=TIMEOUT_MS),),
        traffic=(("slow", 100),),
    )
    client = Client(nginx.port)
    before = fleet.offsets("slow")
    slow = client.request(body=body_with_sleep(3 * TIMEOUT_MS))

    assert slow.status == 408
    assert slow.json()["error"]["code"] == "RequestTimeout"
    assert slow.headers["azureml-model-deployment"] == "slow"
    assert TIMEOUT_MS / 1000 <= slow.seconds < 2 * TIMEOUT_MS / 1000
    # Only the one instance that timed out scored it: a read timeout is not retried elsewhere.
    wait_for(lambda: fleet.scored_since("slow", before) >= 1, 5, "the slow call to finish")
    assert fleet.scored_since("slow", before) == 1

    fast = client.request(body=body_with_sleep(TIMEOUT_MS // 3))
    assert fast.status == 200 and fast.json()["slept_ms"] == TIMEOUT_MS // 3


def test_more_than_twice_capacity_in_flight_is_429(fleet, router) -> None:
    # slow: 2 instances x max_concurrent 1 -> at most 2 * 1 * 2 = 4 requests in flight.
    nginx = router(
        backends=(fleet.backend("slow", request_timeout_ms=5000),),
        traffic=(("slow", 100),),
    )
    results: list[Result] = []
    lock = threading.Lock()
    gate = threading.Barrier(8)

    def one() -> None:
        client = Client(nginx.port)
        gate.wait(5)
        result = client.request(body=body_with_sleep(400))
        with lock:
            results.append(result)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    statuses = Counter(r.status for r in results)
    assert set(statuses) == {200, 429}, statuses
    assert statuses[200] >= 4 and statuses[429] >= 2, statuses
    rejected = next(r for r in results if r.status == 429)
    assert rejected.json()["error"]["code"] == "TooManyRequests"
    assert rejected.seconds < 0.2, "rejected at once, not queued"
