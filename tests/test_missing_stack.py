"""A missing stack gives only the real error (issue 17, item 7): no MLP122 "no online endpoint"
warning, no empty quota table, no "endpoint is not declared" on top of MLP120."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlplan.edge.cli import main

REPO = Path(__file__).resolve().parents[1]
REAL_ERROR = ("stacks/Pulumi.nope.yaml: error MLP120: stack 'nope' has no config file "
              "stacks/Pulumi.nope.yaml; known stacks: dev, prod. Pass --stack NAME.\n")

CASES = [
    ("plan, text", ["plan", "--stack", "nope"]),
    ("plan, markdown", ["plan", "--stack", "nope", "--format", "markdown"]),
    ("promote", ["promote", "my-endpoint", "--to", "green", "--stack", "nope"]),
    ("rollback", ["rollback", "my-endpoint", "--stack", "nope"]),
]


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(args)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("name", "args"), CASES, ids=[c[0] for c in CASES])
def test_only_the_real_error(name: str, args: list[str], monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(REPO)
    code, out, err = run(args, capsys)
    assert code == 1
    assert err == REAL_ERROR
    assert "quota" not in out.lower() and "MLP122" not in out + err
    if "markdown" not in name:
        assert out == ""


def test_json_carries_only_the_real_error(monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(REPO)
    code, out, _err = run(["plan", "--stack", "nope", "--format", "json"], capsys)
    assert code == 1
    assert [d["code"] for d in json.loads(out)["diagnostics"]] == ["MLP120"]


def test_an_empty_stack_still_warns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Without any error, declaring nothing is worth the MLP122 warning."""
    (tmp_path / "Pulumi.yaml").write_text((REPO / "Pulumi.yaml").read_text())
    (tmp_path / "stacks" / "endpoints").mkdir(parents=True)
    (tmp_path / "stacks" / "Pulumi.dev.yaml").write_text(
        "config:\n  mlplan:endpoints:\n    - stacks/endpoints\n")
    monkeypatch.chdir(tmp_path)
    code, _out, err = run(["plan"], capsys)
    assert code == 0 and "warning MLP122" in err
