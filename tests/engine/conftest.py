"""Fixtures of the engine suite: the real Pulumi CLI, language host and providers built from Go
modules by ``tests/engine/build.sh`` into a cache outside the repository, and a fresh ``file://``
backend with a passphrase secrets provider per test.

The build runs once per session (a no-op in about a second when the cache is warm). When it
cannot be done at all here (no Go, the module proxy refuses or cannot be reached: build.sh exits
2) every test of the suite is skipped with build.sh's own words; any other build failure fails
the tests. A test that needs a provider that cannot be built here (Docker, when the proxy refuses
one of its modules: see README.md) is skipped with the reason build.sh recorded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.lib import phases
from tests.lib.ci import in_ci

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
VENV = REPO / ".venv"
PY_SDK_VERSION = "v3.272.0"
PASSPHRASE = "mlplan-e2e"
#: Cold builds take tens of minutes on 2 cores (see README.md).
BUILD_TIMEOUT_S = 3 * 3600
COMMAND_TIMEOUT_S = 600


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


def cache_root() -> Path:
    base = os.environ.get("MLPLAN_ENGINE_CACHE") or str(Path.home() / ".cache" / "mlplan-engine")
    return Path(base) / PY_SDK_VERSION


def skip_or_fail(reason: str) -> None:
    """A suite that cannot run is skipped on a developer's machine but fails in CI
    (``tests.lib.ci.in_ci``)."""
    if in_ci():
        pytest.fail(f"{reason} (CI is set: this suite must run here)", pytrace=False)
    pytest.skip(reason)


@dataclass(frozen=True)
class Engine:
    """The built binaries (``bin``) and what could not be built (``unavailable``)."""

    bin: Path

    def unavailable(self, plugin: str) -> str | None:
        """Why ``pulumi-resource-<plugin>`` was not built, or None when it was."""
        if (self.bin / f"pulumi-resource-{plugin}").is_file():
            return None
        note = self.bin / "unavailable" / f"pulumi-resource-{plugin}.txt"
        if note.is_file():
            return " ".join(note.read_text(encoding="utf-8").split())
        return f"pulumi-resource-{plugin} is not in {self.bin}"

    def require(self, *plugins: str) -> None:
        """Skip (fail when CI is set: the suite must run there) without these providers."""
        for plugin in plugins:
            reason = self.unavailable(plugin)
            if reason:
                skip_or_fail(reason)


def _build(bash: str, config: pytest.Config,
           script: Path = HERE / "build.sh") -> subprocess.CompletedProcess[str]:
    """Run a build script (build.sh, yaml/build.sh); its progress lines (start, usual time,
    heartbeat, done) reach the terminal as they come, past pytest's capture, so a cold build is
    never a silent wait."""
    capture = config.pluginmanager.getplugin("capturemanager")
    label = "engine build" if script.parent == HERE else f"{script.parent.name} build"
    lines: list[str] = []
    with tempfile.TemporaryFile("w+") as errors, subprocess.Popen(
            [bash, str(script)], stdout=subprocess.PIPE, stderr=errors,
            text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if capture is not None:
                with capture.global_and_fixture_disabled():
                    print(f"{label}: {line}", end="", flush=True)
        returncode = proc.wait(timeout=BUILD_TIMEOUT_S)
        errors.seek(0)
        stderr = errors.read()
    return subprocess.CompletedProcess(proc.args, returncode, "".join(lines), stderr)


@pytest.fixture(scope="session")
def engine(pytestconfig: pytest.Config) -> Engine:
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    proc = _build(bash, pytestconfig)
    if proc.returncode != 0:
        reason = (proc.stderr.strip() or proc.stdout.strip())[-3000:]
        if proc.returncode == 2:
            skip_or_fail(f"the engine cannot be built here: {reason}")
        pytest.fail(f"tests/engine/build.sh failed (exit {proc.returncode}):\n{reason}")
    return Engine(cache_root() / "bin")


@pytest.fixture(scope="session")
def yaml_engine(engine: Engine, pytestconfig: pytest.Config) -> Engine:
    """The engine with Pulumi's YAML language host (``yaml/build.sh``, pulumi-yaml v1.25.0) in
    the same bin directory. Like the engine: exit 2 (cannot be built here) skips, or fails when
    CI is set; any other failure fails the tests that need it."""
    bash = shutil.which("bash")
    assert bash is not None  # the engine fixture ran it
    proc = _build(bash, pytestconfig, HERE / "yaml" / "build.sh")
    if proc.returncode != 0:
        reason = (proc.stderr.strip() or proc.stdout.strip())[-3000:]
        if proc.returncode == 2:
            skip_or_fail(f"the YAML language host cannot be built here: {reason}")
        pytest.fail(f"tests/engine/yaml/build.sh failed (exit {proc.returncode}):\n{reason}")
    return engine


@dataclass
class Pulumi:
    """``pulumi`` bound to one project folder and one fresh backend / PULUMI_HOME."""

    cwd: Path
    env: dict[str, str]

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["pulumi", *args, "--non-interactive"], cwd=self.cwd,
                              env=self.env, capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT_S, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"pulumi {' '.join(args)} exited {proc.returncode}\n"
                f"--- stdout ---\n{proc.stdout[-6000:]}\n--- stderr ---\n{proc.stderr[-6000:]}")
        return proc

    def preview_json(self, *args: str) -> dict[str, Any]:
        """``pulumi preview --json``; its document even when the preview fails (exit 255)."""
        proc = self.run("preview", "--json", *args, check=False)
        try:
            doc: dict[str, Any] = json.loads(proc.stdout)
        except json.JSONDecodeError as e:
            raise AssertionError(f"pulumi preview --json printed no JSON (exit "
                                 f"{proc.returncode}): {e}\n{proc.stdout[-3000:]}\n"
                                 f"{proc.stderr[-3000:]}") from e
        doc["_exitCode"] = proc.returncode
        doc["_stderr"] = proc.stderr
        return doc


def engine_env(engine: Engine, tmp: Path) -> dict[str, str]:
    """Environment with the built binaries first on PATH, a private PULUMI_HOME, a fresh
    ``file://`` backend and the passphrase secrets provider; never a plugin download."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PULUMI_") and k not in ("VIRTUAL_ENV", "PYTHONHOME")}
    (tmp / "state").mkdir(parents=True)
    (tmp / "home").mkdir(parents=True)
    env.update({
        "PATH": os.pathsep.join([str(engine.bin), env.get("PATH", "")]),
        "PULUMI_HOME": str(tmp / "home"),
        "PULUMI_BACKEND_URL": (tmp / "state").as_uri(),
        "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_SKIP_CONFIRMATIONS": "true",
    })
    return env


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A copy of the project (Pulumi.yaml, stacks/) whose virtualenv is the repo's .venv."""
    return copy_project(tmp_path / "project")


