"""Desired state: sizes resolved, limits and names checked, quota summed, all in one pass."""

from dataclasses import replace
from textwrap import dedent

import pytest

from mlplan.domain import codes
from mlplan.domain.settings import Limits, Settings
from mlplan.domain.spec import SourceText, parse
from mlplan.edge.pipeline import planned
from mlplan.planning.state import DesiredState

ENDPOINT = dedent("""\
    name: {endpoint}
    auth_mode: key
    traffic: {{{name}: 100}}
    """)

DEPLOYMENT = dedent("""\
    name: {name}
    endpoint_name: {endpoint}
    type: {kind}
    instance_type: {sku}
    instance_count: {count}
    environment: {{image: "example/image:1"}}
    """)


def state(endpoint: str = "my-endpoint", name: str = "blue", kind: str = "managed",
          sku: str = "Standard_DS3_v2", count: int = 3, extra: str = "",
          settings: Settings | None = None) -> DesiredState:
    texts = [SourceText("e.yml", ENDPOINT.format(endpoint=endpoint, name=name)),
             SourceText("d.yml", DEPLOYMENT.format(endpoint=endpoint, name=name, kind=kind,
                                                   sku=sku, count=count) + extra)]
    result = parse(texts)
    return planned(result.endpoints, settings or Settings(), result.diagnostics)


def codes_of(s: DesiredState) -> list[str]:
    return [d.code for d in s.diagnostics]


SCENARIOS = [
    ("valid managed deployment", state(), []),
    ("unknown instance type with a suggestion", state(sku="Standard_DS3v2"),
     [codes.UNKNOWN_INSTANCE_TYPE]),
    ("51 instances over Azure's 50", state(count=51), [codes.TOO_MANY_INSTANCES]),
    ("limit raised in settings", state(count=51, settings=Settings(
        limits=replace(Limits(), instances_per_deployment=60))), []),
    ("managed timeout over 180 s", state(extra="request_settings: {request_timeout_ms: 200000}\n"),
     [codes.REQUEST_TIMEOUT_LIMIT]),
    ("kubernetes allows 300 s", state(kind="kubernetes",
                                      extra="request_settings: {request_timeout_ms: 200000}\n"),
     []),
    ("kubernetes names too long together", state(endpoint="e" * 32, name="d" * 31,
                                                 kind="kubernetes"),
     [codes.KUBERNETES_NAME_LENGTH]),
    ("the same names are fine on managed", state(endpoint="e" * 32, name="d" * 31), []),
    ("kubernetes target checks managed-typed deployments too",
     state(endpoint="e" * 32, name="d" * 31, settings=Settings(target="kubernetes")),
     [codes.KUBERNETES_NAME_LENGTH]),
    ("over the family quota", state(count=10, settings=Settings(
        quota_millis={"standardDSv2Family": 40_000})), [codes.QUOTA_FAMILY]),
]


@pytest.mark.parametrize(("name", "s", "expected"), SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_rules(name: str, s: DesiredState, expected: list[str]) -> None:
    assert codes_of(s) == expected


def test_sizes_quota_and_instances() -> None:
    s = state(count=10)
    (blue,) = s.endpoints[0].deployments
    assert blue.reserved_millis == 48_000  # 10 x DS3_v2: ceil(12) x 4 cores
    # Docker (the default target) surges like Azure: peak N + batch, all N serving
    assert blue.rollout.describe() == "10 instances: 5 batches of 2, peak 12, at least 10 serving"
    assert blue.instance_names[0] == "my-endpoint-blue-0" and len(blue.instance_names) == 10
    assert s.quota.total_reserved_millis == 48_000


def test_exempt_gpu_sku() -> None:
    s = state(sku="Standard_NC24ads_A100_v4", count=3)
    assert s.endpoints[0].deployments[0].reserved_millis == 72_000


def test_autoscaled_deployment_reserves_its_maximum() -> None:
    extra = dedent("""\
        scale_settings:
          type: target_utilization
          min_instances: 2
          max_instances: 5
        """)
    s = state(kind="kubernetes", count=2, extra=extra)
    (blue,) = s.endpoints[0].deployments
    assert blue.most_instances == 5
    assert blue.reserved_millis == 6 * 4000


def test_kubernetes_resources_size_the_instance() -> None:
    extra = "resources: {requests: {cpu: 250m, memory: 1Gi}, limits: {cpu: '1', memory: 2Gi}}\n"
    s = state(kind="kubernetes", count=5, extra=extra)
    (blue,) = s.endpoints[0].deployments
    assert (blue.size.cpu_millis, blue.size.memory_mib) == (1000, 2048)
    assert blue.reserved_millis == 6 * 1000
