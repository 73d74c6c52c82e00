"""What a changed field does, per target: the target's ``field_effect`` and router fields
(``mlplan.targets.base``), by target name. Example: (``liveness_probe.period``, docker) ->
IN_PLACE; (..., kubernetes) -> ROLL.
"""

from __future__ import annotations

from mlplan.targets import registry
from mlplan.targets.base import Effect


def touches_router(path: str, target: str) -> bool:
    """True if the endpoint's router config changes with this deployment field on ``target``
    (``targets.base.Target.touches_router``)."""
    return registry.of(target).touches_router(path)


def classify(path: str, target: str) -> tuple[Effect, str]:
    """Effect of a changed deployment field on ``target``, and why
    (``targets.base.Target.field_effect``). Examples: (``environment.image``, docker) -> ROLL;
    (``instance_count``, any) -> SCALE; (``liveness_probe.period``, docker) -> IN_PLACE,
    (..., kubernetes) -> ROLL."""
    return registry.of(target).field_effect(path)


