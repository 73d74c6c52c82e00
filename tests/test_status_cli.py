"""``mlplan status`` / ``mlplan logs`` without a running endpoint: every refusal names what is
wrong, exits 1, prints nothing on stdout and never a traceback. (The live reads are in
tests/engine/test_docker_up.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlplan.edge.cli import main
from tests.targets.projects import make_project

CASES = [
    ("endpoint not declared", "docker", ["status", "nope"],
     "endpoint 'nope' is not declared in stack 'test' (endpoints: my-endpoint)"),
    ("no Docker host", "docker", ["status", "my-endpoint"],
     "cannot read the Docker host unix:///nonexistent/docker.sock"),
    ("kubernetes target", "kubernetes", ["status", "my-endpoint"],
     "reads the Docker target only so far"),
    ("logs: no Docker host", "docker", ["logs", "my-endpoint", "blue"],
     "cannot read the Docker host"),
    ("logs: kubernetes target", "kubernetes", ["logs", "my-endpoint", "blue"],
     "reads the Docker target only so far"),
    ("bad --since", "docker", ["status", "my-endpoint", "--since", "5 minutes"],
     "argument --since: '5 minutes' is not a duration like 30s, 5m or 1h"),
]


@pytest.mark.parametrize(("name", "target", "args", "says"), CASES, ids=[c[0] for c in CASES])
def test_refusals_name_the_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str], name: str, target: str,
                                   args: list[str], says: str) -> None:
    root = make_project(tmp_path, {"blue": {}}, traffic={"blue": 100}, target=target)
    monkeypatch.chdir(root)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    code = main([*args, "--stack", "test"])
    out, err = capsys.readouterr()
    assert code == 1 and out == "" and says in err, err
    assert "Traceback" not in err
