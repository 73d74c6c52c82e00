"""``mlplan promote`` end to end on a git repository: each ``--write`` is one reviewed step.

After every write the endpoint file still parses, its comments survive, and ``mlplan review
--base HEAD`` shows exactly that step's traffic change; then the step is committed, as a pull
request would be merged.
"""

from __future__ import annotations

import json
import re
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
    ("another file does not parse", "stacks/endpoints/other.yml",
     "name: other\nauth_mode: [unclosed\n", "MLP1"),
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


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes()
            for p in sorted((root / "stacks").rglob("*")) if p.is_file()}


BROKEN_FILES = [
    ("misspelt field in a deployment", "stacks/endpoints/blue.yml",
     lambda t: t.replace("instance_type:", "instance_typ:"), "instance_typ"),
    ("a split of 110", ENDPOINT_FILE, lambda t: re.sub(r"blue: \d+", "blue: 110", t), "MLP104"),
    ("YAML syntax error", "stacks/endpoints/green.yml", lambda t: t + "  : [\n", "green.yml"),
]


@pytest.mark.parametrize("command", [
    ["promote", "my-endpoint", "--stack", "test", "--to", "green"],
    ["promote", "my-endpoint", "--stack", "test", "--to", "green", "--write"],
    ["promote", "my-endpoint", "--stack", "test", "--to", "green", "--steps", "100",
     "--write"],
    ["promote", "my-endpoint", "--stack", "test", "--to", "green", "--apply"],
    ["rollback", "my-endpoint", "--stack", "test"],
], ids=["plan", "write", "write retire-ready", "apply", "rollback"])
@pytest.mark.parametrize(("name", "file", "edit", "named"), BROKEN_FILES,
                         ids=[b[0] for b in BROKEN_FILES])
def test_a_broken_file_is_refused_and_nothing_written_or_deleted(
        repo: Path, capsys: pytest.CaptureFixture[str], command: list[str], name: str,
        file: str, edit: object, named: str) -> None:
    if command[0] == "rollback":  # a promotion in progress, then the stack breaks
        assert run(["promote", "my-endpoint", "--stack", "test", "--to", "green", "--write"],
                   capsys)[0] == 0
    path = repo / file
    path.write_text(edit(path.read_text()))  # type: ignore[operator]
    before = snapshot(repo)
    code, out, err = run(command, capsys)
    assert code == 1
    assert out == ""  # no step table, no empty table
    assert named in err and "Nothing was written" in err
    assert snapshot(repo) == before


GATE_ONLY = [
    ("--bake", "10"), ("--sample", "sample.json"), ("--min-success-rate", "99"),
    ("--max-p99-ms", "500"), ("--min-requests", "50"), ("--max-success-drop", "1"),
    ("--max-p99-ratio", "2"),
]


@pytest.mark.parametrize(("flag", "value"), GATE_ONLY, ids=[g[0] for g in GATE_ONLY])
@pytest.mark.parametrize("mode", [[], ["--write"]], ids=["plan", "write"])
def test_gate_options_need_apply(repo: Path, capsys: pytest.CaptureFixture[str], flag: str,
                                 value: str, mode: list[str]) -> None:
    before = snapshot(repo)
    code, out, err = run(["promote", "my-endpoint", "--stack", "test", "--to", "green", *mode,
                          flag, value], capsys)
    assert code == 1 and out == ""
    assert f"{flag} only apply with --apply" in err
    assert snapshot(repo) == before


RANGES = [
    ("--min-success-rate", "101", "over 100"), ("--min-success-rate", "-1", "negative"),
    ("--max-p99-ms", "0", "more than 0"), ("--bake", "inf", "inf"),
    ("--max-p99-ratio", "0.5", "under 1"), ("--min-requests", "0", "1 to 1000000"),
    ("--min-requests", "1.5", "not a whole number"), ("--max-success-drop", "150", "over 100"),
]


@pytest.mark.parametrize(("flag", "value", "says"), RANGES, ids=[f"{r[0]} {r[1]}" for r in RANGES])
def test_thresholds_are_range_checked(repo: Path, capsys: pytest.CaptureFixture[str], flag: str,
                                      value: str, says: str) -> None:
    code, out, err = run(["promote", "my-endpoint", "--stack", "test", "--to", "green",
                          "--apply", flag, value], capsys)
    assert code == 1 and out == "" and f"argument {flag}" in err and says in err


def test_a_missing_sample_names_the_flag_and_file(repo: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["promote", "my-endpoint", "--stack", "test", "--to", "green",
                          "--apply", "--sample", "nofile.json"], capsys)
    assert code == 1 and out == ""
    assert err == "mlplan promote: --sample nofile.json: No such file or directory\n"


def test_a_missing_pulumi_cli_is_named_and_nothing_written(
        repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(repo / "no-bin"))
    before = snapshot(repo)
    for command in (["promote", "my-endpoint", "--stack", "test", "--to", "green", "--apply"],
                    ["rollback", "my-endpoint", "--stack", "test", "--apply"]):
        if command[0] == "rollback":
            assert run(["promote", "my-endpoint", "--stack", "test", "--to", "green",
                        "--write"], capsys)[0] == 0
            before = snapshot(repo)
        code, _out, err = run(command, capsys)
        assert code == 1 and "needs the pulumi CLI on PATH" in err, err
        assert snapshot(repo) == before


def test_write_json_is_one_document(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["promote", "my-endpoint", "--stack", "test", "--to", "green",
                          "--write", "--format", "json"], capsys)
    assert code == 0, err
    doc = json.loads(out)  # the whole of stdout: one document
    assert doc["written"] == [f"wrote {ENDPOINT_FILE}: step 1 (canary)"]


def test_a_refused_request_prints_no_table(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["promote", "my-endpoint", "--stack", "test", "--to", "purple"], capsys)
    assert code == 1 and out == "" and "deployment 'purple' is not declared" in err
    code, out, _err = run(["promote", "my-endpoint", "--stack", "test", "--to", "purple",
                           "--format", "json"], capsys)
    assert code == 1 and json.loads(out)["steps"] == []


def test_rollback_from_ten_percent_live_sums_to_100(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's case: blue 90 / green 10, three --writes, then rollback -> blue 90, green 10
    (was blue 90, green 0: refused by plan)."""
    text = (repo / ENDPOINT_FILE).read_text()
    (repo / ENDPOINT_FILE).write_text(text.replace("blue: 100", "blue: 90")
                                      .replace("green: 0", "green: 10"))
    for _ in range(2):
        assert run(["promote", "my-endpoint", "--stack", "test", "--to", "green", "--write"],
                   capsys)[0] == 0
    code, out, err = run(["rollback", "my-endpoint", "--stack", "test"], capsys)
    assert code == 0, err
    assert "back to blue 90%, green 10%; mirror off" in out
    code, _out, err = run(["plan", "--stack", "test"], capsys)
    assert code == 0, err


@pytest.mark.parametrize("command", ["promote", "rollback"])
def test_help_describes_every_argument(command: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, "-h"]) == 0
    out = capsys.readouterr().out
    from mlplan.edge.cli import build_parser

    sub = build_parser()._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]
    for action in sub._actions:
        assert action.help, f"{command} {action.option_strings or action.dest} has no help"
    assert "written" in out or "writes" in out.lower() or "Write" in out
