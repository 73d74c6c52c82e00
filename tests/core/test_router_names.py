"""Every deployment name the plan accepts (``spec.name_problem``) makes a router config the real
nginx accepts (issue 27 item 5): names that are nginx ``map`` keywords (``default``,
``include``, ``hostnames``, ``volatile``) are escaped with nginx's ``\\`` prefix, and a request
with ``azureml-model-deployment: default`` reaches deployment ``default``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mlplan.domain.spec import name_problem
from mlplan.router.nginx import MAIN_FILE, NginxRuntime, RouterBackend, RouterConfig, render_files
from tests.lib.host_nginx import host_nginx, scratch_runtime

#: nginx's map parameters, its other directive-looking words, and names near them
KEYWORDS = ["default", "include", "hostnames", "volatile", "map", "server", "location",
            "return", "set", "Default", "INCLUDE", "default-1", "include2", "live",
            "direct", "unknown", "unauthorized", "none"]

NAMES = st.from_regex(r"\A[a-zA-Z]([-a-zA-Z0-9]{1,30}[a-zA-Z0-9])?\Z").filter(
    lambda n: not name_problem(n))


def _nginx_t(names: list[str], folder: Path) -> subprocess.CompletedProcess[str]:
    folder.mkdir(parents=True, exist_ok=True)
    runtime = scratch_runtime(folder, folder)
    backends = tuple(RouterBackend(name=n, instances=(f"127.0.0.{i + 1}:5001",))
                     for i, n in enumerate(names))
    traffic = tuple((n, 100 if i == 0 else 0) for i, n in enumerate(names))
    mirror = ((names[-1], 10),) if len(names) > 1 else ()
    config = RouterConfig(endpoint="my-endpoint", listen_port=18080, listen_address="127.0.0.1",
                          backends=backends, traffic=traffic, mirror=mirror,
                          keys=("primary-key-0123456789", "secondary-key-0123456789"))
    for name, text in render_files(config, runtime).items():
        (folder / name).write_text(text)
    return subprocess.run([host_nginx(), "-t", "-c", str(folder / MAIN_FILE), "-p", str(folder)],
                          capture_output=True, text=True, check=False, timeout=30)


@pytest.mark.parametrize("name", KEYWORDS)
def test_nginx_accepts_a_keyword_deployment_name(name: str, tmp_path: Path) -> None:
    assert name_problem(name) == ""  # the plan accepts it, so the router must too
    result = _nginx_t(["blue", name], tmp_path)
    assert result.returncode == 0, result.stderr


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(names=st.lists(NAMES, min_size=1, max_size=4, unique_by=str.lower))
@example(names=["default", "include", "hostnames", "volatile"])
def test_nginx_accepts_every_name_the_plan_accepts(names: list[str], tmp_path: Path) -> None:
    folder = tmp_path / "t"  # short: the mirror socket's path is at most 100 characters
    if folder.exists():
        shutil.rmtree(folder)
    result = _nginx_t(names, folder)
    assert result.returncode == 0, result.stderr


def test_keyword_names_route_by_header() -> None:
    """Behaviour, not only syntax: the header map sends ``default`` to deployment default and
    an unknown name to the 404 route."""
    config = RouterConfig(endpoint="e", listen_port=1, backends=(
        RouterBackend(name="default", instances=("a:1",)),
        RouterBackend(name="include", instances=("b:1",))), traffic=(("default", 100),))
    routing = render_files(config, NginxRuntime())["routing.conf"]
    assert "\\default direct/default;" in routing
    assert "\\include direct/include;" in routing
    assert "    default unknown;" in routing  # the map's own default stays the keyword
