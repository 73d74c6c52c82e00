"""Gate judgement of one promotion step: which answers fail, per-deployment figures, verdict.

Status classes. A user's request: 2xx succeeds; 408 (the router's upstream timeout), 429,
5xx, 499 (connection closed before the answer: a reset or a client that gave up) and no
status at all fail; any other 4xx (400 bad input, 401 wrong key, 404 unknown deployment, ...)
is the caller's error, counted apart and neither way; 1xx/3xx fail (a scoring URI never
redirects). mlplan's own probes send the right key and a valid sample, so for them anything
but 2xx fails.

Figures (``summarize``): percentiles are nearest-rank over the judged requests (successes
and failures; caller errors excluded): p99 of 100 latencies is the 99th smallest.
Success rate = successes / judged, in percent: 297 of 300 -> 99.0.

Verdict (``judge``), every check printed with its value and threshold:
- requests: judged candidate requests (real and probes) >= ``min_requests``. The default 100
  makes a 99% threshold mean something: one failure in 100 is exactly 1 point.
- success rate >= ``min_success_rate`` (default 99) and p99 <= ``max_p99_ms`` (default 500).
- relative to the stable deployments in the same window, when they served at least
  ``min_requests`` judged requests: success rate not worse by more than
  ``max_success_drop`` points (default 1), and p99 not above ``max_p99_ratio`` (default 1.5)
  times theirs, with ``P99_SLACK_MS`` of slack so a fast stable deployment does not fail a
  fast candidate: stable p99 20 ms -> limit max(30, 20 + 50) = 70 ms.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mlplan.router.access_log import Request

DEFAULT_MIN_REQUESTS = 100
P99_SLACK_MS = 50.0


class Outcome(enum.StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    CALLER = "caller_error"


def user_outcome(status: int) -> Outcome:
    """A user's request: 200 -> success; 408, 429, 499, 500-599, 0 (no answer) -> failure;
    400, 401, 404, 413, ... -> caller_error."""
    if 200 <= status < 300:
        return Outcome.SUCCESS
    if 400 <= status < 500 and status not in (408, 429, 499):
        return Outcome.CALLER
    return Outcome.FAILURE


def probe_outcome(status: int) -> Outcome:
    """mlplan's own probe: 2xx -> success, anything else (401 and 404 too) -> failure."""
    return Outcome.SUCCESS if 200 <= status < 300 else Outcome.FAILURE


def outcome(request: Request) -> Outcome:
    """The class of one request: a probe's by ``probe_outcome``, a user's by ``user_outcome``."""
    return probe_outcome(request.status) if request.probe else user_outcome(request.status)


@dataclass(frozen=True)
class Figures:
    """One deployment's requests in a window."""

    requests: int  # every request, caller errors included
    real: int  # of them, users' requests (not mlplan's probes)
    successes: int
    failures: int
    caller_errors: int
    real_failures: int  # of the failures, users' requests (not probes)
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    statuses: tuple[tuple[int, int], ...]  # (status, count), by status

    @property
    def judged(self) -> int:
        return self.successes + self.failures

    @property
    def success_rate(self) -> float | None:
        """Percent of judged requests that succeeded; None without any."""
        return 100.0 * self.successes / self.judged if self.judged else None


def percentile(sorted_values: Sequence[float], percent: float) -> float | None:
    """Nearest rank: [10, 20, 30, 40] at 50 -> 20; at 99 -> 40; [] -> None."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * percent // 100))
    return sorted_values[int(rank) - 1]


def figures(requests: Iterable[Request]) -> Figures:
    """The figures of one deployment's requests (module docstring)."""
    items = list(requests)
    outcomes = Counter(outcome(r) for r in items)
    judged = sorted(r.milliseconds for r in items if outcome(r) is not Outcome.CALLER)
    return Figures(
        requests=len(items), real=sum(not r.probe for r in items),
        successes=outcomes[Outcome.SUCCESS], failures=outcomes[Outcome.FAILURE],
        caller_errors=outcomes[Outcome.CALLER],
        real_failures=sum(not r.probe and outcome(r) is Outcome.FAILURE for r in items),
        p50_ms=percentile(judged, 50), p95_ms=percentile(judged, 95),
        p99_ms=percentile(judged, 99),
        statuses=tuple(sorted(Counter(r.status for r in items).items())))


