"""Mirror: a share of live requests is copied to the mirror target, whose answers are dropped;
a slow or down mirror target neither slows nor fails live requests."""

from __future__ import annotations

import json
import re
import statistics
import time

from tests.dataplane.harness import (
    SCORE_BODY,
    Client,
    Router,
    failures,
    hammer,
    wait_for,
)

LIVE = 2000
SLOW_COPY_MS = 1000


def body_with_sleep(ms: int) -> bytes:
    """Live blue (score.py) ignores ``sleep_ms``; the probe script sleeps that long."""
    return json.dumps({**json.loads(SCORE_BODY), "sleep_ms": ms}).encode()


def mirror_log_lines(nginx: Router, status: int = 200) -> int:
    text = nginx.access_log.read_text()
    return len(re.findall(rf'"status":{status},[^\n]*"via":"mirror"', text))


def settle(count, timeout: float = 10.0, quiet: float = 0.3) -> int:
    """Poll ``count()`` until it stops changing for ``quiet`` seconds (copies are async)."""
    last, since = count(), time.monotonic()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = count()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
    return last


def sequential(port: int, n: int, body: bytes) -> list[float]:
    client = Client(port)
    seconds = []
    for _ in range(n):
        result = client.request(body=body)
        assert result.status == 200 and result.deployment == "blue", result
        seconds.append(result.seconds)
    client.close()
    return seconds


def test_mirror_copies_ten_percent_of_live_requests(fleet, router) -> None:
    nginx = router(
        backends=(
            fleet.backend("blue"),
            fleet.backend("green", max_concurrent_requests_per_instance=4),
        ),
        traffic=(("blue", 100), ("green", 0)),
        mirror=(("green", 10),),
    )
    before = fleet.offsets("green")
    results = hammer(nginx.port, LIVE, threads=4)

    assert failures(results, expect="blue") == [], "the client only ever sees blue's answers"
    copies = settle(lambda: fleet.scored_since("green", before))
    share = 100 * copies / LIVE
    print(f"mirror 10%: green scored {copies} copies of {LIVE} live requests ({share:.2f}%)")
    assert 7.5 <= share <= 12.5
    assert settle(lambda: mirror_log_lines(nginx)) == copies, "router log and green agree"


def test_slow_mirror_target_does_not_delay_live_requests(fleet, router) -> None:
    backends = (
        fleet.backend("blue"),
        fleet.backend("slow", max_concurrent_requests_per_instance=2),
    )
    body = body_with_sleep(SLOW_COPY_MS)
    plain = router(backends=backends, traffic=(("blue", 100), ("slow", 0)))
    baseline = sequential(plain.port, 60, body)
    plain.stop()

    before = fleet.offsets("slow")
    nginx = router(backends=backends, traffic=(("blue", 100), ("slow", 0)), mirror=(("slow", 50),))
    mirrored = sequential(nginx.port, 60, body)

    print(
        f"live median {statistics.median(baseline) * 1000:.1f} ms without mirror, "
        f"{statistics.median(mirrored) * 1000:.1f} ms with a {SLOW_COPY_MS} ms mirror; "
        f"max {max(mirrored) * 1000:.1f} ms"
    )
    assert max(mirrored) < SLOW_COPY_MS / 2000, "no live request waited for a slow copy"
    assert statistics.median(mirrored) <= 1.5 * statistics.median(baseline) + 0.002
    # The copies did reach the slow target (and slept there).
    wait_for(lambda: fleet.scored_since("slow", before) >= 1, SLOW_COPY_MS / 1000 + 5, "a copy")


def test_down_mirror_target_does_not_fail_live_requests(fleet, router) -> None:
    nginx = router(
        backends=(fleet.backend("blue"), fleet.backend("ghost")),
        traffic=(("blue", 100), ("ghost", 0)),
        mirror=(("ghost", 50),),
    )
    results = hammer(nginx.port, 400, threads=4)
    seconds = sequential(nginx.port, 60, SCORE_BODY)

    assert failures(results, expect="blue") == []
    assert max(seconds) < 0.5
    wait_for(
        lambda: "connect() failed" in nginx.error_log.read_text(), 5, "the copies' failed connects"
    )


def test_nginx_mirror_without_relay_holds_the_keepalive_connection(fleet, router) -> None:
    """Why the relay exists: with ``mirror`` pointing straight at a slow target, nginx 1.22 only
    reads the client's next keep-alive request after the copy ended. If this ever stops holding,
    the relay in mlplan/router/nginx.py can go."""
    nginx = router(
        backends=(
            fleet.backend("blue"),
            fleet.backend("slow", max_concurrent_requests_per_instance=4),
        ),
        traffic=(("blue", 100), ("slow", 0)),
        mirror=(("slow", 50),),
    )
    routing = nginx.dir / "routing.conf"
    naive = routing.read_text().replace(
        "proxy_pass http://mlplan_mirror_relay$request_uri;",
        "proxy_pass http://mlplan_slow$request_uri;",
    )
    naive = naive.replace(
        "proxy_read_timeout 1000ms;\n        proxy_next_upstream off;",
        "proxy_read_timeout 5000ms;\n        proxy_next_upstream off;",
    )
    assert naive != routing.read_text()
    routing.write_text(naive)
    nginx.reload()

    copy_ms, client, seconds = 500, Client(nginx.port), []
    for _ in range(24):  # half the requests are copied; the one after a copy must wait
        result = client.request(body=body_with_sleep(copy_ms))
        assert result.status == 200 and result.deployment == "blue"
        seconds.append(result.seconds)
        if result.seconds >= 0.8 * copy_ms / 1000:
            break
    print(f"naive mirror: live request {len(seconds)} waited {seconds[-1] * 1000:.0f} ms")
    assert seconds[-1] >= 0.8 * copy_ms / 1000, "nginx no longer holds keep-alive connections"
