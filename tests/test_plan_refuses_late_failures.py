"""What used to plan cleanly and then fail inside ``pulumi up``, or silently do the wrong thing,
is a diagnostic in ``mlplan plan`` at the line with the fix (issue 27 items 11 and 13); and a
rendered document is masked once, before rendering, never rewritten afterwards (item 10)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlplan.edge.cli import main
from tests.targets.projects import copy_example_project

STACK = "stacks/Pulumi.dev.yaml"
BLUE = "stacks/endpoints/my-endpoint/blue.yml"


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    project = copy_example_project(tmp_path)
    monkeypatch.chdir(project)
    return project


def _edit(root: Path, file: str, old: str, new: str) -> None:
    text = (root / file).read_text()
    assert old in text, old
    (root / file).write_text(text.replace(old, new, 1))


def _add(root: Path, file: str, text: str) -> None:
    (root / file).write_text((root / file).read_text() + text)


def _target(target: str) -> Callable[[Path], None]:
    return lambda r: _edit(r, STACK, "mlplan:target: docker", f"mlplan:target: {target}")


# name, change, args, expected exit, expected (location prefix, message part)
CASES: list[tuple[str, Callable[[Path], None], list[str], int, list[tuple[str, str]]]] = [
    ("namePrefix with an underscore",
     lambda r: _add(r, STACK, "  mlplan:docker:\n    namePrefix: pr_\n"), [], 1,
     [(f"{STACK}:18 mlplan:docker.namePrefix", "cannot start a container's host name")]),
    ("resourceLimits: off unquoted is YAML's false",
     lambda r: _add(r, STACK, "  mlplan:docker:\n    resourceLimits: off\n"), [], 1,
     [(f"{STACK}:18 mlplan:docker.resourceLimits", "YAML read this as false"),
      ("", 'resourceLimits: "off"')]),
    ("resourceLimits quoted is fine",
     lambda r: _add(r, STACK, "  mlplan:docker:\n    resourceLimits: \"off\"\n"), [], 0, []),
    ("publishAddress not an address",
     lambda r: _add(r, STACK, "  mlplan:docker:\n    publishAddress: localhost\n"), [], 1,
     [(f"{STACK}:18 mlplan:docker.publishAddress", "is not an IP address")]),
    ("two endpoints on one host port",
     lambda r: _add(r, STACK, "  mlplan:docker:\n    ports: {a-endpoint: 8080, "
                              "my-endpoint: 8080}\n"), [], 1,
     [(f"{STACK}:18 mlplan:docker.ports", "both publish host port 8080")]),
    ("requestTimeoutMsManaged above the router's bound",
     lambda r: _add(r, STACK, "  mlplan:limits:\n    requestTimeoutMsManaged: 5000000\n"), [], 1,
     [(f"{STACK}:18 mlplan:limits.requestTimeoutMsManaged", "must be <= 3600000")]),
    ("a misspelt quota family",
     lambda r: _edit(r, STACK, "standardDSv2Family: 48", "standardDSv2Famly: 48"), [], 1,
     [(f"{STACK}:11 mlplan:quota.standardDSv2Famly",
       "did you mean 'standardDSv2Family'?")]),
    ("--quota with an unknown family", lambda r: None, ["--quota", "foo=20"], 1,
     [("mlplan plan: --quota foo=...", "unknown VM family 'foo'")]),
    ("--quota with a near miss", lambda r: None, ["--quota", "totl=20"], 1,
     [("", "did you mean 'total'?")]),
    ("--quota with a real family", lambda r: None, ["--quota", "standardDSv2Family=60"], 0, []),
    ("model_mount_path relative",
     lambda r: _add(r, BLUE, "model_mount_path: models/m\n"), [], 1,
     [(f"{BLUE}:16 model_mount_path", "must be an absolute path")]),
    ("model_mount_path over a system folder",
     lambda r: _add(r, BLUE, "model_mount_path: /etc/m\n"), [], 1,
     [(f"{BLUE}:16 model_mount_path", "is a system folder")]),
    ("model_mount_path not normal",
     lambda r: _add(r, BLUE, "model_mount_path: /var/a/../b\n"), [], 1,
     [(f"{BLUE}:16 model_mount_path", "write '/var/b'")]),
    ("model_mount_path fine", lambda r: _add(r, BLUE, "model_mount_path: /var/models/m\n"),
     [], 0, []),
    ("a user variable named like mlplan's",
     lambda r: _add(r, BLUE, "environment_variables:\n  MLPLAN_ENDPOINT: other\n"), [], 0,
     [(f"{BLUE}:17 environment_variables.MLPLAN_ENDPOINT: warning",
       "whose value wins on both targets")]),
    ("an unmapped code asset",
     lambda r: _edit(r, BLUE, "code: ../../score", "code: azureml:score-code:1"), [], 1,
     [(f"{BLUE}:7 code_configuration.code", "mlplan:assets: {code: {\"azureml:score-code:1\"")]),
    ("a mapped code asset",
     lambda r: (_edit(r, BLUE, "code: ../../score", "code: azureml:score-code:1"),
                _add(r, STACK, "    code:\n      azureml:score-code:1: stacks/score\n")),
     [], 0, []),
    ("a code asset mapped to a missing folder",
     lambda r: (_edit(r, BLUE, "code: ../../score", "code: azureml:score-code:1"),
                _add(r, STACK, "    code:\n      azureml:score-code:1: stacks/nothing\n")),
     [], 1, [(f"{BLUE}:7 code_configuration.code", "code folder 'stacks/nothing' does not")]),
]


def _on_targets() -> list[Any]:
    """Every case on both targets, except the ``mlplan:docker`` ones: that key is read on the
    Docker target only, so those cases run there alone (not generated, then skipped)."""
    return [pytest.param(target, *case[1:], id=f"{case[0]}-{target}")
            for case in CASES for target in ("docker", "kubernetes")
            if target == "docker" or not any("mlplan:docker" in where + message
                                             for where, message in case[4])]


@pytest.mark.parametrize(("target", "change", "args", "code", "expected"), _on_targets())
def test_plan_says_it_at_the_line(root: Path, target: str, change: Callable[[Path], None],
                                  args: list[str], code: int,
                                  expected: list[tuple[str, str]],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    _target(target)(root)
    change(root)
    got = main(["plan", "--stack", "dev", *args])
    err = capsys.readouterr().err
    lines = err.splitlines()
    for where, message in expected:
        assert any(line.startswith(where) and message in line for line in lines), err
    assert got == code, err


def test_mapped_code_asset_is_what_the_containers_mount(root: Path) -> None:
    """``mlplan:assets.code`` is read: the Docker bind source is the mapped folder (was a
    folder named ``.../azureml:score-code:1``) and Kubernetes packs the same folder."""
    from mlplan.domain.assets import resolve_code
    from mlplan.edge import io

    _edit(root, BLUE, "code: ../../score", "code: azureml:score-code:1")
    _add(root, STACK, "    code:\n      azureml:score-code:1: stacks/score\n")
    loaded = io.load_stack(root, "dev")
    blue = next(d for e in loaded.endpoints for d in e.deployments if d.name == "blue")
    assert resolve_code(blue, loaded.settings.assets) == "stacks/score"


def test_mlplan_variables_win_on_docker_as_on_kubernetes(root: Path) -> None:
    from mlplan.edge import io, pipeline
    from mlplan.targets.docker import containers as docker_containers
    from mlplan.targets.docker.settings import DockerSettings
    from mlplan.targets.kubernetes import choices as kube_choices
    from mlplan.targets.kubernetes.settings import KubernetesSettings

    _add(root, BLUE, "environment_variables:\n  MLPLAN_ENDPOINT: other\n  MINE: x\n")
    loaded = io.load_stack(root, "dev")
    state = pipeline.planned(loaded.endpoints, loaded.settings, loaded.diagnostics)
    endpoint = state.endpoints[0]
    blue = next(d for d in endpoint.deployments if d.name == "blue")
    containers = docker_containers.plan_endpoint(
        endpoint, "development", DockerSettings(), loaded.settings.assets,
        absolute=lambda p: f"/abs/{p}", is_file=lambda p: False)
    docker_env = dict(next(d for d in containers.deployments if d.name == "blue")
                      .containers[0].env)
    where, _found = kube_choices.delivery(blue, loaded.settings.assets, KubernetesSettings())
    kube_env = dict(kube_choices.environment("my-endpoint", blue, where))
    for env in (docker_env, kube_env):
        assert env["MLPLAN_ENDPOINT"] == "my-endpoint" and env["MINE"] == "x"


# value before, value after, the cells expected (masked once, code spans closed)
MASKED = [
    ("Server=x;Password=z", "Server=x;Password=y ![x](http://evil/i.png) @admin",
     "`Server=x;Password=(sensitive)`",
     "`Server=x;Password=(sensitive) ![x](http://evil/i.png) @admin`"),
    ("https://u:pw1@db/x", "https://u:pw2@db/x token=abc",
     "`https://u:(sensitive)@db/x`", "`https://u:(sensitive)@db/x token=(sensitive)`"),
    ("Bearer abcdefgh", "Bearer ijklmnop [a](http://evil)",
     "`Bearer (sensitive)`", "`Bearer (sensitive) [a](http://evil)`"),
]


@pytest.mark.parametrize(("before", "after", "cell_before", "cell_after"), MASKED,
                         ids=["Password= at the end", "URL password and token=", "Bearer"])
def test_markdown_is_masked_before_rendering_never_after(
        root: Path, before: str, after: str, cell_before: str, cell_after: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A value ending in ``Password=z`` keeps its code span closed in the review's table (the
    CLI re-masked the finished Markdown, which swallowed the closing backtick and let the rest
    of the cell render as live links, an image and a mention)."""
    _add(root, BLUE, f'environment_variables:\n  CONN: "{before}"\n')
    for args in (["init", "-q"], ["add", "-A"],
                 ["-c", "user.email=ci@example.com", "-c", "user.name=CI", "commit", "-qm", "b"]):
        subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)
    _edit(root, BLUE, before, after)
    main(["review", "--base", "HEAD", "--stack", "dev", "--format", "markdown"])
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "environment_variables.CONN" in line
               and line.startswith("|"))
    cells = [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]
    assert cells[1:3] == [cell_before, cell_after], row
    for secret in ("Password=z", "Password=y", "pw1", "pw2", "abcdefgh", "ijklmnop"):
        assert secret not in out
