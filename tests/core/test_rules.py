"""Policy rules (MLP5xx) over facts: the same functions judge the plan and deployed resources."""

import pytest

from mlplan.domain import codes
from mlplan.domain.diagnostics import Severity
from mlplan.rules.policy import (
    DeploymentFacts,
    EndpointFacts,
    RuleOptions,
    check_endpoint,
    check_stack,
    image_problem,
)

IMAGES = [
    ("version tag", "mcr.microsoft.com/azureml/minimal:20250101.v1", True),
    ("semver", "registry.example.com/team/infer:1.4.2", True),
    ("digest", "example.io/infer@sha256:" + "a" * 64, True),
    ("registry port is not a tag", "localhost:5000/infer", False),
    ("latest", "example.io/infer:latest", False),
    ("untagged", "example.io/infer", False),
    ("moving word tag", "example.io/infer:stable", False),
    ("no digits is no version", "example.io/infer:prod", False),
]


@pytest.mark.parametrize(("name", "image", "pinned"), IMAGES, ids=[i[0] for i in IMAGES])
def test_image_pinned(name: str, image: str, pinned: bool) -> None:
    assert (image_problem(image) == "") is pinned


def endpoint(env: str = "development", **deployment: object) -> EndpointFacts:
    base: dict[str, object] = {"name": "blue", "instance_type": "Standard_DS3_v2",
                               "instances": 3, "image": "example.io/infer:1.0",
                               "family": "standardDSv2Family", "cpu_millis": 4000}
    base.update(deployment)
    return EndpointFacts(name="my-endpoint", environment=env, traffic=(("blue", 100),),
                         deployments=(DeploymentFacts(**base),))  # type: ignore[arg-type]


SCENARIOS = [
    ("healthy", endpoint(), []),
    ("two instances in development: advisory", endpoint(instances=2),
     [(codes.HA_MINIMUM, Severity.WARNING)]),
    ("two instances in production: mandatory", endpoint("production", instances=2),
     [(codes.HA_MINIMUM, Severity.ERROR)]),
    ("latest in production", endpoint("production", image="example.io/infer:latest"),
     [(codes.IMAGE_PINNED, Severity.ERROR)]),
    ("GPU type without GPUs", endpoint(instance_type="Standard_NC6s_v3", gpus_expected=1),
     [(codes.GPU_RESOURCES, Severity.ERROR)]),
    ("CPU type asking for a GPU", endpoint(gpus_requested=1),
     [(codes.GPU_RESOURCES, Severity.ERROR)]),
    ("no readiness check", endpoint(has_readiness=False),
     [(codes.PROBES_PRESENT, Severity.ERROR)]),
    ("51 instances", endpoint(instances=51), [(codes.TOO_MANY_INSTANCES, Severity.ERROR)]),
]


@pytest.mark.parametrize(("name", "facts", "expected"), SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_check_endpoint(name: str, facts: EndpointFacts,
                        expected: list[tuple[str, Severity]]) -> None:
    found = check_endpoint(facts, RuleOptions())
    assert [(d.code, d.severity) for d in found] == expected


def test_zero_percent_deployments_are_not_held_to_ha() -> None:
    facts = EndpointFacts(
        name="my-endpoint", environment="production",
        traffic=(("blue", 100), ("green", 0)),
        deployments=(DeploymentFacts("blue", "Standard_DS3_v2", 3, "x.io/i:1"),
                     DeploymentFacts("green", "Standard_DS3_v2", 1, "x.io/i:2")))
    assert check_endpoint(facts, RuleOptions()) == []


def test_traffic_and_auth_come_from_the_core_rules() -> None:
    facts = EndpointFacts(name="my-endpoint", auth_mode="none",
                          traffic=(("blue", 90), ("green", 20)),
                          mirror=(("green", 60),),
                          deployments=(DeploymentFacts("blue", "Standard_DS3_v2", 3, "x:1"),
                                       DeploymentFacts("green", "Standard_DS3_v2", 3, "x:1")))
    assert sorted(d.code for d in check_endpoint(facts, RuleOptions())) == [
        codes.TRAFFIC_SUM, codes.MIRROR_PERCENT, codes.MIRROR_LIVE, codes.AUTH_ENABLED]


def test_quota_over_the_stack() -> None:
    facts = [endpoint(instances=10)]
    found = check_stack(facts, RuleOptions(quota_millis={"standardDSv2Family": 40_000}))
    assert [d.code for d in found] == [codes.QUOTA_FAMILY]
    assert "48 cores required, limit 40" in found[0].message
