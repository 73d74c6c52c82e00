"""Every mistake in one pass, and only the mistakes (issue 17, item 1).

Each scenario is a set of files with several mistakes; the plan (spec + desired state, as
``mlplan plan`` runs them) must report exactly one diagnostic per mistake: a field that fails its
schema check is reported and skipped, the rest of its document is still checked (instance type,
probes, names, limits), and no rule reports a consequence of a mistake already reported (no
"add its deployment file" for a file that exists, no "sum is 0" after a bad percent, no
"instance_type is missing" after ``instnce_type``).
"""

from textwrap import dedent

import pytest

from mlplan.domain import codes
from mlplan.domain.settings import Settings
from mlplan.domain.spec import SourceText, parse
from mlplan.edge.pipeline import planned

ENDPOINT = dedent("""\
    $schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json
    name: my-endpoint
    auth_mode: key
    traffic:
      blue: 90
      green: 10
    """)


def deployment(name: str, body: str = "") -> str:
    head = dedent(f"""\
        $schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json
        name: {name}
        endpoint_name: my-endpoint
        environment:
          image: mcr.microsoft.com/azureml/minimal-ubuntu22.04-py39-cpu-inference:20250101.v1
        """)
    return head + dedent(body or """\
        instance_type: Standard_DS3_v2
        instance_count: 3
        """)


GREEN = deployment("green")

Files = dict[str, str]
Found = set[tuple[str, str, str]]  # (code, file:line, field)

