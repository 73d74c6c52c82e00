"""Which instance containers wait for which: only those the Docker host already has are chained
batch by batch (a replacement deletes first); new ones are created in waves of what the host's
CPUs can boot, per deployment; an unknown host chains everything. First the pure rule
(``docker_containers.instance_order``) as a table, then the program under mocks against a fake
Docker host (a unix socket answering ``/info`` and ``/containers/json``)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

import mlplan.targets.docker.resources as docker_target
from mlplan.domain import labels
from mlplan.edge.program import run
from mlplan.planning.rollout import batches
from mlplan.targets.docker.containers import (
    DeploymentContainers,
    Healthcheck,
    InstanceContainer,
    KnownHost,
    creation_note,
    instance_order,
    wave_size,
)
from tests.targets.harness import Recorded, by_type, one, run_program
from tests.targets.projects import make_project
from tests.targets.test_docker import CONTAINER, REVISION, instances
from tests.test_docker_host import http_ok

CHECK = Healthcheck(("CMD", "true"), "1s", "2s", "1s", 20)


def deployment(name: str, count: int, cpu_millis: int = 1000) -> DeploymentContainers:
    containers = tuple(
        InstanceContainer(name=f"{name}-{i}", index=i, batch=b, image="i", env=(), mounts=(),
                          labels=(), cpus="", memory_mib=0, gpus=0, port=5001,
                          healthcheck=CHECK, wait_timeout_s=23, cpu_millis=cpu_millis)
        for b, members in enumerate(batches(count), start=1) for i in members)
    return DeploymentContainers(name, "i", "", "", containers)


def names(prefix: str, indexes: range | list[int]) -> tuple[str, ...]:
    return tuple(f"{prefix}-{i}" for i in indexes)


def chained(prefix: str, count: int) -> dict[str, tuple[str, ...]]:
    """Every instance of batch k+1 waits for every instance of batch k."""
    found: dict[str, tuple[str, ...]] = {}
    previous: tuple[str, ...] = ()
    for members in batches(count):
        for i in members:
            found[f"{prefix}-{i}"] = previous
        previous = names(prefix, list(members))
    return found


ORDERS = [
    # name, (deployment, instances, cores millis), names on the host (None: unknown),
    # host CPUs, expected waits, expected waves
    ("new deployment on 2 CPUs: waves of 2", ("red", 5, 1000), [], 2,
     {"red-0": (), "red-1": (), "red-2": ("red-0", "red-1"), "red-3": ("red-0", "red-1"),
      "red-4": ("red-2", "red-3")},
     [names("red", range(2)), names("red", range(2, 4)), ("red-4",)]),
    ("new deployment on 64 CPUs: one wave, all at once", ("red", 5, 1000), [], 64,
     {n: () for n in names("red", range(5))}, [names("red", range(5))]),
    ("4-core instances on 2 CPUs: waves of 1 (at least one)", ("red", 3, 4000), [], 2,
     {"red-0": (), "red-1": ("red-0",), "red-2": ("red-1",)},
     [("red-0",), ("red-1",), ("red-2",)]),
    ("2-core instances on 5 CPUs: floor(5 / 2) = 2 a wave", ("red", 3, 2000), [], 5,
     {"red-0": (), "red-1": (), "red-2": ("red-0", "red-1")},
     [("red-0", "red-1"), ("red-2",)]),
    ("type without cores counts as one", ("red", 3, 0), [], 2,
     {"red-0": (), "red-1": (), "red-2": ("red-0", "red-1")},
     [("red-0", "red-1"), ("red-2",)]),
    ("replacement: batch by batch, no waves", ("blue", 5, 1000), names("blue", range(5)), 2,
     chained("blue", 5), []),
    ("host unknown: chained as a replacement", ("blue", 5, 1000), None, 64,
     chained("blue", 5), []),
    ("the docstring's scale 3 -> 5: the new wave, then the three chained (scale first, "
     "then roll)", ("blue", 5, 1000), names("blue", range(3)), 2,
     {"blue-3": (), "blue-4": (), "blue-0": ("blue-3", "blue-4"), "blue-1": ("blue-0",),
      "blue-2": ("blue-1",)},
     [("blue-3", "blue-4")]),
    ("scale 3 -> 10 on 2 CPUs: 7 new in 4 waves, the first existing batch after the last",
     ("blue", 10, 1000), names("blue", range(3)), 2,
     {"blue-3": (), "blue-4": (), "blue-5": ("blue-3", "blue-4"),
      "blue-6": ("blue-3", "blue-4"), "blue-7": ("blue-5", "blue-6"),
      "blue-8": ("blue-5", "blue-6"), "blue-9": ("blue-7", "blue-8"),
      "blue-0": ("blue-9",), "blue-1": ("blue-9",), "blue-2": ("blue-0", "blue-1")},
     [("blue-3", "blue-4"), ("blue-5", "blue-6"), ("blue-7", "blue-8"), ("blue-9",)]),
    ("gap after a failed up: an existing one waits for the last earlier existing batch",
     ("blue", 10, 1000), ["blue-0", "blue-1", "blue-6"], 4,
     {**{n: () for n in names("blue", [2, 3, 4, 5])},
      **{n: names("blue", [2, 3, 4, 5]) for n in names("blue", [7, 8, 9])},
      "blue-0": names("blue", [7, 8, 9]), "blue-1": names("blue", [7, 8, 9]),
      "blue-6": ("blue-0", "blue-1")},
     [names("blue", [2, 3, 4, 5]), names("blue", [7, 8, 9])]),
    ("other stacks' containers are not ours", ("red", 2, 1000), ["pr-red-0", "red-9"], 2,
     {"red-0": (), "red-1": ()}, [("red-0", "red-1")]),
]


@pytest.mark.parametrize(("name", "plan", "existing", "cpus", "waits", "waves"), ORDERS,
                         ids=[o[0] for o in ORDERS])
def test_instance_order(name: str, plan: tuple[str, int, int],
                        existing: list[str] | tuple[str, ...] | None, cpus: int,
                        waits: dict[str, tuple[str, ...]],
                        waves: list[tuple[str, ...]]) -> None:
    made = deployment(*plan)
    host = None if existing is None else KnownHost(cpus, frozenset(existing))
    order = instance_order(made, host)
    assert dict(order.waits) == waits
    assert list(order.waves) == waves
    # Registered in ``registration`` order, every container comes after all it waits for
    # (no cycle, nothing waits for a later resource).
    registered: set[str] = set()
    for container in order.registration(made):
        assert set(order.waits[container.name]) <= registered, container.name
        registered.add(container.name)
    assert registered == set(order.waits) == {c.name for c in made.containers}


SIZES = [("2 CPUs, 1 core", 2, 1000, 2), ("2 CPUs, 4 cores", 2, 4000, 1),
         ("5 CPUs, 2 cores", 5, 2000, 2), ("64 CPUs, 4 cores", 64, 4000, 16),
         ("half a core", 2, 500, 4), ("no cores given", 3, 0, 3)]


@pytest.mark.parametrize(("name", "cpus", "millis", "expected"), SIZES,
                         ids=[s[0] for s in SIZES])
def test_wave_size(name: str, cpus: int, millis: int, expected: int) -> None:
    assert wave_size(cpus, millis) == expected


NOTES = [
    ("a new deployment", ("red", 5, 1000), [], 2,
     "my-endpoint/red creates 5 new instances in 3 waves of 2 (floor(2 host CPUs / 1 core), "
     "wave 1: instances 0, 1; wave 2: 2, 3; wave 3: 4); each wave must be healthy before the "
     "next starts"),
    ("one added instance", ("blue", 4, 2000), names("blue", range(3)), 2,
     "my-endpoint/blue creates 1 new instance in 1 wave of 1 (floor(2 host CPUs / 2 cores), "
     "wave 1: instance 3); each wave must be healthy before the next starts"),
    ("nothing new", ("blue", 2, 1000), names("blue", range(2)), 2, ""),
]


@pytest.mark.parametrize(("name", "plan", "existing", "cpus", "expected"), NOTES,
                         ids=[n[0] for n in NOTES])
def test_creation_note(name: str, plan: tuple[str, int, int], existing: tuple[str, ...],
                       cpus: int, expected: str) -> None:
    made = deployment(*plan)
    order = instance_order(made, KnownHost(cpus, frozenset(existing)))
    assert creation_note("my-endpoint", made, order) == expected
    assert creation_note("my-endpoint", made, instance_order(made, None)) == ""


class FakeDockerHost:
    """Answers every connection: ``/info`` (``cpus``) and ``/containers/json`` (the names)."""

    def __init__(self, path: Path, cpus: int, containers: bytes) -> None:
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(8)
        self.info = http_ok({"NCPU": cpus, "MemTotal": 256 << 30})
        self.answers = {"/info": self.info, "/containers/json": containers}
        self.asked: list[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                request = conn.recv(65536).decode()
                target = request.split(" ", 2)[1] if " " in request else ""
                self.asked.append(target)
                conn.sendall(self.answers.get(target.split("?", 1)[0], self.info))

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def host() -> Iterator[list[FakeDockerHost]]:
    made: list[FakeDockerHost] = []
    yield made
    for fake in made:
        fake.close()


def listing(found: list[str]) -> bytes:
    return http_ok([{"Names": [f"/{n}"], "Labels": {}} for n in found])


def waits_of(recorded: list[Recorded], deployment_name: str) -> dict[str, set[str]]:
    """instance container name -> names of the instance containers it depends on (a surge
    container by its instance's name: ``my-endpoint-blue-0``, not ``...-blue-0-<revision>``)."""
    every = [r for d in ("blue", "green") for r in instances(recorded, d)]
    by_urn = {r.urn: REVISION.sub("", r.inputs["name"]) for r in every}
    drained = {r.urn: r for r in by_type(recorded, CONTAINER)
               if any(i["label"] == labels.ROLE and i["value"] == "drain"
                      for i in r.inputs.get("labels", []))}

    def through(urns: list[str]) -> set[str]:  # a batch's drain stands between two batches
        return {n for u in urns for n in ({by_urn[u]} if u in by_urn else
                                          through(drained[u].dependencies) if u in drained
                                          else set())}

    return {REVISION.sub("", r.inputs["name"]): through(r.dependencies)
            for r in instances(recorded, deployment_name)}


def with_revisions(existing: list[str], recorded: list[Recorded]) -> list[str]:
    """``existing`` with ``{rev}`` as the revision the program gave those containers."""
    names_by_instance = {REVISION.sub("", r.inputs["name"]): r.inputs["name"]
                         for d in ("blue", "green") for r in instances(recorded, d)}
    return [names_by_instance[n.replace("{rev}", "")] if "{rev}" in n else n for n in existing]


def as_sets(waits: dict[str, tuple[str, ...]]) -> dict[str, set[str]]:
    return {k: set(v) for k, v in waits.items()}


BLUE = "my-endpoint-blue"
PROGRAMS = [
    # id, blue count, containers on the host (None: no host answers), host CPUs, blue's waits
    ("new deployment, 8 CPUs / 4-core instances: waves of 2", 5, [], 8,
     {f"{BLUE}-0": set(), f"{BLUE}-1": set(), f"{BLUE}-2": {f"{BLUE}-0", f"{BLUE}-1"},
      f"{BLUE}-3": {f"{BLUE}-0", f"{BLUE}-1"}, f"{BLUE}-4": {f"{BLUE}-2", f"{BLUE}-3"}}),
    # a new revision: blue-0 (the surge batch) is a new container, created first; the four
    # others are replaced in place, batch by batch, after it
    ("replacement: surge batch first, then batch by batch", 5,
     [*names(BLUE, range(5)), "my-endpoint-green-0{rev}", "my-endpoint-green-1"], 8,
     as_sets(chained(BLUE, 5))),
    ("host unknown: chained as a replacement", 5, None, 8, as_sets(chained(BLUE, 5))),
    ("scale 3 -> 5: the new wave first, then the three chained", 5,
     [f"{BLUE}-0{{rev}}", *names(BLUE, range(1, 3)), "my-endpoint-green-0{rev}",
      "my-endpoint-green-1"], 8,
     {f"{BLUE}-3": set(), f"{BLUE}-4": set(), f"{BLUE}-0": {f"{BLUE}-3", f"{BLUE}-4"},
      f"{BLUE}-1": {f"{BLUE}-0"}, f"{BLUE}-2": {f"{BLUE}-1"}}),
]


@pytest.mark.parametrize(("name", "count", "existing", "cpus", "expected"), PROGRAMS,
                         ids=[p[0] for p in PROGRAMS])
def test_the_program_orders_instances_by_what_the_host_has(
        name: str, count: int, existing: list[str] | None, cpus: int,
        expected: dict[str, set[str]], host: list[FakeDockerHost], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    sock = tmp_path / "docker.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{sock}")  # no socket: the host is unknown
    root = make_project(tmp_path / "p", {"blue": {"count": count}, "green": {"count": 2}})
    if existing is not None:
        unknown = run_program(lambda: run(cwd=root, stack="test"), stack="test", project=root)
        monkeypatch.setattr(docker_target, "_unanswered", {})  # the next run asks the host
        host.append(FakeDockerHost(sock, cpus, listing(with_revisions(existing, unknown))))
    recorded = run_program(lambda: run(cwd=root, stack="test"), stack="test", project=root)
    assert waits_of(recorded, "blue") == expected
    if existing == []:  # each deployment its own waves: green's two in one
        assert waits_of(recorded, "green") == {"my-endpoint-green-0": set(),
                                               "my-endpoint-green-1": set()}
    # Healthy before traffic, config before the router, whatever the host holds.
    config = one(recorded, CONTAINER, "my-endpoint-router-config")
    every = {r.urn for d in ("blue", "green") for r in instances(recorded, d)}
    assert every <= set(config.dependencies)
    router = one(recorded, CONTAINER, "my-endpoint-router")
    assert config.urn in router.dependencies
    if host:
        asked = host[0].asked
        assert [a for a in asked if a == "/info"] == ["/info"], asked  # one ask, shared
        listed = [a for a in asked if a.startswith("/containers/json")]
        assert len(listed) == 1, asked
        query = parse_qs(urlsplit(listed[0]).query)
        assert query["all"] == ["1"]
        assert json.loads(query["filters"][0]) == {"label": ["mlplan.dev/role=instance"]}


UNREADABLE = [
    ("not a list", http_ok({"message": "page not found"})),
    ("names missing", http_ok([{"Id": "abc"}])),
    ("an error status", b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n"),
]


@pytest.mark.parametrize(("name", "answer"), UNREADABLE, ids=[a[0] for a in UNREADABLE])
def test_an_unreadable_listing_chains_everything(
        name: str, answer: bytes, host: list[FakeDockerHost], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    sock = tmp_path / "docker.sock"
    host.append(FakeDockerHost(sock, 8, answer))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{sock}")
    root = make_project(tmp_path / "p", {"blue": {"count": 3}})
    recorded = run_program(lambda: run(cwd=root, stack="test"), stack="test", project=root)
    assert waits_of(recorded, "blue") == as_sets(chained(BLUE, 3))


def test_a_host_that_does_not_answer_is_asked_once_per_minute(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """50 endpoint components on a host that never answers wait one timeout, not 50; a host
    that answers is asked each time (its containers change between runs)."""
    from mlplan.targets.docker.containers import DockerHost

    asked: list[str] = []
    answers = {"unix:///nobody": None, "unix:///up": DockerHost(cpus=2, memory_mib=2048)}

    def ask(where: str) -> DockerHost | None:
        asked.append(where)
        return answers[where]

    monkeypatch.setattr(docker_target.docker_host, "ask", ask)
    monkeypatch.setattr(docker_target, "_unanswered", {})
    clock = [1000.0]
    monkeypatch.setattr(docker_target.time, "monotonic", lambda: clock[0])
    for _ in range(50):
        assert docker_target._ask("unix:///nobody") is None
        assert docker_target._ask("unix:///up") is not None
    assert asked.count("unix:///nobody") == 1 and asked.count("unix:///up") == 50
    clock[0] += docker_target.UNANSWERED_S
    docker_target._ask("unix:///nobody")
    assert asked.count("unix:///nobody") == 2


def test_one_run_asks_the_host_once_for_every_endpoint(
        host: list[FakeDockerHost], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two endpoint components and the stack check share one ``/info`` and one listing in a
    run (50 endpoints: 2 blocking asks, not 100); the next run asks again, as the host's
    containers change between runs; both endpoints' orders come from the shared listing."""
    sock = tmp_path / "docker.sock"
    host.append(FakeDockerHost(sock, 8, listing([*names(BLUE, range(3))])))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{sock}")
    root = make_project(tmp_path / "p", {"blue": {"count": 3}})
    other = root / "stacks" / "endpoints" / "other"
    other.mkdir()
    for source in ("endpoint.yml", "blue.yml"):
        text = (root / "stacks" / "endpoints" / source).read_text()
        (other / source).write_text(text.replace("my-endpoint", "other-endpoint")
                                    .replace("../", "../../"))
    for run_number in (1, 2):
        recorded = run_program(lambda: run(cwd=root, stack="test"), stack="test", project=root)
        mine = {k: v for k, v in waits_of(recorded, "blue").items() if k.startswith(BLUE)}
        assert mine == as_sets(chained(BLUE, 3))  # on the host: a roll
        other = {r.urn: REVISION.sub("", r.inputs["name"]) for r in recorded
                 if str(r.inputs.get("name", "")).startswith("other-endpoint-blue-")
                 and not r.inputs["name"].endswith("-drain")}
        other_waits = {name: {other[u] for u in r.dependencies if u in other}
                       for r in recorded for name in [other.get(r.urn)] if name}
        o = "other-endpoint-blue"  # new there: waves of 2 (8 CPUs / 4-core instances)
        assert other_waits == {f"{o}-0": set(), f"{o}-1": set(), f"{o}-2": {f"{o}-0", f"{o}-1"}}
        asked = host[0].asked
        assert asked.count("/info") == run_number, asked
        assert len([a for a in asked if a.startswith("/containers/json")]) == run_number, asked
