"""What both targets' fact readers share: ``PlainResource`` (a resource as the policy pack
sees it, from ``planning.port``) grouped per deployment (``Group``) and ``endpoint_facts``
(facts from per-deployment groups). The target port itself is ``mlplan.planning.port``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mlplan.domain import labels
from mlplan.domain.catalog import DEFAULT_CATALOG
from mlplan.domain.diagnostics import Location
from mlplan.domain.facts import DeploymentFacts, EndpointFacts
from mlplan.planning.port import PlainResource


def where(resource: PlainResource) -> Location:
    return Location("", 0, resource.urn or resource.name)


@dataclass
class Group:
    """The resources of one deployment as a reader found them."""

    first: PlainResource
    found: dict[str, str]
    count: int = 0
    gpus_requested: int = 0
    readiness: bool = True
    liveness: bool = True


def _deployment_facts(name: str, group: Group) -> DeploymentFacts:
    found = group.found
    instance_type = found.get(labels.INSTANCE_TYPE, "")
    known = DEFAULT_CATALOG.get(instance_type)
    cpu = found.get(labels.CPU_MILLIS, "")
    gpus = found.get(labels.GPUS, "")
    return DeploymentFacts(
        name=name, instance_type=instance_type, instances=group.count,
        image=found.get(labels.IMAGE, ""),
        family=known.family if known else "custom",
        cpu_millis=int(cpu) if cpu.isdigit() else (known.cpu_millis if known else 0),
        exempt=known.exempt if known else False,
        gpus_expected=int(gpus) if gpus.isdigit() else (known.whole_gpus if known else 0),
        gpus_requested=group.gpus_requested,
        has_readiness=group.readiness, has_liveness=group.liveness,
        where=where(group.first),
    )


def endpoint_facts(endpoints: Mapping[str, tuple[PlainResource, dict[str, str]]],
                   groups: Mapping[tuple[str, str], Group], target: str,
                   auth_by: Mapping[str, str] | None = None) -> list[EndpointFacts]:
    """Facts per endpoint from its routing carrier (labels merged with annotations) and its
    deployments' groups."""
    result: list[EndpointFacts] = []
    for endpoint in sorted({e for e, _d in groups} | set(endpoints)):
        config, found = endpoints.get(endpoint, (None, {}))
        deployments = tuple(_deployment_facts(d, groups[(e, d)])
                            for e, d in sorted(groups) if e == endpoint)
        result.append(EndpointFacts(
            name=endpoint,
            environment=found.get(labels.ENVIRONMENT, "development"),
            auth_mode=found.get(labels.AUTH_MODE, "key" if config else "none"),
            traffic=labels.parse_split(found.get(labels.TRAFFIC, "")),
            mirror=labels.parse_split(found.get(labels.MIRROR, "")),
            deployments=deployments,
            where=where(config) if config else Location("", 0, endpoint),
            target=target,
            auth_by=(auth_by or {}).get(endpoint, ""),
        ))
    return result
