"""The one checked-state pipeline of every entry point: parse (``io``) -> settings -> desired
state on the stack's target -> every diagnostic (spec, traffic, quota; then, for a stack about
to be deployed, the policy rules and the target's own checks: ``mlplan.check``).

``mlplan plan``, ``mlplan review``, ``mlplan promote`` / ``rollback``, the program and the
public component all build their state here, so they cannot disagree on what is broken.
Example: a Kubernetes stack whose model folder is over 1 MiB -> the state carries MLP119 in
each of them.

One difference, on purpose: the policy rules (MLP5xx). The offline commands run them
(``checked_state``); a Pulumi program (``edge.program``, a user's ``OnlineEndpoint``) does not
(``program_state``): there they are the policy pack's (``policies/``, CrossGuard), which checks
the registered resources with the pack's own configuration (enforcement levels, a disabled
policy, ``minInstances``) that the program cannot see. Refusing in the program would fail the
preview before the pack reports, and would enforce the defaults where an organisation relaxed
them. Example: 2 live instances in production -> ``mlplan plan`` fails with MLP501; ``pulumi
preview`` registers the resources and fails with the pack's ``mlplan-ha-minimum-production``
(MLP501) (``tests/test_api.py::test_a_program_leaves_the_policy_rules_to_the_pack``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from mlplan.check import with_stack_diagnostics
from mlplan.domain.diagnostics import Diagnostic, has_errors, sort_diagnostics
from mlplan.domain.model import Endpoint
from mlplan.domain.settings import Settings
from mlplan.planning.state import DesiredState, desired
from mlplan.targets import registry


def planned(endpoints: Iterable[Endpoint], settings: Settings,
            diagnostics: Iterable[Diagnostic] = ()) -> DesiredState:
    """The desired state on the target ``settings`` name, with the spec, traffic, limit and
    quota diagnostics (plain Azure ML YAML: no stack checks)."""
    return desired(endpoints, settings, diagnostics, target=registry.of(settings.target))


def checked_state(endpoints: Iterable[Endpoint], settings: Settings,
                  diagnostics: Iterable[Diagnostic] = (), root: Path | None = None
                  ) -> DesiredState:
    """``planned`` plus the stack's checks (policy, target); the target reads the project's
    files under ``root`` (None: checks that need them are left out, as for a review's base)."""
    state = planned(endpoints, settings, diagnostics)
    read = registry.project_reader(state.target, root) if root is not None else None
    return with_stack_diagnostics(state, read)


def program_state(state: DesiredState, root: Path) -> DesiredState:
    """A Pulumi program's state before it registers anything: ``state`` (``planned``) plus
    what only the target sees through its adapter (``stack_diagnostics``: the Docker host's
    size MLP123; Kubernetes names, routes and delivery MLP112/MLP117-MLP119), sorted; nothing
    added when it already has an error. No policy rule: see the module docstring."""
    if has_errors(state.diagnostics):
        return state
    found = registry.resources(state.target).stack_diagnostics(state, root)
    return replace(state, diagnostics=tuple(sort_diagnostics((*state.diagnostics, *found))))
