"""Azure's own example folders (tests/fixtures/azure) through ``mlplan plan`` and the Python API:
one verdict for no-code deployments in every mode, folders holding other tools' YAML, and the
smaller promises of issue 28 (no invented MLP202 after a syntax error, tabs named, scoring
script relative to code, the target of a path plan, a deleted Kubernetes stack's wording)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlplan.domain.settings import Settings
from mlplan.domain.spec import SourceText, parse
from mlplan.edge.cli import main
from mlplan.edge.pipeline import planned
from mlplan.planning.diff import review as diff_review
from tests.test_api import failing, root  # noqa: F401  (root: the project fixture)

REPO = Path(__file__).resolve().parents[1]
AZURE = "tests/fixtures/azure"
SAMPLE = REPO / "stacks" / "endpoints" / "my-endpoint"


@pytest.fixture(autouse=True)
def in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


def plan_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = main(["plan", *args, "--format", "json"])
    out, _err = capsys.readouterr()
    return code, json.loads(out)


def codes_of(doc: dict[str, Any]) -> set[str]:
    return {d["code"] for d in doc["diagnostics"]}


# --- 3. no-code deployments: one verdict everywhere -------------------------------------------

MODES = [
    ("path plan", []),
    ("path plan with the dev stack (docker)", ["--stack", "dev"]),
    ("path plan with the prod stack (kubernetes, production)", ["--stack", "prod"]),
]


@pytest.mark.parametrize("args", [m[1] for m in MODES], ids=[m[0] for m in MODES])
def test_no_code_mlflow_is_one_error_in_every_mode(args: list[str],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = plan_json([f"{AZURE}/ncd", *args], capsys)
    no_code = [d for d in doc["diagnostics"] if d["code"] == "MLP131"]
    assert code == 1
    assert sorted(d["path"] for d in no_code) == [
        f"{AZURE}/ncd/lightgbm-deployment.yaml:2 environment",
        f"{AZURE}/ncd/sklearn-deployment.yaml:2 environment"]
    assert all("mlflow models build-docker" in d["message"] for d in no_code)
    assert not codes_of(doc) & {"MLP103", "MLP119", "MLP502"}


def test_no_code_through_the_python_api(root: Path,  # noqa: F811
                                        caplog: pytest.LogCaptureFixture) -> None:
    text = (REPO / AZURE / "ncd/sklearn-deployment.yaml").read_text()
    deployment = yaml.safe_load(text)
    deployment["model"]["path"] = "stacks/model/sample-model"
    _message, logged, recorded = failing(root, {
        "endpoint": {"name": "my-endpoint", "auth_mode": "key",
                     "traffic": {"sklearn-deployment": 100}},
        "deployments": [deployment]}, caplog)
    assert recorded == []
    assert "deployments[0] environment: error MLP131" in logged
    assert "mlflow models build-docker" in logged
    for other in ("MLP103", "MLP119", "MLP502"):
        assert other not in logged


# --- 5. folders with YAML of other tools ------------------------------------------------------

def test_triton_folder_skips_olive_configs_and_lists_them(capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    folder = f"{AZURE}/triton/single-model"
    code, doc = plan_json([folder], capsys)
    assert codes_of(doc) == {"MLP130", "MLP131"}  # aml_token; no-code Triton: nothing else
    assert doc["skipped_files"] == [
        f"{folder}/olive_model_analyzer/config_bert-olive.yml",
        f"{folder}/olive_model_analyzer/config_bert_olive_analyze.yml",
        f"{folder}/triton-densenet-scoring-env.yaml"]
    assert code == 1

    main(["plan", folder, "--verbose"])
    _out, err = capsys.readouterr()
    assert "skipped 3 file(s) found in folders that hold no online endpoint or deployment: " \
           f"{folder}/olive_model_analyzer/config_bert-olive.yml" in err
    main(["plan", folder])
    assert "skipped" not in capsys.readouterr().err


def test_a_broken_file_that_looks_like_a_deployment_is_reported(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(SAMPLE / "endpoint.yml", tmp_path / "endpoint.yml")
    shutil.copy(SAMPLE / "green.yml", tmp_path / "green.yml")
    blue = (SAMPLE / "blue.yml").read_text().replace("\ninstance_type:", "\n\tinstance_type:")
    tab_line = next(n for n, line in enumerate(blue.splitlines(), 1) if line.startswith("\t"))
    (tmp_path / "blue.yml").write_text(blue)
    (tmp_path / "tool.yml").write_text("a: 1\na: 2\n\tb: [\n")  # another tool's, broken
    monkeypatch.chdir(tmp_path)
    _code, doc = plan_json(["."], capsys)
    assert [(d["code"], d["path"]) for d in doc["diagnostics"]] == [
        ("MLP100", f"blue.yml:{tab_line}")]
    assert "indented with a tab; YAML indents with spaces only" in doc["diagnostics"][0]["message"]
    assert doc["skipped_files"] == ["tool.yml"]


# --- 6. smaller items -------------------------------------------------------------------------

def test_a_syntax_error_in_blue_invents_no_mlp202() -> None:
    blue = (SAMPLE / "blue.yml").read_text() + "environment: [unclosed\n"
    sources = [SourceText("ep/endpoint.yml", (SAMPLE / "endpoint.yml").read_text()),
               SourceText("ep/blue.yml", blue),
               SourceText("ep/green.yml", (SAMPLE / "green.yml").read_text())]
    result = parse(sources)
    assert [d.code for d in result.diagnostics] == ["MLP100"]
    state = planned(result.endpoints, Settings(), result.diagnostics)
    assert [d.code for d in state.diagnostics] == ["MLP100"]  # traffic names blue: not invented
    # a deployment the traffic names that no file declares is still MLP202
    ghost = (SAMPLE / "endpoint.yml").read_text().replace("green: 10", "purple: 10")
    result = parse([SourceText("ep/endpoint.yml", ghost), *sources[1:]])
    state = planned(result.endpoints, Settings(), result.diagnostics)
    assert sorted(d.code for d in state.diagnostics) == ["MLP100", "MLP202"]


def test_a_syntax_error_in_the_endpoint_invents_no_mlp108() -> None:
    broken = (SAMPLE / "endpoint.yml").read_text() + "tags: [unclosed\n"
    result = parse([SourceText("ep/endpoint.yml", broken),
                    *(SourceText(f"ep/{n}.yml", (SAMPLE / f"{n}.yml").read_text())
                      for n in ("blue", "green"))])
    state = planned(result.endpoints, Settings(), result.diagnostics)
    assert [d.code for d in state.diagnostics] == ["MLP100"]


def test_a_path_plan_of_kubernetes_files_says_target_kubernetes(
        capsys: pytest.CaptureFixture[str]) -> None:
    main(["plan", f"{AZURE}/kubernetes"])
    assert "target kubernetes" in capsys.readouterr().out.splitlines()[0]
    main(["plan", f"{AZURE}/managed/sample"])
    assert "target docker" in capsys.readouterr().out.splitlines()[0]


def test_a_missing_scoring_script_is_relative_to_code(root: Path,  # noqa: F811
                                                      caplog: pytest.LogCaptureFixture) -> None:
    deployment = {"name": "blue", "endpoint_name": "my-endpoint",
                  "model": {"path": "stacks/model/sample-model"},
                  "code_configuration": {"code": "stacks/score", "scoring_script": "nope.py"},
                  "environment": {"image": "example.io/infer:1.0"},
                  "instance_type": "Standard_DS2_v2", "instance_count": 1}
    _message, logged, _recorded = failing(root, {
        "endpoint": {"name": "my-endpoint", "auth_mode": "key", "traffic": {"blue": 100}},
        "deployments": [deployment]}, caplog)
    assert "scoring script 'stacks/score/nope.py' does not exist; fix the path (relative to " \
           "code_configuration.code, as Azure resolves it)" in logged


@pytest.mark.parametrize(("target", "reason"), [
    ("docker", "removed: its router, network and deployments are deleted"),
    ("kubernetes", "removed: its router and deployments are deleted"),
])
def test_a_deleted_stack_names_what_its_target_owns(target: str, reason: str) -> None:
    sources = [SourceText(f"ep/{p.name}", p.read_text()) for p in sorted(SAMPLE.glob("*.yml"))]
    result = parse(sources)
    base = planned(result.endpoints, Settings(target=target))  # type: ignore[arg-type]
    (endpoint,) = diff_review(base, None).endpoints
    assert endpoint.reasons == (reason,)


@pytest.mark.parametrize("mode", ["aml_token", "AMLToken", "aad_token"])
def test_token_auth_is_never_deployed_as_keys(mode: str, root: Path,  # noqa: F811
                                              caplog: pytest.LogCaptureFixture) -> None:
    """The program registers nothing for an endpoint whose auth the router cannot serve."""
    deployment = {"name": "blue", "endpoint_name": "my-endpoint",
                  "model": {"path": "stacks/model/sample-model"},
                  "code_configuration": {"code": "stacks/score", "scoring_script": "score.py"},
                  "environment": {"image": "example.io/infer:1.0"},
                  "instance_type": "Standard_DS2_v2", "instance_count": 1}
    _message, logged, recorded = failing(root, {
        "endpoint": {"name": "my-endpoint", "auth_mode": mode, "traffic": {"blue": 100}},
        "deployments": [deployment]}, caplog)
    assert recorded == []
    expected = "error MLP104" if mode == "AMLToken" else "auth_mode: error MLP130"
    assert expected in logged, logged


@pytest.mark.parametrize(("text", "ours"), [
    ("$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json\n"
     "name: [\n", True),
    ("name: my-endpoint\nauth_mode: key\ntraffic: {blue: [\n", True),  # no $schema, as Azure's
    ("name: blue\nendpoint_name: [\n", True),
    ("model_repository: ./m\ncheckpoint_directory: a\ncheckpoint_directory: b\n\tx: [\n", False),
    ("name: mlflow-env\nchannels: [conda-forge\ndependencies:\n", False),  # a conda file
])
def test_a_broken_file_in_a_folder_is_reported_only_if_it_looks_like_ours(
        text: str, ours: bool) -> None:
    result = parse([SourceText("ep/file.yml", text, explicit=False)])
    assert (result.skipped == ()) is ours
    assert bool(result.diagnostics) is ours
