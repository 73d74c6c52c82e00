"""A toy target, the whole of what a new runtime gives the planner (``planning.port.Target``):
it surges like Kubernetes, names a roll's batches ``slot <i>``, changes a health check in place,
refuses an endpoint named ``forbidden`` (its own stack check, MLP118) and declares its own
``mlplan:toy`` settings (``rack``), which the stack schema learns from the registry alone."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from mlplan.domain import codes
from mlplan.domain.diagnostics import Diagnostic, Location, error
from mlplan.domain.settings import Settings
from mlplan.domain.validation import Strict
from mlplan.domain.yamlsource import FieldPath
from mlplan.planning.port import Effect, Target


class ToySettings(Strict):
    """``mlplan:toy``: the toy's own keys, declared here only."""

    rack: str = "default"


def _parse_settings(raw: Mapping[str, Any], file: str, line_of: Callable[[FieldPath], int]
                    ) -> tuple[ToySettings | None, list[Diagnostic]]:
    try:
        return ToySettings.model_validate(dict(raw)), []
    except ValidationError as exc:
        return None, [error(codes.SETTINGS,
                            Location(file, line_of(tuple(str(p) for p in e["loc"])),
                                     "mlplan:toy." + ".".join(str(p) for p in e["loc"])),
                            f"{e['msg']}; the toy takes only 'rack'.")
                      for e in exc.errors()]


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
    parse_settings=_parse_settings,
    resources="tests.targets.toy.resources",
)