SCENARIOS: list[tuple[str, Files, Found]] = [
    ("typo, negative count and unknown instance type in one file (the issue's example)",
     {"e/endpoint.yml": ENDPOINT, "e/green.yml": GREEN,
      "e/blue.yml": deployment("blue", """\
          instance_type: Standard_DS3_v9
          instance_count: -1
          request_settings:
            request_timout_ms: 3000
            max_concurrent_requests_per_instance: 1
          """)},
     {(codes.UNKNOWN_INSTANCE_TYPE, "e/blue.yml:6", "instance_type"),
      (codes.INVALID_VALUE, "e/blue.yml:7", "instance_count"),
      (codes.UNKNOWN_KEY, "e/blue.yml:9", "request_settings.request_timout_ms")}),
    ("misspelt instance_type is one mistake, not also a missing field (README example)",
     {"e/endpoint.yml": ENDPOINT, "e/green.yml": GREEN,
      "e/blue.yml": deployment("blue", "instnce_type: Standard_DS3_v2\ninstance_count: 3\n")},
     {(codes.UNKNOWN_KEY, "e/blue.yml:6", "instnce_type")}),
    ("bad percent, bad auth mode and a too-large mirror on the endpoint",
     {"e/endpoint.yml": dedent("""\
          name: my-endpoint
          auth_mode: keys
          traffic:
            blue: 150
            green: 0
          mirror_traffic:
            green: 60
          """),
      "e/blue.yml": deployment("blue"), "e/green.yml": GREEN},
     {(codes.INVALID_VALUE, "e/endpoint.yml:2", "auth_mode"),
      (codes.INVALID_VALUE, "e/endpoint.yml:4", "traffic.blue"),
      (codes.MIRROR_PERCENT, "e/endpoint.yml:7", "mirror_traffic.green")}),
    ("probe values and an environment typo: the rest of the deployment is still sized",
     {"e/endpoint.yml": ENDPOINT, "e/green.yml": GREEN,
      "e/blue.yml": deployment("blue", """\
          instance_type: Standard_DS3_v2
          instance_count: 60
          readiness_probe:
            period: 0
            timout: 3
          liveness_probe: often
          """).replace("  image:", "  imge:")},
     {(codes.UNKNOWN_KEY, "e/blue.yml:5", "environment.imge"),
      (codes.TOO_MANY_INSTANCES, "e/blue.yml:7", "instance_count"),
      (codes.INVALID_VALUE, "e/blue.yml:9", "readiness_probe.period"),
      (codes.UNKNOWN_KEY, "e/blue.yml:10", "readiness_probe.timout"),
      (codes.WRONG_TYPE, "e/blue.yml:11", "liveness_probe")}),
    ("a deployment file without a name: traffic naming it is not 'undeclared'",
     {"e/endpoint.yml": ENDPOINT, "e/green.yml": GREEN,
      "e/blue.yml": deployment("blue", "instance_type: Standard_DS3_v2\ninstance_count: x\n")
      .replace("name: blue\n", "")},
     {(codes.MISSING_FIELD, "e/blue.yml:1", "name"),
      (codes.WRONG_TYPE, "e/blue.yml:6", "instance_count")}),
    ("a wrong kind and a bad count: no 'resources only for Kubernetes', instance type checked",
     {"e/endpoint.yml": ENDPOINT, "e/green.yml": GREEN,
      "e/blue.yml": deployment("blue", """\
          type: kubernets
          instance_type: Standard_DS3_v99
          instance_count: 0
          resources:
            requests: {cpu: 500m, memory: 1Gi}
          """)},
     {(codes.INVALID_VALUE, "e/blue.yml:6", "type"),
      (codes.UNKNOWN_INSTANCE_TYPE, "e/blue.yml:7", "instance_type"),
      (codes.INVALID_VALUE, "e/blue.yml:8", "instance_count")}),
    ("an invalid max_instances: no 'min_instances above max_instances' beside it",
     {"e/endpoint.yml": ENDPOINT, "e/green.yml": GREEN,
      "e/blue.yml": deployment("blue", """\
          type: kubernetes
          instance_type: Standard_DS3_v2
          scale_settings:
            type: target_utilization
            min_instances: 3
            max_instances: 0
          """)},
     {(codes.INVALID_VALUE, "e/blue.yml:11", "scale_settings.max_instances")}),
    ("a bad name and a typo in both files, and a wrong endpoint_name type",
     {"e/endpoint.yml": ENDPOINT.replace("auth_mode:", "auth_mod:"), "e/green.yml": GREEN,
      "e/blue.yml": deployment("b", "instance_type: Standard_DS3_v2\ninstance_count: 3\n")
      .replace("endpoint_name: my-endpoint", "endpoint_name: [my-endpoint]")},
     {(codes.UNKNOWN_KEY, "e/endpoint.yml:3", "auth_mod"),
      (codes.INVALID_NAME, "e/blue.yml:2", "name"),
      (codes.WRONG_TYPE, "e/blue.yml:3", "endpoint_name"),
      # traffic names 'blue'; the only deployment file for it is named 'b': a real mistake
      (codes.TRAFFIC_UNKNOWN_DEPLOYMENT, "e/endpoint.yml:5", "traffic.blue")}),
]


def diagnostics(files: Files) -> Found:
    result = parse([SourceText(path, text) for path, text in files.items()])
    state = planned(result.endpoints, Settings(), result.diagnostics)
    return {(d.code, f"{d.location.file}:{d.location.line}", d.location.field)
            for d in state.diagnostics}


@pytest.mark.parametrize(("name", "files", "expected"), SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_each_mistake_once_and_nothing_else(name: str, files: Files, expected: Found) -> None:
    assert diagnostics(files) == expected


def test_a_deployment_with_a_skipped_sizing_field_is_left_out_of_the_quota() -> None:
    files = SCENARIOS[0][1]
    result = parse([SourceText(path, text) for path, text in files.items()])
    state = planned(result.endpoints, Settings(), result.diagnostics)
    (endpoint,) = result.endpoints
    assert [d.name for d in endpoint.deployments] == ["blue", "green"]  # both declared
    assert [d.name for d in state.endpoints[0].deployments] == ["green"]  # blue's size unknown
    assert state.quota.total_reserved_millis == 16_000
