"""mlplan: Azure-ML-style online endpoints on Docker or Kubernetes, planned before they move.

The Pulumi API, ``from mlplan import OnlineEndpoint, OnlineEndpointArgs, QuotaCheck,
QuotaCheckArgs``, is imported on first use (``mlplan.edge.api``): ``import mlplan`` alone, as the
``mlplan`` command does, loads no Pulumi SDK (about a second of start-up saved per command).
"""

from typing import TYPE_CHECKING, Any

from mlplan.version import __version__

__all__ = [
    "AssetsArgs",
    "DockerSettingsArgs",
    "EndpointKeysArgs",
    "GatewayRefArgs",
    "InstanceTypeArgs",
    "KubernetesSettingsArgs",
    "LimitsArgs",
    "ModelSourceArgs",
    "OnlineEndpoint",
    "OnlineEndpointArgs",
    "QuotaCheck",
    "QuotaCheckArgs",
    "QuotaFamily",
    "QuotaReportOutput",
    "TolerationArgs",
    "__version__",
]
#: the public API, defined in mlplan.edge.api
API = frozenset(__all__) - {"__version__"}

if TYPE_CHECKING:
    from mlplan.edge.api import (
        AssetsArgs,
        DockerSettingsArgs,
        EndpointKeysArgs,
        GatewayRefArgs,
        InstanceTypeArgs,
        KubernetesSettingsArgs,
        LimitsArgs,
        ModelSourceArgs,
        OnlineEndpoint,
        OnlineEndpointArgs,
        QuotaCheck,
        QuotaCheckArgs,
        QuotaFamily,
        QuotaReportOutput,
        TolerationArgs,
    )


def __getattr__(name: str) -> Any:
    if name in API:
        from mlplan.edge import api

        return getattr(api, name)
    raise AttributeError(f"module 'mlplan' has no attribute {name!r}")
