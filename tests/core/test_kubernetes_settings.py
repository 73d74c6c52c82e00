"""mlplan:kubernetes settings: defaults, a full valid set, and one MLP120 per problem."""

from __future__ import annotations

from typing import Any

import pytest

from mlplan.domain import codes
from mlplan.domain.catalog import Toleration
from mlplan.targets.kubernetes.settings import (
    DEFAULT_GPU_NODE_SELECTOR,
    DEFAULT_GPU_TOLERATIONS,
    DEFAULT_ROUTER_IMAGE,
    GatewayRef,
    KubernetesSettings,
    VolumeSource,
    parse_kubernetes_settings,
)

GATEWAY: dict[str, Any] = {
    "routerMode": "gateway-api",
    "gatewayRef": {"name": "shared", "namespace": "gateways", "sectionName": "https"},
    "hostname": "{endpoint}.ml.example.com",
}


def test_defaults() -> None:
    settings, problems = parse_kubernetes_settings(None)
    assert problems == []
    assert settings == KubernetesSettings()
    assert (settings.namespace, settings.create_namespace, settings.router_mode,
            settings.service_type, settings.router_replicas) == (
        "mlplan", True, "nginx", "ClusterIP", 2)
    assert settings.router_image == DEFAULT_ROUTER_IMAGE == "nginx:1.28.0-alpine"
    assert settings.gpu_node_selector == DEFAULT_GPU_NODE_SELECTOR
    assert settings.gpu_tolerations == (Toleration("nvidia.com/gpu", "Exists", "", "NoSchedule"),)
    assert not settings.explicit_provider and not settings.resource_quota


def test_full_settings() -> None:
    settings, problems = parse_kubernetes_settings({
        **GATEWAY,
        "namespace": "models", "createNamespace": False, "kubeconfig": "~/.kube/prod",
        "context": "prod", "renderYamlTo": "out/manifests", "serviceType": "LoadBalancer",
        "routerReplicas": 3, "routerImage": "registry.local/nginx:1.28.0", "uriScheme": "https",
        "imagePullSecrets": ["regcred"], "gpuNodeSelector": {"accelerator": "nvidia"},
        "gpuTolerations": [{"key": "sku", "operator": "Equal", "value": "gpu",
                            "effect": "NoSchedule"}],
        "resourceQuota": True,
        "models": {"azureml:llm:3": {"pvc": "models", "subPath": "llm/3/"},
                   "stacks/model/big": {"image": "registry.local/big-model:1", "path": "/m/"}},
    })
    assert problems == []
    assert settings.namespace == "models" and not settings.create_namespace
    assert settings.explicit_provider and settings.render_yaml_to == "out/manifests"
    assert settings.gateway_ref == GatewayRef("shared", "gateways", "https", 0)
    assert settings.host("My-Endpoint") == "my-endpoint.ml.example.com"
    assert settings.gpu_node_selector == (("accelerator", "nvidia"),)
    assert settings.gpu_tolerations == (Toleration("sku", "Equal", "gpu", "NoSchedule"),)
    assert settings.model_source("azureml:llm:3") == VolumeSource("pvc", claim="models",
                                                                  sub_path="llm/3")
    assert settings.model_source("stacks/model/big") == VolumeSource(
        "image", image="registry.local/big-model:1", path="/m")


def test_gateway_ref_namespace_defaults_to_ours() -> None:
    settings, problems = parse_kubernetes_settings(
        {**GATEWAY, "namespace": "ml", "gatewayRef": {"name": "shared"}})
    assert problems == []
    assert settings.gateway_ref == GatewayRef("shared", "ml")


def test_empty_gpu_defaults_disable_them() -> None:
    settings, problems = parse_kubernetes_settings({"gpuNodeSelector": {}, "gpuTolerations": []})
    assert problems == []
    assert settings.gpu_node_selector == () and settings.gpu_tolerations == ()
    assert DEFAULT_GPU_TOLERATIONS  # the defaults themselves are untouched


