"""``mlplan plan`` end to end in-process: formats, exit codes, diagnostics, no traceback."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlplan.edge.cli import main

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "tests" / "fixtures" / "azureml-examples"


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


GOLDEN = [
    ("sample stack as text", ["plan"], "plan-dev.txt"),
    ("sample stack as markdown", ["plan", "--format", "markdown"], "plan-dev.md"),
    ("sample stack as json", ["plan", "--format", "json"], "plan-dev.json"),
    ("over quota as text", ["plan", "--quota", "standardDSv2Family=20"], "plan-dev-over-quota.txt"),
]


@pytest.mark.parametrize(("name", "args", "golden_name"), GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden(name: str, args: list[str], golden_name: str,
                capsys: pytest.CaptureFixture[str], golden) -> None:  # type: ignore[no-untyped-def]
    _code, out, _err = run(args, capsys)
    golden(golden_name, out)


def test_sample_json_has_the_documented_shape(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["plan", "--format", "json"], capsys)
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert doc["format_version"] == 2
    (endpoint,) = doc["endpoints"]
    assert {"name", "auth_mode", "traffic", "mirror_traffic", "deployments"} <= set(endpoint)
    assert endpoint["traffic"] == {"blue": 90, "green": 10}
    blue = endpoint["deployments"][0]
    # 3 instances reserve ceil(1.2 x 3) = 4, x 4 cores = 16: the names say what they count
    assert {k: blue[k] for k in ("name", "instance_type", "instance_count", "cores_per_instance",
                                 "gpus_per_instance", "exempt", "reserved_instances",
                                 "reserved_cores")} == {
        "name": "blue", "instance_type": "Standard_DS3_v2", "instance_count": 3,
        "cores_per_instance": 4, "gpus_per_instance": 0, "exempt": False,
        "reserved_instances": 4, "reserved_cores": 16}
    assert "quota_instances" not in blue and "quota_cores" not in blue
    # Docker surges one batch: peak 4, at least 3 serving (the review's words)
    assert blue["rollout"] == {"batch_size": 1, "batch_count": 3, "peak_instances": 4,
                               "min_serving_instances": 3,
                               "summary": "3 batches of 1, peak 4, at least 3 serving"}
    assert doc["quota"]["families"] == [{"family": "standardDSv2Family", "reserved_cores": 32,
                                         "limit_cores": 48, "users": ["my-endpoint/blue",
                                                                      "my-endpoint/green"]}]
    assert (doc["quota"]["total_reserved_cores"], doc["quota"]["total_limit_cores"]) == (32, 100)
    assert doc["diagnostics"] == []


EXIT_CODES = [
    ("plan ok", ["plan"], 0),
    ("changes with detailed exit code", ["plan", "--detailed-exitcode"], 2),
    ("over quota is an error", ["plan", "--quota", "standardDSv2Family=20"], 1),
    ("over quota is an error even with detailed exit code",
     ["plan", "--quota", "total=10", "--detailed-exitcode"], 1),
    ("unknown stack", ["plan", "--stack", "nope"], 1),
    ("bad quota flag is a usage error, not 'changes'", ["plan", "--quota", "x"], 1),
    ("Azure's sample as plain files", ["plan", str(EXAMPLES / "managed/sample/endpoint.yml"),
                                       str(EXAMPLES / "managed/sample/blue-deployment.yml"),
                                       str(EXAMPLES / "managed/sample/green-deployment.yml")], 0),
    ("Azure's kubernetes folder", ["plan", str(EXAMPLES / "kubernetes")], 0),
    ("a missing path", ["plan", "does/not/exist.yml"], 1),
]


@pytest.mark.parametrize(("name", "args", "expected"), EXIT_CODES, ids=[e[0] for e in EXIT_CODES])
def test_exit_codes(name: str, args: list[str], expected: int,
                    capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(args)
    except SystemExit as exit_:  # argparse usage errors
        code = int(exit_.code or 0)
    assert code == expected


def test_over_quota_json_still_prints_the_document(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["plan", "--format", "json", "--quota", "standardDSv2Family=20"], capsys)
    assert code == 1 and err == ""
    (problem,) = json.loads(out)["diagnostics"]
    assert problem["code"] == "MLP401"
    assert "32 cores required, limit 20 (over by 12)" in problem["message"]
    assert problem["path"] == "stacks/endpoints/my-endpoint/blue.yml:12 instance_count"


def test_broken_project_reports_every_error_without_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: t\nruntime: python\nstackConfigDir: stacks\n")
    (tmp_path / "stacks" / "ep").mkdir(parents=True)
    (tmp_path / "stacks" / "Pulumi.dev.yaml").write_text(
        "config:\n  mlplan:endpoints: [stacks/ep, stacks/missing]\n  mlplan:qouta: {total: 1}\n")
    (tmp_path / "stacks" / "ep" / "e.yml").write_text(
        "name: ep\ntraffic: {blue: 90, green: 20}\n")
    (tmp_path / "stacks" / "ep" / "blue.yml").write_text(
        "name: blue\nendpoint_name: ep\ninstance_type: Standard_DS3_v2\ninstance_count: 2\n"
        "model: {path: nowhere}\nenvironment: {image: 'x/y:1'}\n")
    monkeypatch.chdir(tmp_path)
    code, _out, err = run(["plan"], capsys)
    assert code == 1
    assert "Traceback" not in err
    lines = err.splitlines()
    assert any(line.startswith("stacks/Pulumi.dev.yaml:3 mlplan:qouta: error MLP120")
               for line in lines)
    assert any("mlplan:endpoints[1]: error MLP121" in line for line in lines)
    assert any(line.startswith("stacks/ep/e.yml:2 traffic: error MLP201") for line in lines)
    assert any(line.startswith("stacks/ep/e.yml:2 traffic.green: error MLP202") for line in lines)
    assert any(line.startswith("stacks/ep/blue.yml:5 model.path: error MLP115") for line in lines)


def test_outside_a_project_needs_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    code, _out, err = run(["plan"], capsys)
    assert code == 1 and "no Pulumi.yaml" in err


def test_plan_never_imports_pulumi() -> None:
    probe = ("import sys; from mlplan.edge.cli import main; code = main(['plan', '--format', "
             "'json']); assert code == 0, code; "
             "assert not [m for m in sys.modules if m.startswith('pulumi')], 'pulumi imported'")
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_target_settings_problems_are_plan_diagnostics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: t\nruntime: python\nstackConfigDir: stacks\n")
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.dev.yaml").write_text(
        "config:\n  mlplan:endpoints: []\n  mlplan:docker:\n    routerImag: nginx\n"
        "    ports: {e: 99999}\n")
    monkeypatch.chdir(tmp_path)
    code, _out, err = run(["plan"], capsys)
    assert code == 1
    # each at its own key's line (issue 27: the fix is on that line)
    assert "stacks/Pulumi.dev.yaml:4 mlplan:docker.routerImag: error MLP120" in err
    assert "stacks/Pulumi.dev.yaml:5 mlplan:docker.ports.e: error MLP120" in err


def test_kubernetes_checks_show_in_the_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Gateway API allows 16 HTTPRoute rules: 16 deployments (16 header rules + the split) is
    MLP112 in gateway-api mode, and callers' auth is the Gateway's (MLP504 advisory)."""
    from tests.targets.projects import make_project

    deployments: dict[str, dict[str, object]] = {f"d{i:02d}": {"count": 3} for i in range(16)}
    root = make_project(
        tmp_path, deployments, traffic={"d00": 100}, target="kubernetes",
        extra_config="  mlplan:kubernetes:\n    routerMode: gateway-api\n"
                     "    gatewayRef: {name: edge, namespace: gateways}\n"
                     "    hostname: '{endpoint}.ml.example.com'\n")
    monkeypatch.chdir(root)
    code, _out, err = run(["plan", "--stack", "test"], capsys)
    assert code == 1
    assert "error MLP112" in err and "at most 15" in err
    assert "warning MLP504" in err and "Gateway edge" in err


