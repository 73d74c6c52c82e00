"""``pulumi up`` of the Docker target on a real Docker Engine under a steady request stream:
what clients see and what the containers do, before and after a change of mlplan's code.

Uses what the Docker e2e suite uses (tests/engine/build.sh's engine, tests/docker's private
dockerd and images). For each code version (``before``: the tree of ``--before``, by default
``BEFORE_REF``, the code before Docker's surge rolls, imported through PYTHONPATH; ``after``:
this worktree) one stack goes through: the sample (blue 3 + green 3, 90/10), a split change
90/10 -> 50/50, a scale of blue 3 -> 10, an image roll of the 10, a scale 10 -> 3, an image
roll of blue with 1 instance and 100% of live traffic, and ``mlplan promote --to green
--apply``. During each, the load: the suite's stream (4 clients, keep-alive) plus a second
stream loading the host (4 clients, a new connection per request; ``--clients K,M`` sets both,
``1,0`` leaves one closed-loop client, which alone keeps a 2-core host's CPUs busy: router,
inference servers and client at 170 to 360 requests/s; ``--rate R`` paces each client to at most
R requests/s, so ``--clients 2,0 --rate 25`` is a steady 50 requests/s with CPU to spare); the
host's 1-minute load
average is printed per scenario (the machine is shared: figures are under whatever else runs).
Per scenario: requests, failures, 429s apart (Azure's designed answer when more than
``2 * max_concurrent_requests_per_instance * instances`` requests are in flight: 8 clients on a
1-instance deployment get them by design; they are counted, not failures), p50 / p99, the most
instance containers running and the fewest serving (``docker events``: healthy and not yet
told to stop), its seconds; per batch of the 10-instance roll its phases (drain: the batch's
drain container start -> exit, i.e. until the router serves the batch ``down``, 0 for the surge
batch; stop: SIGTERM -> removal of the old containers, split into exit: SIGTERM -> the server
exited, and teardown: exited -> removed; create: created -> started; healthy: started ->
healthy; engine: the rest of the batch's time, from the batch before it being healthy to this
one being healthy, i.e. the engine's steps between the phases) and ``roll_efficiency`` = sum
over batches of (first create -> last healthy) / roll time. The last line is name=value pairs
(``before_`` / ``after_`` prefixes).

    .venv/bin/python benchmarks/docker_up.py [--before REF] [--only after] [--clients 4,4]
        [--rate 0] [--model-load-s 0]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import math
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mlplan.domain import labels
from mlplan.planning.rollout import batches
from tests.dataplane.harness import Stream, failures, percentile
from tests.docker import daemon as docker_daemon
from tests.engine.conftest import VENV, Engine, Pulumi, cache_root, engine_env
from tests.engine.docker_host import (
    ENDPOINT,
    REVISION,
    STACK,
    DeploymentSpec,
    DockerProject,
    Event,
    EventWatch,
    capacity,
    write_project,
)

REPO = Path(__file__).resolve().parents[1]
#: The code before issue 25 (Docker rolled delete-first, batch by batch, with nothing to drain).
BEFORE_REF = "6af300c"
#: (keep-alive clients, clients with a new connection per request); ``--clients``
CLIENTS = [4, 4]
#: requests per second per client at most (0: each client sends its next request as soon as the
#: last one is answered, a closed loop that takes whatever CPU the host has); ``--rate``
RATE = [0.0]
#: seconds every instance's ``init()`` waits before the sample's (0: the sample as it is, ready
#: 2 to 5 s after start here); ``--model-load-s``
MODEL_LOAD_S = [0.0]


def write_loading_score(root: Path, seconds: float) -> str:
    """A copy of the sample's scoring script whose ``init()`` first waits ``seconds`` (a model
    that takes that long to load without using the CPU: weights read from a slow share); its
    code path for ``DeploymentSpec.code``. Example: 20 -> stacks/score-load/score.py,
    ``"../../score-load"``."""
    folder = root / "stacks" / "score-load"
    folder.mkdir()
    sample = (REPO / "stacks" / "score" / "score.py").read_text(encoding="utf-8")
    (folder / "score.py").write_text(
        f"{sample}\n\nimport time as _time\n\n_sample_init = init\n\n\n"
        f"def init() -> None:  # noqa: F811 (mlplan's roll benchmark: a slow model load)\n"
        f"    _time.sleep({seconds!r})\n    _sample_init()\n", encoding="utf-8")
    return "../../score-load"


def load_text() -> str:
    pace = f", each at most {RATE[0]:g} requests/s" if RATE[0] else ", each as fast as answered"
    model = f"; every model load waits {MODEL_LOAD_S[0]:g} s" if MODEL_LOAD_S[0] else ""
    return (f"{CLIENTS[0]} keep-alive clients (the suite's stream) + {CLIENTS[1]} clients with a "
            f"new connection per request{pace}{model}")


@dataclass
class Scenario:
    name: str
    seconds: float
    requests: int
    failed: int  # neither a 200 nor a 429
    p50_ms: float
    p99_ms: float
    peak: int
    fewest: int
    phases: list[dict[str, float]] = field(default_factory=list)
    efficiency: float = float("nan")
    load: tuple[float, float] = (0.0, 0.0)  # the host's 1-minute load average, start and end
    rejected: int = 0  # 429: the deployment's in-flight limit (Azure's answer), not a failure
    #: when ``pulumi up`` began and ended, in the event watch's seconds (``Event.at``)
    window: tuple[float, float] = (0.0, 0.0)
    lead: float = float("nan")  # ``pulumi up`` began -> the first new container created
    tail: float = float("nan")  # the last new container healthy -> ``pulumi up`` ended


def code_of(ref: str, into: Path) -> Path:
    """``components/`` of git ``ref`` unpacked under ``into`` (the before code)."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref, "components"],
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "components"


