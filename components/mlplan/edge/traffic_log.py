"""An endpoint's running router and instances, read where they run (edge I/O).

Docker: the Docker API of the stack's host, the one the pulumi-docker provider uses (its
``docker:host`` config in the stack file, else ``DOCKER_HOST``, else the local socket),
through the Docker SDK for Python. The router container's stdout is its per-request JSON log
(``mlplan.router.access_log``); instance containers are found by their labels. Nothing here
reads a key: the log holds no header, and no environment or config is asked for.
Kubernetes: not read yet (``request_log`` gives None: the gate judges probes only).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlplan.domain import labels
from mlplan.router.access_log import Request, requests_between

TIMEOUT_S = 10


class TrafficReadError(Exception):
    """The running endpoint could not be read; the message says where and why."""


@dataclass(frozen=True)
class Instance:
    name: str
    deployment: str
    ready: bool  # running, and healthy where it has a health check


def docker_address(root: Path, stack: str) -> str:
    """The Docker host of the stack: ``docker:host`` in ``stacks/Pulumi.<stack>.yaml``, else
    ``DOCKER_HOST``, else the local socket (``targets.docker.host.address``)."""
    from mlplan.edge import io
    from mlplan.targets.docker.host import address

    read = io.load_settings(root, stack)
    config = read.document.get("config") if isinstance(read.document, dict) else None
    host = config.get("docker:host") if isinstance(config, dict) else None
    return address(host if isinstance(host, str) else None)


class DockerEndpoint:
    """One endpoint's containers on a Docker host: the router's log and the instances."""

    def __init__(self, base_url: str, router: str, endpoint: str, prefix: str) -> None:
        import docker  # the Docker SDK for Python
        import docker.errors

        self.base_url, self.endpoint, self.prefix, self.router_name = (
            base_url, endpoint, prefix, router)
        try:
            self._client: Any = docker.DockerClient(base_url=base_url, timeout=TIMEOUT_S)
            self._router: Any = self._client.containers.get(router)
        except docker.errors.NotFound:
            raise TrafficReadError(f"no router container '{router}' on the Docker host "
                                   f"{base_url}: is the stack up?") from None
        except docker.errors.DockerException as exc:
            raise TrafficReadError(f"cannot read the Docker host {base_url}: "
                                   f"{_first_line(exc)}") from None

    def log_lines(self, since: float) -> Iterator[str]:
        """The router's stdout lines from ``since`` (epoch seconds; a second early, lines
        carry their own time)."""
        import docker.errors

        try:
            raw = self._router.logs(stdout=True, stderr=False, since=max(0, int(since) - 1))
        except docker.errors.DockerException as exc:
            raise TrafficReadError(f"cannot read the router's log on {self.base_url}: "
                                   f"{_first_line(exc)}") from None
        yield from bytes(raw).decode("utf-8", errors="replace").splitlines()

    def requests(self, since: float, until: float) -> list[Request]:
        return requests_between(self.log_lines(since), since, until)

    def instances(self) -> list[Instance]:
        """The endpoint's instance containers (this stack's prefix), by name."""
        import docker.errors

        filters = {"label": [f"{labels.ENDPOINT}={self.endpoint}", f"{labels.ROLE}=instance"]}
        try:
            found = self._client.containers.list(all=True, filters=filters)
        except docker.errors.DockerException as exc:
            raise TrafficReadError(f"cannot list containers on {self.base_url}: "
                                   f"{_first_line(exc)}") from None
        out = []
        for container in found:
            if not container.name.startswith(self.prefix):
                continue
            state = container.attrs.get("State", {})
            health = (state.get("Health") or {}).get("Status")
            ready = state.get("Running") is True and health in (None, "healthy")
            out.append(Instance(container.name,
                                container.labels.get(labels.DEPLOYMENT, ""), ready))
        return sorted(out, key=lambda i: i.name)

    def instance_log(self, name: str, tail: int) -> str:
        import docker.errors

        try:
            raw = self._client.containers.get(name).logs(stdout=True, stderr=True,
                                                         tail=tail)
        except docker.errors.DockerException as exc:
            raise TrafficReadError(f"cannot read {name}'s log on {self.base_url}: "
                                   f"{_first_line(exc)}") from None
        return bytes(raw).decode("utf-8", errors="replace")


def docker_endpoint(root: Path, stack: str, state: Any, endpoint: str) -> DockerEndpoint:
    """The endpoint's containers on the stack's Docker host (names as the Docker target
    gives them: ``<namePrefix><endpoint>-router``)."""
    prefix = state.settings.docker_settings.name_prefix
    return DockerEndpoint(docker_address(root, stack), f"{prefix}{endpoint}-router", endpoint,
                          prefix)


def request_log(root: Path, stack: str, state: Any, endpoint: str) -> DockerEndpoint | None:
    """Where ``promote --apply``'s gate reads the router's requests: the Docker router's
    log; None on Kubernetes (not read yet) or when the router cannot be read now."""
    if state.settings.target != "docker":
        return None
    try:
        return docker_endpoint(root, stack, state, endpoint)
    except TrafficReadError:
        return None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