QUALIFIED_STACKS = [
    ("short name", ["plan", "--stack", "dev"], 0, ""),
    ("org/name", ["plan", "--stack", "acme/dev"], 0, ""),
    ("org/project/name", ["plan", "--stack", "acme/mlplan/dev"], 0, ""),
    ("another project's stack", ["plan", "--stack", "acme/other/dev"], 1,
     "names project 'other', but this is project 'mlplan' (Pulumi.yaml); use --stack dev or "
     "acme/mlplan/dev"),
    ("four parts", ["plan", "--stack", "a/b/c/d"], 1, "as NAME, ORG/NAME or ORG/PROJECT/NAME"),
    ("empty part", ["plan", "--stack", "acme//dev"], 1, "is not a stack name"),
    ("org/project/name of a missing stack", ["plan", "--stack", "acme/mlplan/nope"], 1,
     "stacks/Pulumi.nope.yaml"),
    ("promote takes it too", ["rollback", "my-endpoint", "--stack", "acme/other/dev"], 1,
     "names project 'other'"),
]


@pytest.mark.parametrize(("name", "args", "expected", "message"), QUALIFIED_STACKS,
                         ids=[q[0] for q in QUALIFIED_STACKS])
def test_qualified_stack_names(name: str, args: list[str], expected: int, message: str,
                               capsys: pytest.CaptureFixture[str]) -> None:
    """``--stack`` takes Pulumi's qualified forms; the config file is named by the last part."""
    try:
        code = main(args)
    except SystemExit as exit_:  # argparse usage errors
        code = int(exit_.code or 0)
    err = capsys.readouterr().err
    assert code == expected
    assert message in err


