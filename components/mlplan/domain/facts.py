"""What the policy rules (MLP5xx) judge: an endpoint and its deployments reduced to plain facts.

Two readers give them: the plan from the desired state (``rules.policy.facts_from_state``) and
the policy pack from deployed resources (each target's ``facts_from_resources``); both give the
same facts for the same desired state. Example: three Docker containers labelled
``mlplan.dev/deployment=blue``, ``instance-type=Standard_DS3_v2`` ->
``DeploymentFacts("blue", "Standard_DS3_v2", 3, ...)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlplan.domain.diagnostics import Location


@dataclass(frozen=True)
class DeploymentFacts:
    name: str
    instance_type: str
    instances: int
    image: str
    family: str = ""
    cpu_millis: int = 0
    exempt: bool = False
    gpus_expected: int = 0  # devices the instance type needs
    gpus_requested: int = 0  # devices the resource asks the runtime for
    has_readiness: bool = True
    has_liveness: bool = True
    where: Location = field(default_factory=Location)
    # Where a finding points: not part of the facts, so two readers' facts compare equal.
    image_where: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class EndpointFacts:
    name: str
    environment: str = "development"
    auth_mode: str = "key"
    traffic: tuple[tuple[str, int], ...] = ()
    mirror: tuple[tuple[str, int], ...] = ()
    deployments: tuple[DeploymentFacts, ...] = ()
    where: Location = field(default_factory=Location)
    target: str = ""  # docker | kubernetes: Kubernetes instances also need liveness probes
    #: who checks callers when it is not mlplan's own router, e.g. "Gateway gw/shared"
    #: (routerMode gateway-api); MLP504 can then only advise
    auth_by: str = ""
