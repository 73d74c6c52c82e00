"""``pulumi up`` of the Docker target on a real Docker Engine, end to end.

The real Pulumi CLI, language host and Docker provider (tests/engine/build.sh) apply mlplan's
program to a private dockerd (tests/docker/daemon.py) with images built here
(tests/docker/build-images.sh): real nginx routers, real azmlinfsrv instances. One stack lives
through the module, test after test, the way a user's stack does; each test first declares the
state it starts from. What ``docker events`` records and what a client streaming requests through
the router sees are the evidence; the timelines are printed (``pytest -s`` shows them).
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlplan.domain import labels
from mlplan.planning.preview import PreviewInput, stack_preview
from mlplan.planning.rollout import batches
from mlplan.targets.docker import containers as docker_containers
from mlplan.targets.registry import delete_first_types
from tests.dataplane.harness import Client, Stream, chi_square_p, failures, hammer, percentile
from tests.engine.conftest import VENV, DockerEnv, Engine, Pulumi, engine_env
from tests.engine.docker_host import (
    ENDPOINT,
    FAST_PROBE,
    STACK,
    DeploymentSpec,
    DockerProject,
    Event,
    EventWatch,
    capacity,
    instance_of,
    timeline,
    write_project,
)
from tests.engine.test_engine_smoke import policy_pack_copy

HEADER = "azureml-model-deployment"


def make_project(engine: Engine, docker_env: DockerEnv, root: Path, *, name_prefix: str = "",
                 **kwargs: Any) -> DockerProject:
    engine.require("docker", "random")
    write_project(root, docker_env.images, name_prefix=name_prefix, **kwargs)
    env = engine_env(engine, root.parent / f"{root.name}-engine")
    env["DOCKER_HOST"] = docker_env.daemon.host
    pulumi = Pulumi(root, env)
    pulumi.run("stack", "init", STACK)
    return DockerProject(root, pulumi, docker_env.daemon, docker_env.images, name_prefix)


@pytest.fixture(scope="module")
def live(engine: Engine, docker_env: DockerEnv,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerProject]:
    project = make_project(engine, docker_env, tmp_path_factory.mktemp("docker") / "project")
    yield project
    project.pulumi.run("destroy", "--yes", check=False)


def inference(docker_env: DockerEnv, tag: str = "inference", **kwargs: Any) -> DeploymentSpec:
    return DeploymentSpec(image=docker_env.images[tag], **kwargs)


def sample(docker_env: DockerEnv, blue_count: int = 3) -> dict[str, DeploymentSpec]:
    """The bundled sample's two deployments (green scales its answers by 1.1)."""
    return {"blue": inference(docker_env, count=blue_count),
            "green": inference(docker_env, env={"SCORE_SCALE": "1.1"})}


def router_errors(project: DockerProject) -> str:
    """The router's own error lines (nginx error log on stderr), for a failure's message."""
    logs = project.daemon.docker("logs", f"{project.name_prefix}{ENDPOINT}-router", check=False)
    return "\n".join(line for line in logs.stderr.splitlines()
                     if "[error]" in line or "[warn]" in line or "[crit]" in line)[-4000:]


def covered(stream: Stream, results: list[Any]) -> None:
    """The stream ran until it was stopped (not cut short by its request cap)."""
    assert len(results) < stream.max_requests, "the stream hit its cap before the change ended"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def serving(project: DockerProject) -> dict[str, str]:
    """name -> health of the instance containers that are running."""
    return {n: c["health"] for n, c in project.containers().items()
            if c["labels"].get(labels.ROLE) == "instance" and c["status"] == "running"}


def test_up_serves_the_sample(live: DockerProject, docker_env: DockerEnv) -> None:
    """(a) The sample (blue 3 + green 3, 90/10) comes up healthy and answers with key auth."""
    live.declare(sample(docker_env), {"blue": 90, "green": 10})
    started = time.monotonic()
    live.up()
    print(f"\nfirst pulumi up: {time.monotonic() - started:.1f} s")
    live.expect_no_changes()
    containers = live.containers()
    instances = {n: c for n, c in containers.items() if c["labels"][labels.ROLE] == "instance"}
    assert sorted(map(instance_of, instances)) == sorted(
        f"{ENDPOINT}-{d}-{i}" for d in ("blue", "green") for i in range(3))
    assert {c["health"] for c in instances.values()} == {"healthy"}
    assert containers[f"{ENDPOINT}-router"]["health"] == "healthy"
    assert containers[f"{ENDPOINT}-router-config"]["status"] == "exited"
    port, key = live.port(), live.key()
    client = Client(port)
    answer = client.request(headers=auth(key))
    assert answer.status == 200, answer
    assert answer.json()["predictions"] and answer.deployment in ("blue", "green")
    assert client.request(headers=auth(live.key("secondary"))).status == 200
    assert client.request().status == 401
    assert client.request(headers=auth("not-the-key-" + "x" * 20)).status == 401
    pinned = client.request(headers={**auth(key), HEADER: "green"})
    assert (pinned.status, pinned.deployment) == (200, "green")
    assert pinned.json()["predictions"] == [round(1.1 * 2.049, 6)]