def in_role(event: Event, role: str) -> bool:
    """``event`` is of a container in ``role`` (an event without a role counts; a drain
    container, ``...-drain``, is never an instance)."""
    return event.role in (role, "") and not (role == "instance" and event.name.endswith("-drain"))


def instance_events(events: list[Event], deployments: tuple[str, ...],
                    role: str = "instance") -> list[Event]:
    """The deployments' events of containers in ``role`` (instance; drain: none before)."""
    return [e for e in events if e.deployment in deployments and in_role(e, role)]


def serving_now(project: DockerProject, deployments: tuple[str, ...]) -> set[str]:
    return {n for n, c in project.containers().items()
            if c["labels"].get(labels.ROLE) == "instance" and c["status"] == "running"
            and c["health"] == "healthy" and c["labels"].get(labels.DEPLOYMENT) in deployments}


def phases(events: list[Event], count: int, new_image: str) -> list[dict[str, float]]:
    """Per batch of a roll of ``count`` instances: seconds of each phase (longest member)."""
    first: dict[tuple[str, str], float] = {}
    for e in sorted(events, key=lambda e: e.at):
        first.setdefault((e.name, e.action), e.at)
    found = []
    first_names = {name for name, _action in first}
    for number, members in enumerate(batches(count), start=1):
        bases = {f"{ENDPOINT}-blue-{i}" for i in members}
        old = {e.name for e in events if REVISION.sub("", e.name) in bases and e.image != new_image}
        new = {e.name for e in events if REVISION.sub("", e.name) in bases and e.image == new_image}

        def span(names: set[str], start: str, end: str) -> float:
            spans = [first[(n, end)] - first[(n, start)] for n in names
                     if (n, start) in first and (n, end) in first]
            return max(spans, default=float("nan"))

        created = [first[(n, "create")] for n in new if (n, "create") in first]
        healthy = [first[(n, "health_status: healthy")] for n in new
                   if (n, "health_status: healthy") in first]
        drain = {n for n in first_names if n == f"{ENDPOINT}-blue-batch-{number}-drain"}
        found.append({
            "drain": span(drain, "start", "die") if drain else 0.0,
            "stop": span(old, "kill", "destroy"),
            "exit": span(old, "kill", "die"),
            "teardown": span(old, "die", "destroy"),
            "create": span(new, "create", "start"),
            "healthy": span(new, "start", "health_status: healthy"),
            "create_to_healthy": (max(healthy) - min(created)) if created and healthy
            else float("nan"),
            "healthy_at": max(healthy, default=float("nan"))})
    for previous, batch in itertools.pairwise(found):
        # what the batch took beyond its drain, stop and boot: the engine's steps between them
        # (a batch replaced in place starts when the one before it is healthy)
        batch["engine"] = (batch["healthy_at"] - previous["healthy_at"] - batch["drain"]
                           - batch["stop"] - batch["create_to_healthy"])
    if found:
        found[0]["engine"] = float("nan")  # the surge batch boots beside the old ones
    return found