# command, the collector before, the command raises, the collector while it runs
COLLECTOR = [
    ("plan", True, False, False),
    ("review", True, False, False),
    ("plan, collector already off", False, False, False),
    ("plan raises", True, True, False),
    ("promote keeps it", True, False, True),
]


@pytest.mark.parametrize(("command", "enabled", "fails", "during"), COLLECTOR,
                         ids=[c[0] for c in COLLECTOR])
def test_the_collector_is_off_while_plan_and_review_run(
        monkeypatch: pytest.MonkeyPatch, command: str, enabled: bool, fails: bool,
        during: bool) -> None:
    """``main`` turns the cyclic garbage collector off for ``plan`` and ``review`` (not for
    ``promote``, which may probe for minutes) and leaves it as it found it, also when the
    command fails."""
    import gc

    from mlplan.edge import cli, promote_cli

    seen: list[bool] = []

    def fake(args: object) -> int:
        seen.append(gc.isenabled())
        if fails:
            raise RuntimeError("boom")
        return 0

    name = command.split()[0].rstrip(",")
    monkeypatch.setattr(cli, "_plan", fake)
    monkeypatch.setattr(cli, "_review", fake)
    monkeypatch.setattr(promote_cli, "run_promote", fake)
    argv = {"plan": ["plan"], "review": ["review", "--base-dir", "."],
            "promote": ["promote", "ep", "--to", "green"]}[name]
    before = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        assert main(argv) == (1 if fails else 0)
        assert (seen, gc.isenabled()) == ([during and enabled], enabled)
    finally:
        gc.enable() if before else gc.disable()


@pytest.mark.parametrize("code", [0, 1, 2], ids=["ok", "errors", "changes"])
def test_the_console_script_exits_with_mains_code_and_frozen_objects(
        monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    """``run`` (the ``mlplan`` script) exits with ``main``'s code after ``gc.freeze``, so the
    interpreter's last collection does not walk what the command built."""
    import gc

    from mlplan.edge import cli

    monkeypatch.setattr(cli, "main", lambda: code)
    try:
        with pytest.raises(SystemExit) as exited:
            cli.run()
        assert exited.value.code == code
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_python_dash_m_mlplan_runs_the_command_line() -> None:
    done = subprocess.run([sys.executable, "-m", "mlplan", "--version"], capture_output=True,
                          text=True, timeout=60)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("mlplan ")
