"""``mlplan promote --apply``: run the steps with ``pulumi up`` and a gate between them.

For each step: write the endpoint file, ``up`` the stack (Pulumi Automation API), then gate
(``gate``): the scoring URI must answer, then the candidate's requests during the bake window
are judged (``mlplan.planning.gates``: status classes, thresholds, defaults). The requests are
the router's own record of every request (its per-request JSON log, ``RequestLog``), so users'
real requests count; where they are fewer than ``min_requests``, probes pinned to the
candidate with the routing header top the window up, and the verdict says how many were real.
Without a readable log (``log=None``) the probes alone are judged.

A failed gate or a failed ``up`` returns ALL live traffic to the split the promotion started
from, mirror off (``roll_back``), ``up``s that, and stops with the step, the metric, its value
and its threshold. Flagger, Argo Rollouts and SageMaker guardrails do the same: the candidate
keeps no live traffic after a failure.

The bake reads the log every ``POLL_SECONDS`` and ends early once the candidate's requests
are enough and already fail a check.

Example: bake 30 s, min 100 requests; users sent green 40 requests in the window -> 60 pinned
probes follow, the 100 are judged: 2 failures -> 98% < 99% -> abort, all traffic to blue.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from mlplan.domain.names import ROUTING_HEADER
from mlplan.planning.gates import Outcome, Thresholds, Verdict, figures, judge, outcome
from mlplan.planning.promote import Promotion, PromotionStage, PromotionStep
from mlplan.router.access_log import PROBE_HEADER, Request

READY_ATTEMPTS = 20
POLL_SECONDS = 5.0  # how often the bake reads the router's log
LOG_SETTLE_SECONDS = 1.0  # before the last read: lines follow their answers by milliseconds


class StackDriver(Protocol):
    """The Automation API boundary: what ``--apply`` needs of a Pulumi stack."""

    def up(self) -> None: ...

    def outputs(self) -> Mapping[str, Any]: ...


class RequestLog(Protocol):
    """The router's record of requests: those it finished at ``since <= t < until`` (epoch
    seconds)."""

    def requests(self, since: float, until: float) -> list[Request]: ...


@dataclass(frozen=True)
class GateOptions:
    bake_seconds: float = 60.0
    thresholds: Thresholds = field(default_factory=Thresholds)
    rate_per_second: float = 20.0  # probes, when topping up
    timeout: float = 5.0
    body: bytes | None = None  # a sample: POST to the scoring URI, else GET /


@dataclass(frozen=True)
class GateResult:
    ok: bool
    verdict: Verdict | None  # None: the endpoint never answered
    real: int  # the candidate's judged requests that users sent
    probes: int  # pinned probes that topped the window up
    window_seconds: float
    source: str  # "router log" or "probes only"
    reason: str


def probe_once(uri: str, key: str, timeout: float, body: bytes | None,
               pin: str | None = None) -> Request:
    """One request with the key, marked as a probe (``PROBE_HEADER``), pinned to ``pin`` with
    the routing header when given; its status (0 without an answer: timeout, refused, reset)
    and time as the client saw them."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json",
               PROBE_HEADER: "1"}
    if pin:
        headers[ROUTING_HEADER] = pin
    request = urllib.request.Request(uri, data=body, method="POST" if body else "GET",
                                     headers=headers)
    started = time.monotonic()
    status, deployment = 0, pin or ""
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            status = response.status
            deployment = response.headers.get(ROUTING_HEADER, deployment)
    except urllib.error.HTTPError as exc:
        status = exc.code
        deployment = exc.headers.get(ROUTING_HEADER, deployment) if exc.headers else deployment
    except (urllib.error.URLError, TimeoutError, OSError):
        status = 0
    return Request(deployment, status, (time.monotonic() - started) * 1000, probe=True,
                   via="header" if pin else "split")


Probe = Callable[[str, str, float, bytes | None, str | None], Request]


