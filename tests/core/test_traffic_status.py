"""``mlplan status``'s report: declared vs observed shares, instances, figures per deployment,
the router's own answers, and the rendering (no key, one JSON document)."""

from __future__ import annotations

import argparse
import json
from textwrap import dedent

import pytest

from mlplan.domain.settings import Settings
from mlplan.domain.spec import SourceText, parse
from mlplan.edge.pipeline import planned
from mlplan.edge.status_cli import duration
from mlplan.planning.state import EndpointState
from mlplan.planning.traffic_status import ROUTER_ROW, endpoint_status
from mlplan.render import status as render
from mlplan.render.document import render_json
from mlplan.router.access_log import Request

ENDPOINT = "name: ep\nauth_mode: key\ntraffic: {blue: 90, green: 10}\n" \
           "mirror_traffic: {green: 0}\n"
MIRRORED = "name: ep\nauth_mode: key\ntraffic: {blue: 100, green: 0}\n" \
           "mirror_traffic: {green: 20}\n"
DEPLOYMENT = dedent("""\
    name: {name}
    endpoint_name: ep
    instance_type: Standard_DS3_v2
    instance_count: {count}
    environment: {{image: "x.io/i:1"}}
    """)


def endpoint_state(text: str = ENDPOINT) -> EndpointState:
    sources = [SourceText("e.yml", text), SourceText("b.yml", DEPLOYMENT.format(name="blue",
                                                                                count=3)),
               SourceText("g.yml", DEPLOYMENT.format(name="green", count=2))]
    result = parse(sources)
    (state,) = planned(result.endpoints, Settings(), result.diagnostics).endpoints
    return state


def many(deployment: str, count: int, status: int = 200, via: str = "split",
         ms: float = 10.0, probe: bool = False) -> list[Request]:
    return [Request(deployment, status, ms, probe, via) for _ in range(count)]


def test_declared_beside_observed() -> None:
    requests = [*many("blue", 891), *many("green", 95), *many("green", 5, 500),
                *many("green", 20, via="header", probe=True), *many("", 7, 401, via="router")]
    report = endpoint_status(endpoint_state(), [("blue", True)] * 3 + [("green", True),
                                                                       ("green", False)],
                             requests, 300.0)
    rows = {r.name: r for r in report.deployments}
    assert list(rows) == ["blue", "green", ROUTER_ROW]
    assert report.requests == 1018
    blue, green, router = rows["blue"], rows["green"], rows[ROUTER_ROW]
    assert (blue.instances_ready, blue.instances_declared) == (3, 3)
    assert (green.instances_ready, green.instances_declared) == (1, 2)
    assert (blue.live_declared, blue.live_observed) == (90, 89.9)  # 891 of 991
    assert (green.live_declared, green.live_observed) == (10, 10.1)  # 100 of 991
    assert (green.live.requests, green.live.real, green.live.failures) == (120, 100, 5)
    assert green.live.success_rate == pytest.approx(100 * 115 / 120)
    assert router.live.caller_errors == 7 and router.instances_declared is None


def test_mirror_copies_are_their_own_share() -> None:
    requests = [*many("blue", 100), *many("green", 19, via="mirror"),
                *many("green", 1, 502, via="mirror")]
    report = endpoint_status(endpoint_state(MIRRORED), None, requests, 60.0)
    green = next(r for r in report.deployments if r.name == "green")
    assert (green.mirror_declared, green.mirror_observed) == (20, 20.0)
    assert green.live.requests == 0 and green.live_observed == 0.0
    assert (green.mirror.requests, green.mirror.failures) == (20, 1)
    assert green.instances_ready is None  # instances not listed


def test_nothing_logged_shows_dashes() -> None:
    report = endpoint_status(endpoint_state(), [], [], 300.0)
    text = render.render_text(report, "dev")
    assert "90% / -" in text and "0 requests in the last 300 s" in text
    assert all(r.live_observed is None for r in report.deployments)


def test_a_deployment_only_the_router_knows_is_listed() -> None:
    """Requests logged for a deployment no longer declared (a retired one still draining)."""
    report = endpoint_status(endpoint_state(), [], many("red", 3), 300.0)
    red = next(r for r in report.deployments if r.name == "red")
    assert red.instances_declared is None and red.live.requests == 3


def test_json_is_one_document_with_every_figure() -> None:
    report = endpoint_status(endpoint_state(), [("blue", True)],
                             [*many("blue", 9), *many("green", 1, 408, ms=1000.0)], 300.0)
    doc = json.loads(render_json(render.document(report, "dev")))
    green = next(d for d in doc["deployments"] if d["name"] == "green")
    assert green["live_share"] == {"declared": 10, "observed": 10.0}
    assert green["requests"]["statuses"] == {"408": 1}
    assert green["requests"]["failures"] == 1 and green["requests"]["p99_ms"] == 1000.0
    assert green["instances"] == {"ready": 0, "declared": 2}


DURATIONS = [("90", 90.0), ("90s", 90.0), ("5m", 300.0), ("1.5h", 5400.0), ("1d", 86400.0)]


@pytest.mark.parametrize(("text", "seconds"), DURATIONS, ids=[d[0] for d in DURATIONS])
def test_duration(text: str, seconds: float) -> None:
    assert duration(text) == seconds


@pytest.mark.parametrize("text", ["0", "5 minutes", "-5m", "8d", "", "1e3"])
def test_duration_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        duration(text)
