"""Ask the Docker host about itself (edge I/O for the Docker target's preflight check) and
which instance containers it already has (only those are chained for a replacement; new ones
are created in waves its CPUs can boot).

The address is the one the pulumi-docker provider uses: its ``docker:host`` config, else
``DOCKER_HOST``, else the local socket. Only ``unix://`` and plain ``tcp://`` are asked (TLS and
ssh hosts are left to the provider); any failure, including no answer within
``TIMEOUT_S``, means "unknown" (None): the check is skipped and Docker's own error remains,
and every instance is chained as if it existed.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit

from mlplan.targets.docker.containers import DockerHost

DEFAULT_ADDRESS = "unix:///var/run/docker.sock"
TIMEOUT_S = 3.0
MAX_ANSWER_BYTES = 16 << 20


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def address(configured: str | None, env: Mapping[str, str] | None = None) -> str:
    """``docker:host`` config, else ``DOCKER_HOST``, else the local socket."""
    env = os.environ if env is None else env
    return configured or env.get("DOCKER_HOST") or DEFAULT_ADDRESS


def _get_json(where: str, path: str, timeout: float) -> object | None:
    """``GET path`` on the Docker host as JSON, or None when it cannot be asked."""
    parts = urlsplit(where)
    connection: http.client.HTTPConnection
    if parts.scheme == "unix" and parts.path:
        connection = _UnixConnection(parts.path, timeout)
    elif parts.scheme == "tcp" and parts.hostname and not os.environ.get("DOCKER_TLS_VERIFY"):
        connection = http.client.HTTPConnection(parts.hostname, parts.port or 2375,
                                                timeout=timeout)
    else:
        return None
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        if response.status != 200:
            return None
        found: object = json.loads(response.read(MAX_ANSWER_BYTES))
    except (OSError, ValueError, http.client.HTTPException):
        return None
    finally:
        connection.close()
    return found


def ask(where: str, timeout: float = TIMEOUT_S) -> DockerHost | None:
    """CPUs and memory from ``GET /info``, or None when the host cannot be asked."""
    info = _get_json(where, "/info", timeout)
    try:
        cpus, memory = int(info["NCPU"]), int(info["MemTotal"])  # type: ignore[index]
    except (ValueError, KeyError, TypeError):
        return None
    if cpus < 1 or memory < 1:
        return None
    return DockerHost(cpus=cpus, memory_mib=memory // (1024 * 1024))


def containers(where: str, label: str, timeout: float = TIMEOUT_S) -> frozenset[str] | None:
    """Names of the containers on the host (running or not) that carry ``label`` (``key`` or
    ``key=value``), from ``GET /containers/json?all=1``; None when the host cannot be asked
    or answers something else than a list of containers. Example: label
    ``mlplan.dev/role=instance`` -> ``frozenset({"my-endpoint-blue-0", ...})``."""
    query = urlencode({"all": "1", "filters": json.dumps({"label": [label]})})
    found = _get_json(where, f"/containers/json?{query}", timeout)
    if not isinstance(found, list):
        return None
    names: set[str] = set()
    for entry in found:
        listed = entry.get("Names") if isinstance(entry, dict) else None
        if not isinstance(listed, list) or not all(isinstance(n, str) for n in listed):
            return None
        names.update(n.lstrip("/") for n in listed)
    return frozenset(names)
