"""Azure's public online endpoint examples (tests/fixtures/azureml-examples, MIT) plan cleanly.

Three kinds of file are there: current CLI v2 files, which must plan with no diagnostics;
templates with unquoted ``{{PLACEHOLDER}}`` values, which are not YAML until substituted; and
pre-GA files (inline ``deployments:``, ``local_path``), which the current CLI rejects too. The
last two must give clear diagnostics, never a traceback.
"""

from pathlib import Path

import pytest

from mlplan.domain import codes
from mlplan.domain.settings import Settings
from mlplan.domain.spec import SourceText, parse
from mlplan.edge.pipeline import planned

ROOT = Path(__file__).parents[1] / "fixtures" / "azureml-examples"

# Complete sets: an endpoint and its deployments, planned together.
COMPLETE_SETS = [
    ("managed sample blue/green", ["managed/sample/endpoint.yml",
                                   "managed/sample/blue-deployment.yml",
                                   "managed/sample/green-deployment.yml"]),
    ("managed sample with registered assets",
     ["managed/sample/endpoint.yml", "managed/sample/blue-deployment-with-registered-assets.yml"]),
    ("kubernetes blue/green", ["kubernetes/kubernetes-endpoint.yml",
                               "kubernetes/kubernetes-blue-deployment.yml",
                               "kubernetes/kubernetes-green-deployment.yml"]),
    ("system-assigned identity", ["managed/managed-identities/1-sai-create-endpoint.yml",
                                  "managed/managed-identities/2-sai-deployment.yml"]),
    ("user-assigned identity", ["managed/managed-identities/1-uai-create-endpoint.yml",
                                "managed/managed-identities/2-uai-deployment.yml"]),
]

# Deployments whose endpoint Azure's scripts create on the command line (az ml online-endpoint
# create --name ...): planned alone, the only finding may be that the endpoint is not declared.
DEPLOYMENT_ONLY = [
    "custom-container/streaming/unbuffered-deployment.yml",
    "deploy-with-packages/custom-model/deployment.yml",
    "managed/app-insights/deployment.yml",
    "managed/binary-payloads/binary-payloads-deployment.yml",
    "managed/inference-schema/deployment-standard.yml",
    "managed/keyvault/keyvault-deployment.yml",
    "managed/openapi/deployment.yml",
    "managed/profiler/deployment.yml",
    "managed/vnet/mlflow/blue-deployment-vnet.yml",
    "managed/vnet/sample/blue-deployment-vnet.yml",
    "ncd/mlflow-from-catalog/deployment.yaml",
    "ncd/sklearn-deployment.yaml",
]

TEMPLATES = [
    "custom-container/huggingface-tgi/tgi-deployment.yml",
    "custom-container/minimal/multimodel/minimal-multimodel-deployment.yml",
    "custom-container/mlflow/multideployment-scikit/mlflow-deployment.yml",
    "custom-container/r/r-deployment.yml",
    "custom-container/tfserving/half-plus-two/tfserving-deployment.yml",
    "custom-container/torchserve/densenet/torchserve-deployment.yml",
    "custom-container/triton/single-model/triton-cc-deployment.yml",
    "custom-container/vllm/Phi-3-mini-4k-instruct/vllm-phi3-deployment.yml",
    "managed/minimal/single-model-registered/deployment.yml",
]

PRE_GA = [
    "amlarc/blue-deployment.yml",
    "amlarc/green-deployment.yml",
    "custom-container/tfserving-endpoint.yml",
    "managed/canary-declarative-flow/1-create-endpoint-with-blue.yml",
    "managed/saferollout/blue-deployment.yml",
    "managed/sample/blue-deployment-vnet.yml",
    "triton/single-model/create-endpoint-with-deployment-mir.yml",
]


def sources(paths: list[str]) -> list[SourceText]:
    return [SourceText(p, (ROOT / p).read_bytes().decode().replace("\r\n", "\n")) for p in paths]


@pytest.mark.parametrize(("name", "paths"), COMPLETE_SETS, ids=[s[0] for s in COMPLETE_SETS])
def test_complete_sets_plan_without_diagnostics(name: str, paths: list[str]) -> None:
    result = parse(sources(paths))
    state = planned(result.endpoints, Settings(), result.diagnostics)
    assert state.diagnostics == ()
    deployments = [d for e in state.endpoints for d in e.deployments]
    assert len(deployments) == len(paths) - 1


ENDPOINT_ONLY = ["amlarc/endpoint.yml", "managed/vnet/sample/endpoint.yml"]


@pytest.mark.parametrize("path", ENDPOINT_ONLY)
def test_endpoint_files_alone_plan_without_diagnostics(path: str) -> None:
    result = parse(sources([path]))
    assert planned(result.endpoints, Settings(), result.diagnostics).diagnostics == ()


@pytest.mark.parametrize("path", DEPLOYMENT_ONLY)
def test_current_deployment_files_are_valid(path: str) -> None:
    result = parse(sources([path]))
    assert [d.code for d in result.diagnostics] == [codes.UNKNOWN_ENDPOINT]


@pytest.mark.parametrize("path", TEMPLATES)
def test_templates_point_at_the_placeholder(path: str) -> None:
    result = parse(sources([path]))
    syntax = [d for d in result.diagnostics if d.code == codes.YAML_SYNTAX]
    assert syntax
    line = (ROOT / path).read_text().splitlines()[syntax[0].location.line - 1]
    assert "{{" in line
    assert "template placeholder" in syntax[0].message


@pytest.mark.parametrize("path", PRE_GA)
def test_pre_ga_files_get_clear_errors(path: str) -> None:
    result = parse(sources([path]))
    assert {d.code for d in result.diagnostics} & {codes.UNKNOWN_KEY, codes.WRONG_TYPE}
    assert all(d.location.line > 0 for d in result.diagnostics)


def test_every_fixture_is_classified() -> None:
    listed = {p for _n, ps in COMPLETE_SETS for p in ps} | set(DEPLOYMENT_ONLY) | set(TEMPLATES)
    listed |= set(PRE_GA) | set(ENDPOINT_ONLY)
    on_disk = {p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*.y*ml")
               if not p.relative_to(ROOT).as_posix().startswith("_docs/")}
    assert on_disk == listed
