"""Rolling-update arithmetic, Azure's rule: replace 20% of the instances at a time.

All functions are integer-exact. Note the float trap this avoids: ``math.ceil(1.2 * 10)`` is 13
because ``1.2 * 10 == 12.000000000000002``; here ``reserved_instances(10) == 12``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


def batch_size(instances: int) -> int:
    """Instances replaced at a time: ``ceil(0.2 * N)``, at least 1.

    Examples: 1 -> 1, 5 -> 1, 6 -> 2, 10 -> 2, 11 -> 3, 50 -> 10.
    """
    return max(1, (instances + 4) // 5)


def batch_count(instances: int) -> int:
    """Number of batches: ``ceil(N / batch_size)``. Examples: 10 -> 5, 11 -> 4, 3 -> 3."""
    if instances <= 0:
        return 0
    size = batch_size(instances)
    return (instances + size - 1) // size


def peak_instances(instances: int) -> int:
    """Most instances alive during a roll: ``N + batch_size`` == ``ceil(1.2 * N)``.

    One batch of new instances surges before the old batch goes, so peak == the 20% quota
    reservation. Examples: 10 -> 12, 3 -> 4, 1 -> 2.
    """
    return instances + batch_size(instances) if instances > 0 else 0


def batches(instances: int) -> tuple[tuple[int, ...], ...]:
    """Instance indices per batch, in order. Example: 5 -> ((0,), (1,), (2,), (3,), (4,));
    11 -> ((0, 1, 2), (3, 4, 5), (6, 7, 8), (9, 10))."""
    size = batch_size(instances)
    return tuple(
        tuple(range(start, min(start + size, instances))) for start in range(0, instances, size)
    )


@dataclass(frozen=True)
class RolloutSchedule:
    """The in-place update schedule of one deployment, in the words every output uses.

    ``surge``: one batch of new instances runs beside the old ones (Kubernetes ``maxSurge
    20%``; Docker's surge batch): peak ``N + batch``, all N serving. Without (SKUs exempt from
    the surge quota: a batch is deleted first): peak N, at least ``N - batch`` serving.
    Example: 3 surging -> ``3 instances: 3 batches of 1, peak 4, at least 3 serving``; exempt ->
    ``3 instances: 3 batches of 1, peak 3, at least 2 serving``.
    """

    instances: int
    batch_size: int
    batch_count: int
    peak_instances: int
    min_serving: int = 0
    surge: bool = True

    @classmethod
    def of(cls, instances: int, surge: bool = True) -> RolloutSchedule:
        size = batch_size(instances)
        peak = peak_instances(instances) if surge else instances
        serving = instances if surge else max(0, instances - size)
        return cls(instances, size, batch_count(instances), peak, serving, surge)

    def describe(self) -> str:
        """``10 instances: 5 batches of 2, peak 12, at least 10 serving``."""
        noun = "instance" if self.instances == 1 else "instances"
        return f"{self.instances} {noun}: {self.summary()}"

    def summary(self) -> str:
        """``5 batches of 2, peak 12, at least 10 serving`` (the plan's column)."""
        batch_noun = "batch" if self.batch_count == 1 else "batches"
        return (f"{self.batch_count} {batch_noun} of {self.batch_size}, "
                f"peak {self.peak_instances}, at least {self.min_serving} serving")


StepKind = Literal["scale", "roll"]


@dataclass(frozen=True)
class UpdateStep:
    kind: StepKind
    from_instances: int
    to_instances: int
    schedule: RolloutSchedule | None = None


def update_steps(old_instances: int, new_instances: int, rolls: bool) -> tuple[UpdateStep, ...]:
    """Azure's order for an update: scale first, then roll the other changes at the new size.

    Example: 3 -> 10 with an image change = scale 3 -> 10, then roll 10 (5 batches of 2).
    """
    steps: list[UpdateStep] = []
    if old_instances != new_instances:
        steps.append(UpdateStep("scale", old_instances, new_instances))
    if rolls:
        steps.append(UpdateStep("roll", new_instances, new_instances,
                                RolloutSchedule.of(new_instances)))
    return tuple(steps)
