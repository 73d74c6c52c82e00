"""One regression test per finding of issue 14 (hostile input), each failing on the code before
the fix: the scenario, what ``mlplan`` must print, and what it must not.

Every run is a child process under ``harness`` limits (1 GiB, 20 s) and passes
``check_output`` (exit 0/1/2, no traceback, no raw control character, no configured secret).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.hostile.harness import check_output, project, run_cli

ENDPOINT = "stacks/endpoints/endpoint.yml"
BLUE = "stacks/endpoints/blue.yml"
STACK = "stacks/Pulumi.test.yaml"
PLAN = ["plan", "--stack", "test"]


def billion_laughs(levels: int = 10) -> str:
    """10 levels of 9 aliases: 9**10 (3.5 billion) strings when expanded; under 500 bytes."""
    lines = ["a0: &a0 [lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def edit(rel: str, old: str, new: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        path = root / rel
        text = path.read_text()
        assert old in text, f"{old!r} not in {rel}"
        path.write_text(text.replace(old, new))
    return apply


def write(rel: str, data: str | bytes) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data)
    return apply


def append(rel: str, text: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        with (root / rel).open("a") as handle:
            handle.write(text)
    return apply


@dataclass(frozen=True)
class Case:
    setup: tuple[Callable[[Path], None], ...]
    args: tuple[str, ...] = tuple(PLAN)
    code: int = 1
    expect: tuple[str, ...] = ()  # regexes that must match stdout + stderr
    absent: tuple[str, ...] = ()  # regexes that must not
    secrets: tuple[str, ...] = ()
    max_seconds: float = 20.0
    env: dict[str, str] = field(default_factory=dict)
    with_base: bool = False  # copy the project to ../base before ``setup`` (for review)
    max_output: int = 200_000  # characters of stdout + stderr
    max_peak_mib: int = 200  # resident memory of the child (a plan takes about 35 MiB)


SECRET = "SEKRETstr0001"
KEYS = ("  mlplan:keys:\n    my-endpoint: {primary: SEKRETstr0001SEKRETstr0001, "
        "secondary: SEKRETstr0002SEKRETstr0002}\n")
REVIEW = ("review", "--base-dir", "../base", "--stack", "test")
ENV_SECRETS = ("hunter2pw", "tok3ntok3n", "s1gs1gs1g", "camelsecret1", "listsecret1")


CASES: dict[str, Case] = {
    # 1. alias expansion is bounded: MLP100 within seconds, under the 1 GiB limit
    "01-billion-laughs": Case(
        (write(BLUE, billion_laughs()),),
        expect=(r"blue\.yml:\d+ a\d+: error MLP100: more than 100000 values",),
        max_seconds=10.0),
    "01-alias-bomb-in-stack-file": Case(
        (append(STACK, "  mlplan:assets:\n" + "".join(
            "    " + line + "\n" for line in billion_laughs().splitlines())),),
        expect=(r"Pulumi\.test\.yaml:\d+ config: error MLP120: YAML: more than 100000 values",),
        max_seconds=10.0),
    # 5. terminal escapes from user files are shown escaped
    "05-ansi-in-unknown-key": Case(
        (append(BLUE, '"\\e[2K\\e[1A\\e[2K\\rPlan: 0 errors": 1\n'),),
        expect=(r"unknown key '\\x1b\[2K\\x1b\[1A\\x1b\[2K\\rPlan: 0 errors'",)),
    "05-ansi-in-unknown-key-review": Case(
        (append(BLUE, '"\\e]8;;http://x\\e\\\\link\\u202e": 1\n'),),
        args=REVIEW, with_base=True, expect=(r"\\x1b\]8;;http://x\\x1b",)),
    "05-raw-escape-character-in-file": Case(
        (append(BLUE, "description: \x1b[2K\n"),),
        expect=(r"blue\.yml:14: error MLP100: YAML syntax error: character U\+001B",)),
    # 6. no value under mlplan:keys is echoed; secret-looking values are masked
    **{f"06-keys-as-a-string-{fmt}": Case(
        (append(STACK, f"  mlplan:keys: {SECRET}\n"),), args=(*PLAN, "--format", fmt),
        expect=(r"must be a mapping, got str \(not shown",),
        secrets=(SECRET,)) for fmt in ("text", "markdown", "json")},
    "06-keys-as-a-string-review": Case(
        (append(STACK, f"  mlplan:keys: {SECRET}\n"),), args=(*REVIEW, "--format", "json"),
        with_base=True, expect=(r"must be a mapping, got str",), secrets=(SECRET,)),
    "06-keys-missing-secondary": Case(
        (append(STACK, "  mlplan:keys:\n    my-endpoint: {primary: SEKRETstr0001SEKRET}\n"),),
        expect=(r"mlplan:keys\.my-endpoint: error MLP120: 'secondary' is missing",),
        secrets=("SEKRETstr0001SEKRET",)),
    "06-keys-misspelt-endpoint": Case(
        (append(STACK, KEYS.replace("my-endpoint", "my-endpont")),),
        expect=(r"mlplan:keys\.my-endpont: error MLP120: endpoint 'my-endpont' is not declared"
                r".*did you mean 'my-endpoint'",),
        secrets=("SEKRETstr0001SEKRETstr0001", "SEKRETstr0002SEKRETstr0002")),
    "06-keys-too-short": Case(
        (append(STACK, "  mlplan:keys:\n    my-endpoint: {primary: x, secondary: y}\n"),),
        expect=(r"mlplan:keys\.my-endpoint\.primary: error MLP120: must be 16-1024",)),
    **{f"06-secret-looking-values-masked-{fmt}": Case(
        (append(BLUE, "environment_variables:\n"
                      "  DB_URL: postgres://app:hunter2pw@db:5432/x\n"
                      "  AUTH_HEADER: Bearer tok3ntok3n\n"
                      "  BLOB: https://acct.blob.example/c?sv=1&sig=s1gs1gs1g\n"
                      "  primaryKey: camelsecret1\n"
                      "  ARGS: --token=listsecret1\n"),),
        args=(*REVIEW, "--format", fmt), with_base=True, code=0,
        expect=(r"DB_URL",), secrets=ENV_SECRETS) for fmt in ("text", "markdown", "json")},
    # 7. a name ending in a newline is not a valid name
    "07-name-with-final-newline": Case(
        (edit(ENDPOINT, "name: my-endpoint", 'name: "my-endpoint\\n"'),),
        expect=(r"endpoint\.yml:2 name: error MLP105: 'my-endpoint\\n' is not a valid name",)),
    # 9. paths are contained, special files refused, reads bounded
    **{f"09-endpoints-{label}": Case(
        (edit(STACK, "[stacks/endpoints]", value),),
        expect=(r"mlplan:endpoints\[0\]: error MLP121: '.*' is outside the project root",),
        max_seconds=10.0)
       for label, value in (("root", "['/']"), ("proc", "['/proc']"), ("parent", "['..']"))},
    "09-endpoints-fifo": Case(
        (lambda root: os.mkfifo(root / "stacks/endpoints/fifo.yml"),),
        expect=(r"error MLP121: 'stacks/endpoints/fifo\.yml' is not a regular file",),
        max_seconds=10.0),
    **{f"09-model-path-{label}": Case(
        (edit(BLUE, "path: ../model/sample-model", f"path: {value}"),),
        expect=(expected,), max_seconds=10.0)
       for label, value, expected in (
           ("parents", "../../../../../../etc", r"model\.path: error MLP115: model: '.*' is "
                                                 r"outside the project root"),
           ("absolute", "/etc/shadow", r"model\.path: error MLP115: model: '.*' is outside"))},
    "09-scoring-script-is-a-folder": Case(
        (edit(BLUE, "scoring_script: score.py", "scoring_script: ."),),
        expect=(r"code_configuration\.scoring_script: error MLP115: scoring script '.*' is a "
                r"folder, not a file",)),
    "09-fifo-as-conda-file": Case(
        (lambda root: os.mkfifo(root / "stacks/score/env.yml"),
         edit(BLUE, "  image: example.io/infer:1.0", "  image: example.io/infer:1.0\n"
                                                      "  conda_file: ../score/env.yml")),
        expect=(r"environment\.conda_file: error MLP115: conda file '.*' is not a regular",),
        max_seconds=10.0),
    "09-fifo-as-preview": Case(
        (lambda root: os.mkfifo(root / "preview.json"),),
        args=("review", "--preview-json", "preview.json"),
        expect=(r"--preview-json preview\.json: is not a regular file",), max_seconds=10.0),
    "09-fifty-megabyte-file": Case(
        (write(BLUE, "# " + "x" * 50_000_000 + "\n"),),
        expect=(r"blue\.yml' is over 4 MiB",), max_seconds=10.0),
    # 10. numbers out of range are diagnostics, not internal errors
    "10-quota-1e400-in-config": Case(
        (edit(STACK, "{total: 2000}", "{total: 1e400}"),),
        expect=(r"Pulumi\.test\.yaml:4 mlplan:quota\.total: error MLP120: an infinite number",)),
    "10-quota-inf-in-config": Case(
        (edit(STACK, "{total: 2000}", "{total: .inf}"),),
        expect=(r"mlplan:quota\.total: error MLP120: an infinite number",)),
    "10-quota-nan-in-config": Case(
        (edit(STACK, "{total: 2000}", "{total: .nan}"),),
        expect=(r"mlplan:quota\.total: error MLP120: nan is not a number",)),
    "10-quota-1e400-flag": Case(
        (), args=(*PLAN, "--quota", "total=1e400"),
        expect=(r"argument --quota: --quota total: an infinite number",)),
    "10-quota-nan-flag": Case(
        (), args=(*PLAN, "--quota", "total=nan"), expect=(r"--quota total: nan is not",)),
    "10-instance-count-huge": Case(
        (edit(BLUE, "instance_count: 3", "instance_count: " + "9" * 400),),
        expect=(r"blue\.yml:13 instance_count: error MLP10\d: a number of 400 digits is too",)),
    "10-five-thousand-character-path": Case(
        (), args=("plan", "x" * 5000), expect=(r"error MLP1\d\d: 'x{20}",)),
    # 12. YAML 1.1 traps and encodings, key rotation, echoed values capped
    "12-key-rotation-is-a-change": Case(
        (edit(STACK, "SEKRETstr0002SEKRETstr0002", "ROTATEDkey03ROTATEDkey03"),),
        args=(*REVIEW, "--detailed-exitcode"), with_base=True, code=2,
        expect=(r"keys\.my-endpoint\.digest +\(sensitive\) +\(sensitive\)",),
        secrets=("SEKRETstr0002SEKRETstr0002", "ROTATEDkey03ROTATEDkey03")),
    "12-long-value-is-capped": Case(
        (edit(BLUE, "instance_type: Standard_DS3_v2", "instance_type: " + "Q" * 1_000_000),),
        expect=(r"QQQQ",), max_output=20_000),
    "12-true-as-instance-count": Case(
        (edit(BLUE, "instance_count: 3", "instance_count: true"),),
        expect=(r"blue\.yml:13 instance_count: error MLP10\d: true is not a number",)),
    "12-true-as-traffic-percent": Case(
        (edit(ENDPOINT, "traffic: {blue: 100, green: 0}", "traffic: {blue: true, green: 0}"),),
        expect=(r"endpoint\.yml:4 traffic\.blue: error MLP10\d: true is not a number",)),
    "12-sexagesimal-is-not-90": Case(
        (edit(BLUE, "instance_count: 3", "instance_count: 1:30"),),
        expect=(r"blue\.yml:13 instance_count: error MLP10\d: .*'1:30'",)),
    "12-binary-name": Case(
        (edit(BLUE, "name: blue", "name: !!binary Ymx1ZQ=="),),
        expect=(r"blue\.yml:2: error MLP100: !!binary values are not accepted",)),
    "12-merge-key-with-a-list-of-scalars": Case(
        (append(BLUE, "request_settings:\n  <<: [1, 2]\n"),),
        expect=(r"blue\.yml:\d+ request_settings\.<<: error MLP100: a merge key '<<' takes",)),
    "12-utf16-without-bom": Case(
        (lambda root: (root / BLUE).write_bytes((root / BLUE).read_text()
                                                .encode("utf-16-le")),),
        expect=(r"blue\.yml:1: error MLP100: YAML syntax error: the file holds a NUL",),
        absent=(r"indentation",)),
    "12-utf16-with-bom-is-read": Case(
        (lambda root: (root / BLUE).write_bytes((root / BLUE).read_text().encode("utf-16")),),
        code=0, expect=(r"Plan: 1 endpoint, 2 deployments",)),
    "12-nul-in-the-middle": Case(
        (edit(BLUE, "instance_count: 3", "instance_count: 3\0"),),
        expect=(r"blue\.yml:13: error MLP100: YAML syntax error: the file holds a NUL",),
        absent=(r"indentation",)),
    "12-empty-stack-flag": Case(
        (), args=("plan", "--stack", ""), expect=(r"argument --stack: '' is not a stack name",)),
    "12-stack-flag-is-not-a-path": Case(
        (), args=("plan", "--stack", "../../x"), expect=(r"is not a stack name",)),
}


@pytest.mark.parametrize("name", list(CASES), ids=list(CASES))
def test_regression(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    root = project(tmp_path / "project")
    if name.startswith(("06-keys-", "12-key-rotation")) and "misspelt" not in name and \
            "string" not in name and "missing" not in name and "short" not in name:
        append(STACK, KEYS)(root)
    if case.with_base:
        shutil.copytree(root, tmp_path / "base")
    for step in case.setup:
        step(root)
    run = run_cli(list(case.args), root, env=case.env)
    check_output(run, case.secrets)
    assert run.code == case.code, run.both[-3000:]
    for pattern in case.expect:
        assert re.search(pattern, run.both), f"{pattern!r} not in:\n{run.both[-3000:]}"
    for pattern in case.absent:
        assert not re.search(pattern, run.both), f"{pattern!r} in:\n{run.both[-3000:]}"
    assert run.seconds < case.max_seconds
    assert len(run.both) < case.max_output
    assert run.peak_kib < case.max_peak_mib * 1024, f"peak {run.peak_kib} KiB"
