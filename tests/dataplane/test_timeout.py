"""Request timeout -> 408 (Azure's status), never retried; overload -> 429."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter

from mlplan.router.nginx import RouterBackend
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


def test_a_connect_timeout_is_retried_once_on_a_fresh_pass(fleet, router) -> None:
    """An instance whose address takes connections nowhere (here a listener whose backlog is
    full, so the kernel drops new SYNs; on Docker: a container that has just gone, still in
    the router's DNS cache) times out while connecting: nothing was scored, so the router makes
    one fresh pass over the deployment's addresses (router.nginx: @mlplan_retry_<name>), then
    answers the usual JSON 408. A read timeout is never retried
    (test_scoring_slower_than_request_timeout_is_408_and_not_retried)."""
    with socket.socket() as blackhole:
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(0)
        port = blackhole.getsockname()[1]
        fillers = []
        for _ in range(4):  # fill the accept queue: later SYNs are dropped, never refused
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        time.sleep(0.2)
        try:
            gone = RouterBackend(name="gone", instances=(f"127.0.0.1:{port}",),
                                 request_timeout_ms=5000)
            nginx = router(backends=(gone,), traffic=(("gone", 100),))
            answer = Client(nginx.port).request()
        finally:
            for filler in fillers:
                filler.close()
    assert answer.status == 408, answer
    assert answer.json()["error"]["code"] == "RequestTimeout"
    # two connect timeouts of 1 s: the first pass and the retry, then the JSON answer
    assert 2.0 <= answer.seconds < 3.5, answer.seconds
