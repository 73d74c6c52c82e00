"""The Kubernetes target's pure decisions: sizes, placement, rolling strategy, autoscaling,
delivery of image/model/code, env, namespace quota, names and Gateway durations."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from fractions import Fraction
from textwrap import dedent
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlplan.domain import codes
from mlplan.domain.assets import Assets
from mlplan.domain.catalog import InstanceType, Toleration
from mlplan.domain.model import Deployment
from mlplan.domain.settings import Settings
from mlplan.domain.spec import SourceText, parse
from mlplan.edge.pipeline import planned
from mlplan.planning.quota import reserved_instances
from mlplan.planning.rollout import RolloutSchedule
from mlplan.planning.state import DeploymentState, DesiredState
from mlplan.targets.kubernetes import choices as ko
from mlplan.targets.kubernetes.settings import KubernetesSettings, parse_kubernetes_settings

ENDPOINT = dedent("""\
    name: {endpoint}
    auth_mode: key
    traffic: {traffic}
    mirror_traffic: {mirror}
    """)

DEPLOYMENT = dedent("""\
    name: {name}
    endpoint_name: {endpoint}
    environment: {{image: "example.io/infer:1"}}
    """)

GPU_TYPE = InstanceType("gpu-small", 500, 2048, Fraction(1), family="custom", custom=True,
                        node_selector=(("pool", "gpu"),),
                        tolerations=(Toleration("pool", "Equal", "gpu", "NoSchedule"),))


def state_of(deployments: dict[str, str], *, endpoint: str = "my-endpoint",
             traffic: str = "", mirror: str = "{}",
             settings: Settings | None = None,
             more: tuple[str, ...] = ()) -> DesiredState:
    """One endpoint whose deployments are ``name -> extra YAML``; ``more`` adds endpoints."""
    live = traffic or "{" + f"{next(iter(deployments))}: 100" + "}"
    texts = [SourceText(f"{endpoint}/endpoint.yml", ENDPOINT.format(
        endpoint=endpoint, traffic=live, mirror=mirror))]
    for name, extra in deployments.items():
        texts.append(SourceText(f"{endpoint}/{name}.yml",
                                DEPLOYMENT.format(name=name, endpoint=endpoint) + dedent(extra)))
    for index, text in enumerate(more):
        texts.append(SourceText(f"more/{index}.yml", dedent(text)))
    result = parse(texts)
    found = planned(result.endpoints, settings or Settings(target="kubernetes",
                                                            instance_types=(GPU_TYPE,)),
                    result.diagnostics)
    assert not [d for d in found.diagnostics if d.severity.name == "ERROR"], found.diagnostics
    return found


def one(extra: str, **kwargs: Any) -> DeploymentState:
    return state_of({"blue": extra}, **kwargs).endpoints[0].deployments[0]


MANAGED = "instance_type: {sku}\ninstance_count: {count}\n"
K8S = "type: kubernetes\n"

RESOURCES = [
    # scenario, extra YAML, requests, limits
    ("Azure CPU SKU: one instance = one VM", MANAGED.format(sku="Standard_DS3_v2", count=3),
     {"cpu": "4", "memory": "14Gi"}, {"cpu": "4", "memory": "14Gi"}),
    ("Azure GPU SKU: whole GPU in limits only", MANAGED.format(sku="Standard_NC6s_v3", count=1),
     {"cpu": "6", "memory": "112Gi"}, {"cpu": "6", "memory": "112Gi", "nvidia.com/gpu": "1"}),
    ("partial A10 takes a whole device", MANAGED.format(sku="Standard_NV6ads_A10_v5", count=1),
     {"cpu": "6", "memory": "55Gi"}, {"cpu": "6", "memory": "55Gi", "nvidia.com/gpu": "1"}),
    ("custom instance type", MANAGED.format(sku="gpu-small", count=1),
     {"cpu": "500m", "memory": "2Gi"}, {"cpu": "500m", "memory": "2Gi", "nvidia.com/gpu": "1"}),
    ("Kubernetes default instance type (Azure's)", K8S + "instance_count: 1\n",
     {"cpu": "100m", "memory": "2Gi"}, {"cpu": "2", "memory": "2Gi"}),
    ("Kubernetes resources, requests only", K8S + dedent("""\
        instance_count: 1
        resources: {requests: {cpu: 250m, memory: 512Mi}}
        """), {"cpu": "250m", "memory": "512Mi"}, None),
    ("Kubernetes resources with limits and a GPU", K8S + dedent("""\
        instance_count: 1
        resources:
          requests: {cpu: "1", memory: 1Gi}
          limits: {cpu: "2", memory: 4Gi, nvidia.com/gpu: 2}
        """), {"cpu": "1", "memory": "1Gi"}, {"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": "2"}),
]


@pytest.mark.parametrize(("name", "extra", "requests", "limits"), RESOURCES,
                         ids=[r[0] for r in RESOURCES])
def test_container_resources(name: str, extra: str, requests: dict[str, str],
                             limits: dict[str, str] | None) -> None:
    manifest = ko.container_resources(one(extra)).manifest()
    assert manifest["requests"] == requests
    assert manifest.get("limits") == limits
    assert "nvidia.com/gpu" not in manifest["requests"]


PLACEMENT: list[tuple[str, str, dict[str, Any], tuple[tuple[str, str], ...],
                      tuple[Toleration, ...]]] = [
    ("CPU SKU: anywhere", MANAGED.format(sku="Standard_DS3_v2", count=1), {}, (), ()),
    ("GPU SKU: GPU nodes", MANAGED.format(sku="Standard_NC6s_v3", count=1), {},
     (("nvidia.com/gpu.present", "true"),),
     (Toleration("nvidia.com/gpu", "Exists", "", "NoSchedule"),)),
    ("GPU SKU with the stack's own GPU placement", MANAGED.format(sku="Standard_NC6s_v3",
                                                                  count=1),
     {"gpuNodeSelector": {"accelerator": "nvidia"}, "gpuTolerations": []},
     (("accelerator", "nvidia"),), ()),
    ("custom GPU type adds its own selector and toleration", MANAGED.format(sku="gpu-small",
                                                                           count=1), {},
     (("nvidia.com/gpu.present", "true"), ("pool", "gpu")),
     (Toleration("nvidia.com/gpu", "Exists", "", "NoSchedule"),
      Toleration("pool", "Equal", "gpu", "NoSchedule"))),
]


@pytest.mark.parametrize(("name", "extra", "values", "selector", "tolerations"), PLACEMENT,
                         ids=[p[0] for p in PLACEMENT])
def test_placement(name: str, extra: str, values: dict[str, Any],
                   selector: tuple[tuple[str, str], ...],
                   tolerations: tuple[Toleration, ...]) -> None:
    settings, problems = parse_kubernetes_settings(values)
    assert problems == []
    assert ko.placement(one(extra), settings) == ko.Placement(selector, tolerations)


SCALING = [
    # scenario, extra, replicas, autoscaler, (maxSurge, maxUnavailable)
    ("manual: replicas = instance_count", MANAGED.format(sku="Standard_DS3_v2", count=3), 3,
     None, ("20%", 0)),
    ("target_utilization: HPA, no replicas", K8S + dedent("""\
        instance_type: Standard_DS3_v2
        scale_settings: {type: target_utilization, min_instances: 2, max_instances: 6,
                         target_utilization_percentage: 60}
        """), None, ko.Autoscaler(2, 6, 60), ("20%", 0)),
    ("Kubernetes default scale settings: HPA pinned to instance_count", K8S + dedent("""\
        instance_type: Standard_DS3_v2
        instance_count: 4
        """), None, ko.Autoscaler(4, 4, 70), ("20%", 0)),
    ("min_instances 0: the HPA keeps one", K8S + dedent("""\
        instance_type: Standard_DS3_v2
        scale_settings: {type: target_utilization, min_instances: 0, max_instances: 3}
        """), None, ko.Autoscaler(1, 3, 70), ("20%", 0)),
    ("exempt SKU, 5 instances: no surge, one batch down", MANAGED.format(
        sku="Standard_NC24ads_A100_v4", count=5), 5, None, (0, 1)),
    ("exempt SKU, 10 instances: batches of two", MANAGED.format(
        sku="Standard_NC24ads_A100_v4", count=10), 10, None, (0, 2)),
    ("exempt SKU autoscaled: 20% down", K8S + dedent("""\
        instance_type: Standard_NC24ads_A100_v4
        scale_settings: {type: target_utilization, min_instances: 1, max_instances: 4}
        """), None, ko.Autoscaler(1, 4, 70), (0, "20%")),
]


@pytest.mark.parametrize(("name", "extra", "replicas", "scaler", "strategy"), SCALING,
                         ids=[s[0] for s in SCALING])
def test_scaling_and_strategy(name: str, extra: str, replicas: int | None,
                              scaler: ko.Autoscaler | None,
                              strategy: tuple[int | str, int | str]) -> None:
    dep = one(extra)
    assert ko.replicas(dep) == replicas
    assert ko.autoscaler(dep) == scaler
    assert ko.rolling_strategy(dep) == strategy


def _synthetic(instances: int, exempt: bool) -> DeploymentState:
    size = InstanceType("t", 4000, 1024, exempt=exempt)
    deployment = Deployment("blue", "e", "managed", "t", instances)
    return DeploymentState(deployment, size, RolloutSchedule.of(instances), instances, 0)


@given(st.integers(min_value=1, max_value=500), st.booleans())
def test_peak_pods_is_the_quota_reservation(instances: int, exempt: bool) -> None:
    """Kubernetes' rounding (surge up, unavailable down) keeps the peak at what the quota
    check reserved: ceil(1.2 N), or N for exempt SKUs; and an exempt roll still moves."""
    dep = _synthetic(instances, exempt)
    assert ko.peak_pods(dep, instances) == reserved_instances(instances, exempt)
    surge, unavailable = ko.rolling_strategy(dep)
    assert surge or unavailable  # Kubernetes rejects 0/0
    if exempt:
        assert unavailable == dep.rollout.batch_size


STALLED = ('@.conditions[?(@.type=="Progressing" && '
           '@.reason=="ProgressDeadlineExceeded")]')
WAIT_FOR = [
    ("fixed count: N updated, N in total (old pods gone), N available, or stalled", 3, [
        "jsonpath={$[?(@.updatedReplicas==3 && (@.replicas==3 && @.availableReplicas==3)) || "
        + STALLED + "]}"]),
    ("autoscaled: the controller's own verdict, complete or stalled", None, [
        'jsonpath={.status.conditions[?(@.type=="Progressing" && '
        '(@.reason=="NewReplicaSetAvailable" || @.reason=="ProgressDeadlineExceeded"))]'
        '.reason}']),
]


@pytest.mark.parametrize(("name", "replicas", "conditions"), WAIT_FOR,
                         ids=[w[0] for w in WAIT_FOR])
def test_pulumi_waits_for_the_complete_or_stalled_rollout(
        name: str, replicas: int | None, conditions: list[str]) -> None:
    expressions = json.loads(ko.rollout_complete(replicas))
    assert expressions == conditions
    # the provider splits an expression at a single "=" (value compare): there must be none
    assert all(e.removeprefix("jsonpath=").replace("==", "").count("=") == 0
               for e in expressions)


PROBES = ("instance_type: Standard_DS3_v2\ninstance_count: {n}\n"
          "readiness_probe: {{initial_delay: {d}, period: {p}, timeout: {t}, "
          "failure_threshold: {f}}}\n")
DEADLINES = [
    # scenario, extra YAML, progressDeadlineSeconds, await (Pulumi's timeout)
    ("Azure's probe defaults, 3 instances: 10 + 10 x 30 + 2 + 50",
     MANAGED.format(sku="Standard_DS3_v2", count=3),
     362, 1086),
    ("fast probe: 2 + 2 x 10 + 2 + 50; 600 s floor of the await", PROBES.format(
        n=3, d=2, p=2, t=2, f=10), 74, 600),
    ("10 instances, 5 batches of the defaults",
     MANAGED.format(sku="Standard_DS3_v2", count=10), 362, 1810),
    ("slow start: 300 s initial delay", PROBES.format(n=1, d=300, p=10, t=5, f=3), 385, 600),
]


@pytest.mark.parametrize(("name", "extra", "deadline", "await_s"), DEADLINES,
                         ids=[d[0] for d in DEADLINES])
def test_progress_deadline_is_one_batch_and_the_await_all_batches(
        name: str, extra: str, deadline: int, await_s: int) -> None:
    dep = one(extra)
    assert ko.progress_deadline_seconds(dep) == ko.batch_seconds(dep) == deadline
    assert ko.await_seconds(dep) == await_s
    assert ko.await_seconds(dep) >= dep.rollout.batch_count * deadline


FAILURES = [
    ("stalled: the controller's message", {"conditions": [
        {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
         "message": 'ReplicaSet "e-blue-5d9" has timed out progressing.'}]},
     'Deployment e-blue: the rollout stalled (ProgressDeadlineExceeded: ReplicaSet '
     '"e-blue-5d9" has timed out progressing.)'),
    ("complete", {"conditions": [
        {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}, ""),
    ("still rolling (only the timeout ends it)", {"conditions": [
        {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}]}, ""),
    ("no status yet (preview, mocks)", None, ""),
    ("no conditions", {"replicas": 2}, ""),
]


@pytest.mark.parametrize(("name", "status", "said"), FAILURES, ids=[f[0] for f in FAILURES])
def test_rollout_failure_names_the_deployment_and_the_reason(
        name: str, status: dict[str, Any] | None, said: str) -> None:
    found = ko.rollout_failure("e-blue", status)
    assert found.startswith(said) if said else found == ""


GRACE = [("Azure's default 5 s", 5000, 30), ("300 s Kubernetes maximum", 300_000, 310),
         ("fractional seconds round up", 25_500, 36)]


@pytest.mark.parametrize(("name", "ms", "seconds"), GRACE, ids=[g[0] for g in GRACE])
def test_termination_grace_outlasts_a_request(name: str, ms: int, seconds: int) -> None:
    assert ko.termination_grace_seconds(ms) == seconds
    assert seconds >= ms / 1000 + ko.PRESTOP_SLEEP_S


DURATIONS = [("whole seconds", 5000, "5s"), ("seconds and millis", 1500, "1s500ms"),
             ("millis only", 250, "250ms"), ("Kubernetes maximum", 300_000, "300s")]


@pytest.mark.parametrize(("name", "ms", "text"), DURATIONS, ids=[d[0] for d in DURATIONS])
def test_gateway_duration(name: str, ms: int, text: str) -> None:
    assert ko.gateway_duration(ms) == text


@given(st.integers(min_value=1, max_value=3_600_000))
def test_gateway_duration_matches_the_api_pattern(ms: int) -> None:
    text = ko.gateway_duration(ms)
    assert re.fullmatch(r"([0-9]{1,5}(h|m|s|ms)){1,4}", text)
    seconds = sum(int(n) * (1 if unit == "ms" else 1000)
                  for n, unit in re.findall(r"([0-9]+)(ms|s)", text))
    assert seconds == ms


def test_probes_ports_from_inference_config() -> None:
    dep = _with_extra(MANAGED.format(sku="Standard_DS3_v2", count=1) + dedent("""\
        environment:
          image: example.io/triton:1
          inference_config:
            liveness_route: {path: /v2/health/live, port: 8002}
            readiness_route: {path: /v2/health/ready, port: 8000}
            scoring_route: {path: /, port: 8000}
        """))
    assert ko.serving_port(dep) == 8000
    assert (ko.probe_route(dep, "liveness").path, ko.probe_route(dep, "liveness").port) == (
        "/v2/health/live", 8002)
    assert ko.probe_route(dep, "readiness").port == 8000
    assert ko.container_ports(dep) == (8000, 8002)


def test_default_probes_hit_azmlinfsrv() -> None:
    dep = one(MANAGED.format(sku="Standard_DS3_v2", count=1))
    assert ko.probe_route(dep, "readiness") == ko.probe_route(dep, "liveness")
    assert (ko.probe_route(dep, "readiness").path, ko.serving_port(dep)) == ("/", 5001)
    assert ko.container_ports(dep) == (5001,)


ASSETS = Assets(
    models={"azureml:sample-model:2": "stacks/model/sample-model"},
    environments={"azureml:sklearn-env:1": "registry.example.com/sklearn:1.4"},
)

DELIVERY = [
    # scenario, extra YAML, k8s settings, expected fields of Delivery, diagnostic codes
    ("inline model and code: ConfigMaps where Azure mounts them", dedent("""\
        model: {path: model/sample-model}
        code_configuration: {code: score, scoring_script: score.py}
        """), {}, {"model_path": "my-endpoint/model/sample-model",
                   "model_dir": "/var/azureml-app/azureml-models/sample-model/1",
                   "code_path": "my-endpoint/score", "code_dir": "/var/azureml-app/score",
                   "entry_script": "score.py", "image": "example.io/infer:1"}, []),
    ("registered model mapped to a folder", "model: azureml:sample-model:2\n", {},
     {"model_path": "stacks/model/sample-model",
      "model_dir": "/var/azureml-app/azureml-models/sample-model/2"}, []),
    ("model_mount_path wins", "model: azureml:sample-model:2\nmodel_mount_path: /models\n",
     {}, {"model_dir": "/models"}, []),
    ("big registered model from a PVC", "model: azureml:llm:3\n",
     {"models": {"azureml:llm:3": {"pvc": "models", "subPath": "llm/3"}}},
     {"model_path": "", "model_dir": "/var/azureml-app/azureml-models/llm/3"}, []),
    ("registered model nobody mapped", "model: azureml:llm:3\n", {}, {},
     [codes.UNRESOLVED_ASSET]),
    ("registered environment mapped to an image",
     "environment: azureml:sklearn-env:1\n", {},
     {"image": "registry.example.com/sklearn:1.4"}, []),
    ("registered environment nobody mapped", "environment: azureml:other-env:1\n", {},
     {"image": ""}, [codes.UNRESOLVED_ASSET]),
    ("build environment: no registry image", "environment: {build: {path: docker}}\n", {},
     {"image": ""}, [codes.KUBERNETES_DELIVERY]),
]


@pytest.mark.parametrize(("name", "extra", "values", "expected", "found"), DELIVERY,
                         ids=[d[0] for d in DELIVERY])
def test_delivery(name: str, extra: str, values: dict[str, Any], expected: dict[str, Any],
                  found: list[str]) -> None:
    text = MANAGED.format(sku="Standard_DS3_v2", count=1) + extra
    dep = _with_extra(text) if "environment:" in extra else one(text)
    settings, problems = parse_kubernetes_settings(values)
    assert problems == []
    where, diagnostics = ko.delivery(dep, ASSETS, settings)
    assert [d.code for d in diagnostics] == found
    for field, value in expected.items():
        assert getattr(where, field) == value, field
    if "pvc" in str(values):
        assert where.model_volume is not None and where.model_volume.claim == "models"


def _with_extra(text: str) -> DeploymentState:
    """A deployment whose YAML replaces the default inline environment."""
    texts = [SourceText("e/endpoint.yml", ENDPOINT.format(endpoint="my-endpoint",
                                                          traffic="{blue: 100}", mirror="{}")),
             SourceText("e/blue.yml", "name: blue\nendpoint_name: my-endpoint\n" + text)]
    result = parse(texts)
    state = planned(result.endpoints, Settings(target="kubernetes"), result.diagnostics)
    return state.endpoints[0].deployments[0]


def test_environment_variables() -> None:
    dep = one(MANAGED.format(sku="Standard_DS3_v2", count=1) + dedent("""\
        model: {path: model/m}
        code_configuration: {code: src, scoring_script: score.py}
        request_settings: {max_concurrent_requests_per_instance: 4}
        environment_variables: {WORKER_COUNT: "2", MLPLAN_DEPLOYMENT: spoofed, EXTRA: "1"}
        """))
    where, _ = ko.delivery(dep, Assets(), KubernetesSettings())
    assert dict(ko.environment("my-endpoint", dep, where)) == {
        "AML_APP_ROOT": "/var/azureml-app/src",
        "AZUREML_ENTRY_SCRIPT": "score.py",
        "AZUREML_MODEL_DIR": "/var/azureml-app/azureml-models/m/1",
        "EXTRA": "1",
        "MLPLAN_DEPLOYMENT": "blue",
        "MLPLAN_ENDPOINT": "my-endpoint",
        "WORKER_COUNT": "2",  # the deployment's own value wins over max_concurrent_requests
    }
    bare = one(MANAGED.format(sku="Standard_DS3_v2", count=1))
    where, _ = ko.delivery(bare, Assets(), KubernetesSettings())
    assert dict(ko.environment("e", bare, where))["AML_APP_ROOT"] == "/var/azureml-app"


QUOTA = [
    # scenario, deployments, settings, expected hard
    ("blue 3 + green 2 x DS3_v2, two routers", {
        "blue": MANAGED.format(sku="Standard_DS3_v2", count=3),
        "green": MANAGED.format(sku="Standard_DS3_v2", count=2)}, {},
     {"pods": "10", "requests.cpu": "28300m", "limits.cpu": "31",
      "requests.memory": "100544Mi", "limits.memory": "101120Mi",
      "requests.nvidia.com/gpu": "0"}),
    ("gateway-api: no router pods", {"blue": MANAGED.format(sku="Standard_DS3_v2", count=3)},
     {"routerMode": "gateway-api", "gatewayRef": {"name": "g"}, "hostname": "x.example.com"},
     {"pods": "4", "requests.cpu": "16", "limits.cpu": "16", "requests.memory": "56Gi",
      "limits.memory": "56Gi", "requests.nvidia.com/gpu": "0"}),
    ("GPU: devices of the peak (5 pods of 2), four routers",
     {"blue": MANAGED.format(sku="Standard_NC12s_v3", count=4)},
     {"routerReplicas": 3}, {"pods": "9", "requests.cpu": "60400m", "limits.cpu": "64",
                             "requests.memory": "1147136Mi", "limits.memory": "1121Gi",
                             "requests.nvidia.com/gpu": "10"}),
    ("exempt SKU: no surge pods", {"blue": MANAGED.format(sku="Standard_NC24ads_A100_v4",
                                                          count=2)},
     {"routerMode": "gateway-api", "gatewayRef": {"name": "g"}, "hostname": "x.example.com"},
     {"pods": "2", "requests.cpu": "48", "limits.cpu": "48", "requests.memory": "440Gi",
      "limits.memory": "440Gi", "requests.nvidia.com/gpu": "2"}),
    ("requests without limits: no limits quota", {"blue": K8S + dedent("""\
        instance_count: 2
        scale_settings: {type: default}
        resources: {requests: {cpu: 500m, memory: 1Gi}}
        """)}, {"routerMode": "gateway-api", "gatewayRef": {"name": "g"},
                "hostname": "x.example.com"},
     {"pods": "3", "requests.cpu": "1500m", "requests.memory": "3Gi",
      "requests.nvidia.com/gpu": "0"}),
]


@pytest.mark.parametrize(("name", "deployments", "values", "hard"), QUOTA,
                         ids=[q[0] for q in QUOTA])
def test_namespace_quota(name: str, deployments: dict[str, str], values: dict[str, Any],
                         hard: dict[str, str]) -> None:
    traffic = "{" + ", ".join(f"{n}: {100 if i == 0 else 0}"
                              for i, n in enumerate(deployments)) + "}"
    state = state_of(deployments, traffic=traffic)
    settings, problems = parse_kubernetes_settings(values)
    assert problems == []
    assert dict(ko.namespace_quota(state, settings)) == hard


def test_requests_cpu_is_the_quota_check_plus_routers() -> None:
    state = state_of({"blue": MANAGED.format(sku="Standard_DS3_v2", count=10)})
    hard = dict(ko.namespace_quota(state, KubernetesSettings()))
    routers = 3 * ko.ROUTER_RESOURCES.requests.cpu_millis
    assert hard["requests.cpu"] == ko.cpu_quantity(state.quota.total_reserved_millis + routers)
    assert state.quota.total_reserved_millis == 48_000


OTHER_ENDPOINT = """\
    name: my-endpoint-blue
    auth_mode: key
    traffic: {red: 100}
    ---
    name: red
    endpoint_name: my-endpoint-blue
    instance_type: Standard_DS3_v2
    instance_count: 1
    environment: {image: "example.io/infer:1"}
    """


def test_name_conflict_between_endpoints() -> None:
    state = state_of({"blue": MANAGED.format(sku="Standard_DS3_v2", count=1)},
                     more=(OTHER_ENDPOINT,))
    found = ko.name_conflicts(state, KubernetesSettings())
    assert {d.code for d in found} == {codes.KUBERNETES_NAME_CONFLICT}
    assert any("Service 'my-endpoint-blue'" in d.message for d in found)
    assert ko.name_conflicts(state_of({"blue": MANAGED.format(sku="Standard_DS3_v2",
                                                              count=1)}),
                             KubernetesSettings()) == []


def test_fixed_hostname_conflicts_in_gateway_mode() -> None:
    state = state_of({"red": MANAGED.format(sku="Standard_DS3_v2", count=1)},
                     more=(OTHER_ENDPOINT.replace("my-endpoint-blue", "other-endpoint"),))
    settings, _ = parse_kubernetes_settings({"routerMode": "gateway-api",
                                             "gatewayRef": {"name": "g"},
                                             "hostname": "ml.example.com"})
    found = ko.name_conflicts(state, settings)
    assert [d.code for d in found] == [codes.KUBERNETES_NAME_CONFLICT]
    assert "host name 'ml.example.com'" in found[0].message
    assert ko.name_conflicts(state, replace(settings, hostname="{endpoint}.example.com")) == []


def test_names_are_lowercase_dns_labels() -> None:
    assert ko.deployment_name("My-Endpoint", "Blue") == "my-endpoint-blue"
    assert ko.service_host("My-Endpoint", "Blue", "ml") == "my-endpoint-blue.ml.svc.cluster.local"
    assert ko.config_map_name("e-blue", "model", "0123456789abcdef") == "e-blue-model-0123456789"


def test_pod_labels_never_carry_the_split() -> None:
    state = state_of({"blue": MANAGED.format(sku="Standard_DS3_v2", count=1),
                      "green": MANAGED.format(sku="Standard_DS3_v2", count=1)},
                     traffic="{blue: 90, green: 10}")
    endpoint = state.endpoints[0]
    blue = endpoint.deployments[0]
    assert ko.deployment_object_labels(endpoint, blue)["mlplan.dev/weight"] == "90"
    assert "mlplan.dev/weight" not in ko.pod_labels(endpoint, blue)
    assert "mlplan.dev/mirror" not in ko.pod_labels(endpoint, blue)
    assert ko.selector("my-endpoint", "blue").items() <= ko.pod_labels(endpoint, blue).items()
