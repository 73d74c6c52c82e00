"""The Docker healthcheck never builds a shell command from the readiness path (issue 27 item
8): exec form, the URL one argument of a fixed script. Run here for real, as Docker runs a
``CMD`` test (argv, no shell around it), against nothing listening and against a server
answering the path; and probe paths and ports are checked in the spec."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from textwrap import dedent

import pytest

from mlplan.domain import codes
from mlplan.domain.spec import SourceText, parse
from mlplan.targets.docker.plan import healthcheck
from tests.core.test_spec import BLUE, ENDPOINT

#: paths that broke the shell form: `&` backgrounded curl, `;` ended it, `'` never closed
PATHS = ["/ready?a=1&b=2", "/x;true;#", "/it's", "/$(touch${IFS}/tmp/mlplan-pwned)", "/"]


class _State:
    def __init__(self, path: str) -> None:
        self.path = path


def _deployment(path: str, timeout: int = 2) -> object:
    class Probe:
        pass

    probe = Probe()
    probe.timeout, probe.period, probe.initial_delay, probe.failure_threshold = timeout, 10, 10, 3  # type: ignore[attr-defined]

    class Dep:
        readiness_probe = probe

    class State:
        deployment = Dep

    return State


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server() -> Iterator[tuple[int, list[str]]]:
    """An HTTP server on 127.0.0.1 answering 200, recording the raw paths it was asked."""
    asked: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1], asked
    httpd.shutdown()


def _run(test: tuple[str, ...], path_env: str | None = None) -> int:
    assert test[0] == "CMD"  # exec form: Docker runs the rest as argv
    env = dict(os.environ)
    if path_env is not None:
        env["PATH"] = path_env
    return subprocess.run(list(test[1:]), capture_output=True, check=False, timeout=30,
                          env=env).returncode


def _python_only(tmp_path: Path) -> str:
    """A PATH holding sh and python3 only: the script's last fallback."""
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "python3").symlink_to(os.path.realpath(sys.executable))
    return f"{folder}:/bin-none"


@pytest.mark.parametrize("tool", ["curl-or-wget", "python3"])
@pytest.mark.parametrize("path", PATHS)
def test_nothing_listening_fails_whatever_the_path(path: str, tool: str, tmp_path: Path
                                                   ) -> None:
    check = healthcheck(_deployment(path), _free_port(), path)  # type: ignore[arg-type]
    env = _python_only(tmp_path) if tool == "python3" else None
    assert _run(check.test, env) != 0
    assert not Path("/tmp/mlplan-pwned").exists()


@pytest.mark.parametrize("tool", ["curl-or-wget", "python3"])
@pytest.mark.parametrize("path", PATHS)
def test_a_server_answering_the_path_passes(path: str, tool: str, tmp_path: Path,
                                            server: tuple[int, list[str]]) -> None:
    port, asked = server
    check = healthcheck(_deployment(path), port, path)  # type: ignore[arg-type]
    env = _python_only(tmp_path) if tool == "python3" else None
    assert _run(check.test, env) == 0
    assert asked == [path.split("#")[0]]  # the whole path, one request ("#" is a fragment)
    assert not Path("/tmp/mlplan-pwned").exists()


def _with_route(route: str) -> str:
    return BLUE.replace(
        "  image: mcr.microsoft.com/azureml/minimal-ubuntu22.04-py39-cpu-inference:20250101.v1\n",
        "  image: mcr.microsoft.com/azureml/minimal-ubuntu22.04-py39-cpu-inference:20250101.v1\n"
        "  inference_config:\n"
        "    liveness_route: {path: /live, port: 5001}\n"
        f"    readiness_route: {route}\n"
        "    scoring_route: {path: /score, port: 5001}\n")


ROUTES = [
    ("port out of range", "{path: /ready, port: 99999}", "readiness_route.port",
     "must be <= 65535"),
    ("port zero", "{path: /ready, port: 0}", "readiness_route.port", "must be >= 1"),
    ("path with a space", "{path: '/ready now', port: 5001}", "readiness_route.path",
     "is not a route path"),
    ("path without a leading slash", "{path: ready, port: 5001}", "readiness_route.path",
     "is not a route path"),
    ("path with a quote", "{path: '/a\"b', port: 5001}", "readiness_route.path",
     "is not a route path"),
    ("path with a fragment", "{path: '/x;true;#', port: 5001}", "readiness_route.path",
     "is not a route path"),
]


@pytest.mark.parametrize(("route", "field", "message"), [r[1:] for r in ROUTES],
                         ids=[r[0] for r in ROUTES])
def test_probe_routes_are_checked(route: str, field: str, message: str) -> None:
    result = parse([SourceText("d/endpoint.yml", ENDPOINT),
                    SourceText("d/blue.yml", _with_route(route))])
    found = [(d.code, d.location.line, d.location.field, d.message) for d in result.diagnostics]
    assert [(c, line, f) for c, line, f, _m in found] == [
        (codes.INVALID_VALUE, 13, f"environment.inference_config.{field}")], found
    assert message in found[0][3]


@pytest.mark.parametrize("path", ["/ready?a=1&b=2", "/it's", "/x;y=1"])
def test_unusual_but_valid_paths_are_accepted(path: str) -> None:
    route = "{path: " + repr(path).replace('"', "'") + ", port: 5001}"
    result = parse([SourceText("d/endpoint.yml", ENDPOINT),
                    SourceText("d/blue.yml", _with_route(dedent(route)))])
    assert result.diagnostics == () or all(d.code != codes.INVALID_VALUE
                                           for d in result.diagnostics), result.diagnostics
