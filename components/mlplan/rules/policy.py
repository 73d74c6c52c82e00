"""The facts of a desired state and its policy findings (MLP5xx), as ``mlplan plan`` reports
them; the policy pack reads the same facts from deployed resources.

Both sides first reduce what they see to ``EndpointFacts``: the plan from the desired state
(``facts_from_state``), the policy pack from the labels and inputs of deployed resources
(each target's ``facts_from_resources``, ``mlplan.targets.registry``). The same rules
(``mlplan.rules.registry``) then judge the facts, so a rule is written once.
Example: production, blue at 90% with 2 instances -> MLP501 error "blue serves 90% of live
traffic with 2 instances; production needs at least 3".
"""

from __future__ import annotations

from collections.abc import Iterable

from mlplan.domain.assets import resolve_image
from mlplan.domain.diagnostics import Diagnostic, Severity
from mlplan.domain.facts import DeploymentFacts, EndpointFacts
from mlplan.planning.state import DesiredState
from mlplan.rules.registry import DEFAULT_MIN_INSTANCES, RULES, RuleOptions, check_endpoint

#: the rules the plan adds to a desired state's own diagnostics (the others it reports itself)
POLICY_RULES = tuple(r for r in RULES if r.id.startswith("MLP5"))


def facts_from_state(state: DesiredState) -> list[EndpointFacts]:
    """The desired state as facts (what the targets will stamp on the resources)."""
    gateway = state.target.auth_by(state.settings)
    found = []
    for e in state.endpoints:
        deployments = tuple(
            DeploymentFacts(
                name=d.name, instance_type=d.size.name, instances=d.most_instances,
                image=resolve_image(d.deployment, state.settings.assets), family=d.size.family,
                cpu_millis=d.size.cpu_millis, exempt=d.size.exempt,
                gpus_expected=d.size.whole_gpus, gpus_requested=d.size.whole_gpus,
                where=d.deployment.source.at("instance_count"),
                image_where=d.deployment.source.at("environment.image"))
            for d in e.deployments)
        found.append(EndpointFacts(
            name=e.name, environment=state.settings.environment, auth_mode=e.endpoint.auth_mode,
            traffic=e.endpoint.traffic, mirror=e.endpoint.mirror_traffic,
            deployments=deployments, where=e.endpoint.source.at("name"),
            target=state.settings.target, auth_by=gateway))
    return found


def policy_diagnostics(state: DesiredState, min_instances: int = DEFAULT_MIN_INSTANCES
                       ) -> list[Diagnostic]:
    """The MLP5xx findings of a desired state (the others are already in its diagnostics)."""
    options = RuleOptions(min_instances=min_instances, limits=state.settings.limits)
    return [d for facts in facts_from_state(state)
            for d in check_endpoint(facts, options, POLICY_RULES)]


def worst(diagnostics: Iterable[Diagnostic]) -> Severity | None:
    levels = [d.severity for d in diagnostics]
    return max(levels) if levels else None
