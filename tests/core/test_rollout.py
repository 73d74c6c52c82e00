"""Rolling-update arithmetic: batch = ceil(0.2 N) (min 1), peak = N + batch = ceil(1.2 N)."""

from fractions import Fraction
from math import ceil

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlplan.planning.rollout import (
    RolloutSchedule,
    batch_count,
    batch_size,
    batches,
    peak_instances,
    update_steps,
)
from mlplan.targets import registry

SCENARIOS = [
    # name, instances, batch size, batches, peak with surge, serving when a batch goes first
    ("single instance", 1, 1, 1, 2, 0),
    ("three instances (HA minimum)", 3, 1, 3, 4, 2),
    ("five instances: exactly 20% is one", 5, 1, 5, 6, 4),
    ("six instances round the batch up", 6, 2, 3, 8, 4),
    ("ten instances: Azure's 2 at a time", 10, 2, 5, 12, 8),
    ("eleven instances: last batch is short", 11, 3, 4, 14, 8),
    ("fifty instances: Azure's maximum", 50, 10, 5, 60, 40),
]


@pytest.mark.parametrize(("name", "n", "size", "count", "peak", "serving"), SCENARIOS,
                         ids=[s[0] for s in SCENARIOS])
def test_schedule(name: str, n: int, size: int, count: int, peak: int, serving: int) -> None:
    # Kubernetes surges one batch: peak N + batch, all N serving
    assert RolloutSchedule.of(n) == RolloutSchedule(n, size, count, peak, n, True)
    # Docker (and Kubernetes exempt SKUs) take a batch out first: peak N, N - batch serving
    assert RolloutSchedule.of(n, surge=False) == RolloutSchedule(n, size, count, n, serving,
                                                                 False)


def test_describe_reads_the_same_in_plan_and_review() -> None:
    assert (RolloutSchedule.of(10).describe()
            == "10 instances: 5 batches of 2, peak 12, at least 10 serving")
    assert (RolloutSchedule.of(3, surge=False).describe()
            == "3 instances: 3 batches of 1, peak 3, at least 2 serving")
    assert (RolloutSchedule.of(1).describe()
            == "1 instance: 1 batch of 1, peak 2, at least 1 serving")


SURGES = [
    # name, target, exempt, surges
    ("kubernetes surges one batch", "kubernetes", False, True),
    ("exempt SKU on kubernetes: no surge quota", "kubernetes", True, False),
    ("docker surges one batch (its surge batch)", "docker", False, True),
    ("exempt SKU on docker: delete-first", "docker", True, False),
]


@pytest.mark.parametrize(("name", "target", "exempt", "expected"), SURGES,
                         ids=[s[0] for s in SURGES])
def test_surges(name: str, target: str, exempt: bool, expected: bool) -> None:
    assert registry.of(target).surges(exempt) is expected


BATCH_SCENARIOS = [
    ("one", 1, ((0,),)),
    ("five singles", 5, ((0,), (1,), (2,), (3,), (4,))),
    ("eleven in threes", 11, ((0, 1, 2), (3, 4, 5), (6, 7, 8), (9, 10))),
]


@pytest.mark.parametrize(("name", "n", "expected"), BATCH_SCENARIOS,
                         ids=[s[0] for s in BATCH_SCENARIOS])
def test_batches(name: str, n: int, expected: tuple[tuple[int, ...], ...]) -> None:
    assert batches(n) == expected


STEP_SCENARIOS = [
    ("image change only: one roll", 10, 10, True, [("roll", 10, 10)]),
    ("scale only: no roll", 3, 10, False, [("scale", 3, 10)]),
    ("scale with image change: scale first, then roll at the new size", 3, 10, True,
     [("scale", 3, 10), ("roll", 10, 10)]),
    ("nothing changes", 4, 4, False, []),
]


@pytest.mark.parametrize(("name", "old", "new", "rolls", "expected"), STEP_SCENARIOS,
                         ids=[s[0] for s in STEP_SCENARIOS])
def test_update_steps(name: str, old: int, new: int, rolls: bool,
                      expected: list[tuple[str, int, int]]) -> None:
    steps = update_steps(old, new, rolls)
    assert [(s.kind, s.from_instances, s.to_instances) for s in steps] == expected
    for step in steps:
        if step.kind == "roll":
            assert step.schedule == RolloutSchedule.of(new)


@given(st.integers(min_value=1, max_value=10_000))
def test_invariants(n: int) -> None:
    size = batch_size(n)
    assert size == max(1, ceil(Fraction(n, 5)))
    assert peak_instances(n) == ceil(Fraction(6 * n, 5)) == n + size
    assert batch_count(n) == len(batches(n))
    flat = [i for batch in batches(n) for i in batch]
    assert flat == list(range(n))  # every instance exactly once, in order
    assert all(len(b) <= size for b in batches(n))  # never more than one batch out at a time