def lead_and_tail(events: list[Event], new_image: str, window: tuple[float, float]
                  ) -> tuple[float, float]:
    """What a roll spends outside its batches: from ``pulumi up``'s start to the first new
    container's create (the program, the plan, the engine's diff), and from the last new
    container healthy to the end (the routing switch to the new containers, the old surge
    containers' stop, the engine's end). Example: up 5.0 -> 155.1, first create 11.2, last
    healthy 143.0 -> (6.2, 12.1)."""
    new = [e for e in events if e.image == new_image and in_role(e, "instance")]
    created = [e.at for e in new if e.action == "create"]
    healthy = [e.at for e in new if e.action == "health_status: healthy"]
    if not created or not healthy:
        return float("nan"), float("nan")
    return min(created) - window[0], window[1] - max(healthy)


class Bench:
    def __init__(self, project: DockerProject, env: dict[str, str]) -> None:
        self.project, self.env = project, env

    def measure(self, name: str, deployments: tuple[str, ...], change: Callable[[], Any],
                pin: str = "") -> tuple[Scenario, list[Event]]:
        project = self.project
        before = serving_now(project, deployments)
        running = {n for n, c in project.containers().items()
                   if c["labels"].get(labels.ROLE) == "instance" and c["status"] == "running"
                   and c["labels"].get(labels.DEPLOYMENT) in deployments}
        port, key = project.port(), project.key()
        load_at_start = os.getloadavg()[0]
        headers = {"Authorization": f"Bearer {key}"}
        load_headers = {**headers, **({"azureml-model-deployment": pin} if pin else {})}
        loader = (Stream(port, threads=CLIENTS[1], keep_alive=False, max_requests=500_000,
                         headers=load_headers, rate=RATE[0])
                  if CLIENTS[1] else contextlib.nullcontext())
        with EventWatch(project.daemon) as watch, \
                Stream(port, threads=CLIENTS[0], max_requests=500_000, headers=headers,
                       rate=RATE[0]) as stream, \
                loader as load:
            began = time.time() - watch.started
            started = time.monotonic()
            change()
            seconds = time.monotonic() - started
            window = (began, began + seconds)
            results = stream.stop() + (load.stop() if load is not None else [])
        events = instance_events(watch.events, deployments)
        seen = capacity(events, running, before)
        times = [r.seconds for r in results]
        failed = [r for r in failures(results) if r.status != 429]
        for one in failed[:5]:
            print(f"  {name}: failed request: status {one.status} after "
                  f"{one.seconds:.2f} s {one.error or one.body[:80]!r}")
        return Scenario(name, seconds, len(results), len(failed),
                        percentile(times, 50) * 1000, percentile(times, 99) * 1000,
                        seen.peak_running, seen.min_serving,
                        load=(load_at_start, os.getloadavg()[0]),
                        rejected=sum(r.status == 429 for r in results), window=window), \
            events + instance_events(watch.events, deployments, "drain")


