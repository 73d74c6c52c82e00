"""The one checked-state pipeline of every entry point: parse (``io``) -> settings -> desired
state on the stack's target -> every diagnostic (spec, traffic, quota; then, for a stack about
to be deployed, the policy rules and the target's own checks: ``mlplan.check``).

``mlplan plan``, ``mlplan review``, ``mlplan promote`` / ``rollback``, the program and the
public component all build their state here, so they cannot disagree on what is broken.
Example: a Kubernetes stack whose model folder is over 1 MiB -> the state carries MLP119 in
each of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from mlplan.check import with_stack_diagnostics
from mlplan.domain.diagnostics import Diagnostic
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