def wave_size(project: DockerProject) -> int:
    """New 1-core instances (INSTANCE_TYPE) per creation wave: floor(host CPUs / 1)."""
    return max(1, int(project.docker("info", "--format", "{{.NCPU}}").strip()))


def assert_waves(events: list[Event], names: list[str], size: int) -> None:
    """``names`` (new containers, in order) were created in waves of ``size``: all of a wave
    created before any of it is healthy (at once, not chained), no wave created before the
    previous one is healthy, so never more than ``size`` booting at once; all healthy."""
    created: dict[str, float] = {}
    healthy: dict[str, float] = {}
    for e in events:
        if e.action == "create":
            created.setdefault(e.name, e.at)
        elif e.action == "health_status: healthy":
            healthy.setdefault(e.name, e.at)
    assert set(names) <= set(created) and set(names) <= set(healthy), timeline(events)
    waves = [names[i:i + size] for i in range(0, len(names), size)]
    for wave in waves:
        assert max(created[n] for n in wave) < min(healthy[n] for n in wave), (
            f"wave {wave} was not created at once:\n" + timeline(events))
    for previous, following in itertools.pairwise(waves):
        assert min(created[n] for n in following) >= max(healthy[n] for n in previous), (
            f"wave {following} was created before {previous} was healthy:\n" + timeline(events))
    booting = sorted([(created[n], 1) for n in names] + [(healthy[n], -1) for n in names])
    assert max(itertools.accumulate(step for _, step in booting)) <= size, timeline(events)


def served_by(project: DockerProject, names: set[str]) -> dict[str, int]:
    """POST /score requests each container answered, from its own log."""
    found = {}
    for name in sorted(names):
        logs = project.daemon.docker("logs", name, check=False)
        found[name] = sum("POST /score" in line and "gunicorn.access" in line
                          for line in (logs.stdout + logs.stderr).splitlines())
    return found


def test_a_new_deployment_is_created_in_waves_of_the_host_cpus(live: DockerProject,
                                                               docker_env: DockerEnv) -> None:
    """(b0) red (5 one-core instances, 0%) added to the live endpoint: none of its containers
    is on the host, so they are created in waves of floor(host CPUs / 1) (2 on a 2-core
    machine: [0, 1], [2, 3], [4]), each wave at once and after the previous one is healthy,
    as the engine's log says; blue and green keep their containers; every red instance is
    healthy and answers requests pinned to red; removing red leaves the rest serving."""
    live.declare(sample(docker_env), {"blue": 90, "green": 10})
    live.up()
    before = live.containers()
    size = wave_size(live)
    live.declare({**sample(docker_env), "red": inference(docker_env, count=5)},
                 {"blue": 90, "green": 10, "red": 0})
    with EventWatch(live.daemon) as watch:
        started = time.monotonic()
        done = live.up()
        seconds = time.monotonic() - started
    red = watch.of("red")
    print(f"\nnew deployment red (5 instances, waves of {size}): pulumi up {seconds:.1f} s\n"
          f"{timeline(red)}")
    names = sorted({e.name for e in red if e.action == "create"},
                   key=lambda n: int(instance_of(n).rsplit("-", 1)[1]))
    assert [instance_of(n) for n in names] == [f"{ENDPOINT}-red-{i}" for i in range(5)]
    assert_waves(red, names, size)
    assert f"my-endpoint/red creates 5 new instances in {len(range(0, 5, size))} wave" in (
        done.stdout + done.stderr)
    after = live.containers()
    for name, container in before.items():
        if container["labels"].get(labels.ROLE) == "instance":
            assert after[name]["id"] == container["id"], name
    assert {serving(live)[n] for n in names} == {"healthy"}
    port, key = live.port(), live.key()
    pinned = hammer(port, 200, threads=4, headers={**auth(key), HEADER: "red"})
    assert not failures(pinned, expect="red")
    answered = served_by(live, set(names))
    assert all(answered.values()), answered
    live.expect_no_changes()
    live.declare(sample(docker_env), {"blue": 90, "green": 10})
    live.up()
    assert sorted(map(instance_of, serving(live))) == sorted(
        f"{ENDPOINT}-{d}-{i}" for d in ("blue", "green") for i in range(3))


