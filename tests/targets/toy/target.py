"""A toy target, the whole of what a new runtime gives the planner (``planning.port.Target``):
it surges like Kubernetes, names a roll's batches ``slot <i>``, changes a health check in place
and refuses an endpoint named ``forbidden`` (its own stack check, MLP118)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlplan.domain import codes
from mlplan.domain.diagnostics import Diagnostic, error
from mlplan.domain.settings import Settings
from mlplan.planning.port import Effect, Target


def _batch_names(_endpoint: str, _deployment: str, indexes: Sequence[int],
                 _settings: Settings) -> tuple[str, ...]:
    return tuple(f"slot {i}" for i in indexes)


def _stack_checks(state: Any, _read: Any) -> list[Diagnostic]:
    return [error(codes.KUBERNETES_NAME_CONFLICT, e.endpoint.source.at("name"),
                  "the toy runtime refuses this name; rename the endpoint.")
            for e in state.endpoints if e.name == "forbidden"]


TOY = Target(
    name="toy",
    surges=lambda exempt: not exempt,
    batch_names=_batch_names,
    roll_reasons=lambda rolled, _surge, _n: [f"toy roll ({rolled})"],
    facts_from_resources=lambda _resources: [],
    field_effects={"readiness_probe": (Effect.IN_PLACE, "toy health check")},
    stack_checks=_stack_checks,
    resources="tests.targets.toy.resources",
)
