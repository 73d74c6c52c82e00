"""Asking the Docker host (mlplan.targets.docker.host) over a real unix socket."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlplan.targets.docker import host as docker_host
from mlplan.targets.docker.containers import DockerHost


def serve_once(path: Path, response: bytes) -> threading.Thread:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)

    def answer() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(65536)
            if response:
                conn.sendall(response)
        server.close()

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    return thread


def http_ok(body: object) -> bytes:
    data = json.dumps(body).encode()
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(data)).encode() + b"\r\nConnection: close\r\n\r\n" + data)


@pytest.fixture
def sock(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "docker.sock"


ANSWERS = [
    ("a daemon's /info", http_ok({"NCPU": 2, "MemTotal": 25_769_803_776}),
     DockerHost(cpus=2, memory_mib=24576)),
    ("an error status", b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n", None),
    ("not JSON", b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", None),
    ("fields missing", http_ok({"NCPU": 2}), None),
    ("nonsense numbers", http_ok({"NCPU": 0, "MemTotal": 1}), None),
]


@pytest.mark.parametrize(("name", "response", "expected"), ANSWERS, ids=[a[0] for a in ANSWERS])
def test_ask(name: str, response: bytes, expected: DockerHost | None, sock: Path) -> None:
    thread = serve_once(sock, response)
    assert docker_host.ask(f"unix://{sock}") == expected
    thread.join(5)


def test_a_host_that_never_answers_is_unknown_within_the_timeout(sock: Path) -> None:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(sock))
    server.listen(1)  # accepts the connection, never answers
    try:
        assert docker_host.ask(f"unix://{sock}", timeout=0.3) is None
    finally:
        server.close()


ADDRESSES = [
    ("no socket there", "unix:///nonexistent/docker.sock"),
    ("ssh is left to the provider", "ssh://user@host"),
    ("garbage", "::::"),
]


@pytest.mark.parametrize(("name", "where"), ADDRESSES, ids=[a[0] for a in ADDRESSES])
def test_unaskable_addresses_are_unknown(name: str, where: str) -> None:
    assert docker_host.ask(where, timeout=0.3) is None


def test_address_order() -> None:
    assert docker_host.address("tcp://h:1", {"DOCKER_HOST": "unix:///x"}) == "tcp://h:1"
    assert docker_host.address(None, {"DOCKER_HOST": "unix:///x"}) == "unix:///x"
    assert docker_host.address(None, {}) == docker_host.DEFAULT_ADDRESS
