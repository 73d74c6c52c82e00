"""``mlplan promote --apply`` on a real Docker Engine with a client streaming requests through
the router during the whole promotion; the gates judge the candidate's real requests, read
from the router container's log through the Docker API (issue 24's scenarios a-d).

a. a healthy candidate promoted to retire: every gate judged real candidate requests (count
   printed), no failed request in the stream, and ``mlplan status`` counts per deployment
   agree with the client's own;
b. a candidate whose scoring script raises on 5% of its inputs: aborted at the first step
   whose window has enough requests, all traffic back on blue, the stream's failures are the
   candidate's only (the client's count and ``mlplan status``'s agree), blue alone serves;
c. a candidate that answers correctly but 2 s slower: aborted on p99;
d. a candidate that hangs: aborted, the router's 408s counted as its failures.

The figures are printed (``pytest -s``): requests, failures, abort step and metric, times.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.dataplane.harness import Client, Result, Stream
from tests.engine.conftest import DockerEnv
from tests.engine.docker_host import ENDPOINT, STACK, DockerProject, instance_of
from tests.engine.test_docker_up import HEADER, auth, inference, live, mlplan, serving

__all__ = ["live"]  # the module's stack (tests/engine/test_docker_up.py's fixture)

CANDIDATE_SCORE = '''\
"""A candidate that misbehaves as CANDIDATE_MODE says: fail-5-percent raises on every 20th
input it scores, slow answers 2 s late, hang never answers."""
import itertools
import os
import time

_count = itertools.count(1)


def init():
    pass


def run(raw_data):
    mode = os.environ.get("CANDIDATE_MODE", "")
    if mode == "fail-5-percent" and next(_count) % 20 == 0:
        raise RuntimeError("this input fails")
    if mode == "slow":
        time.sleep(2.0)
    if mode == "hang":
        time.sleep(3600)
    return {"deployment": os.environ.get("MLPLAN_DEPLOYMENT", "unknown"), "predictions": [0.0]}
'''
BAKE = "6"


def candidate_code(project: DockerProject) -> str:
    folder = project.root / "stacks" / "candidate-score"
    folder.mkdir(exist_ok=True)
    (folder / "score.py").write_text(CANDIDATE_SCORE, encoding="utf-8")
    return "../../candidate-score"


def by_deployment(results: list[Result]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for result in results:
        name = result.headers.get(HEADER, "")
        counts[name] = counts.get(name, 0) + 1
    return counts


def status(project: DockerProject, since: float) -> dict[str, Any]:
    done = mlplan(project, "status", ENDPOINT, "--stack", STACK, "--since",
                  f"{int(since) + 2}s", "--format", "json")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Bearer" not in done.stdout and project.key() not in done.stdout
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def promote(project: DockerProject, to: str, sample: Path) -> tuple[
        subprocess.CompletedProcess[str], list[Result], float, dict[str, Any]]:
    port, key = project.port(), project.key()
    started = time.monotonic()
    with Stream(port, threads=2, max_requests=50_000, headers=auth(key)) as stream:
        done = mlplan(project, "promote", ENDPOINT, "--to", to, "--stack", STACK, "--apply",
                      "--steps", "10,50,100", "--bake", BAKE, "--sample", str(sample),
                      "--format", "json")
        results = stream.stop()
    seconds = time.monotonic() - started
    report = status(project, seconds)
    return done, results, seconds, report


def print_figures(name: str, done: subprocess.CompletedProcess[str], results: list[Result],
                  seconds: float) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(done.stdout)
    applied = doc["applied"]
    failed = [r for r in results if r.status != 200]
    print(f"\nE2E {name}: exit {done.returncode} in {seconds:.0f} s; stream {len(results)} "
          f"requests, {len(failed)} failed {sorted({r.status for r in failed})}, by deployment "
          f"{by_deployment(results)}; failed step {applied['failed_step']}")
    for gate in applied["gates"]:
        print(f"E2E {name}:   step {gate['step']} {gate['stage']}: "
              f"{'passed' if gate['ok'] else 'FAILED'}: {gate['reason']}")
    print(done.stderr[-1500:])
    return doc


@pytest.fixture()
def sample_file(tmp_path: Path) -> Path:
    path = tmp_path / "sample.json"
    path.write_text('{"data": [[5.1, 3.5, 1.4, 0.2]]}', encoding="utf-8")
    return path


def test_a_healthy_candidate_is_promoted_on_real_traffic(
        live: DockerProject, docker_env: DockerEnv, sample_file: Path) -> None:
    live.declare({"blue": inference(docker_env, count=2),
                  "green": inference(docker_env, count=2, env={"SCORE_SCALE": "1.1"})},
                 {"blue": 100, "green": 0})
    live.up()
    done, results, seconds, report = promote(live, "green", sample_file)
    doc = print_figures("a healthy", done, results, seconds)
    assert done.returncode == 0, done.stderr[-3000:]
    assert [r for r in results if r.status != 200] == []
    gates = doc["applied"]["gates"]
    assert [g["stage"] for g in gates] == ["canary", "step", "promoted"]
    for gate in gates:
        assert gate["source"] == "router log" and gate["real_requests"] > 0, gate
    assert set(map(instance_of, serving(live))) == {f"{ENDPOINT}-green-{i}" for i in range(2)}
    # mlplan status agrees with the client, per deployment, within the requests in flight
    client = by_deployment(results)
    observed = {d["name"]: d["requests"]["real"] for d in report["deployments"]
                if d["name"] in ("blue", "green")}
    print(f"E2E a healthy: client {client}, mlplan status real requests {observed}")
    for name in ("blue", "green"):
        assert abs(observed[name] - client.get(name, 0)) <= 2, (observed, client)
    table = mlplan(live, "status", ENDPOINT, "--stack", STACK, "--since", "10m")
    print(f"E2E a healthy: $ mlplan status {ENDPOINT} --since 10m\n{table.stdout}")
    assert table.returncode == 0 and "green" in table.stdout, table.stderr
    logs = mlplan(live, "logs", ENDPOINT, "green", "--stack", STACK, "--lines", "20")
    assert logs.returncode == 0 and logs.stdout.strip(), logs.stderr
    key = live.key()
    assert key not in table.stdout + logs.stdout and "Bearer" not in logs.stdout


MISBEHAVING = [
    ("b fails 5%", "fail-5-percent", 5000, "success_rate", {500}),
    ("c 2 s slower", "slow", 5000, "p99_ms", set()),
    ("d hangs", "hang", 1000, "success_rate", {408}),
]


@pytest.mark.parametrize(("name", "mode", "timeout_ms", "metric", "statuses"), MISBEHAVING,
                         ids=[m[0] for m in MISBEHAVING])
def test_a_misbehaving_candidate_is_aborted_and_all_traffic_returns(
        live: DockerProject, docker_env: DockerEnv, sample_file: Path, name: str, mode: str,
        timeout_ms: int, metric: str, statuses: set[int]) -> None:
    live.declare({"blue": inference(docker_env, count=2),
                  "red": inference(docker_env, count=1, code=candidate_code(live),
                                   env={"CANDIDATE_MODE": mode},
                                   request_timeout_ms=timeout_ms)},
                 {"blue": 100, "red": 0})
    live.up()
    done, results, seconds, report = promote(live, "red", sample_file)
    doc = print_figures(name, done, results, seconds)
    assert done.returncode == 1
    applied = doc["applied"]
    assert applied["rolled_back"] and applied["failed_step"] == 1  # the canary
    (gate,) = applied["gates"]
    failed_metrics = [c["metric"] for c in gate["checks"] if not c["ok"]]
    assert metric in failed_metrics, gate
    assert "step 1 (canary): gate failed" in done.stderr and f"{metric} " in done.stderr
    assert "all live traffic is back on blue 100%, mirror off" in done.stderr
    failed = [r for r in results if r.status != 200]
    assert {r.headers.get(HEADER) for r in failed} <= {"red"}, failed[:3]
    assert statuses <= {r.status for r in failed} <= statuses | {429, 502, 503}
    endpoint = (live.endpoints_dir / "endpoint.yml").read_text(encoding="utf-8")
    assert "blue: 100" in endpoint and "red: 0" in endpoint and "mirror" not in endpoint
    red = next(d for d in report["deployments"] if d["name"] == "red")
    client_failed = sum(1 for r in failed if r.headers.get(HEADER) == "red")
    print(f"E2E {name}: client saw {client_failed} failed red requests; mlplan status: red "
          f"{red['requests']}")
    if statuses:
        for code in statuses:
            assert red["requests"]["statuses"].get(str(code), 0) >= \
                sum(1 for r in failed if r.status == code)
        # the router's count of red's failed real requests is the client's (2 in flight)
        assert abs(red["requests"]["real_failures"] - client_failed) <= 2, red
    client = Client(live.port())
    after = [client.request(headers=auth(live.key())) for _ in range(30)]
    client.close()
    assert {(r.status, r.headers.get(HEADER)) for r in after} == {(200, "blue")}