def gate(uri: str, key: str, candidate: str, options: GateOptions, *,
         log: RequestLog | None = None, probe: Probe = probe_once,
         clock: Callable[[], float] = time.time,
         sleep: Callable[[float], None] = time.sleep) -> GateResult:
    """Ready check, bake, top-up, verdict (module docstring). The stable side is every other
    deployment's live requests in the same window."""
    for _attempt in range(READY_ATTEMPTS):
        if 200 <= probe(uri, key, options.timeout, options.body, None).status < 300:
            break
        sleep(1.0 / options.rate_per_second)
    else:
        return GateResult(False, None, 0, 0, 0.0, "probes only",
                          f"{uri} does not answer with 2xx ({READY_ATTEMPTS} tries)")
    start = clock()
    wanted = options.thresholds.min_requests
    sent: list[Request] = []
    if log is not None:
        missing = wanted - _bake(log, candidate, options, start, clock, sleep)
    else:
        missing = wanted
    # with the log: top up at the probe rate; without: the probes spread over the bake
    pause = 1.0 / options.rate_per_second
    if log is None:
        pause = max(pause, options.bake_seconds / max(wanted, 1))
    deadline = clock() + max(options.bake_seconds, 2 * missing * pause)
    while len(sent) < missing and clock() < deadline:
        sent.append(probe(uri, key, options.timeout, options.body, candidate))
        sleep(pause)
    end = clock() + (0.001 if log is not None else 0.0)
    if log is not None:
        sleep(LOG_SETTLE_SECONDS)  # the last answers' lines reach the log just after them
        everything = log.requests(start, end)
        mine = _candidate(everything, candidate)
        others = [r for r in everything if r.deployment != candidate and r.via != "mirror"]
        source = "router log"
    else:
        mine, others, source = sent, [], "probes only"
    verdict = judge(figures(mine), figures(others) if others else None, options.thresholds)
    real = sum(not r.probe and outcome(r) is not Outcome.CALLER for r in mine)
    failed = "; ".join(c.describe() for c in verdict.failed)
    summary = (f"{verdict.candidate.judged} {candidate} requests judged ({real} real, "
               f"{verdict.candidate.judged - real} probes) in {end - start:.0f} s from the "
               f"{source}")
    return GateResult(verdict.ok, verdict, real, len(sent), round(end - start, 1), source,
                      f"{summary}: {failed}" if failed else summary)


def _bake(log: RequestLog, candidate: str, options: GateOptions, start: float,
          clock: Callable[[], float], sleep: Callable[[float], None]) -> int:
    """Watch the window for ``bake_seconds``, reading the log every ``POLL_SECONDS``; stop
    early once the candidate has ``min_requests`` judged requests that already fail a check
    (users are not left on a failing candidate for the rest of the bake). Returns the
    candidate's judged requests so far."""
    end = start + options.bake_seconds
    judged = 0
    while (now := clock()) < end:
        sleep(min(POLL_SECONDS, end - now))
        everything = log.requests(start, clock())
        mine = figures(_candidate(everything, candidate))
        judged = mine.judged
        others = [r for r in everything if r.deployment != candidate and r.via != "mirror"]
        if judged >= options.thresholds.min_requests and not judge(
                mine, figures(others) if others else None, options.thresholds).ok:
            break
    return judged


def _candidate(requests: Sequence[Request], candidate: str) -> list[Request]:
    return [r for r in requests if r.deployment == candidate]


@dataclass(frozen=True)
class ApplyResult:
    ok: bool
    completed: int  # steps applied and gated
    rolled_back: bool  # all live traffic was returned to the start split
    reason: str
    gates: tuple[tuple[PromotionStep, GateResult], ...] = ()
    failed_step: PromotionStep | None = None


def apply(
    promotion: Promotion,
    write: Callable[[PromotionStep], object],
    roll_back: Callable[[], object],
    driver: StackDriver,
    run_gate: Callable[[Mapping[str, Any], PromotionStep], GateResult],
    progress: Callable[[str], None],
) -> ApplyResult:
    """Steps in order, each ``write`` + ``up`` + gate; on a failed gate or a failed ``up``,
    ``roll_back`` writes the start split (mirror off), ``up`` again, stop."""
    total = len(promotion.steps)
    gates: list[tuple[PromotionStep, GateResult]] = []
    completed = 0
    for step in promotion.steps:
        label = f"step {step.number}/{total} {step.stage} " + ", ".join(
            f"{n} {p}%" for n, p in step.traffic)
        progress(f"{label}: pulumi up")
        try:
            write(step)
            driver.up()
        except Exception as exc:  # the engine's error, reported, then rolled back
            return _roll_back(roll_back, driver, progress, completed, tuple(gates), step,
                              f"step {step.number} ({step.stage}): pulumi up failed: {exc}")
        if step.stage is PromotionStage.RETIRE:
            progress(f"{label}: done")
            completed += 1
            continue
        progress(f"{label}: gate")
        try:
            result = run_gate(driver.outputs(), step)
        except Exception as exc:  # the gate could not judge: that is no pass
            return _roll_back(roll_back, driver, progress, completed, tuple(gates), step,
                              f"step {step.number} ({step.stage}): the gate could not run: "
                              f"{exc}")
        gates.append((step, result))
        progress(f"{label}: gate {'passed' if result.ok else 'FAILED'}: {result.reason}")
        if not result.ok:
            return _roll_back(roll_back, driver, progress, completed, tuple(gates), step,
                              f"step {step.number} ({step.stage}): gate failed: "
                              f"{result.reason}")
        completed += 1
    return ApplyResult(True, completed, False, "promoted", tuple(gates))


def _roll_back(roll_back: Callable[[], object], driver: StackDriver,
               progress: Callable[[str], None], completed: int,
               gates: tuple[tuple[PromotionStep, GateResult], ...], step: PromotionStep,
               reason: str) -> ApplyResult:
    progress("rolling back: all live traffic to the split the promotion started from, "
             "mirror off")
    try:
        roll_back()
        driver.up()
    except Exception as exc:
        return ApplyResult(False, completed, False,
                           f"{reason}; the rollback failed too: {exc}", gates, step)
    return ApplyResult(False, completed, True, reason, gates, step)
