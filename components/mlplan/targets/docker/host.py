"""Ask the Docker host about itself (edge I/O for the Docker target's preflight check).

The address is the one the pulumi-docker provider uses: its ``docker:host`` config, else
``DOCKER_HOST``, else the local socket. Only ``unix://`` and plain ``tcp://`` are asked (TLS and
ssh hosts are left to the provider); any failure, including no answer within
``TIMEOUT_S``, means "unknown" (None): the check is skipped and Docker's own error remains.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
from collections.abc import Mapping
from urllib.parse import urlsplit

from mlplan.targets.docker.plan import DockerHost

DEFAULT_ADDRESS = "unix:///var/run/docker.sock"
TIMEOUT_S = 3.0


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


def ask(where: str, timeout: float = TIMEOUT_S) -> DockerHost | None:
    """CPUs and memory from ``GET /info``, or None when the host cannot be asked."""
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
        connection.request("GET", "/info")
        response = connection.getresponse()
        if response.status != 200:
            return None
        info = json.loads(response.read(1 << 20))
        cpus, memory = int(info["NCPU"]), int(info["MemTotal"])
    except (OSError, ValueError, KeyError, TypeError, http.client.HTTPException):
        return None
    finally:
        connection.close()
    if cpus < 1 or memory < 1:
        return None
    return DockerHost(cpus=cpus, memory_mib=memory // (1024 * 1024))
