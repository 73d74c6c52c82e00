"""Connection capacity under a container's open-files limit, and the buffered request log
(issue 29).

Docker >= 25 and containerd >= 2 start containers with RLIMIT_NOFILE soft 1024 / hard 524288
and leave it to a program that needs more to raise its own soft limit. The router does
(``worker_rlimit_nofile`` = 2 x ``worker_connections``), so one worker started under that limit
holds well over 1,000 concurrent keep-alive clients; without the directive the same worker stops
accepting at about 1,000 (``accept4() failed (24: Too many open files)``) and the rest wait.

The per-request log is written in blocks of whole lines (``buffer=4k flush=100ms``): every line
still arrives, whole, while nginx runs, with several workers writing to the same file.
"""

from __future__ import annotations

import json
import re
import resource
import selectors
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlplan.router.nginx import MAIN_FILE, NginxRuntime, RouterBackend, RouterConfig
from tests.dataplane.harness import Router, free_port, hammer, wait_for

REQUEST = b"GET /-/healthy HTTP/1.1\r\nHost: router\r\n\r\n"


def container_limit(needed: int) -> str:
    """Soft 1024, hard 524288 (this machine's hard limit if lower; raising it needs root)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"the hard open-files limit here ({hard}) is below {needed}")
    return f"1024:{524288 if hard == resource.RLIM_INFINITY else min(524288, hard)}"


class RouterWithoutFileLimit(Router):
    """The same rendered config minus ``worker_rlimit_nofile``: what the router did before."""

    def write(self, config: RouterConfig) -> None:
        super().write(config)
        main = self.dir / MAIN_FILE
        text, count = re.subn(r"^worker_rlimit_nofile \d+;\n", "", main.read_text(), flags=re.M)
        assert count == 1
        main.write_text(text)


@pytest.fixture()
def own_file_limit() -> Iterator[None]:
    """This process holds every client socket: raise its own soft limit for the test."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 8192 if hard == resource.RLIM_INFINITY else min(8192, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def answered(port: int, clients: int, timeout: float) -> int:
    """Open ``clients`` connections at once, send ``GET /-/healthy`` on each and keep them all
    open; how many got a 200 within ``timeout`` seconds."""
    selector = selectors.DefaultSelector()
    sockets = []
    ok = 0
    try:
        for _ in range(clients):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
            selector.register(sock, selectors.EVENT_WRITE, b"")
            sockets.append(sock)
        deadline = time.monotonic() + timeout
        while ok < clients and time.monotonic() < deadline:
            for key, events in selector.select(timeout=0.1):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    if events & selectors.EVENT_WRITE:
                        sock.send(REQUEST)
                        selector.modify(sock, selectors.EVENT_READ, b"")
                        continue
                    data = key.data + sock.recv(4096)
                except OSError:
                    selector.unregister(sock)  # refused or reset: never answered
                    continue
                if b"\r\n\r\n" in data:
                    ok += data.startswith(b"HTTP/1.1 200 ")
                    selector.unregister(sock)  # stays open: nginx keeps holding it
                else:
                    selector.modify(sock, selectors.EVENT_READ, data)
    finally:
        for sock in sockets:
            sock.close()
        selector.close()
    return ok


@pytest.mark.parametrize(
    ("router_class", "clients", "expect_all"),
    [
        (Router, 1500, True),
        (Router, 3000, True),
        (RouterWithoutFileLimit, 1500, False),
    ],
    ids=[
        "1,500 clients, one worker",
        "3,000 clients, one worker",
        "without worker_rlimit_nofile the worker refuses past about 1,000",
    ],
)
def test_one_worker_holds_clients_beyond_the_container_file_limit(
    tmp_path: Path, own_file_limit: None, router_class: type[Router], clients: int,
    expect_all: bool,
) -> None:
    limit = container_limit(NginxRuntime().open_files_per_worker)
    nginx = router_class(tmp_path, worker_processes=1, open_files=limit)
    nginx.start(RouterConfig(
        endpoint="my-endpoint", listen_port=free_port(), listen_address="127.0.0.1",
        backends=(RouterBackend(name="blue", instances=("127.0.0.1:9",)),),
        traffic=(("blue", 100),),
    ))
    try:
        got = answered(nginx.port, clients, timeout=10 if expect_all else 3)
    finally:
        nginx.stop()
    errors = nginx.error_log.read_text(errors="replace")
    if expect_all:
        assert got == clients, f"{clients - got} of {clients} clients got no answer:\n{errors}"
        assert "Too many open files" not in errors
    else:
        assert got < clients
        assert "accept4() failed (24: Too many open files)" in errors


@pytest.mark.parametrize(("workers", "requests"), [(1, 500), (2, 3000)],
                         ids=["one worker", "two workers writing one file"])
def test_buffered_request_log_keeps_every_line_whole(tmp_path: Path, workers: int,
                                                     requests: int) -> None:
    nginx = Router(tmp_path, worker_processes=workers)
    nginx.start(RouterConfig(
        endpoint="my-endpoint", listen_port=free_port(), listen_address="127.0.0.1",
        backends=(RouterBackend(name="blue", instances=("127.0.0.1:9",)),),
        traffic=(("blue", 100),), keys=("benchmark-primary-key-0123456789",),
    ))
    try:
        results = hammer(nginx.port, requests, threads=8)  # no key: the router answers 401
        assert {r.status for r in results} == {401}

        def lines() -> int:
            return nginx.access_log.read_bytes().count(b"\n")

        # Flushed within its interval while nginx runs (bounded wait, not a timing check).
        wait_for(lambda: lines() >= requests, 10, f"{requests} log lines")
    finally:
        nginx.stop()
    logged = [json.loads(line) for line in nginx.access_log.read_text().splitlines()]
    assert len(logged) == requests
    assert {entry["status"] for entry in logged} == {401}
