"""A routing configuration nginx rejects fails ``pulumi up`` on Docker (issue 27 item 5): the
config container runs ``nginx -t`` on the staged files before copying them (so the router
keeps its previous configuration), exits ``CONFIG_REJECTED_EXIT``, and the component raises on
that exit code. The copy command is run here for real with the host's nginx."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pulumi
import pytest

from mlplan.router.drain import RoutingWriter, config_program
from mlplan.router.nginx import RouterBackend, RouterConfig, render_files
from mlplan.targets.docker import containers as docker_containers
from mlplan.targets.docker.resources import router_config_accepted
from tests.lib.host_nginx import host_nginx, scratch_runtime
from tests.targets.harness import one
from tests.targets.projects import make_project
from tests.targets.test_docker import CONTAINER, program


def _run_copy(tmp_path: Path, routing_extra: str) -> tuple[int, str, Path]:
    nginx = host_nginx()
    staging, live = tmp_path / "staging", tmp_path / "live"
    staging.mkdir()
    live.mkdir()
    runtime = scratch_runtime(staging, tmp_path)
    config = RouterConfig(endpoint="e", listen_port=18081, listen_address="127.0.0.1",
                          backends=(RouterBackend(name="blue", instances=("127.0.0.1:5001",)),),
                          traffic=(("blue", 100),), keys=("k" * 20,))
    files = render_files(config, runtime)
    (staging / "nginx.conf").write_text(files["nginx.conf"])
    (staging / "keys.conf").write_text(files["keys.conf"])
    (staging / "routing.conf").write_text(files["routing.conf"] + routing_extra)
    writer = RoutingWriter(conf_dir=str(live), staging_dir=str(staging),
                           router="mlplan-no-router.invalid", listen_port=18081,
                           health_path="/-/healthy", control_port=18082, wait_s=5)
    command = config_program(writer, "mlplan-router-config: endpoint e").replace(
        "nginx -t", f"{nginx} -p {tmp_path} -t")
    done = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True,
                          check=False, timeout=30)
    return done.returncode, done.stderr, live


COPIES = [
    ("an accepted configuration is copied", "", 0, True),
    ("a rejected one is not, and the exit says so", "this is not nginx;\n",
     docker_containers.CONFIG_REJECTED_EXIT, False),
]


@pytest.mark.parametrize(("extra", "code", "copied"), [c[1:] for c in COPIES],
                         ids=[c[0] for c in COPIES])
def test_config_container_checks_before_copying(tmp_path: Path, extra: str, code: int,
                                                copied: bool) -> None:
    returncode, stderr, live = _run_copy(tmp_path, extra)
    assert returncode == code, stderr
    assert (live / "routing.conf").exists() is copied
    assert (live / "keys.conf").exists() is copied


EXITS = [
    ("not run yet (preview)", None, "", None),
    ("applied", 0, "", None),
    ("rejected by nginx", docker_containers.CONFIG_REJECTED_EXIT,
     "nginx: [emerg] unknown directive \"this\" in /staging/routing.conf:3\n"
     "nginx: [emerg] invalid parameter \"Bearer abc\" in /staging/keys.conf:4\n",
     "nginx rejected the router configuration"),
    ("another failure", 1, "cp: cannot create\n", "routing writer failed (exit 1)"),
    ("the router did not serve it in time", 75, "mlplan-drain: the router ...\n",
     "did not serve the new routing within 60 s"),
]


@pytest.mark.parametrize(("code", "logs", "raised"), [e[1:] for e in EXITS],
                         ids=[e[0] for e in EXITS])
def test_router_config_accepted(code: int | None, logs: str, raised: str | None) -> None:
    if raised is None:
        assert router_config_accepted("my-endpoint", code, logs) is True
        return
    with pytest.raises(pulumi.RunError) as caught:
        router_config_accepted("my-endpoint", code, logs)
    text = str(caught.value)
    assert raised in text and "NOT" in text
    assert "Bearer abc" not in text  # a line about keys.conf is withheld
    if "routing.conf" in logs:
        assert "routing.conf:3" in text


def test_config_container_stages_a_checkable_nginx_conf(tmp_path: Path) -> None:
    recorded = program(make_project(tmp_path, {"blue": {"count": 1}}, traffic={"blue": 100}))
    config = one(recorded, CONTAINER, "my-endpoint-router-config")
    files = {u["file"]: u["content"] for u in config.inputs["uploads"]}
    check = files["/staging/nginx.conf"]
    assert 'include "/staging/routing.conf";' in check
    assert 'include "/staging/keys.conf";' in check
    assert check.replace("/staging", docker_containers.ROUTER_CONF_DIR) == \
        one(recorded, CONTAINER, "my-endpoint-router").inputs["uploads"][0]["content"]
    assert "nginx -t" in config.inputs["command"][-1]
