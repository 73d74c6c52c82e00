"""Gate judgement: status classes, figures, absolute and relative thresholds, thin traffic, and
the router's log lines read back."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlplan.planning.gates import (
    Outcome,
    Thresholds,
    figures,
    judge,
    percentile,
    probe_outcome,
    summarize,
    user_outcome,
)
from mlplan.router.access_log import Request, parse_line, requests_between

STATUSES = [
    # status, a user's request, mlplan's probe
    (200, "success", "success"),
    (201, "success", "success"),
    (204, "success", "success"),
    (304, "failure", "failure"),
    (400, "caller_error", "failure"),
    (401, "caller_error", "failure"),  # wrong key: the caller's; for a probe, a broken key
    (404, "caller_error", "failure"),  # unknown deployment: the probe's pin is wrong
    (413, "caller_error", "failure"),
    (408, "failure", "failure"),  # the router's upstream timeout
    (429, "failure", "failure"),
    (499, "failure", "failure"),  # reset / closed before the answer
    (500, "failure", "failure"),
    (502, "failure", "failure"),
    (503, "failure", "failure"),
    (504, "failure", "failure"),
    (0, "failure", "failure"),  # no answer at all
]


@pytest.mark.parametrize(("status", "user", "probe"), STATUSES,
                         ids=[str(s[0]) for s in STATUSES])
def test_status_classes(status: int, user: str, probe: str) -> None:
    assert user_outcome(status) == Outcome(user)
    assert probe_outcome(status) == Outcome(probe)


def requests(deployment: str, count: int, status: int = 200, ms: float = 10.0,
             probe: bool = False, via: str = "split") -> list[Request]:
    return [Request(deployment, status, ms, probe, via) for _ in range(count)]


def test_figures_count_caller_errors_apart_and_rank_latency() -> None:
    window = [*requests("g", 97), *requests("g", 3, 500, 900.0), *requests("g", 5, 401, 1.0),
              *requests("g", 1, 200, 2000.0, probe=True)]
    got = figures(window)
    assert (got.requests, got.real, got.judged, got.successes, got.failures,
            got.caller_errors) == (106, 105, 101, 98, 3, 5)
    assert got.success_rate == pytest.approx(100 * 98 / 101)
    assert (got.p50_ms, got.p95_ms, got.p99_ms) == (10.0, 10.0, 900.0)
    assert got.statuses == ((200, 98), (401, 5), (500, 3))


@pytest.mark.parametrize(("values", "percent", "expected"), [
    ([], 99, None), ([5.0], 50, 5.0), ([10, 20, 30, 40], 50, 20), ([10, 20, 30, 40], 99, 40),
    (list(range(1, 101)), 99, 99), (list(range(1, 101)), 95, 95),
], ids=["empty", "one", "median of four", "p99 of four", "p99 of 100", "p95 of 100"])
def test_percentile_is_nearest_rank(values: list[float], percent: float,
                                    expected: float | None) -> None:
    assert percentile([float(v) for v in values], percent) == expected


def test_summarize_keeps_mirror_copies_and_router_answers_apart() -> None:
    window = [*requests("blue", 4), *requests("green", 2, via="header"),
              *requests("green", 3, via="mirror"), *requests("", 2, 401, via="router")]
    assert {n: f.requests for n, f in summarize(window).items()} == {"blue": 4, "green": 2}
    assert {n: f.requests for n, f in summarize(window, via=("mirror",)).items()} == {
        "green": 3}


T = Thresholds()
VERDICTS = [
    # name, candidate requests, stable requests, thresholds, failed metrics
    ("healthy candidate", requests("g", 200), requests("b", 1800), T, []),
    ("5% failures", [*requests("g", 190), *requests("g", 10, 500)], requests("b", 1800), T,
     ["success_rate", "success_rate_vs_stable"]),
    ("408s are failures", [*requests("g", 190), *requests("g", 10, 408, 1000.0)],
     requests("b", 1800), T, ["success_rate", "p99_ms", "success_rate_vs_stable",
                              "p99_ms_vs_stable"]),
    ("caller 4xx count neither way", [*requests("g", 150), *requests("g", 50, 400)],
     requests("b", 1800), T, []),
    ("thin traffic", requests("g", 40), requests("b", 400), T, ["requests"]),
    ("thin traffic, caller errors do not fill it", [*requests("g", 60), *requests("g", 60, 401)],
     requests("b", 400), T, ["requests"]),
    ("slow candidate: 2 s", requests("g", 200, ms=2010.0), requests("b", 1800), T,
     ["p99_ms", "p99_ms_vs_stable"]),
    ("slower than stable but under the absolute limit",
     requests("g", 200, ms=300.0), requests("b", 1800, ms=100.0), T, ["p99_ms_vs_stable"]),
    ("fast both ways: the 50 ms slack", requests("g", 200, ms=40.0), requests("b", 1800, ms=5.0),
     T, []),
    ("relative only: stable perfect, candidate 1.5 points worse",
     [*requests("g", 985), *requests("g", 15, 503)], requests("b", 1000),
     Thresholds(min_success_rate=98.0), ["success_rate_vs_stable"]),
    ("stable as bad as the candidate: relative passes, absolute fails",
     [*requests("g", 95), *requests("g", 5, 500)], [*requests("b", 95), *requests("b", 5, 500)],
     T, ["success_rate"]),
    ("no stable traffic (100% step): absolute only", requests("g", 200), [], T, []),
    ("failing only on pinned probes", [*requests("g", 50), *requests("g", 50, 401, probe=True)],
     requests("b", 450), T, ["success_rate", "success_rate_vs_stable"]),
]


@pytest.mark.parametrize(("name", "candidate", "stable", "thresholds", "failed"), VERDICTS,
                         ids=[v[0] for v in VERDICTS])
def test_judge(name: str, candidate: list[Request], stable: list[Request],
               thresholds: Thresholds, failed: list[str]) -> None:
    verdict = judge(figures(candidate), figures(stable) if stable else None, thresholds)
    assert [c.metric for c in verdict.failed] == failed
    assert verdict.ok is (not failed)
    for check in verdict.checks:  # every check says its value and threshold
        assert f"needs {'>=' if check.metric.startswith(('success', 'requests')) else '<='} " \
               f"{check.threshold:g}" in check.describe()


def test_relative_checks_name_the_stable_figures() -> None:
    verdict = judge(figures(requests("g", 200, ms=300.0)), figures(requests("b", 200, ms=100.0)),
                    T)
    (p99,) = (c for c in verdict.checks if c.metric == "p99_ms_vs_stable")
    assert p99.describe() == ("p99_ms_vs_stable 300, needs <= 150 (stable 100 ms x 1.5, at "
                              "least + 50): FAILED")


LINE = {"time": "2026-12-06T04:00:00+00:00", "remote": "172.18.0.1", "method": "POST",
        "uri": "/score", "status": 502, "bytes": 10, "request_time": 0.25,
        "deployment": "green", "via": "split", "upstream": "10.0.0.2:5001, 10.0.0.3:5001",
        "upstream_status": "502, 502", "upstream_time": "0.1, 0.1", "request_id": "abc",
        "msec": 1765000000.5, "probe": ""}
LINES = [
    ("a retried request", json.dumps(LINE), (1765000000.5, "green", 502, 250.0, False, "split",
                                             "502, 502")),
    ("a probe", json.dumps({**LINE, "probe": "1", "via": "header", "status": 200}),
     (1765000000.5, "green", 200, 250.0, True, "header", "502, 502")),
    ("answered by the router itself", json.dumps({**LINE, "deployment": "", "via": "",
                                                  "status": 401}),
     (1765000000.5, "", 401, 250.0, False, "router", "502, 502")),
    ("an nginx notice", "2026/12/06 04:00:00 [notice] 1#1: signal process started", None),
    ("a cut line", json.dumps(LINE)[:40], None),
    ("no time", json.dumps({k: v for k, v in LINE.items() if k != "msec"}), None),
]


@pytest.mark.parametrize(("name", "line", "expected"), LINES, ids=[x[0] for x in LINES])
def test_parse_line(name: str, line: str, expected: tuple[object, ...] | None) -> None:
    got = parse_line(line)
    if expected is None:
        assert got is None
        return
    assert got is not None
    r = got.request
    assert (got.at, r.deployment, r.status, r.milliseconds, r.probe, r.via,
            got.upstream_status) == expected


def test_requests_between_is_half_open() -> None:
    lines = [json.dumps({**LINE, "msec": t}) for t in (9.99, 10.0, 10.5, 11.0)]
    assert len(requests_between(lines, 10.0, 11.0)) == 2


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                 max_size=3), max_leaves=8)
FIELDS = st.fixed_dictionaries({}, optional={k: JSON_VALUES for k in (
    "msec", "status", "request_time", "deployment", "via", "probe", "upstream_status")})


@settings(max_examples=300, deadline=None)
@given(record=FIELDS, noise=st.text(max_size=80))
def test_parse_line_never_raises(record: dict[str, object], noise: str) -> None:
    """Any line (a hostile URI is escaped by nginx, but a cut or garbled line must not stop a
    gate): a LoggedRequest or None, never an exception."""
    for line in (json.dumps(record), noise, "{" + noise):
        got = parse_line(line)
        assert got is None or isinstance(got.request.status, int)