def summarize(requests: Iterable[Request], *, via: Sequence[str] = ("split", "header")
              ) -> dict[str, Figures]:
    """Figures per deployment (sorted by name) of the requests that came ``via`` these routes;
    mirror copies are a separate set (their answers are dropped)."""
    grouped: dict[str, list[Request]] = {}
    for request in requests:
        if request.via in via and request.deployment:
            grouped.setdefault(request.deployment, []).append(request)
    return {name: figures(grouped[name]) for name in sorted(grouped)}


@dataclass(frozen=True)
class Thresholds:
    min_success_rate: float = 99.0  # percent
    max_p99_ms: float = 500.0
    max_success_drop: float = 1.0  # points below the stable deployments
    max_p99_ratio: float = 1.5  # times the stable deployments' p99
    min_requests: int = DEFAULT_MIN_REQUESTS


@dataclass(frozen=True)
class Check:
    metric: str  # requests, success_rate, p99_ms, success_rate_vs_stable, p99_ms_vs_stable
    value: float | None
    threshold: float
    ok: bool
    note: str = ""  # e.g. "stable 99.8% - 1 point"

    def describe(self) -> str:
        """``success_rate 95.0 < 99.0``, ``p99_ms 2004 <= 500`` -> wording of a failure."""
        shown = "none" if self.value is None else f"{self.value:g}"
        sign = {"requests": ">=", "success_rate": ">=", "success_rate_vs_stable": ">="}.get(
            self.metric, "<=")
        verdict = "ok" if self.ok else "FAILED"
        extra = f" ({self.note})" if self.note else ""
        return f"{self.metric} {shown}, needs {sign} {self.threshold:g}{extra}: {verdict}"


@dataclass(frozen=True)
class Verdict:
    candidate: Figures
    stable: Figures | None
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.ok)


def judge(candidate: Figures, stable: Figures | None, thresholds: Thresholds) -> Verdict:
    """The step's verdict (module docstring).
    Example: candidate 200 judged, 190 ok (95%), p99 40 ms; min 99 -> success_rate fails."""
    t = thresholds
    rate, p99 = candidate.success_rate, candidate.p99_ms
    checks = [
        Check("requests", candidate.judged, t.min_requests, candidate.judged >= t.min_requests,
              f"{candidate.real} real"),
        Check("success_rate", _round(rate), t.min_success_rate,
              rate is not None and rate >= t.min_success_rate),
        Check("p99_ms", _round(p99), t.max_p99_ms, p99 is not None and p99 <= t.max_p99_ms),
    ]
    if stable is not None and stable.judged >= t.min_requests and stable.success_rate is not None:
        floor = stable.success_rate - t.max_success_drop
        checks.append(Check("success_rate_vs_stable", _round(rate), _round(floor) or 0.0,
                            rate is not None and rate >= floor,
                            f"stable {stable.success_rate:.4g}% - {t.max_success_drop:g}"))
        if stable.p99_ms is not None:
            limit = max(stable.p99_ms * t.max_p99_ratio, stable.p99_ms + P99_SLACK_MS)
            checks.append(Check("p99_ms_vs_stable", _round(p99), _round(limit) or 0.0,
                                p99 is not None and p99 <= limit,
                                f"stable {stable.p99_ms:g} ms x {t.max_p99_ratio:g}, "
                                f"at least + {P99_SLACK_MS:g}"))
    return Verdict(candidate, stable, tuple(checks))


def _round(value: float | None) -> float | None:
    """Two decimals for printing and JSON: 99.3333 -> 99.33."""
    return None if value is None else round(value, 2)
