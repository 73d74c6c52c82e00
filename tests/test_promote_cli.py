"""``mlplan promote`` end to end on a git repository: each ``--write`` is one reviewed step.

After every write the endpoint file still parses, its comments survive, and ``mlplan review
--base HEAD`` shows exactly that step's traffic change; then the step is committed, as a pull
request would be merged.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from mlplan.edge.cli import main
from tests.targets.projects import make_project

ENDPOINT_FILE = "stacks/endpoints/endpoint.yml"


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


@pytest.fixture()
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = make_project(tmp_path, {"blue": {}, "green": {}}, traffic={"blue": 100, "green": 0})
    text = (root / ENDPOINT_FILE).read_text()
    (root / ENDPOINT_FILE).write_text("# owned by the ML platform team\n" + text)
    git(root, "init", "-q")
    git(root, "config", "user.email", "ci@example.com")
    git(root, "config", "user.name", "CI")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    monkeypatch.chdir(root)
    return root


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_each_write_is_one_reviewed_step(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--stack", "test", "--to", "green", "--steps", "10,100", "--mirror", "10"]
    seen = []
    for _ in range(4):
        code, out, err = run(["promote", "my-endpoint", *base, "--write"], capsys)
        assert code == 0, err
        text = (repo / ENDPOINT_FILE).read_text()
        assert text.startswith("# owned by the ML platform team\n")
        code, out, err = run(["review", "--base", "HEAD", "--stack", "test",
                              "--format", "json"], capsys)
        assert code == 0, err
        (endpoint,) = json.loads(out)["stacks"][0]["endpoints"]
        seen.append((endpoint["traffic"]["live"]["after"], endpoint["traffic"]["mirror"]["after"],
                     [d["name"] for d in endpoint["deployments"] if d["actions"] == ["delete"]]))
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "step")
    assert seen == [
        ({"blue": 100, "green": 0}, {"green": 10}, []),
        ({"blue": 90, "green": 10}, {}, []),
        ({"blue": 0, "green": 100}, {}, []),
        ({"green": 100}, {}, ["blue"]),
    ]
    assert not (repo / "stacks/endpoints/blue.yml").exists()
    code, out, _err = run(["promote", "my-endpoint", *base], capsys)
    assert code == 1  # nothing left to promote from


def test_plan_only_prints_the_steps_and_fails_over_quota(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run(["promote", "my-endpoint", "--stack", "test", "--to", "green"],
                          capsys)
    assert code == 0
    assert "canary    blue 90%, green 10%" in out and "Peak: 32 reserved cores" in out
    stack = repo / "stacks/Pulumi.test.yaml"
    stack.write_text(stack.read_text().replace("{total: 2000}", "{total: 31}"))
    code, _out, err = run(["promote", "my-endpoint", "--stack", "test", "--to", "green"],
                          capsys)
    assert code == 1 and "MLP402" in err


def test_rollback_returns_traffic_in_one_step(repo: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    args = ["promote", "my-endpoint", "--stack", "test", "--to", "green", "--steps", "50,100"]
    assert run([*args, "--write"], capsys)[0] == 0
    code, out, _err = run(["rollback", "my-endpoint", "--stack", "test"], capsys)
    assert code == 0 and "back to blue 100%" in out
    text = (repo / ENDPOINT_FILE).read_text()
    assert "blue: 100" in text and "green: 0" in text and "mlplan-promotion" not in text
    code, _out, err = run(["rollback", "my-endpoint", "--stack", "test"], capsys)
    assert code == 1 and "no promotion in progress" in err


def test_write_names_the_step_as_the_table_numbers_it(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The table's first row is step 1; --write reports writing step 1, not "step 0"."""
    code, out, err = run(["promote", "my-endpoint", "--stack", "test", "--to", "green",
                          "--steps", "10,100", "--write"], capsys)
    assert code == 0, err
    first_row = next(line for line in out.splitlines() if "canary" in line)
    assert first_row.split()[:2] == ["1", "canary"]
    assert f"wrote {ENDPOINT_FILE}: step 1 (canary)" in out.splitlines()


def test_a_dropped_mirror_is_explained(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / ENDPOINT_FILE).write_text((repo / ENDPOINT_FILE).read_text()
                                      .replace("blue: 100", "blue: 90")
                                      .replace("green: 0", "green: 10"))
    code, out, err = run(["promote", "my-endpoint", "--stack", "test", "--to", "green",
                          "--mirror", "10", "--format", "json"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["skipped"][0] == {
        "step": "mirror 10%", "reason": "green already has 10% live traffic, and a deployment "
        "gets live or mirrored traffic, not both"}
    assert [(s["number"], s["stage"]) for s in doc["steps"]] == [
        (1, "canary"), (2, "promoted"), (3, "retire")]


BROKEN = [
    # scenario, file, text, code in the diagnostics
    ("another file does not parse", "stacks/endpoints/other.yml", "name: [unclosed\n", "MLP1"),
    ("a deployment off the split has a bad field", "stacks/endpoints/red.yml",
     "$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json\n"
     "name: red\nendpoint_name: my-endpoint\ninstance_type: Standard_DS3_v2\n"
     "instance_count: many\n", "MLP1"),
]
COMMANDS = [
    ("promote --write", ["promote", "my-endpoint", "--stack", "test", "--to", "green",
                         "--write"]),
    ("rollback", ["rollback", "my-endpoint", "--stack", "test"]),
]


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[c[0] for c in COMMANDS])
@pytest.mark.parametrize(("scenario", "path", "text", "code"), BROKEN,
                         ids=[b[0] for b in BROKEN])
def test_a_broken_stack_is_refused_and_nothing_is_written(
        scenario: str, path: str, text: str, code: str, name: str, command: list[str],
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The checked-state pipeline's errors stop promote and rollback before any step: exit 1,
    every diagnostic on stderr, the endpoint file untouched."""
    (repo / path).write_text(text)
    before = (repo / ENDPOINT_FILE).read_text()
    exit_code, out, err = run(command, capsys)
    assert exit_code == 1 and out == ""
    assert f"{path}:" in err and code in err and "the stack has errors" in err
    assert (repo / ENDPOINT_FILE).read_text() == before
