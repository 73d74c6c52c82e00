"""Azure's count limits as small checks shared by the plan (desired state) and the policies
(deployed resources), so both say the same thing with the same code.

Example: 21 deployments on one endpoint with the default cap 20 -> MLP112.
"""

from __future__ import annotations

from mlplan.domain import codes
from mlplan.domain.diagnostics import Diagnostic, Location, error


def deployments_per_endpoint(endpoint: str, count: int, cap: int,
                             where: Location) -> list[Diagnostic]:
    if count <= cap:
        return []
    return [error(codes.TOO_MANY_DEPLOYMENTS, where,
                  f"endpoint '{endpoint}' has {count} deployments; the limit is {cap}. Delete "
                  "retired deployments or raise mlplan:limits.deploymentsPerEndpoint.")]


def instances_per_deployment(count: int, cap: int, where: Location) -> list[Diagnostic]:
    if count <= cap:
        return []
    return [error(codes.TOO_MANY_INSTANCES, where,
                  f"{count} instances; the limit is {cap} per deployment. Lower it, add another "
                  "deployment, or raise mlplan:limits.instancesPerDeployment.")]
