"""Zero failed requests while one batch of instances is down and back, and while the split
changes by rewriting routing.conf and ``nginx -s reload``."""

from __future__ import annotations

import math
import signal
import time
from collections import Counter
from dataclasses import replace

import pytest

from tests.dataplane.harness import (
    Stream,
    chi_square_p,
    failures,
    port_open,
    wait_for,
)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["graceful stop", "crash"])
def test_one_batch_down_and_back_drops_no_request(fleet, router, sig: int) -> None:
    blue = fleet.instances["blue"]
    batch = blue[: math.ceil(0.2 * len(blue))]  # rolling-update batch: 1 of 5
    nginx = router(backends=(fleet.backend("blue"),), traffic=(("blue", 100),))
    offsets = [i.log_size() for i in batch]
    try:
        with Stream(nginx.port, threads=4) as stream:
            stream.wait_count(300)
            assert all(i.scored_since(o) > 0 for i, o in zip(batch, offsets, strict=True))
            for instance in batch:
                instance.stop(sig)
            wait_for(lambda: not any(port_open(i.port) for i in batch), 10, "the batch down")
            stream.wait_count(400)
            for instance in batch:
                instance.start()
            for instance in batch:
                instance.wait_ready()
            stream.wait_count(300)
    finally:
        for instance in batch:  # leave the session fleet whole even if the test failed
            if instance.proc is None or not instance.proc.alive():
                instance.start()
                instance.wait_ready()

    results = stream.results
    print(f"{len(results)} requests, stale keep-alive retries {stream.stale_retries}")
    assert failures(results, expect="blue") == []
    down = [i.address for i in batch]
    errors = nginx.error_log.read_text()
    assert any(address in errors for address in down), "requests did meet the stopped batch"


def test_split_change_by_reload_drops_no_request(fleet, router) -> None:
    backends = (
        fleet.backend("blue"),
        fleet.backend("green", max_concurrent_requests_per_instance=2),
    )
    splits = [(90, 10), (50, 50), (90, 10), (50, 50)]
    nginx = router(workers=2, backends=backends, traffic=(("blue", 90), ("green", 10)))
    phases: list[tuple[float, float]] = []  # (start, end) of each split's steady period
    with Stream(nginx.port, threads=2) as kept, Stream(nginx.port, 2, keep_alive=False) as fresh:
        start = time.perf_counter()
        for index in range(len(splits)):
            kept.wait_count(250)
            fresh.wait_count(150)
            phases.append((start, time.perf_counter()))
            if index + 1 < len(splits):
                blue, green = splits[index + 1]
                traffic = (("blue", blue), ("green", green))
                nginx.apply(replace(nginx.config, traffic=traffic))  # rewrite + nginx -s reload
                start = time.perf_counter()

    results = kept.results + fresh.results
    print(
        f"{len(results)} requests over {len(splits) - 1} reloads; "
        f"stale keep-alive retries {kept.stale_retries}"
    )
    assert failures(results) == []
    for (blue, green), (begin, end) in zip(splits, phases, strict=True):
        steady = [r for r in results if begin <= r.started and r.started + r.seconds <= end]
        observed = Counter(r.deployment for r in steady)
        p = chi_square_p(observed, {"blue": blue / 100, "green": green / 100})
        assert len(steady) >= 300 and p > 0.001, f"{blue}/{green}: {dict(observed)} p={p:.2e}"