def run_version(label: str, code: Path | None, engine: Engine, daemon: Any,
                images: dict[str, str], tmp: Path) -> tuple[float, list[Scenario]]:
    root = tmp / f"{label}-project"
    write_project(root, images)
    env = engine_env(engine, tmp / f"{label}-engine")
    env["DOCKER_HOST"] = daemon.host
    if code is not None:
        env["PYTHONPATH"] = str(code)
    pulumi = Pulumi(root, env)
    pulumi.run("stack", "init", STACK)
    project = DockerProject(root, pulumi, daemon, images)
    bench = Bench(project, env)

    code_path = write_loading_score(root, MODEL_LOAD_S[0]) if MODEL_LOAD_S[0] else ""

    def spec(image: str = "inference", count: int = 3, **kw: Any) -> DeploymentSpec:
        if code_path:
            kw["code"] = code_path
        return DeploymentSpec(image=images[image], count=count, **kw)

    green = spec(env={"SCORE_SCALE": "1.1"})

    def declare_up(deployments: dict[str, DeploymentSpec], traffic: dict[str, int]) -> None:
        project.declare(deployments, traffic)
        project.up()

    started = time.monotonic()
    declare_up({"blue": spec(), "green": green}, {"blue": 90, "green": 10})
    first = time.monotonic() - started
    found: list[Scenario] = []
    try:
        s, _e = bench.measure("split 90/10 -> 50/50", ("blue", "green"), lambda: declare_up(
            {"blue": spec(), "green": green}, {"blue": 50, "green": 50}))
        found.append(s)
        declare_up({"blue": spec(), "green": green}, {"blue": 90, "green": 10})
        s, _e = bench.measure("scale blue 3 -> 10", ("blue",), lambda: declare_up(
            {"blue": spec(count=10), "green": green}, {"blue": 90, "green": 10}))
        found.append(s)
        s, events = bench.measure("roll blue (10 instances)", ("blue",), lambda: declare_up(
            {"blue": spec("inference_r2", count=10), "green": green}, {"blue": 90, "green": 10}))
        s.phases = phases(events, 10, images["inference_r2"])
        s.efficiency = sum(p["create_to_healthy"] for p in s.phases) / s.seconds
        s.lead, s.tail = lead_and_tail(events, images["inference_r2"], s.window)
        found.append(s)
        s, _e = bench.measure("scale blue 10 -> 3", ("blue",), lambda: declare_up(
            {"blue": spec("inference_r2"), "green": green}, {"blue": 90, "green": 10}))
        found.append(s)
        declare_up({"blue": spec("inference_r2", count=1), "green": green},
                   {"blue": 100, "green": 0})
        s, _e = bench.measure("roll blue (1 instance, 100%)", ("blue",), lambda: declare_up(
            {"blue": spec(count=1), "green": green}, {"blue": 100, "green": 0}), pin="blue")
        found.append(s)

        def promote() -> None:
            done = subprocess.run([str(VENV / "bin" / "mlplan"), "promote", ENDPOINT, "--to",
                                   "green", "--stack", STACK, "--apply", "--bake", "2"],
                                  cwd=root, env=dict(env), capture_output=True, text=True,
                                  timeout=1200, check=False)
            if done.returncode != 0:
                print(f"  promote exited {done.returncode}: {done.stdout[-800:]}"
                      f"{done.stderr[-800:]}")
        s, _e = bench.measure("promote green (0 -> 100%)", ("blue", "green"), promote)
        found.append(s)
    finally:
        pulumi.run("destroy", "--yes", check=False)
    return first, found


