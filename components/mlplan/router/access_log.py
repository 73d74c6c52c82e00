"""The router's per-request JSON log, read back: one line -> one ``Request`` for the gates.

Every request the router answers is one JSON line on its stdout (``nginx.LOG_FORMAT``):
``{"msec":1765000000.123,"status":200,"request_time":0.012,"deployment":"green",
"via":"split","probe":"","upstream_status":"502, 200",...}``. ``via`` is how the deployment
was chosen (split, header, mirror); ``probe`` is ``1`` on mlplan's own probes (they send
``PROBE_HEADER``); ``upstream_status`` lists every upstream answer, retries included. Requests
the router answered itself before choosing a deployment (401 wrong key, 404 unknown
deployment) carry no deployment. No header is logged, so no key is ever in it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass

#: Sent by mlplan's probes and logged as ``probe``: the gate tells them from users' requests.
PROBE_HEADER = "x-mlplan-probe"


@dataclass(frozen=True)
class Request:
    """One request as the router logged it (or a probe as mlplan saw it)."""

    deployment: str
    status: int  # 0: no answer (timeout or reset seen by the client)
    milliseconds: float
    probe: bool = False
    via: str = "split"  # split, header, mirror; router: answered before choosing one


@dataclass(frozen=True)
class LoggedRequest:
    at: float  # epoch seconds when the router finished it ($msec)
    request: Request
    upstream_status: str


def parse_line(line: str) -> LoggedRequest | None:
    """One log line, or None for anything else (nginx notices, a cut line).
    Example: ``{"msec":10.5,"status":408,"request_time":1.002,"deployment":"green",
    "via":"header","probe":"1","upstream_status":"504"}`` -> at 10.5, green 408 in
    1002 ms, a probe."""
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        record = json.loads(text)
        at = float(record["msec"])
        status = int(record["status"])
        milliseconds = float(record["request_time"]) * 1000
    except (ValueError, KeyError, TypeError, OverflowError):  # 1e400 as a status: inf
        return None
    if not isinstance(record, dict) or not math.isfinite(at + milliseconds):
        return None
    return LoggedRequest(at, Request(
        deployment=str(record.get("deployment", "")), status=status,
        milliseconds=round(milliseconds, 3), probe=record.get("probe") not in ("", None),
        via=str(record.get("via", "")) or "router"), str(record.get("upstream_status", "")))


def requests_between(lines: Iterable[str], since: float, until: float) -> list[Request]:
    """The requests finished at ``since <= at < until``, in log order."""
    found = []
    for line in lines:
        logged = parse_line(line)
        if logged is not None and since <= logged.at < until:
            found.append(logged.request)
    return found