@dataclass
class Roll:
    """One ``pulumi up`` under load: both streams' results, every event of the endpoint's
    containers, the seconds, the deployment's healthy containers before (and their
    addresses on the endpoint's network) and when the watch began (epoch seconds)."""

    results: list[Any]
    loaded: list[Any]
    events: list[Event]
    seconds: float
    before: set[str]
    addresses: dict[str, str]
    started: float

    def of(self, deployment: str, role: str = "instance") -> list[Event]:
        return [e for e in self.events if e.deployment == deployment and e.role == role]


def addresses_of(project: DockerProject, names: set[str]) -> dict[str, str]:
    """name -> IP address on the endpoint's network."""
    found = {}
    for name in sorted(names):
        found[name] = project.docker(
            "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            name).strip()
    return found


def roll_under_load(project: DockerProject, deployment: str, declared: dict[str, DeploymentSpec],
                    traffic: dict[str, int], clients: tuple[int, int] = (4, 2)) -> Roll:
    """``pulumi up`` of ``declared`` while the suite's stream (4 keep-alive clients) runs
    through the router and a second stream (2 clients, a new connection per request, pinned to
    ``deployment``) loads the host (``clients``: how many of each; a 1-instance deployment with
    max_concurrent_requests_per_instance 1 answers at most 2 at once, Azure's 429 threshold)."""
    before = {n for n, health in serving(project).items()
              if health == "healthy" and project.containers()[n]["labels"].get(
                  labels.DEPLOYMENT) == deployment}
    addresses = addresses_of(project, before)
    project.declare(declared, traffic)
    port, key = project.port(), project.key()
    with EventWatch(project.daemon) as watch, \
            Stream(port, threads=clients[0], max_requests=200_000, headers=auth(key)) as stream, \
            Stream(port, threads=clients[1], keep_alive=False, max_requests=200_000,
                   headers={**auth(key), HEADER: deployment}) as load:
        started = time.monotonic()
        project.up()
        seconds = time.monotonic() - started
        results, loaded = stream.stop(), load.stop()
    covered(stream, results)
    covered(load, loaded)
    return Roll(results, loaded, list(watch.events), seconds, before, addresses, watch.started)


def router_log(project: DockerProject) -> list[dict[str, Any]]:
    """The router's JSON access log lines (one per request it answered)."""
    logs = project.daemon.docker("logs", f"{project.name_prefix}{ENDPOINT}-router", check=False)
    found = []
    for line in logs.stdout.splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and "upstream" in entry:
            found.append(entry)
    return found


def assert_drained_before_stopped(project: DockerProject, roll: Roll, deployment: str,
                                  count: int, surge: bool = True) -> str:
    """Every old container got no new request from the router after the router had taken it
    out: an in-place batch's when its drain container exited (the drain waits until the router
    serves the file with the batch ``down``), the old surge containers when the config
    container exited (it lists the new revision's names). A request counts as new when the
    router received it after that moment (its log: ``msec - request_time``) and it went to
    the old container's address before the container was gone (its ``destroy``). Returns a
    summary line."""
    def first(name: str, action: str, role: str) -> float | None:
        return min((roll.started + e.at for e in roll.events
                    if e.name == name and e.action == action and e.role == role), default=None)

    taken_out: dict[str, float] = {}
    for number, members in enumerate(batches(count), start=1):
        if surge and number == 1:
            drain = f"{project.name_prefix}{ENDPOINT}-router-config"
            when = max((roll.started + e.at for e in roll.events
                        if e.name == drain and e.action == "die"), default=None)
        else:
            when = first(f"{project.name_prefix}{ENDPOINT}-{deployment}-batch-{number}-drain",
                         "die", "drain")
        for index in members:
            old = f"{project.name_prefix}{ENDPOINT}-{deployment}-{index}"
            names = [n for n in roll.before if instance_of(n) == old]
            assert when is not None, f"no drain of batch {number}:\n" + timeline(roll.events)
            for name in names:
                taken_out[name] = when
    entries = router_log(project)
    late: list[str] = []
    for name, out in taken_out.items():
        gone = first(name, "destroy", "instance") or first(name, "die", "instance")
        address = f"{roll.addresses[name]}:"
        for entry in entries:
            received = float(entry["msec"]) - float(entry["request_time"])
            if out + 0.002 < received < (gone or float("inf")) and any(
                    a.strip().startswith(address) for a in entry["upstream"].split(",")):
                late.append(f"{name} ({address}) got a request {received - out:.3f} s after "
                            f"it was taken out: {entry}")
    assert not late, "\n".join(late[:10]) + "\n" + timeline(roll.events)
    exits = sorted({e.detail for e in roll.events
                    if e.action == "die" and e.name in taken_out})
    stops = [died - told for name in taken_out
             if (told := first(name, "kill", "instance")) is not None
             and (died := first(name, "die", "instance")) is not None]
    return (f"{len(taken_out)} old containers taken out before they stopped, none got a new "
            f"request after ({len(entries)} router log lines); their exits: {exits}, SIGTERM "
            f"-> exit {min(stops, default=0):.1f} .. {max(stops, default=0):.1f} s")


def assert_no_failures(project: DockerProject, *streams: list[Any]) -> None:
    for results in streams:
        failed = failures(results)
        assert not failed, (f"{len(failed)} of {len(results)} failed: " + ", ".join(
            f"{r.status} at {r.started - results[0].started:.1f} s after {r.seconds:.1f} s "
            f"{r.error or r.body[:60]!r}" for r in failed[:10]) + "\n" + router_errors(project))


def assert_surge_order(events: list[Event], count: int, new_image: str) -> None:
    """The surge batch's new containers are healthy before any old container is told to stop;
    every later batch's old containers stop only after the previous batch is healthy, and the
    surge batch's old containers stop last (the engine removes them at the end)."""
    planned = batches(count)
    healthy: dict[str, float] = {}
    killed: dict[str, float] = {}
    for e in events:
        if e.action == "health_status: healthy" and e.image == new_image:
            healthy.setdefault(instance_of(e.name), e.at)
        elif e.action.startswith("kill") and e.image != new_image:
            killed.setdefault(instance_of(e.name), e.at)
    names = [[f"{ENDPOINT}-blue-{i}" for i in members] for members in planned]
    assert all(n in healthy and n in killed for b in names for n in b), timeline(events)
    surge_healthy = max(healthy[n] for n in names[0])
    assert surge_healthy < min(killed.values()), "an old container stopped before the surge " \
        "batch was healthy:\n" + timeline(events)
    for previous, following in itertools.pairwise(names[1:]):
        assert min(killed[n] for n in following) >= max(healthy[n] for n in previous), (
            f"batch {following} stopped before {previous} was healthy:\n" + timeline(events))
    assert min(killed[n] for n in names[0]) >= max(healthy.values()), timeline(events)


def preview_of_the_roll(project: DockerProject) -> str:
    """The engine's ``pulumi preview --json`` of blue's 10-instance image roll, and mlplan's
    reading of it (``mlplan review --preview-json``): the drains of batches 2-5 and the config
    container are replaced, green's drains are not; the review shows the plan's schedule and
    names the drained batches, never counting a drain as an instance."""
    doc = project.pulumi.preview_json()
    ops = {s["urn"].split("::")[-1]: s["op"] for s in doc["steps"] if s["op"] != "same"}
    drains = {n: op for n, op in ops.items() if n.endswith("-drain")}
    assert drains == {f"{ENDPOINT}-blue-batch-{b}-drain": "replace" for b in (2, 3, 4, 5)}, ops
    assert ops[f"{ENDPOINT}-router-config"] == "replace", ops
    assert f"{ENDPOINT}-router" not in ops, ops
    review = stack_preview(PreviewInput(document=doc), delete_first_types=delete_first_types())
    blue = next(d for d in review.endpoints[0].deployments if d.name == "blue")
    rolls = [step.summary for step in blue.shown_steps if step.kind == "roll"]
    assert rolls == ["10 instances: 5 batches of 2, peak 12, at least 10 serving"], rolls
    notes = " ".join(blue.reasons)
    assert "batches 2, 3, 4, 5 are taken out of the routing" in notes, notes
    return f"preview of the roll: {rolls[0]}; {sorted(drains)} replaced; {notes}"


@pytest.mark.parametrize("run", [1, 2, 3], ids=["run 1", "run 2", "run 3"])
def test_rolling_update_surges_at_full_capacity(live: DockerProject, docker_env: DockerEnv,
                                                run: int) -> None:
    """(b) blue at 10 instances (90% live), its image changed (three runs in a row, r2 and back):
    the surge batch's 2 new containers are created and healthy beside the old ones before any
    old one stops, batches 2-5 then go one at a time, each taken out of the routing by its
    drain first, the old surge containers last: peak 12 running, never fewer than 10 serving
    (docker events and health states), no failed request in the suite's stream nor in a second
    stream loading the host, and no old container got a new request after it was taken out
    (the router's own log); no container was killed at the end of its stop grace."""
    images = ["inference_r2", "inference", "inference_r2"]
    old, new = ("inference", *images)[run - 1], images[run - 1]
    start = sample(docker_env, blue_count=10)
    start["blue"] = inference(docker_env, old, count=10)
    live.declare(start, {"blue": 90, "green": 10})
    with EventWatch(live.daemon) as scaling:  # 3 -> 10 (run 1): the new ones in waves
        live.up()
    if run == 1:
        print(f"\nscale blue 3 -> 10:\n{timeline(scaling.of('blue'))}")
    live.expect_no_changes()
    changed = dict(start)
    changed["blue"] = inference(docker_env, new, count=10)
    if run == 1:
        live.declare(changed, {"blue": 90, "green": 10})
        print(preview_of_the_roll(live))
    roll = roll_under_load(live, "blue", changed, {"blue": 90, "green": 10})
    blue = roll.of("blue")
    seen = capacity(blue, roll.before, roll.before)
    failed = failures(roll.results) + failures(roll.loaded)
    print(f"\nrolling update of blue (10 instances, run {run}): pulumi up {roll.seconds:.1f} s, "
          f"{len(roll.results)} + {len(roll.loaded)} requests, {len(failed)} failed, p99 "
          f"{percentile([r.seconds for r in roll.results], 99) * 1000:.1f} ms, peak "
          f"{seen.peak_running} running, fewest {seen.min_serving} serving, load average "
          f"{os.getloadavg()[0]:.1f}\n"
          f"{timeline(blue + roll.of('blue', 'drain'))}")
    assert_no_failures(live, roll.results, roll.loaded)
    assert len(roll.before) == 10
    assert (seen.peak_running, seen.min_serving) == (12, 10), timeline(blue)
    assert_surge_order(blue, 10, docker_env.images[new])
    print(assert_drained_before_stopped(live, roll, "blue", 10))
    killed = [e.name for e in blue if e.action == "die" and e.detail == "exit 137"]
    assert not killed, f"killed at the end of the stop grace: {killed}\n{timeline(blue)}"
    live.expect_no_changes()
    assert set(serving(live).values()) == {"healthy"} and len(serving(live)) == 13


def test_one_instance_at_100_percent_keeps_serving_through_a_roll(
        live: DockerProject, docker_env: DockerEnv) -> None:
    """(b1) blue with 1 instance and 100% of live traffic, its image changed: the new container
    is healthy and routed before the old one stops (no drain: the config container switches
    the routing from the old revision's container to the new one's); never fewer than 1
    serving, peak 2, no failed request (the issue: delete-first took the endpoint down)."""
    one = {"blue": inference(docker_env, count=1), "green": inference(docker_env, count=1)}
    live.declare(one, {"blue": 100, "green": 0})
    live.up()
    live.expect_no_changes()
    changed = dict(one)
    changed["blue"] = inference(docker_env, "inference_r2", count=1)
    roll = roll_under_load(live, "blue", changed, {"blue": 100, "green": 0}, (1, 1))
    blue = roll.of("blue")
    seen = capacity(blue, roll.before, roll.before)
    print(f"\nrolling update of blue (1 instance, 100%): pulumi up {roll.seconds:.1f} s, "
          f"{len(roll.results)} + {len(roll.loaded)} requests, "
          f"{len(failures(roll.results)) + len(failures(roll.loaded))} failed, peak "
          f"{seen.peak_running}, fewest {seen.min_serving} serving\n{timeline(blue)}")
    assert_no_failures(live, roll.results, roll.loaded)
    assert len(roll.before) == 1
    assert (seen.peak_running, seen.min_serving) == (2, 1), timeline(blue)
    assert_surge_order(blue, 1, docker_env.images["inference_r2"])
    assert not roll.of("blue", "drain")  # the surge batch is all of it: nothing to drain
    print(assert_drained_before_stopped(live, roll, "blue", 1))
    assert any(r.deployment == "blue" for r in roll.results[-50:])
    assert_pinned(live, {n for n in live.containers() if n.startswith(f"{ENDPOINT}-blue-0-")})
    live.expect_no_changes()


def assert_pinned(project: DockerProject, names: set[str]) -> None:
    """The live routing.conf follows each of ``names`` (routed, not down) with its address on
    the endpoint's network as a ``backup`` server (the writers' pin: a reload's new workers
    have no address for a ``resolve`` name until their first DNS answer)."""
    live = project.daemon.docker("exec", f"{project.name_prefix}{ENDPOINT}-router", "cat",
                                 f"{docker_containers.ROUTER_CONF_DIR}/routing.conf").stdout
    lines = live.splitlines()
    assert names
    for name, address in addresses_of(project, names).items():
        at = next(i for i, line in enumerate(lines) if line.split()[1:2] == [f"{name}:5001"])
        assert lines[at + 1].split()[:3] == ["server", f"{address}:5001", "backup"], live


def test_split_and_mirror_change_only_the_config_container(live: DockerProject,
                                                           docker_env: DockerEnv) -> None:
    """(c) 90/10 -> 50/50, then a 10% mirror to green at 0%: only the config container is
    replaced, the router keeps its container and start time, no request fails, and 2,000
    requests afterwards fit 50/50."""
    deployments = sample(docker_env)
    live.declare(deployments, {"blue": 90, "green": 10})
    live.up()
    before = live.containers()
    router = f"{ENDPOINT}-router"
    port, key = live.port(), live.key()
    for traffic, mirror in (({"blue": 50, "green": 50}, {}),
                            ({"blue": 100, "green": 0}, {"green": 10})):
        live.declare(deployments, traffic, mirror)
        preview = live.pulumi.preview_json()
        # Concrete resources only: the OnlineEndpoint component's props (its traffic) update.
        changed = {s["urn"].split("::")[-1]: s["op"] for s in preview["steps"]
                   if s["op"] != "same"
                   and not s["urn"].split("::")[2].split("$")[-1].startswith("mlplan:index:")}
        assert changed == {f"{ENDPOINT}-router-config": "replace"}, changed
        with Stream(port, threads=4, max_requests=200_000, headers=auth(key)) as stream:
            live.up()
            results = stream.stop()
        print(f"\n{traffic} mirror {mirror}: {len(results)} requests during up, "
              f"{len(failures(results))} failed")
        assert not failures(results), failures(results)[:5]
        after = live.containers()
        assert (after[router]["id"], after[router]["started"]) == (
            before[router]["id"], before[router]["started"])
        instances = {n for n, c in after.items() if c["labels"][labels.ROLE] == "instance"}
        assert {n: after[n]["id"] for n in instances} == {n: before[n]["id"] for n in instances}
        live.expect_no_changes()
        if not mirror:
            time.sleep(2)  # the router's watcher reloads within a second
            counted = hammer(port, 2000, threads=4, headers=auth(key))
            assert not failures(counted)
            observed = {d: sum(r.deployment == d for r in counted) for d in ("blue", "green")}
            p = chi_square_p(observed, {"blue": 0.5, "green": 0.5})
            print(f"50/50 over 2000 requests: {observed}, chi-square p = {p:.3f}")
            assert p > 0.001, observed
    time.sleep(2)
    copies_before = scored(live, "green")
    live_answers = hammer(port, 1000, threads=4, headers=auth(key))
    assert not failures(live_answers, expect="blue")  # mirrored answers never reach a client
    time.sleep(2)  # copies are sent in the background
    copies = scored(live, "green") - copies_before
    print(f"mirror 10%: green scored {copies} copies of 1000 live requests")
    assert 50 <= copies <= 150, copies  # 10% +- 5 points (binomial sd 0.95 points)


def scored(project: DockerProject, deployment: str) -> int:
    """POST /score requests the deployment's instances answered, from their own logs."""
    total = 0
    for name, container in project.containers().items():
        if container["labels"].get(labels.DEPLOYMENT) == deployment:
            logs = project.daemon.docker("logs", name, check=False)
            total += sum("POST /score" in line and "gunicorn.access" in line
                         for line in (logs.stdout + logs.stderr).splitlines())
    return total


def test_bad_image_fails_in_the_first_batch_and_the_rest_keeps_serving(
        live: DockerProject, docker_env: DockerEnv) -> None:
    """(e) An image that never becomes healthy: ``pulumi up`` fails within the first batch's
    wait, names the deployment and batch, the untouched instances keep serving; the previous
    image restores full capacity."""
    good = {"blue": inference(docker_env, count=5), "green": inference(docker_env, count=1)}
    live.declare(good, {"blue": 100, "green": 0})
    live.up()
    before = live.containers()
    bad = dict(good)
    bad["blue"] = inference(docker_env, "inference_broken", count=5)
    live.declare(bad, {"blue": 100, "green": 0})
    port, key = live.port(), live.key()
    with Stream(port, threads=4, max_requests=200_000, headers=auth(key)) as stream:
        started = time.monotonic()
        failed = live.up(check=False)
        seconds = time.monotonic() - started
        results = stream.stop()
    covered(stream, results)
    output = failed.stdout + failed.stderr
    print(f"\nbad image: pulumi up exited {failed.returncode} after {seconds:.1f} s; "
          f"{len(results)} requests, {len(failures(results))} failed")
    assert failed.returncode != 0
    # initial_delay + period x failure_threshold + timeout: the product's health wait
    wait_timeout = (FAST_PROBE["initial_delay"] + FAST_PROBE["period"] *
                    FAST_PROBE["failure_threshold"] + FAST_PROBE["timeout"])
    assert seconds < wait_timeout + 60, seconds
    assert "my-endpoint-blue-0" in output and "blue" in output
    # The failed container, and the deployment's batch map beside it in the engine's log.
    assert "container failed to be in healthy state" in output, output[-3000:]
    assert "my-endpoint/blue rolls in 5 batches of 1 (batch 1: instance 0;" in output
    assert not failures(results), (failures(results)[:5], router_errors(live))
    after = live.containers()
    for index in range(1, 5):  # batches 2-5 were never touched
        name = f"{ENDPOINT}-blue-{index}"
        assert after[name]["id"] == before[name]["id"], name
    live.declare(good, {"blue": 100, "green": 0})
    live.up()
    live.expect_no_changes()
    assert sorted(map(instance_of, serving(live))) == sorted(
        [*(f"{ENDPOINT}-blue-{i}" for i in range(5)), f"{ENDPOINT}-green-0"])
    assert set(serving(live).values()) == {"healthy"}


def mlplan(project: DockerProject, *args: str) -> subprocess.CompletedProcess[str]:
    """The project's own ``mlplan`` with the stack's engine environment (backend, DOCKER_HOST)."""
    return subprocess.run([str(VENV / "bin" / "mlplan"), *args], cwd=project.root,
                          env=dict(project.pulumi.env), capture_output=True, text=True,
                          timeout=1200, check=False)


def test_promote_apply_for_real(live: DockerProject, docker_env: DockerEnv,
                                tmp_path: Path) -> None:
    """(d) ``mlplan promote --to green --apply`` through every step to retire with the real
    gates; then a promotion to a deployment whose scoring script fails: the gate fails, all live
    traffic goes back to the split the promotion started from, the endpoint keeps serving."""
    live.declare(sample(docker_env), {"blue": 100, "green": 0})
    live.up()
    port, key = live.port(), live.key()
    with Stream(port, threads=2, max_requests=200_000, headers=auth(key)) as stream:
        done = mlplan(live, "promote", ENDPOINT, "--to", "green", "--stack", STACK, "--apply",
                      "--bake", "3")
        results = stream.stop()
    print(f"\npromote green --apply: exit {done.returncode}\n{done.stdout[-3000:]}"
          f"{done.stderr[-2000:]}\n{len(results)} requests, {len(failures(results))} failed")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert not failures(results), failures(results)[:5]
    assert not (live.endpoints_dir / "blue.yml").exists()  # retired
    assert set(map(instance_of, serving(live))) == {f"{ENDPOINT}-green-{i}" for i in range(3)}
    live.expect_no_changes()
    # A deployment whose scoring script raises: every /score answer is a 500.
    broken_code = live.root / "stacks" / "broken-score"
    broken_code.mkdir(exist_ok=True)
    (broken_code / "score.py").write_text(
        "def init():\n    pass\n\n\ndef run(raw_data):\n    raise RuntimeError('broken model')\n",
        encoding="utf-8")
    current = {"green": inference(docker_env, env={"SCORE_SCALE": "1.1"}),
               "red": inference(docker_env, count=1, code="../../broken-score")}
    live.declare(current, {"green": 100, "red": 0})
    live.up()
    (tmp_path / "sample.json").write_text('{"data": [[5.1, 3.5, 1.4, 0.2]]}', encoding="utf-8")
    with Stream(port, threads=2, max_requests=200_000, headers=auth(key)) as stream:
        refused = mlplan(live, "promote", ENDPOINT, "--to", "red", "--stack", STACK, "--apply",
                         "--bake", "3", "--sample", str(tmp_path / "sample.json"))
        results = stream.stop()
    print(f"\npromote red --apply: exit {refused.returncode}\n{refused.stdout[-3000:]}"
          f"{refused.stderr[-2000:]}\n{len(results)} requests, "
          f"{len(failures(results))} failed ({sum(r.deployment == '' for r in results)} "
          "without an answer from green)")
    assert refused.returncode == 1
    assert not failures([r for r in results if r.headers.get(HEADER) != "red"])
    endpoint = (live.endpoints_dir / "endpoint.yml").read_text(encoding="utf-8")
    assert "green: 100" in endpoint and "red: 0" in endpoint
    assert not failures(hammer(port, 200, threads=2, headers=auth(key)), expect="green")
    live.expect_no_changes()


def test_policy_pack_against_the_live_stack(live: DockerProject, docker_env: DockerEnv,
                                            tmp_path: Path) -> None:
    """(h) ``pulumi preview --policy-pack policies/`` on the live stack passes; with the pack's
    quota below the need it fails with MLP402."""
    live.declare(sample(docker_env), {"blue": 90, "green": 10})
    live.up()
    live.expect_no_changes()
    pack = policy_pack_copy(tmp_path)
    passing = live.pulumi.run("preview", "--policy-pack", str(pack), check=False)
    assert passing.returncode == 0, passing.stdout[-3000:] + passing.stderr[-3000:]
    config = tmp_path / "pack-config.json"
    config.write_text(json.dumps({"mlplan-quota": {"quota": {"total": 4}}}), encoding="utf-8")
    failing = live.pulumi.run("preview", "--policy-pack", str(pack),
                              "--policy-pack-config", str(config), check=False)
    output = failing.stdout + failing.stderr
    assert failing.returncode != 0 and "MLP402" in output, output[-3000:]


def test_two_stacks_side_by_side(live: DockerProject, engine: Engine, docker_env: DockerEnv,
                                 tmp_path: Path) -> None:
    """(g) The sample and a copy with ``namePrefix: pr-`` on one host: both serve, each router
    only from its own instances (the copy's blue answers are scaled by 3)."""
    live.declare(sample(docker_env), {"blue": 90, "green": 10})
    live.up()
    other = make_project(engine, docker_env, tmp_path / "other", name_prefix="pr-")
    other.declare({"blue": inference(docker_env, count=1, env={"SCORE_SCALE": "3"})},
                  {"blue": 100})
    try:
        other.up()
        other.expect_no_changes()
        assert set(map(instance_of, other.containers())) == {
            "pr-my-endpoint-router", "pr-my-endpoint-router-config", "pr-my-endpoint-blue-0"}
        theirs = hammer(other.port(), 200, threads=2, headers=auth(other.key()))
        ours = hammer(live.port(), 200, threads=2, headers=auth(live.key()))
        assert {predictions(r) for r in theirs} == {(round(3 * 2.049, 6),)}
        assert {predictions(r) for r in ours} <= {
            (2.049,), (round(1.1 * 2.049, 6),)}
        live.expect_no_changes()
    finally:
        other.pulumi.run("destroy", "--yes", check=False)
    assert not other.containers()


def predictions(result: Any) -> tuple[float, ...]:
    """The ``predictions`` list of a scoring answer, as a tuple (hashable)."""
    found = result.json()["predictions"]
    assert isinstance(found, list), result.body
    return tuple(found)


def test_destroy_leaves_nothing(live: DockerProject) -> None:
    """(f) ``pulumi destroy`` removes every container, network and volume it made."""
    live.pulumi.run("destroy", "--yes")
    label = f"label={labels.ENDPOINT}"
    assert live.docker("ps", "-aq", "--filter", label).split() == []
    assert live.docker("network", "ls", "-q", "--filter", label).split() == []
    assert live.docker("volume", "ls", "-q", "--filter", label).split() == []
