"""Stack settings from Pulumi.<stack>.yaml: mlplan:* keys validated with file:line."""

from textwrap import dedent

import pytest

from mlplan.domain import codes
from mlplan.domain.settings import from_stack_document
from mlplan.domain.yamlsource import parse_yaml
from mlplan.targets import registry

GOOD = dedent("""\
    config:
      docker:host: unix:///var/run/docker.sock
      mlplan:target: kubernetes
      mlplan:environment: production
      mlplan:endpoints:
        - stacks/endpoints
      mlplan:quota:
        standardDSv2Family: 48
        total: 100.5
      mlplan:instanceTypes:
        gpu-small:
          cpu: 500m
          memory: 2Gi
          gpu: 1
          nodeSelector: {accelerator: nvidia}
          tolerations:
            - {key: nvidia.com/gpu, effect: NoSchedule}
      mlplan:limits:
        instancesPerDeployment: 10
    """)


def load(text: str):  # type: ignore[no-untyped-def]
    return from_stack_document(parse_yaml(text).documents[0], "stacks/Pulumi.x.yaml",
                               registry.settings_parsers())


def test_good_settings() -> None:
    settings, problems = load(GOOD)
    assert problems == []
    assert settings.target == "kubernetes" and settings.environment == "production"
    assert settings.endpoint_paths == ("stacks/endpoints",)
    assert settings.quota_millis == {"standardDSv2Family": 48_000, "total": 100_500}
    (gpu,) = settings.instance_types
    assert (gpu.cpu_millis, gpu.memory_mib, gpu.gpus, gpu.family) == (500, 2048, 1, "custom")
    assert gpu.node_selector == (("accelerator", "nvidia"),)
    assert gpu.tolerations[0].key == "nvidia.com/gpu"
    assert settings.limits.instances_per_deployment == 10
    assert settings.catalog.get("GPU-SMALL") == gpu


BAD = [
    ("unknown setting with suggestion", GOOD.replace("mlplan:quota:", "mlplan:qouta:"),
     7, "mlplan:qouta", "did you mean 'mlplan:quota'?"),
    ("bad target", GOOD.replace("target: kubernetes", "target: swarm"), 3, "mlplan:target",
     "'docker' or 'kubernetes'"),
    ("endpoints missing", GOOD.replace("  mlplan:endpoints:\n    - stacks/endpoints\n", ""),
     1, "mlplan:endpoints", "add 'mlplan:endpoints:'"),
    ("negative quota", GOOD.replace("standardDSv2Family: 48", "standardDSv2Family: -1"), 8,
     "mlplan:quota.standardDSv2Family", "out of range; it must be >= 0"),
    ("bad cpu quantity", GOOD.replace("cpu: 500m", "cpu: lots"), 11,
     "mlplan:instanceTypes.gpu-small", "not a quantity"),
    ("instance type name that cannot be a label", GOOD.replace("gpu-small:", "gpu small/1:"),
     11, "mlplan:instanceTypes.gpu small/1", "becomes a label value"),
]


@pytest.mark.parametrize(("name", "text", "line", "field", "says"), BAD,
                         ids=[s[0] for s in BAD])
def test_bad_settings(name: str, text: str, line: int, field: str, says: str) -> None:
    _settings, problems = load(text)
    assert [(p.code, p.location.line, p.location.field) for p in problems] == [
        (codes.SETTINGS, line, field)]
    assert says in problems[0].message


ASSETS = [
    # name, mlplan:assets YAML, (field, text in the message) of each problem, models kept
    ("models and environments", '{models: {"azureml:m:1": stacks/model/m}, '
     'environments: {"azureml:e:1": "r.io/i:1"}}', [], {"azureml:m:1": "stacks/model/m"}),
    ("unknown kind", '{modles: {"azureml:m:1": stacks/model/m}}',
     [("mlplan:assets.modles", "unknown kind")], {}),
    ("kind not a mapping", "{models: stacks/model/m}",
     [("mlplan:assets.models", "expected a mapping")], {}),
    ("value not text", '{models: {"azureml:m:1": 3, "azureml:n:1": stacks/model/n}}',
     [("mlplan:assets.models.azureml:m:1", "expected text")], {"azureml:n:1": "stacks/model/n"}),
]


@pytest.mark.parametrize(("name", "value", "problems", "models"), ASSETS,
                         ids=[a[0] for a in ASSETS])
def test_assets_parsed_once(name: str, value: str, problems: list[tuple[str, str]],
                            models: dict[str, str]) -> None:
    """``mlplan:assets`` is typed when read: each bad entry is one MLP120 naming its key."""
    settings, found = load(f"config:\n  mlplan:endpoints: [stacks/endpoints]\n"
                           f"  mlplan:assets: {value}\n")
    assert [(d.code, d.location.field) for d in found] == [
        (codes.SETTINGS, field) for field, _says in problems]
    assert all(says in d.message for d, (_f, says) in zip(found, problems, strict=True))
    assert dict(settings.assets.models) == models
