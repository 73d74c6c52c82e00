"""Test-only scoring script: answers like stacks/score/score.py and reports what it received.

POST /score with ``{"sleep_ms": N}`` sleeps N ms before answering (request timeout tests); the
answer names the deployment (``MLPLAN_DEPLOYMENT``) and says whether an ``Authorization`` header
reached the instance and which ``x-request-id`` it carried, e.g.
``{"deployment": "slow", "authorization": false, "request_id": "5f0c...", "slept_ms": 0}``.

Environment, for candidates that misbehave on real traffic: ``MLPLAN_FAIL_EVERY=20`` raises on
every 20th request a worker scores (5%: azmlinfsrv answers 500); ``MLPLAN_SLEEP_MS=600`` sleeps
that long on every request.
"""

import itertools
import json
import os
import time

from azureml_inference_server_http.api.aml_request import rawhttp

FAIL_EVERY = int(os.environ.get("MLPLAN_FAIL_EVERY", "0"))
SLEEP_MS = int(os.environ.get("MLPLAN_SLEEP_MS", "0"))
_COUNT = itertools.count(1)


def init() -> None:
    pass


@rawhttp
def run(request):  # type: ignore[no-untyped-def]
    raw = request.get_data() or b"{}"
    sleep_ms = int(json.loads(raw).get("sleep_ms", 0)) or SLEEP_MS
    if FAIL_EVERY and next(_COUNT) % FAIL_EVERY == 0:
        raise RuntimeError("this input fails (MLPLAN_FAIL_EVERY)")
    if sleep_ms:
        time.sleep(sleep_ms / 1000)
    return {
        "deployment": os.environ.get("MLPLAN_DEPLOYMENT", "unknown"),
        "authorization": "Authorization" in request.headers,
        "request_id": request.headers.get("x-request-id", ""),
        "slept_ms": sleep_ms,
    }
