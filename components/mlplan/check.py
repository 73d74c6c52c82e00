"""The checks of a stack about to be deployed (not of plain Azure ML YAML): the policy rules
(MLP5xx) and what only its target sees (``planning.port.Target.stack_checks``; Kubernetes:
name conflicts MLP118, route limits MLP112, delivery MLP117/MLP119 such as a model folder over
a ConfigMap's 1 MiB).

Every entry point runs them through ``mlplan.edge.pipeline.checked_state``: ``mlplan plan
--stack``, ``mlplan review`` (the head; the base without its files), ``mlplan promote`` /
``rollback`` (the stack and every step) and the program. ``read`` is what the target's
``reader`` made for the project's files (given by the edge); without it the checks that need
file sizes are left to the program.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from mlplan.domain.diagnostics import Diagnostic, sort_diagnostics
from mlplan.planning.state import DesiredState
from mlplan.rules.policy import policy_diagnostics


def stack_diagnostics(state: DesiredState, read: Any = None) -> list[Diagnostic]:
    return [*policy_diagnostics(state), *state.target.stack_checks(state, read)]


def with_stack_diagnostics(state: DesiredState, read: Any = None) -> DesiredState:
    """``state`` with ``stack_diagnostics`` merged into its (sorted, unique) diagnostics."""
    return replace(state, diagnostics=tuple(sort_diagnostics(
        (*state.diagnostics, *stack_diagnostics(state, read)))))