def report(label: str, first: float, scenarios: list[Scenario]) -> dict[str, str]:
    print(f"\n{label}: first up (6 instances) {first:.1f} s; load: {load_text()}")
    print(f"  {'scenario':<32} {'seconds':>7} {'requests':>8} {'failed':>6} {'429':>5} "
          f"{'p50 ms':>7} {'p99 ms':>8} {'peak':>4} {'fewest serving':>14} {'load 1 min':>12}")
    pairs = {f"{label}_first_up_s": f"{first:.1f}"}
    for s in scenarios:
        print(f"  {s.name:<32} {s.seconds:7.1f} {s.requests:8d} {s.failed:6d} {s.rejected:5d} "
              f"{s.p50_ms:7.1f} "
              f"{s.p99_ms:8.1f} {s.peak:4d} {s.fewest:14d} {s.load[0]:5.1f}->{s.load[1]:<5.1f}")
        key = "".join(c if c.isalnum() else "_" for c in s.name.split(" (")[0]).strip("_")
        key = f"{label}_{key}".replace("__", "_")
        if "1 instance" in s.name:
            key += "_1"
        pairs.update({f"{key}_s": f"{s.seconds:.1f}", f"{key}_requests": str(s.requests),
                      f"{key}_failed": str(s.failed), f"{key}_429": str(s.rejected),
                      f"{key}_p99_ms": f"{s.p99_ms:.1f}",
                      f"{key}_peak": str(s.peak), f"{key}_min_serving": str(s.fewest),
                      f"{key}_load1": f"{max(s.load):.1f}"})
        if s.phases:
            print("    batch  drain s  stop s (exit + teardown)  create s  healthy s  "
                  "create->healthy s  engine s")
            for number, p in enumerate(s.phases, start=1):
                print(f"    {number:5d} {p['drain']:8.2f} {p['stop']:7.2f} ({p['exit']:4.2f} + "
                      f"{p['teardown']:4.2f}) {p['create']:9.2f} {p['healthy']:10.2f} "
                      f"{p['create_to_healthy']:18.2f} {p['engine']:9.2f}")
            print(f"    before the first batch {s.lead:.1f} s (program, plan, engine's diff); "
                  f"after the last batch {s.tail:.1f} s (routing switch, old surge containers' "
                  "stop, engine's end)")
            print(f"    roll_efficiency = sum(create->healthy) / roll time = "
                  f"{s.efficiency:.2f}")
            pairs[f"{key}_roll_efficiency"] = f"{s.efficiency:.2f}"
            pairs[f"{key}_lead_s"] = f"{s.lead:.1f}"
            pairs[f"{key}_tail_s"] = f"{s.tail:.1f}"
            for phase in ("drain", "stop", "exit", "teardown", "create_to_healthy", "engine"):
                total = sum(p[phase] for p in s.phases if not math.isnan(p[phase]))
                pairs[f"{key}_{phase}_total_s"] = f"{total:.1f}"
    return pairs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default=BEFORE_REF, help="git ref of the before code "
                        f"(default: {BEFORE_REF}, before Docker's surge rolls)")
    parser.add_argument("--after", default="", help="git ref of the after code (default: this "
                        "worktree as it is; a ref freezes it while the tree is edited)")
    parser.add_argument("--only", choices=("before", "after"), default="")
    parser.add_argument("--clients", default="4,4", help="K,M: K keep-alive clients and M "
                        "clients with a new connection per request (default 4,4; with --rate "
                        "each is paced, otherwise even 1,0 keeps a 2-core host busy)")
    parser.add_argument("--rate", type=float, default=0.0, help="requests per second per "
                        "client at most (default 0: as fast as answered, which keeps a 2-core "
                        "host's CPUs busy with the stream alone; 25 leaves it headroom)")
    parser.add_argument("--model-load-s", type=float, default=0.0, help="seconds every "
                        "instance's init() waits before loading the sample model (default 0; "
                        "a roll's floor is its batches' boots, so this shows how close a roll "
                        "of a slower-loading model comes to it)")
    args = parser.parse_args()
    if args.rate < 0:
        parser.error("--rate: a number of requests per second >= 0, e.g. 25")
    if not 0 <= args.model_load_s <= 600:
        parser.error("--model-load-s: seconds from 0 to 600, e.g. 20")
    RATE[0], MODEL_LOAD_S[0] = args.rate, args.model_load_s
    try:
        CLIENTS[:] = [int(part) for part in args.clients.split(",")]
        if len(CLIENTS) != 2 or CLIENTS[0] < 1 or CLIENTS[1] < 0:
            raise ValueError
    except ValueError:
        parser.error("--clients: K,M with K >= 1 and M >= 0, e.g. 4,4 or 1,0")
    build = subprocess.run(["bash", str(REPO / "tests" / "engine" / "build.sh")], check=False)
    if build.returncode != 0:
        print("benchmarks/docker_up.py: the engine could not be built", file=sys.stderr)
        return 1
    before_ref = args.before
    engine = Engine(cache_root() / "bin")
    pairs: dict[str, str] = {}
    with docker_daemon.running() as daemon, tempfile.TemporaryDirectory() as tmp:
        images = docker_daemon.build_images(daemon, stream=False)
        print(f"host: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (1 min) "
              f"{os.getloadavg()[1]:.1f} (5 min), shared with other work; "
              f"before = {before_ref[:12]}, after = {args.after or 'this tree'}")
        for label in ("before", "after"):
            if args.only and label != args.only:
                continue
            ref = before_ref if label == "before" else args.after
            code = code_of(ref, Path(tmp) / f"{label}-code") if ref else None
            first, scenarios = run_version(label, code, engine, daemon, images, Path(tmp))
            pairs.update(report(label, first, scenarios))
    print(" ".join(f"{k}={v}" for k, v in pairs.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