def copy_project(root: Path) -> Path:
    """Copy the project (Pulumi.yaml, stacks/) into the new folder ``root``, its virtualenv the
    repo's .venv (so the engine runs the program with the packages under test)."""
    root.mkdir()
    shutil.copytree(REPO / "stacks", root / "stacks",
                    ignore=shutil.ignore_patterns("__pycache__"))
    project = yaml.safe_load((REPO / "Pulumi.yaml").read_text(encoding="utf-8"))
    runtime = project.setdefault("runtime", {"name": "python"})
    if isinstance(runtime, str):
        runtime = project["runtime"] = {"name": runtime}
    runtime.setdefault("options", {})["virtualenv"] = str(VENV)
    (root / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False), encoding="utf-8")
    return root


@pytest.fixture
def pulumi_in(engine: Engine, tmp_path: Path) -> Iterator[Any]:
    """``pulumi_in(folder)`` -> a :class:`Pulumi` on a fresh backend under ``tmp_path``."""
    if not (VENV / "bin" / "python").exists():
        pytest.skip(f"no project virtualenv at {VENV} (run tests/run once)")
    made: list[Pulumi] = []

    def make(cwd: Path) -> Pulumi:
        p = Pulumi(cwd, engine_env(engine, tmp_path / f"engine{len(made)}"))
        made.append(p)
        return p

    yield make


@dataclass
class DockerEnv:
    """The private Docker Engine of the suite and the images built into it."""

    daemon: Any  # tests.docker.daemon.DockerDaemon
    images: dict[str, str]


@pytest.fixture(scope="session")
def docker_env() -> Iterator[DockerEnv]:
    """A private dockerd (tests/docker/daemon.py) with the suite's images, for the session.
    Failing to start it or to build an image fails the tests that need it, with the reason."""
    from tests.docker import daemon as docker_daemon

    begun = time.monotonic()
    try:
        daemon = docker_daemon.start()
    except docker_daemon.DaemonError as exc:
        pytest.fail(f"the private Docker Engine cannot start: {exc}", pytrace=False)
    phases.record("Docker Engine start", time.monotonic() - begun)
    try:
        images = docker_daemon.build_images(daemon, stream=False)
    except docker_daemon.DaemonError as exc:
        daemon.stop()
        pytest.fail(f"the e2e images cannot be built: {exc}", pytrace=False)
    try:
        yield DockerEnv(daemon, images)
    finally:
        daemon.stop()
