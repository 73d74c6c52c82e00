"""The Docker target's config container checks a routing configuration with the router
image's own nginx before copying it (issue 27 item 5), run here in that image as the target
runs it: no network (``networkMode: none``), instance names unresolvable (the target's
upstreams re-resolve at run time, ``server NAME resolve``), the staged files and the staged
static part as the target uploads them. An accepted configuration is copied into the volume;
a rejected one exits ``CONFIG_REJECTED_EXIT`` and leaves the volume as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlplan.edge import io, pipeline
from mlplan.targets.docker import plan as docker_plan
from mlplan.targets.docker import settings as docker_settings
from tests.engine.conftest import DockerEnv
from tests.targets.projects import make_project

# name, text appended to routing.conf, expected exit, copied
CASES = [
    ("the target's own configuration", "", 0, True),
    ("a deployment named default", "", 0, True),
    ("a configuration nginx rejects", "this is not nginx;\n",
     docker_plan.CONFIG_REJECTED_EXIT, False),
]


@pytest.mark.parametrize(("extra", "code", "copied"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_config_container_checks_in_the_router_image(docker_env: DockerEnv, tmp_path: Path,
                                                     extra: str, code: int,
                                                     copied: bool, request: pytest.FixtureRequest
                                                     ) -> None:
    name = "default" if "default" in request.node.callspec.id else "blue"
    root = make_project(tmp_path / "p", {name: {"count": 2}, "green": {"count": 1}},
                        traffic={name: 90, "green": 10})
    loaded = io.load_stack(root, "test")
    state = pipeline.planned(loaded.endpoints, loaded.settings, loaded.diagnostics)
    endpoint = state.endpoints[0]
    plan = docker_plan.plan_endpoint(endpoint, "development", docker_settings.of(loaded.settings),
                                     loaded.settings.assets, absolute=lambda p: f"/abs/{p}",
                                     is_file=lambda p: False)
    files = plan.routing_files(endpoint, ("primary-key-" + "p" * 20, "secondary-" + "s" * 20))
    staging, volume = tmp_path / "staging", tmp_path / "volume"
    staging.mkdir()
    volume.mkdir()
    (staging / "nginx.conf").write_text(plan.router.check_config)
    (staging / "keys.conf").write_text(files["keys.conf"])
    (staging / "routing.conf").write_text(files["routing.conf"] + extra)
    proc = docker_env.daemon.docker(
        "run", "--rm", "--network", "none",
        "-v", f"{staging}:{docker_plan.CONFIG_STAGING_DIR}:ro",
        "-v", f"{volume}:{docker_plan.ROUTER_CONF_DIR}",
        docker_env.images["router"], "/bin/sh", "-c", docker_plan.CONFIG_COPY_COMMAND,
        check=False)
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert (volume / "routing.conf").exists() is copied
    if copied:
        assert (volume / "routing.conf").read_text() == files["routing.conf"]
    else:
        assert "not applied" in proc.stderr