BAD: list[tuple[str, dict[str, Any], str, str]] = [
    # scenario, settings, field, words in the message
    ("unknown key with a suggestion", {"namepsace": "ml"}, "mlplan:kubernetes.namepsace",
     "did you mean 'namespace'?"),
    ("router mode", {"routerMode": "traefik"}, "mlplan:kubernetes.routerMode",
     "'nginx' or 'gateway-api'"),
    ("service type", {"serviceType": "ExternalName"}, "mlplan:kubernetes.serviceType",
     "'ClusterIP', 'LoadBalancer' or 'NodePort'"),
    ("one router replica", {"routerReplicas": 1}, "mlplan:kubernetes.routerReplicas", ">= 2"),
    ("namespace syntax", {"namespace": "ML_Models"}, "mlplan:kubernetes.namespace",
     "not a Kubernetes namespace name"),
    ("gateway-api without gateway", {"routerMode": "gateway-api", "hostname": "x.example.com"},
     "mlplan:kubernetes.gatewayRef", "needs the Gateway"),
    ("gateway-api without hostname", {"routerMode": "gateway-api", "gatewayRef": {"name": "g"}},
     "mlplan:kubernetes.hostname", "needs a host name"),
    ("gatewayRef in nginx mode", {"gatewayRef": {"name": "g"}}, "mlplan:kubernetes.gatewayRef",
     "only applies to 'routerMode: gateway-api'"),
    ("hostname syntax", {**GATEWAY, "hostname": "ML_{endpoint}.example.com"},
     "mlplan:kubernetes.hostname", "not a host name"),
    ("pull secret name", {"imagePullSecrets": ["Reg Cred"]},
     "mlplan:kubernetes.imagePullSecrets[0]", "not a Kubernetes Secret name"),
    ("node selector value", {"gpuNodeSelector": {"accelerator": "nvidia tesla"}},
     "mlplan:kubernetes.gpuNodeSelector.accelerator", "not a valid node label selector"),
    ("toleration Exists with a value", {"gpuTolerations": [{"key": "k", "value": "v"}]},
     "mlplan:kubernetes.gpuTolerations[0].value", "takes no value"),
    ("toleration effect", {"gpuTolerations": [{"key": "k", "effect": "Never"}]},
     "mlplan:kubernetes.gpuTolerations[0].effect", "is not allowed"),
    ("model source shape", {"models": {"azureml:m:1": {"bucket": "s3://x"}}},
     "mlplan:kubernetes.models.azureml:m:1", "{pvc: <claim>, subPath: <dir>}"),
    ("model source missing path", {"models": {"azureml:m:1": {"image": "x/m:1"}}},
     "mlplan:kubernetes.models.azureml:m:1.path", "is missing; add it"),
    ("absolute subPath", {"models": {"azureml:m:1": {"pvc": "models", "subPath": "/m"}}},
     "mlplan:kubernetes.models.azureml:m:1.subPath", "must be relative"),
    ("relative image path", {"models": {"azureml:m:1": {"image": "x/m:1", "path": "m"}}},
     "mlplan:kubernetes.models.azureml:m:1.path", "absolute path"),
    ("wrong type", {"createNamespace": "sometimes"}, "mlplan:kubernetes.createNamespace",
     "expected true or false"),
]


@pytest.mark.parametrize(("name", "values", "field", "words"), BAD, ids=[b[0] for b in BAD])
def test_problems_are_mlp120(name: str, values: dict[str, Any], field: str, words: str) -> None:
    _settings, problems = parse_kubernetes_settings(values, "stacks/Pulumi.x.yaml")
    assert problems, name
    assert {p.code for p in problems} == {codes.SETTINGS}
    assert any(p.location.field == field and words in p.message for p in problems), \
        [str(p) for p in problems]


def test_all_problems_in_one_pass_keep_the_valid_keys() -> None:
    settings, problems = parse_kubernetes_settings(
        {"namespace": "ok", "routerReplicas": 0, "serviceType": "Foo", "resourceQuota": True})
    assert [p.location.field for p in problems] == [
        "mlplan:kubernetes.routerReplicas", "mlplan:kubernetes.serviceType"]
    assert settings.namespace == "ok" and settings.resource_quota


def test_lines_come_from_the_caller() -> None:
    lines = {("gatewayRef",): 7, ("hostname",): 9}
    _settings, problems = parse_kubernetes_settings(
        {"routerMode": "gateway-api"}, "stacks/Pulumi.k8s.yaml",
        lambda path: lines.get(path[:1], 3))
    assert sorted(str(p.location) for p in problems) == [
        "stacks/Pulumi.k8s.yaml:7 mlplan:kubernetes.gatewayRef",
        "stacks/Pulumi.k8s.yaml:9 mlplan:kubernetes.hostname"]
