"""Plain labels stamped on every concrete resource, for people, ``kubectl -l`` and policies.

Policies cannot read component props reliably, so everything a rule needs is a label:
``mlplan.dev/endpoint``, ``mlplan.dev/deployment``, ``mlplan.dev/instance-type``,
``mlplan.dev/weight`` (live percent), plus the usual ``app.kubernetes.io/*``.
Label values must be <= 63 characters of ``[A-Za-z0-9._-]``; instance types and names are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

PREFIX = "mlplan.dev/"
ENDPOINT = PREFIX + "endpoint"
DEPLOYMENT = PREFIX + "deployment"
INSTANCE_TYPE = PREFIX + "instance-type"
WEIGHT = PREFIX + "weight"
MIRROR = PREFIX + "mirror"
INSTANCE = PREFIX + "instance"
BATCH = PREFIX + "batch"
ROLE = PREFIX + "role"  # router | instance | config
TRAFFIC = PREFIX + "traffic"  # "blue=90,green=10" on the resource that carries the routing
AUTH_MODE = PREFIX + "auth-mode"
GPUS = PREFIX + "gpus"  # whole GPU devices per instance the instance type asks for
CPU_MILLIS = PREFIX + "cpu-millis"  # CPU of one instance, millicores (quota in policies)
IMAGE = PREFIX + "image"  # image reference as written (Docker labels only: it holds / and :)
ENVIRONMENT = PREFIX + "environment"  # mlplan:environment: development | production
MANAGED_BY = "app.kubernetes.io/managed-by"


def endpoint_labels(endpoint: str, role: str) -> dict[str, str]:
    """Labels of an endpoint-level resource (network, router, keys).

    Example: ``endpoint_labels("my-endpoint", "router")`` -> ``{"mlplan.dev/endpoint":
    "my-endpoint", "mlplan.dev/role": "router", "app.kubernetes.io/name": "my-endpoint",
    "app.kubernetes.io/component": "router", "app.kubernetes.io/managed-by": "mlplan"}``.
    """
    return {
        ENDPOINT: endpoint,
        ROLE: role,
        "app.kubernetes.io/name": endpoint,
        "app.kubernetes.io/component": role,
        MANAGED_BY: "mlplan",
    }


def docker_labels(endpoint: str, role: str) -> dict[str, str]:
    """Labels of a Docker instance or config container: the ``mlplan.dev`` names alone.

    Docker has no ``app.kubernetes.io`` conventions, and ``name``/``component``/``instance``
    there only repeat ``mlplan.dev/endpoint``/``role``/``deployment``; every label is a set
    element the Docker provider checks and plans for each container on every preview (about
    a fifth of the preview's cost at 20 endpoints, benchmarks/preview_scale.py). The router,
    network and volume keep ``endpoint_labels``: a label change replaces a Docker resource, and
    replacing those would stop the endpoint (instances and the config container are replaced
    without a gap: batch by batch, and on every traffic change).
    Example: ``docker_labels("my-endpoint", "instance")`` -> ``{"mlplan.dev/endpoint":
    "my-endpoint", "mlplan.dev/role": "instance", "app.kubernetes.io/managed-by": "mlplan"}``.
    """
    return {ENDPOINT: endpoint, ROLE: role, MANAGED_BY: "mlplan"}


def deployment_labels(
    endpoint: str, deployment: str, instance_type: str, weight: int, mirror: int = 0
) -> dict[str, str]:
    """Labels of a deployment-level resource; ``weight``/``mirror`` are live/mirror percents."""
    labels = endpoint_labels(endpoint, "instance")
    labels.update({
        DEPLOYMENT: deployment,
        INSTANCE_TYPE: instance_type,
        WEIGHT: str(weight),
        MIRROR: str(mirror),
        "app.kubernetes.io/instance": f"{endpoint}-{deployment}",
    })
    return labels


_SPLIT_PART = re.compile(r"([A-Za-z][-A-Za-z0-9]*)=(\d+)")


def format_split(split: Iterable[tuple[str, int]], empty: str = "none") -> str:
    """A split as one label or tag value: ``(("blue", 90), ("green", 10))`` ->
    ``blue=90,green=10``; nothing -> ``none`` (``empty``)."""
    return ",".join(f"{name}={percent}" for name, percent in split) or empty


def parse_split(text: str) -> tuple[tuple[str, int], ...]:
    """The inverse of ``format_split``: ``blue=90,green=10`` -> ``(("blue", 90), ("green",
    10))``; ``none`` or ``""`` -> ``()``; parts that are not ``name=percent`` are skipped."""
    return tuple((name, int(percent)) for name, percent in _SPLIT_PART.findall(text))
