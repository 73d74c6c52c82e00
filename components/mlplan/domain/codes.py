"""The rule catalogue: every diagnostic code, what it checks, and its default severity.

Codes never change meaning once published. Groups: MLP1xx spec and settings, MLP2xx traffic,
MLP3xx rollout, MLP4xx quota, MLP5xx policy.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Code:
    code: str
    title: str
    checks: str
    severity: str = "error"


_RULES: list[Code] = []


def _rule(code: str, title: str, checks: str, severity: str = "error") -> str:
    _RULES.append(Code(code, title, checks, severity))
    return code


YAML_SYNTAX = _rule("MLP100", "yaml-syntax", "the file is valid YAML without duplicate keys")
UNKNOWN_KEY = _rule("MLP101", "unknown-key", "every key is one Azure ML CLI v2 defines")
WRONG_TYPE = _rule("MLP102", "wrong-type", "every value has the type Azure ML expects")
MISSING_FIELD = _rule("MLP103", "missing-field", "required fields are present")
INVALID_VALUE = _rule("MLP104", "invalid-value", "values are within their allowed set or range")
INVALID_NAME = _rule("MLP105", "invalid-name",
                     "endpoint and deployment names: 3-32 characters, letter first, "
                     "letters/digits/dashes, alphanumeric last")
DUPLICATE_ENDPOINT = _rule("MLP106", "duplicate-endpoint", "each endpoint is declared once")
DUPLICATE_DEPLOYMENT = _rule("MLP107", "duplicate-deployment",
                             "each deployment is declared once per endpoint")
UNKNOWN_ENDPOINT = _rule("MLP108", "unknown-endpoint",
                         "a deployment's endpoint_name names a declared endpoint")
UNKNOWN_DOCUMENT = _rule("MLP109", "unknown-document",
                         "a file named explicitly is an online endpoint or deployment")
UNKNOWN_INSTANCE_TYPE = _rule("MLP110", "unknown-instance-type",
                              "instance_type is an Azure SKU or a custom type from stack config")
KUBERNETES_NAME_LENGTH = _rule("MLP111", "kubernetes-name-length",
                               "on Kubernetes, len(endpoint) + len(deployment) is 6 to 62")
TOO_MANY_DEPLOYMENTS = _rule("MLP112", "deployments-per-endpoint",
                             "at most 20 deployments per endpoint (configurable; 15 in "
                             "Kubernetes gateway-api mode)")
TOO_MANY_INSTANCES = _rule("MLP113", "instances-per-deployment",
                           "at most 50 instances per deployment (configurable)")
REQUEST_TIMEOUT_LIMIT = _rule("MLP114", "request-timeout-limit",
                              "request_timeout_ms <= 180000 managed, 300000 Kubernetes")
PATH_NOT_FOUND = _rule("MLP115", "path-not-found",
                       "model, code, scoring script and conda files named by path exist")
TOO_MANY_ENDPOINTS = _rule("MLP116", "endpoints-per-stack",
                           "at most 100 endpoints and 500 deployments (configurable)")
UNRESOLVED_ASSET = _rule("MLP117", "unresolved-asset",
                         "a registered asset (azureml:name:version) is mapped in mlplan:assets")
KUBERNETES_NAME_CONFLICT = _rule("MLP118", "kubernetes-name-conflict",
                                 "on Kubernetes, no two objects of one kind share a name in the "
                                 "namespace, nor two endpoints a host name")
KUBERNETES_DELIVERY = _rule("MLP119", "kubernetes-delivery",
                            "on Kubernetes, image, model and code reach the pods: a registry "
                            "image, ConfigMaps within 1 MiB or a volume source")
SETTINGS = _rule("MLP120", "stack-settings", "mlplan:* stack settings are valid")
SETTINGS_PATH = _rule("MLP121", "endpoint-path", "every mlplan:endpoints path exists")
NO_ENDPOINTS = _rule("MLP122", "no-endpoints", "the inputs declare at least one endpoint",
                     "warning")
DOCKER_HOST_CAPACITY = _rule("MLP123", "docker-host-capacity",
                             "on Docker, each instance's CPU limit fits the Docker host "
                             "(checked when the host answers, before anything is created); "
                             "a memory limit above the host's memory is a warning")
TRAFFIC_SUM = _rule("MLP201", "traffic-sum", "live traffic percentages sum to 0 or 100")
TRAFFIC_UNKNOWN_DEPLOYMENT = _rule("MLP202", "traffic-unknown-deployment",
                                   "traffic names only declared deployments")
MIRROR_SINGLE = _rule("MLP203", "mirror-single-target",
                      "mirror_traffic names at most one deployment")
MIRROR_PERCENT = _rule("MLP204", "mirror-percent", "mirror_traffic is at most 50%")
MIRROR_LIVE = _rule("MLP205", "mirror-live-target",
                    "the mirror target receives 0% live traffic")
MIRROR_UNKNOWN_DEPLOYMENT = _rule("MLP206", "mirror-unknown-deployment",
                                  "mirror_traffic names only declared deployments")
NO_LIVE_DEPLOYMENT = _rule("MLP207", "mirror-without-live",
                           "mirroring needs live traffic to copy from", "warning")
SCALE_WITH_ROLL = _rule("MLP301", "scale-with-update",
                        "instance_count changed together with other fields: scaling runs first, "
                        "then the roll (Azure advises separate changes in production)", "warning")
PROMOTION = _rule("MLP302", "promotion-request",
                  "a promotion names a declared endpoint and deployment, rising steps to 100 "
                  "and a mirror of 1-50%")
QUOTA_FAMILY = _rule("MLP401", "quota-family",
                     "reserved cores per VM family are within the family limit")
QUOTA_TOTAL = _rule("MLP402", "quota-total", "reserved cores in total are within the total limit")


QUOTA_PEAK = _rule("MLP403", "quota-peak",
                   "reserved cores stay within the limits while a change runs (removed and "
                   "renamed deployments are deleted last)")
HA_MINIMUM = _rule("MLP501", "ha-minimum",
                   "a deployment with live traffic has at least 3 instances (configurable); "
                   "advisory in development, mandatory in production", "warning")
IMAGE_PINNED = _rule("MLP502", "image-pinned",
                     "images are pinned by digest or a version tag, never latest or untagged; "
                     "advisory in development, mandatory in production", "warning")
GPU_RESOURCES = _rule("MLP503", "gpu-resources",
                      "GPU instance types request their GPUs; CPU types request none")
AUTH_ENABLED = _rule("MLP504", "auth-enabled",
                     "every endpoint authenticates callers (key or token), never none")
PROBES_PRESENT = _rule("MLP505", "probes-present",
                       "every instance has a readiness check (and liveness on Kubernetes)")


def catalogue() -> tuple[Code, ...]:
    """Every rule, sorted by code."""
    return tuple(sorted(_RULES, key=lambda r: r.code))
