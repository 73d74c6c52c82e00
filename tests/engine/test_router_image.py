"""Every router scenario of tests/core/test_router.py passes ``nginx -t`` in the router image
the Docker target runs (nginx from Debian sid), not only in the host's nginx.

The host's nginx (Debian bookworm: 1.22) cannot load what needs a newer one, such as
``server NAME resolve`` (nginx >= 1.27.3), which the Docker target uses; those scenarios are
checked here only. Each scenario's files are rendered with its own runtime except the config
folder (the mount), the upstream names stay names (``--add-host`` maps them to loopback, as
Docker's DNS would map them to containers), and one container checks them all.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from mlplan.router.nginx import MAIN_FILE, render_files, render_nginx_conf
from tests.core.test_router import SCENARIOS
from tests.engine.conftest import DockerEnv

MOUNT = "/cfg"
RESULT = re.compile(r"^(?P<index>\d+) (?P<conf>\S+) rc=(?P<rc>\d+)$")


def _hosts(index: int) -> list[str]:
    names = {address.rsplit(":", 1)[0] for backend in SCENARIOS[index].config.backends
             for address in backend.instances}
    return sorted(name for name in names if not re.fullmatch(r"[\d.]+", name))


@pytest.fixture(scope="module")
def image_results(docker_env: DockerEnv, tmp_path_factory: pytest.TempPathFactory
                  ) -> dict[tuple[int, str], tuple[int, str]]:
    """(scenario index, file) -> (exit code of ``nginx -t``, its output), from one container."""
    root = tmp_path_factory.mktemp("router-image")
    script = []
    for index, scenario in enumerate(SCENARIOS):
        folder = root / str(index)
        folder.mkdir()
        runtime = replace(scenario.runtime, conf_dir=f"{MOUNT}/{index}")
        config = replace(scenario.config, listen_port=8080, listen_address="127.0.0.1")
        for name, text in render_files(config, runtime).items():
            (folder / name).write_text(text)
        (folder / "single.conf").write_text(render_nginx_conf(config, runtime))
        for conf in (MAIN_FILE, "single.conf"):
            script.append(f"nginx -t -c {MOUNT}/{index}/{conf} > {MOUNT}/{index}/{conf}.out 2>&1;"
                          f" echo {index} {conf} rc=$?")
    hosts = sorted({name for index in range(len(SCENARIOS)) for name in _hosts(index)})
    command = ["run", "--rm", "--network", "none", "-v", f"{root}:{MOUNT}",
               *[arg for name in hosts for arg in ("--add-host", f"{name}:127.0.0.1")],
               docker_env.images["router"], "sh", "-c", "\n".join(script)]
    proc = docker_env.daemon.docker(*command, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results: dict[tuple[int, str], tuple[int, str]] = {}
    for line in proc.stdout.splitlines():
        found = RESULT.match(line)
        if found:
            key = (int(found["index"]), found["conf"])
            output = (root / found["index"] / f"{found['conf']}.out").read_text()
            results[key] = (int(found["rc"]), output)
    return results


def test_router_image_runs_a_new_enough_nginx(docker_env: DockerEnv) -> None:
    """The point of checking here: the image's nginx loads every scenario the host's may not."""
    proc = docker_env.daemon.docker("run", "--rm", "--network", "none",
                                    docker_env.images["router"], "nginx", "-v")
    found = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", proc.stdout + proc.stderr)
    assert found, proc.stdout + proc.stderr
    newest_needed = max(s.min_nginx for s in SCENARIOS)
    assert tuple(int(g) for g in found.groups()) >= newest_needed


@pytest.mark.parametrize("index", range(len(SCENARIOS)), ids=[s.name for s in SCENARIOS])
@pytest.mark.parametrize("conf", [MAIN_FILE, "single.conf"])
def test_router_image_accepts_scenario(index: int, conf: str,
                                       image_results: dict[tuple[int, str], tuple[int, str]],
                                       ) -> None:
    code, output = image_results[(index, conf)]
    assert code == 0, output
    assert "test is successful" in output

