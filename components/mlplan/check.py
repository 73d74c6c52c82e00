"""Checks that apply to a stack about to be deployed (not to plain Azure ML YAML): the policy
rules (MLP5xx) and what only the chosen target can see (Kubernetes name conflicts, MLP118).
``mlplan plan --stack`` and ``mlplan review`` add these to the desired state's diagnostics.
"""

from __future__ import annotations

from dataclasses import replace

from mlplan.domain.diagnostics import Diagnostic, sort_diagnostics
from mlplan.planning.state import DesiredState
from mlplan.rules.policy import policy_diagnostics
from mlplan.targets.kubernetes.plan import name_conflicts, route_limits
from mlplan.targets.kubernetes.settings import parse_kubernetes_settings


def stack_diagnostics(state: DesiredState) -> list[Diagnostic]:
    found = policy_diagnostics(state)
    if state.settings.target == "kubernetes":
        settings, _problems = parse_kubernetes_settings(state.settings.kubernetes)
        found.extend(name_conflicts(state, settings))
        found.extend(route_limits(state, settings))
    return found


def with_stack_diagnostics(state: DesiredState) -> DesiredState:
    """``state`` with ``stack_diagnostics`` merged into its (sorted, unique) diagnostics."""
    return replace(state, diagnostics=tuple(sort_diagnostics(
        (*state.diagnostics, *stack_diagnostics(state)))))
