"""Policy rules (MLP5xx) over facts: the same functions judge the plan and deployed resources."""

import pytest

from mlplan.domain import codes
from mlplan.domain.diagnostics import Severity
from mlplan.domain.facts import DeploymentFacts, EndpointFacts
from mlplan.planning import traffic
from mlplan.rules.registry import (
    RULES,
    RuleOptions,
    _endpoint_model,
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


def test_one_rule_per_code_titled_by_the_catalogue() -> None:
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    titles = {r.code: r.title for r in codes.catalogue()}
    assert {r.id: r.title for r in RULES} == {i: titles[i] for i in ids}


BROKEN_TRAFFIC = [
    ("unknown live and mirror targets", (("blue", 100), ("ghost", 0)), (("spook", 10),)),
    ("two mirrors over the cap", (("blue", 100),), (("green", 60), ("red", 10))),
    ("mirror without live traffic", (("blue", 0),), (("green", 10),)),
]


@pytest.mark.parametrize(("name", "live", "mirror"), BROKEN_TRAFFIC,
                         ids=[b[0] for b in BROKEN_TRAFFIC])
def test_every_traffic_finding_is_some_rule(name: str, live: tuple[tuple[str, int], ...],
                                            mirror: tuple[tuple[str, int], ...]) -> None:
    """The registry keeps each code of ``traffic.check``: the rules report all it finds."""
    facts = EndpointFacts(name="my-endpoint", traffic=live, mirror=mirror, deployments=(
        DeploymentFacts("blue", "Standard_DS3_v2", 3, "x:1"),
        DeploymentFacts("green", "Standard_DS3_v2", 3, "x:1"),
        DeploymentFacts("red", "Standard_DS3_v2", 3, "x:1")))
    model = _endpoint_model(facts)
    expected = sorted(traffic.check(model), key=lambda d: (d.code, d.message))
    found = [d for d in check_endpoint(facts, RuleOptions()) if d.code.startswith("MLP2")]
    assert expected and sorted(found, key=lambda d: (d.code, d.message)) == expected
