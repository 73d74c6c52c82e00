"""An endpoint's running router and instances, read where they run (edge I/O).

Docker: the Docker API of the stack's host, the one the pulumi-docker provider uses (its
``docker:host`` config in the stack file, else ``DOCKER_HOST``, else the local socket),
through the Docker SDK for Python. The router container's stdout is its per-request JSON log
(``mlplan.router.access_log``); instance containers are found by their labels. Nothing here
reads a key: the log holds no header, and no environment or config is asked for.
Kubernetes: the router pods' logs and the instance pods through the Kubernetes API
(``kubernetes_endpoint``), with the credentials the stack's provider uses.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
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


#: What follows an instance's name in the Docker surge batch: ``-`` and the revision.
_REVISION_SUFFIX = re.compile(r"-[0-9a-f]{8}")


def container_of_instance(instances: Sequence[Instance], base: str) -> str | None:
    """The container of the instance named ``base`` (``my-endpoint-blue-0``): that name, or in
    Docker's surge batch that name and its revision (``my-endpoint-blue-0-1a2b3c4d``). During a
    roll both may exist: a ready one first, then by name; ``my-endpoint-blue-10`` is never
    instance 1. None when the host has neither."""
    matching = [i for i in instances if i.name == base or (
        i.name.startswith(base) and _REVISION_SUFFIX.fullmatch(i.name[len(base):]))]
    return min(matching, key=lambda i: (not i.ready, i.name)).name if matching else None


def docker_address(root: Path, stack: str) -> str:
    """The Docker host of the stack: ``docker:host`` in ``stacks/Pulumi.<stack>.yaml``, else
    ``DOCKER_HOST``, else the local socket (``targets.docker.host.address``)."""
    from mlplan.edge import io
    from mlplan.targets.docker.host import address

    read = io.load_settings(root, stack)
    document = read.document.value if read.document is not None else None
    config = document.get("config") if isinstance(document, dict) else None
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

    def instance_of(self, deployment: str, index: int) -> str | None:
        """The container of instance ``index``: ``<prefix><endpoint>-<deployment>-<index>``,
        with its revision in the surge batch (``container_of_instance``)."""
        from mlplan.domain.names import instance_name

        return container_of_instance(
            [i for i in self.instances() if i.deployment == deployment],
            instance_name(self.endpoint, deployment, index, self.prefix))

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
    from mlplan.targets.docker import settings as docker_settings

    prefix = docker_settings.of(state.settings).name_prefix
    return DockerEndpoint(docker_address(root, stack), f"{prefix}{endpoint}-router", endpoint,
                          prefix)


def running_endpoint(root: Path, stack: str, state: Any,
                     endpoint: str) -> DockerEndpoint | KubernetesEndpoint:
    """The endpoint where its stack runs it: Docker containers or Kubernetes pods."""
    if state.settings.target == "kubernetes":
        return kubernetes_endpoint(root, state, endpoint)
    return docker_endpoint(root, stack, state, endpoint)


def request_log(root: Path, stack: str, state: Any,
                endpoint: str) -> DockerEndpoint | KubernetesEndpoint | None:
    """Where ``promote --apply``'s gate reads the router's requests; None when the router
    cannot be read now (the gate then judges its probes alone and says so)."""
    try:
        return running_endpoint(root, stack, state, endpoint)
    except TrafficReadError:
        return None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


class KubernetesEndpoint:
    """One endpoint's pods on a Kubernetes cluster, through the Kubernetes API with the
    credentials the stack's provider uses (``mlplan:kubernetes`` ``kubeconfig`` as a path or
    content, and ``context``; else the ambient kubeconfig or the in-cluster account): every
    router pod's log (container ``router``) and the instance pods (container ``inference``).
    ``api``: a ``CoreV1Api`` (tests hand a stand-in)."""

    def __init__(self, endpoint: str, namespace: str, api: Any, where: str) -> None:
        self.endpoint, self.namespace, self._api, self.base_url = (
            endpoint, namespace, api, where)

    def _pods(self, role: str) -> list[Any]:
        selector = f"{labels.ENDPOINT}={self.endpoint},{labels.ROLE}={role}"
        try:
            found = self._api.list_namespaced_pod(self.namespace, label_selector=selector)
        except Exception as exc:  # the client's ApiException, urllib3's errors
            raise TrafficReadError(f"cannot list {role} pods of '{self.endpoint}' in "
                                   f"namespace {self.namespace} ({self.base_url}): "
                                   f"{_first_line(exc)}") from None
        return sorted(found.items, key=lambda pod: pod.metadata.name)

    def log_lines(self, since: float) -> Iterator[str]:
        import time

        seconds = max(1, int(time.time() - since) + 1)
        for pod in self._pods("router"):
            try:
                text = self._api.read_namespaced_pod_log(
                    pod.metadata.name, self.namespace, container="router",
                    since_seconds=seconds)
            except Exception as exc:
                raise TrafficReadError(f"cannot read router pod {pod.metadata.name}'s log: "
                                       f"{_first_line(exc)}") from None
            yield from str(text).splitlines()

    def requests(self, since: float, until: float) -> list[Request]:
        return requests_between(self.log_lines(since), since, until)

    def instances(self) -> list[Instance]:
        out = []
        for pod in self._pods("instance"):
            conditions = pod.status.conditions or [] if pod.status else []
            ready = any(c.type == "Ready" and c.status == "True" for c in conditions)
            out.append(Instance(pod.metadata.name,
                                (pod.metadata.labels or {}).get(labels.DEPLOYMENT, ""), ready))
        return out

    def instance_log(self, name: str, tail: int) -> str:
        try:
            return str(self._api.read_namespaced_pod_log(name, self.namespace,
                                                         container="inference",
                                                         tail_lines=tail))
        except Exception as exc:
            raise TrafficReadError(f"cannot read pod {name}'s log: {_first_line(exc)}") \
                from None

    def instance_of(self, deployment: str, index: int) -> str | None:
        """The ``index``-th of the deployment's pods by name (their names are generated)."""
        names = [i.name for i in self.instances() if i.deployment == deployment]
        return names[index] if 0 <= index < len(names) else None


def kubernetes_endpoint(root: Path, state: Any, endpoint: str) -> KubernetesEndpoint:
    """The endpoint's pods, with the stack's kubeconfig/context or the ambient ones."""
    import kubernetes  # type: ignore[import-untyped]  # the Kubernetes Python client
    import yaml

    from mlplan.targets.kubernetes import settings as kubernetes_settings

    settings = kubernetes_settings.of(state.settings)
    config, context = settings.kubeconfig, settings.context or None
    where = f"context {context}" if context else "the current context"
    try:
        if config and "\n" in config:  # kubeconfig content, as the provider takes it
            client = kubernetes.config.new_client_from_config_dict(yaml.safe_load(config),
                                                                   context=context)
        elif config or context:
            path = str(root / config) if config and not Path(config).is_absolute() else config
            client = kubernetes.config.new_client_from_config(config_file=path or None,
                                                              context=context)
        else:
            try:
                client = kubernetes.config.new_client_from_config()
            except kubernetes.config.ConfigException:
                kubernetes.config.load_incluster_config()
                client = kubernetes.client.ApiClient()
    except (kubernetes.config.ConfigException, OSError, yaml.YAMLError) as exc:
        raise TrafficReadError(f"no Kubernetes credentials for {where}: "
                               f"{_first_line(exc)}") from None
    return KubernetesEndpoint(endpoint, settings.namespace,
                              kubernetes.client.CoreV1Api(client), where)
