"""Desired state -> router config: the bridge between the planner and the nginx generator.

Pure. The targets say where instances live (Docker: container names on the endpoint network;
Kubernetes: the deployment's Service) and which keys to accept; everything else (split, mirror,
timeouts, concurrency) comes from the same ``EndpointState`` the plan shows.
Only a state without errors is turned into a router config; ``RouterConfig`` validates again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from mlplan.domain.model import Deployment, Route
from mlplan.domain.names import SCORING_PATH
from mlplan.planning.state import DeploymentState, EndpointState
from mlplan.router.nginx import RouterBackend, RouterConfig

INFERENCE_PORT = 5001  # azmlinfsrv's default port, as in Azure's local endpoints


def scoring_route(deployment: Deployment) -> Route:
    """Where an instance takes scoring requests: the environment's ``inference_config``
    ``scoring_route``, else azmlinfsrv's ``/score`` on 5001. Example: TorchServe's
    ``{port: 8080, path: /predictions/densenet161}`` -> that route; no environment -> /score:5001.
    """
    env = deployment.environment
    if env is not None and env.scoring_route is not None:
        return env.scoring_route
    return Route(SCORING_PATH, INFERENCE_PORT)


def probe_route(deployment: Deployment, which: Literal["liveness", "readiness"]) -> Route:
    """HTTP GET target of a probe: the environment's ``liveness_route`` / ``readiness_route``,
    else ``/`` on the scoring port (azmlinfsrv answers ``GET /`` with ``Healthy``)."""
    env = deployment.environment
    route = None
    if env is not None:
        route = env.liveness_route if which == "liveness" else env.readiness_route
    return route or Route("/", scoring_route(deployment).port)


def router_backend(deployment: DeploymentState, instances: tuple[str, ...]) -> RouterBackend:
    """One deployment as the router reaches it: ``instances`` (``host:port``) and its request
    settings and scoring path (``router_config``)."""
    return RouterBackend(
        name=deployment.name,
        instances=instances,
        scoring_path=scoring_route(deployment.deployment).path,
        request_timeout_ms=deployment.deployment.request_settings.request_timeout_ms,
        max_concurrent_requests_per_instance=(
            deployment.deployment.request_settings.max_concurrent_requests_per_instance),
    )


def router_config(
    endpoint: EndpointState,
    addresses: Callable[[DeploymentState], tuple[str, ...]],
    keys: tuple[str, ...],
    listen_port: int,
    listen_address: str = "0.0.0.0",
) -> RouterConfig:
    """One backend per deployment with its instance addresses and request settings.

    Example: Docker, blue with 2 instances -> backend ``blue`` with
    ``("my-endpoint-blue-0:5001", "my-endpoint-blue-1:5001")``, timeout from
    ``request_settings.request_timeout_ms``; a custom container's ``scoring_route`` path is where
    its instances take the endpoint's ``/score``.
    """
    backends = tuple(router_backend(d, addresses(d)) for d in endpoint.deployments)
    return RouterConfig(
        endpoint=endpoint.name,
        listen_port=listen_port,
        listen_address=listen_address,
        backends=backends,
        traffic=tuple((n, p) for n, p in endpoint.endpoint.traffic),
        mirror=tuple((n, p) for n, p in endpoint.endpoint.mirror_traffic if p > 0),
        keys=keys,
    )
