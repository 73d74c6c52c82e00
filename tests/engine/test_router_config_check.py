"""The Docker target's routing writers (``mlplan.router.drain``: the config container and a
batch's drain) check a routing configuration with the router image's own nginx before writing
it (issue 27 item 5), run here in that image as the target runs them: no router to ask (no
network: nothing to wait for), instance names unresolvable (the target's upstreams re-resolve
at run time, ``server NAME resolve``), the staged files and the staged static part as the
target uploads them. An accepted configuration is written into the volume with its generation
block; a rejected one exits ``CONFIG_REJECTED_EXIT`` and leaves the volume as it was; a drain
marks its batch ``down`` in the live file (nginx >= 1.27.3 accepts ``resolve ... down``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from mlplan.edge import io, pipeline
from mlplan.router.drain import GENERATION_BEGIN, PIN_MARK
from mlplan.targets.docker import containers as docker_containers
from mlplan.targets.docker import settings as docker_settings
from tests.engine.conftest import DockerEnv
from tests.targets.projects import make_project

# name, text appended to routing.conf, expected exit, copied
CASES = [
    ("the target's own configuration", "", 0, True),
    ("a deployment named default", "", 0, True),
    ("a configuration nginx rejects", "this is not nginx;\n",
     docker_containers.CONFIG_REJECTED_EXIT, False),
]


@pytest.mark.parametrize(("extra", "code", "copied"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_config_container_checks_in_the_router_image(docker_env: DockerEnv, tmp_path: Path,
                                                     extra: str, code: int,
                                                     copied: bool, request: pytest.FixtureRequest
                                                     ) -> None:
    name = "default" if "default" in request.node.callspec.id else "blue"
    plan, files, staging, volume = _staged(tmp_path, {name: 2, "green": 1},
                                           {name: 90, "green": 10}, extra)
    proc = _run(docker_env, staging, volume, plan.config_command)
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert (volume / "routing.conf").exists() is copied
    if copied:
        written = (volume / "routing.conf").read_text()
        assert written.startswith(files["routing.conf"])
        assert written.count(GENERATION_BEGIN) == 1
        assert "no router serving yet, nothing to wait for" in proc.stdout
    else:
        assert "not applied" in proc.stderr


def _staged(tmp_path: Path, counts: dict[str, int], traffic: dict[str, int], extra: str = ""
            ) -> tuple[docker_containers.EndpointContainers, dict[str, str], Path, Path]:
    """The target's plan of a project with these instance ``counts`` and ``traffic``, its
    routing files, a staging folder holding them as the config container gets them
    (``extra`` appended to routing.conf) and an empty volume folder."""
    root = make_project(tmp_path / "p", {d: {"count": n} for d, n in counts.items()},
                        traffic=traffic)
    loaded = io.load_stack(root, "test")
    state = pipeline.planned(loaded.endpoints, loaded.settings, loaded.diagnostics)
    endpoint = state.endpoints[0]
    plan = docker_containers.plan_endpoint(
        endpoint, "development", docker_settings.of(loaded.settings), loaded.settings.assets,
        absolute=lambda p: f"/abs/{p}", is_file=lambda p: False)
    files = plan.routing_files(endpoint, ("primary-key-" + "p" * 20, "secondary-" + "s" * 20))
    staging, volume = tmp_path / "staging", tmp_path / "volume"
    staging.mkdir()
    volume.mkdir()
    (staging / "nginx.conf").write_text(plan.router.check_config)
    (staging / "keys.conf").write_text(files["keys.conf"])
    (staging / "routing.conf").write_text(files["routing.conf"] + extra)
    return plan, files, staging, volume


def _run(docker_env: DockerEnv, staging: Path, volume: Path, command: str,
         hosts: tuple[tuple[str, str], ...] = (), network: str = "none",
         dns: str = "") -> Any:
    """``command`` in the router image as the target runs a writer; ``hosts``: (name, IPv4)
    entries of the container's /etc/hosts (names that resolve, as Docker's DNS answers them);
    ``network`` (none: no router to ask) and ``dns`` (a DNS server for the container)."""
    added = [arg for name, ip in hosts for arg in ("--add-host", f"{name}:{ip}")]
    added += ["--dns", dns] if dns else []
    return docker_env.daemon.docker(
        "run", "--rm", "--network", network, *added,
        "-v", f"{staging}:{docker_containers.CONFIG_STAGING_DIR}",
        "-v", f"{volume}:{docker_containers.ROUTER_CONF_DIR}",
        docker_env.images["router"], "/bin/sh", "-c", command, check=False)



def test_a_drain_marks_its_batch_down_in_the_router_image(docker_env: DockerEnv,
                                                          tmp_path: Path) -> None:
    """blue 5 (batches of 1) + green 1: after the config writer, blue's drain of batch 3 leaves
    green's block as it was, routes blue-0 by its alias (old and new surge container), marks
    blue-2 down and the others up; run again (the same drain) it writes the same file."""
    plan, _files, staging, volume = _staged(tmp_path, {"blue": 5, "green": 1},
                                            {"blue": 90, "green": 10})
    assert _run(docker_env, staging, volume, plan.config_command).returncode == 0
    configured = (volume / "routing.conf").read_text()
    blue = next(d for d in plan.deployments if d.name == "blue")
    drain = blue.drain_of(3)
    assert drain is not None
    drain_stage = tmp_path / "drain-staging"
    drain_stage.mkdir()
    (drain_stage / "nginx.conf").write_text(plan.router.check_config)
    (drain_stage / "upstream.conf").write_text(drain.upstream_conf)
    done = _run(docker_env, drain_stage, volume, drain.command)
    assert done.returncode == 0, done.stdout + done.stderr
    drained = (volume / "routing.conf").read_text()
    servers = [line.strip() for line in drained.splitlines() if line.strip().startswith("server ")]
    assert servers[:5] == [
        "server my-endpoint-blue-0:5001 resolve max_fails=0;",
        "server my-endpoint-blue-1:5001 resolve max_fails=0;",
        "server my-endpoint-blue-2:5001 resolve max_fails=0 down;",
        "server my-endpoint-blue-3:5001 resolve max_fails=0;",
        "server my-endpoint-blue-4:5001 resolve max_fails=0;"], drained
    green_block = configured[configured.index("upstream mlplan_green {"):]
    green_block = green_block[:green_block.index("}\n")]
    assert green_block in drained
    assert drained.count(GENERATION_BEGIN) == 1
    assert _run(docker_env, drain_stage, volume, drain.command).returncode == 0
    assert (volume / "routing.conf").read_text() == drained



# name, addresses each instance's names resolve to (its container name and its alias), the
# drained batch of blue (0: the config writer only), the expected pins after each instance
PIN_CASES = [
    ("every routed name pinned to its address",
     {"blue-0": ["10.9.0.5"], "blue-1": ["10.9.0.6"], "green-0": ["10.9.0.7"]}, 0,
     {"blue-0": ["10.9.0.5"], "blue-1": ["10.9.0.6"], "green-0": ["10.9.0.7"]}),
    ("a name with two containers pins both",
     {"blue-0": ["10.9.0.5", "10.9.0.15"], "blue-1": ["10.9.0.6"]}, 0,
     {"blue-0": ["10.9.0.5", "10.9.0.15"], "blue-1": ["10.9.0.6"], "green-0": []}),
    ("a name that does not resolve gets no pin", {}, 0,
     {"blue-0": [], "blue-1": [], "green-0": []}),
    ("a drained batch is not pinned, the others are",
     {"blue-0": ["10.9.0.5", "10.9.0.15"], "blue-1": ["10.9.0.6"], "green-0": ["10.9.0.7"]}, 2,
     {"blue-0": ["10.9.0.5", "10.9.0.15"], "blue-1": [], "green-0": ["10.9.0.7"]}),
]


@pytest.mark.parametrize(("addresses", "drained", "pins"), [c[1:] for c in PIN_CASES],
                         ids=[c[0] for c in PIN_CASES])
def test_writers_pin_the_addresses_of_the_moment(docker_env: DockerEnv, tmp_path: Path,
                                                 addresses: dict[str, list[str]],
                                                 drained: int,
                                                 pins: dict[str, list[str]]) -> None:
    """nginx's new workers have no address for a ``resolve`` name until their first DNS answer
    after a reload; the writers follow each routed name that is not ``down`` with its current
    addresses as ``backup`` servers, so a request in that window still finds one. blue 2
    (batches of 1: blue-0 is the surge batch, routed by revision name by the config writer and
    by alias by a drain) + green 1; written twice, the old pins are replaced, not repeated."""
    plan, _files, staging, volume = _staged(tmp_path, {"blue": 2, "green": 1},
                                            {"blue": 90, "green": 10})
    instance_of = {}
    for deployment in plan.deployments:
        for container in deployment.containers:
            short = container.alias.removeprefix("my-endpoint-")
            instance_of[container.name] = instance_of[container.alias] = short
    hosts = tuple((name, ip) for name, short in sorted(instance_of.items())
                  for ip in addresses.get(short, []))
    command, stage = plan.config_command, staging
    if drained:
        assert _run(docker_env, staging, volume, plan.config_command, hosts).returncode == 0
        drain = next(d for d in plan.deployments if d.name == "blue").drain_of(drained)
        assert drain is not None
        stage = tmp_path / "drain-staging"
        stage.mkdir()
        (stage / "nginx.conf").write_text(plan.router.check_config)
        (stage / "upstream.conf").write_text(drain.upstream_conf)
        command = drain.command
    for _ in range(2):
        done = _run(docker_env, stage, volume, command, hosts)
        assert done.returncode == 0, done.stdout + done.stderr
        written = (volume / "routing.conf").read_text().splitlines()
        found: dict[str, list[str]] = {}
        for number, line in enumerate(written):
            words = line.split()
            if words[:1] == ["server"] and "resolve" in words:
                following = []
                for after in written[number + 1:]:
                    if not after.endswith(PIN_MARK):
                        break
                    assert after.split()[2:4] == ["backup", "max_fails=0;"], after
                    following.append(after.split()[1].removesuffix(":5001"))
                found[instance_of[words[1].split(":")[0]]] = following
        assert found == pins, "\n".join(written)


def test_a_dns_that_does_not_answer_delays_a_write_at_most_2_s_a_name(
        docker_env: DockerEnv, tmp_path: Path) -> None:
    """Docker's DNS forwards a name it does not know (an instance container that is gone) to
    the host's resolvers; if they never answer, glibc's retries took 66 s for three names here.
    The writers give each pin lookup 2 s: blue 2 + green 1 (3 names) on an internal network
    whose DNS server never answers write their file unpinned well within 20 s."""
    plan, _files, staging, volume = _staged(tmp_path, {"blue": 2, "green": 1},
                                            {"blue": 90, "green": 10})
    network = f"mlplan-silent-dns-{tmp_path.name}"[:60]
    docker_env.daemon.docker("network", "create", "--internal", network)
    try:
        started = time.monotonic()
        # the router's name answers and its port refuses: nothing to wait for
        done = _run(docker_env, staging, volume, plan.config_command,
                    (("my-endpoint", "127.0.0.1"),), network=network, dns="192.0.2.1")
        seconds = time.monotonic() - started
    finally:
        docker_env.daemon.docker("network", "rm", network, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert PIN_MARK not in (volume / "routing.conf").read_text()
    assert seconds < 20, f"the write took {seconds:.1f} s"
