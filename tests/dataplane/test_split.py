"""Weighted live split: the share each deployment answers matches its percent (chi-square)."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.dataplane.harness import chi_square_p, failures, hammer

REQUESTS = 2000


@pytest.mark.parametrize(("blue", "green"), [(90, 10), (50, 50)], ids=["90-10", "50-50"])
def test_live_split_matches_weights(fleet, router, blue: int, green: int) -> None:
    nginx = router(
        backends=(fleet.backend("blue"), fleet.backend("green")),
        traffic=(("blue", blue), ("green", green)),
    )
    results = hammer(nginx.port, REQUESTS, threads=4)

    assert failures(results) == []
    observed = Counter(r.deployment for r in results)
    assert set(observed) == {"blue", "green"}
    p = chi_square_p(observed, {"blue": blue / 100, "green": green / 100})
    print(f"split {blue}/{green}: observed {dict(observed)} p={p:.4f}")
    assert p > 0.001, f"observed {dict(observed)} for {blue}/{green}: p={p:.2e}"


def test_zero_weight_deployment_gets_nothing_from_the_split(fleet, router) -> None:
    nginx = router(
        backends=(fleet.backend("blue"), fleet.backend("green")),
        traffic=(("blue", 100), ("green", 0)),
    )
    before = fleet.offsets("green")
    results = hammer(nginx.port, 300, threads=4)

    assert failures(results, expect="blue") == []
    assert fleet.scored_since("green", before) == 0
