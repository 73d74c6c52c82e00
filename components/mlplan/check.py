"""The checks of a stack about to be deployed (not of plain Azure ML YAML): the policy rules
(MLP5xx) and what only the chosen target sees (Kubernetes: name conflicts MLP118, route
limits, delivery MLP117/MLP119 such as a model folder over a ConfigMap's 1 MiB).

``mlplan plan --stack``, ``mlplan review`` (the head) and ``mlplan promote`` (the stack and
every step) add these to the desired state's diagnostics;
the Kubernetes program runs the same ``stack_problems`` before it registers any resource, so
what ``pulumi preview`` refuses, ``mlplan plan`` reports first. ``pack`` reads the local files
(``targets.kubernetes.files.packer``, given by the edge); without it the delivery checks that
need file sizes are left to the program.
"""

from __future__ import annotations

from dataclasses import replace

from mlplan.domain.diagnostics import Diagnostic, sort_diagnostics
from mlplan.planning.state import DesiredState
from mlplan.rules.policy import policy_diagnostics
from mlplan.targets.kubernetes.plan import Packer, name_conflicts, route_limits, stack_problems


def stack_diagnostics(state: DesiredState, pack: Packer | None = None) -> list[Diagnostic]:
    found = policy_diagnostics(state)
    if state.settings.target == "kubernetes":
        settings = state.settings.kubernetes_settings
        if pack is None:
            found.extend(name_conflicts(state, settings))
            found.extend(route_limits(state, settings))
        else:
            found.extend(stack_problems(state, settings, pack)[1])
    return found


def with_stack_diagnostics(state: DesiredState, pack: Packer | None = None) -> DesiredState:
    """``state`` with ``stack_diagnostics`` merged into its (sorted, unique) diagnostics."""
    return replace(state, diagnostics=tuple(sort_diagnostics(
        (*state.diagnostics, *stack_diagnostics(state, pack)))))
