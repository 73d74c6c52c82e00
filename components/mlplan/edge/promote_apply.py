"""``mlplan promote --apply``: run the steps with ``pulumi up`` and a gate between them.

For each step: write the endpoint file, ``up`` the stack (Pulumi Automation API), then gate:
the scoring URI must answer, and over ``bake`` seconds the share of failed probe requests
through the router (5xx, timeouts, refused connections; 4xx other than 429 count as answers)
must stay at or under ``max_error_rate``. A failed gate writes the last good step back, ``up``s
it, and stops with the reason. The gate measures its own probes through the router: the
router's logs are not reachable from wherever ``mlplan`` runs, its answers are. Once the
candidate takes live traffic, every other probe is pinned to it with the routing header, so
the gate holds evidence of the candidate whatever its share (at 10%, 12 unpinned probes all
miss it 28% of the time: 0.9^12).

Example gate: 2 s bake at 20 probes/s, max 1%: 40 probes, 0 failures -> pass; 2 -> 5% -> fail.
With a candidate pinned: 20 of the 40 go to it; a candidate that fails them all -> 50% -> fail.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from mlplan.domain.names import ROUTING_HEADER
from mlplan.planning.promote import Promotion, PromotionStage, PromotionStep

READY_ATTEMPTS = 20


class StackDriver(Protocol):
    """The Automation API boundary: what ``--apply`` needs of a Pulumi stack."""

    def up(self) -> None: ...

    def outputs(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class GateResult:
    ok: bool
    probes: int
    failures: int
    reason: str

    @property
    def error_rate(self) -> float:
        return self.failures / self.probes if self.probes else 1.0


def probe_once(uri: str, key: str, timeout: float, body: bytes | None,
               pin: str | None = None) -> bool:
    """One request with the key (pinned to deployment ``pin`` with the routing header when
    given); True when the endpoint answered (no 5xx/429/timeout)."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    if pin:
        headers[ROUTING_HEADER] = pin
    request = urllib.request.Request(uri, data=body, method="POST" if body else "GET",
                                     headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            return True
    except urllib.error.HTTPError as exc:
        return exc.code < 500 and exc.code != 429
    except (urllib.error.URLError, TimeoutError, OSError):
        return False


def gate(uri: str, key: str, bake_seconds: float, max_error_rate: float, *,
         rate_per_second: float = 20.0, timeout: float = 5.0, body: bytes | None = None,
         probe: Callable[[str, str, float, bytes | None, str | None], bool] = probe_once,
         clock: Callable[[], float] = time.monotonic,
         sleep: Callable[[float], None] = time.sleep,
         candidate: str | None = None) -> GateResult:
    """First the URI must answer (up to ``READY_ATTEMPTS`` tries: a router that just reloaded
    may miss one), then probe it for ``bake_seconds``, bounded to ``bake * rate`` requests,
    every second one pinned to ``candidate`` when given; the error share counts the bake
    probes."""
    for _attempt in range(READY_ATTEMPTS):
        if probe(uri, key, timeout, body, None):
            break
        sleep(1.0 / rate_per_second)
    else:
        return GateResult(False, READY_ATTEMPTS, READY_ATTEMPTS,
                          f"{uri} does not answer ({READY_ATTEMPTS} tries)")
    probes, failures, pinned = 0, 0, 0
    limit = max(1, int(bake_seconds * rate_per_second))
    end = clock() + bake_seconds
    while clock() < end and probes < limit:
        probes += 1
        pin = candidate if candidate and probes % 2 == 0 else None
        pinned += pin is not None
        if not probe(uri, key, timeout, body, pin):
            failures += 1
        sleep(1.0 / rate_per_second)
    rate = failures / max(probes, 1)
    to_candidate = f", {pinned} pinned to {candidate}" if candidate else ""
    if rate > max_error_rate:
        return GateResult(False, probes, failures,
                          f"{failures} of {probes} probes failed{to_candidate} ({rate:.1%} > "
                          f"{max_error_rate:.1%}) within {bake_seconds:g} s")
    return GateResult(True, probes, failures,
                      f"{failures} of {probes} probes failed{to_candidate} ({rate:.1%})")


@dataclass(frozen=True)
class ApplyResult:
    ok: bool
    completed: int  # steps applied and gated
    rolled_back_to: int | None  # step number (as printed) written back after a failed gate
    reason: str


def apply(
    promotion: Promotion,
    write: Callable[[PromotionStep], object],
    restore: Callable[[], None],
    driver: StackDriver,
    run_gate: Callable[[Mapping[str, Any], PromotionStep], GateResult],
    progress: Callable[[str], None],
) -> ApplyResult:
    """Steps in order, each ``write`` + ``up`` + gate; on a failed gate (or a failed ``up``)
    ``restore`` puts back the last good files (or the original ones), ``up`` again, stop."""
    last_good: PromotionStep | None = None
    total = len(promotion.steps)
    for step in promotion.steps:
        label = f"step {step.number}/{total} {step.stage} " + ", ".join(
            f"{n} {p}%" for n, p in step.traffic)
        progress(f"{label}: pulumi up")
        write(step)
        try:
            driver.up()
        except Exception as exc:  # the engine's error, reported, then rolled back
            return _roll_back(last_good, write, restore, driver, progress,
                              f"{label}: pulumi up failed: {exc}")
        if step.stage is PromotionStage.RETIRE:
            progress(f"{label}: done")
            continue
        progress(f"{label}: gate")
        result = run_gate(driver.outputs(), step)
        progress(f"{label}: gate {'passed' if result.ok else 'FAILED'}: {result.reason}")
        if not result.ok:
            return _roll_back(last_good, write, restore, driver, progress,
                              f"{label}: gate failed: {result.reason}")
        last_good = step
    return ApplyResult(True, total, None, "promoted")


def _roll_back(last_good: PromotionStep | None,
               write: Callable[[PromotionStep], object], restore: Callable[[], None],
               driver: StackDriver, progress: Callable[[str], None],
               reason: str) -> ApplyResult:
    completed = last_good.number if last_good else 0
    if last_good is None:
        progress("rolling back to the state before the promotion")
        restore()
    else:
        progress(f"rolling back to step {last_good.number} ({last_good.stage})")
        write(last_good)
    driver.up()
    return ApplyResult(False, completed, last_good.number if last_good else None, reason)
