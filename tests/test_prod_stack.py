"""The example ``prod`` stack (``stacks/Pulumi.prod.yaml``, Kubernetes, production): it plans
clean, its text plan is a golden file, and the real program registers it under Pulumi mocks.

Regenerate the golden with ``.venv/bin/pytest tests/test_prod_stack.py --update-goldens``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mlplan.domain import labels
from mlplan.edge import program
from mlplan.edge.cli import main
from tests.targets.harness import Recorded, by_type, one, run_program

REPO = Path(__file__).resolve().parents[1]
STACK_FILE = REPO / "stacks" / "Pulumi.prod.yaml"


@pytest.fixture(autouse=True)
def in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


@pytest.fixture(scope="module")
def recorded() -> list[Recorded]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.chdir(REPO)
        return run_program(lambda: program.run(cwd=REPO, stack="prod"), stack="prod",
                           project=REPO)


def _plan(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


GOLDEN = [("text plan", ["plan", "--stack", "prod"], "plan-prod.txt")]


@pytest.mark.parametrize(("name", "args", "golden_name"), GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden(name: str, args: list[str], golden_name: str,
                capsys: pytest.CaptureFixture[str], golden: Any) -> None:
    code, out, err = _plan(args, capsys)
    assert (code, err) == (0, "")  # plans clean: no diagnostic at all
    golden(golden_name, out)


EXIT_CODES = [
    ("plan", ["plan", "--stack", "prod"], 0),
    ("changes with detailed exit code", ["plan", "--stack", "prod", "--detailed-exitcode"], 2),
    ("a smaller family quota is an error", ["plan", "--stack", "prod",
                                            "--quota", "standardDSv2Family=24"], 1),
]


@pytest.mark.parametrize(("name", "args", "expected"), EXIT_CODES, ids=[e[0] for e in EXIT_CODES])
def test_exit_codes(name: str, args: list[str], expected: int,
                    capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, _err = _plan(args, capsys)
    assert code == expected


def test_stack_settings() -> None:
    config = yaml.safe_load(STACK_FILE.read_text())["config"]
    assert (config["mlplan:target"], config["mlplan:environment"]) == ("kubernetes",
                                                                       "production")
    assert config["mlplan:endpoints"] == ["stacks/prod/endpoints"]
    assert config["mlplan:kubernetes"]["resourceQuota"] is True


DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def test_the_program_registers_it_in_ml_prod(recorded: list[Recorded]) -> None:
    objects = [r for r in recorded if r.type.startswith("kubernetes:")]
    assert objects and all(r.inputs["metadata"]["namespace"] == "ml-prod" for r in objects)
    assert by_type(recorded, "kubernetes:core/v1:Namespace") == []  # the platform team's
    quota = one(recorded, "kubernetes:core/v1:ResourceQuota", "namespace-quota").inputs
    # blue and green: 4 pods of 4 cores each at the peak of a roll (32 = the plan's quota),
    # plus 3 + 1 router pods of 100m
    assert quota["spec"]["hard"]["requests.cpu"] == "32400m"
    assert quota["spec"]["hard"]["pods"] == "12"
    check = one(recorded, "mlplan:index:QuotaCheck", "quota").inputs
    assert check["totalReservedCores"] == 32


HA = [("blue", 3, "100", "0"), ("green", 3, "0", "10")]


@pytest.mark.parametrize(("deployment", "replicas", "weight", "mirror"), HA,
                         ids=[h[0] for h in HA])
def test_deployments(deployment: str, replicas: int, weight: str, mirror: str,
                     recorded: list[Recorded]) -> None:
    found = one(recorded, DEPLOYMENT, f"my-endpoint-{deployment}-deployment").inputs
    assert found["spec"]["replicas"] == replicas
    assert (found["metadata"]["labels"][labels.WEIGHT],
            found["metadata"]["labels"][labels.MIRROR]) == (weight, mirror)
    container = found["spec"]["template"]["spec"]["containers"][0]
    assert container["image"].endswith(":20250101.v1")
    assert {"readinessProbe", "livenessProbe"} <= container.keys()


def test_router(recorded: list[Recorded]) -> None:
    router = one(recorded, DEPLOYMENT, "my-endpoint-router").inputs
    assert router["spec"]["replicas"] == 3
    config = one(recorded, "kubernetes:core/v1:ConfigMap", "my-endpoint-router-config").inputs
    assert config["metadata"]["labels"][labels.ENVIRONMENT] == "production"
    assert config["metadata"]["annotations"] == {labels.TRAFFIC: "blue=100,green=0",
                                                 labels.MIRROR: "green=10"}
