"""Slow clients cannot hold the router (issue 27 item 6): half-sent headers and bodies are cut
after ``CLIENT_TIMEOUT_S`` (not nginx's 60 s), and while hundreds of them are open the router
still answers ``/-/healthy`` and scores."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from mlplan.router.nginx import CLIENT_TIMEOUT_S
from tests.dataplane.harness import Client

HALF_OPEN = 300


@contextmanager
def half_sent(port: int, count: int, data: bytes) -> Iterator[list[socket.socket]]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(data)
            sockets.append(sock)
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def _closed_after(sock: socket.socket, limit: float) -> float:
    """Seconds until the router closes ``sock`` (reads until EOF), at most ``limit``."""
    started = time.monotonic()
    sock.settimeout(limit)
    try:
        while sock.recv(4096):
            pass
    except (TimeoutError, ConnectionResetError):
        pass
    return time.monotonic() - started


# name, what each slow client sends, whether scoring answers while they hang: a request
# whose body is still arriving holds one of the deployment's in-flight places (nginx counts
# it from the end of the header), so half-sent bodies make it answer 429 until they are cut
HALVES = [
    ("half a header", b"POST /score HTTP/1.1\r\nHost: x\r\nX-Slow: ", 200),
    ("a header and half a body",
     b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"a\": ", 429),
]


@pytest.mark.parametrize(("data", "meanwhile"), [h[1:] for h in HALVES],
                         ids=[h[0] for h in HALVES])
def test_half_sent_requests_are_cut_and_never_starve_the_router(fleet, router, data: bytes,
                                                                meanwhile: int) -> None:
    nginx = router(backends=(fleet.backend("blue"),), traffic=(("blue", 100),))
    client = Client(nginx.port)
    started = time.monotonic()
    with half_sent(nginx.port, HALF_OPEN, data) as sockets:
        healthy = client.request(path="/-/healthy", method="GET", body=None)
        assert healthy.status == 200
        assert client.request().status == meanwhile
        for sock in sockets:
            _closed_after(sock, CLIENT_TIMEOUT_S + 20)
    total = time.monotonic() - started
    assert total < CLIENT_TIMEOUT_S + 10, f"closed after {total:.1f} s, not ~{CLIENT_TIMEOUT_S}"
    assert client.request().status == 200  # and once they are cut, scoring is back
