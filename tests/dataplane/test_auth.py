"""Key auth: bearer primary or secondary key passes, anything else is 401; keys never reach a
log file nor the instance."""

from __future__ import annotations

import secrets

import pytest

from tests.dataplane.harness import Client, hammer


@pytest.fixture()
def keyed(fleet, router):
    primary, secondary = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    nginx = router(
        backends=(fleet.backend("blue"), fleet.backend("slow"), fleet.backend("ghost")),
        traffic=(("blue", 100), ("slow", 0), ("ghost", 0)),
        keys=(primary, secondary),
    )
    return nginx, primary, secondary


CASES = [
    ("missing", None, 401),
    ("wrong key", "Bearer {wrong}", 401),
    ("primary", "Bearer {primary}", 200),
    ("secondary", "Bearer {secondary}", 200),
    ("scheme is case-insensitive", "bearer {primary}", 200),
    ("key is case-sensitive", "Bearer {primary_swapped}", 401),
    ("key prefix", "Bearer {primary_prefix}", 401),
    ("key with suffix", "Bearer {primary}x", 401),
    ("basic scheme", "Basic {primary}", 401),
    ("bare key", "{primary}", 401),
]


@pytest.mark.parametrize(
    ("name", "authorization", "status"), [pytest.param(*case, id=case[0]) for case in CASES]
)
def test_bearer_key(keyed, name: str, authorization: str | None, status: int) -> None:
    nginx, primary, secondary = keyed
    values = {
        "primary": primary,
        "secondary": secondary,
        "wrong": secrets.token_urlsafe(32),
        "primary_swapped": primary.swapcase(),
        "primary_prefix": primary[:-1],
    }
    headers = {"Authorization": authorization.format(**values)} if authorization else {}
    result = Client(nginx.port).request(headers=headers)

    assert result.status == status, name
    if status == 401:
        assert result.json()["error"]["code"] == "Unauthorized"
        assert result.headers["www-authenticate"] == "Bearer"
    else:
        assert result.deployment == "blue"


def test_routes_need_the_key_except_router_liveness(keyed) -> None:
    nginx, primary, _ = keyed
    client = Client(nginx.port)
    auth = {"Authorization": f"Bearer {primary}"}

    assert client.request("GET", "/-/healthy", None).status == 200
    for path in ("/", "/score", "/swagger.json"):
        assert client.request("GET", path, None).status == 401, path
    assert client.request("GET", "/", None, auth).body == b"Healthy"
    swagger = client.request("GET", "/swagger.json", None, auth)
    assert swagger.status == 200 and "paths" in swagger.json()


def test_keys_never_reach_logs_or_instances(keyed) -> None:
    nginx, primary, secondary = keyed
    wrong = secrets.token_urlsafe(32)
    client = Client(nginx.port)
    probe = client.request(
        headers={"Authorization": f"Bearer {primary}", "azureml-model-deployment": "slow"}
    )
    assert probe.status == 200 and probe.json()["authorization"] is False, "header stripped"

    for key in (primary, secondary, wrong):
        hammer(nginx.port, 20, threads=2, headers={"Authorization": f"Bearer {key}"})
    # Errors with request context in the error log: a deployment that is down.
    down = client.request(
        headers={"Authorization": f"Bearer {secondary}", "azureml-model-deployment": "ghost"}
    )
    # after one fresh retry (router.nginx._retry_location), still the JSON answer
    assert (down.status, down.json()["error"]["code"]) == (502, "DeploymentUnavailable")
    nginx.stop()

    logs = {p.name: p.read_text() for p in (nginx.access_log, nginx.error_log)}
    assert logs["access.log"].count('"status":200') >= 40
    assert "connect() failed" in logs["error.log"], "the error log did record request errors"
    for name, text in logs.items():
        for key in (primary, secondary, wrong):
            assert key not in text, f"a key leaked into {name}"
