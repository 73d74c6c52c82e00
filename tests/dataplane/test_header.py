"""Header override: ``azureml-model-deployment`` picks a deployment at any weight, is never
mirrored, and an unknown name is a clear 404."""

from __future__ import annotations

import time

from tests.dataplane.harness import Client, failures, hammer
from tests.dataplane.test_mirror import mirror_log_lines, settle

HEADER = "azureml-model-deployment"


def test_header_reaches_zero_weight_deployment_and_is_never_mirrored(fleet, router) -> None:
    nginx = router(
        backends=(
            fleet.backend("blue"),
            fleet.backend("green", max_concurrent_requests_per_instance=4),
        ),
        traffic=(("blue", 100), ("green", 0)),
        mirror=(("green", 10),),
    )
    before = fleet.offsets("green")
    to_green = hammer(nginx.port, 300, threads=4, headers={HEADER: "green"})
    to_blue = hammer(nginx.port, 300, threads=4, headers={HEADER: "blue"})
    time.sleep(0.3)  # a copy, had there been one, would have landed by now

    assert failures(to_green, expect="green") == []
    assert failures(to_blue, expect="blue") == []
    assert all(r.headers.get(HEADER) == "green" for r in to_green)
    assert settle(lambda: fleet.scored_since("green", before)) == 300, "no copies of any"
    assert mirror_log_lines(nginx) == 0

    # Contrast: the same endpoint does mirror requests that go through the split.
    split = hammer(nginx.port, 300, threads=4)
    assert failures(split, expect="blue") == []
    assert settle(lambda: fleet.scored_since("green", before)) > 300


def test_unknown_deployment_header_is_404_listing_deployments(fleet, router) -> None:
    nginx = router(
        backends=(fleet.backend("blue"), fleet.backend("green")),
        traffic=(("blue", 100), ("green", 0)),
    )
    result = Client(nginx.port).request(headers={HEADER: "purple"})

    assert result.status == 404
    assert result.headers["content-type"] == "application/json"
    error = result.json()["error"]
    assert error["code"] == "DeploymentNotFound"
    assert "Deployments: blue, green." in error["message"]


def test_no_positive_weight_is_404_unless_a_header_names_a_deployment(fleet, router) -> None:
    nginx = router(
        backends=(fleet.backend("blue"), fleet.backend("green")),
        traffic=(("blue", 0), ("green", 0)),
    )
    client = Client(nginx.port)
    plain = client.request()
    named = client.request(headers={HEADER: "blue"})

    assert plain.status == 404
    assert plain.json()["error"]["message"] == (
        "The endpoint doesn't have any valid deployment with positive weight"
    )
    assert named.status == 200 and named.deployment == "blue"
