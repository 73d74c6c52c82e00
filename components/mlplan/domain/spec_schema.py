"""The schema of Azure ML CLI v2 online endpoint and deployment YAML (pydantic models whose
keys are exactly Azure's) and what kind a document is (``document_kind``: its ``$schema`` or,
without one, its keys). ``spec`` (parse and link) validates documents against these models
with ``spec_validation``.
Example: ``document_kind({"endpoint_name": "e", "model": ...})`` -> ``deployment``.
"""

from __future__ import annotations

import posixpath
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
)
from pydantic_core import PydanticCustomError

from mlplan.domain.model import (
    DeploymentKind,
)
from mlplan.domain.numbers import WholeNumber
from mlplan.domain.validation import Strict, echo

NAME_MIN, NAME_MAX = 3, 32


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _scalar_text(value: Any) -> Any:
    """Env vars and tags may be written as numbers or booleans; Azure sends them as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


Text = Annotated[str, BeforeValidator(_scalar_text)]
Percent = Annotated[WholeNumber, Field(ge=0, le=100)]
PositiveInt = Annotated[WholeNumber, Field(ge=1)]
NonNegativeInt = Annotated[WholeNumber, Field(ge=0)]


class IdentitySpec(Strict):
    type: Annotated[
        Literal["system_assigned", "user_assigned", "system_assigned,user_assigned", "none"],
        BeforeValidator(_lower),
    ]
    user_assigned_identities: list[dict[str, Any]] | None = None


class EndpointSpec(Strict):
    schema_: str | None = Field(default=None, alias="$schema")
    name: str
    description: str | None = None
    tags: dict[str, Text] | None = None
    auth_mode: Annotated[
        Literal["key", "aml_token", "aad_token"], BeforeValidator(_lower)
    ] = "key"
    compute: str | None = None
    identity: IdentitySpec | None = None
    traffic: dict[str, Percent] | None = None
    mirror_traffic: dict[str, Percent] | None = None
    public_network_access: Annotated[
        Literal["enabled", "disabled"], BeforeValidator(_lower)
    ] = "enabled"
    type: Annotated[Literal["online"], BeforeValidator(_lower)] | None = None
    properties: dict[str, Text] | None = None


class ModelSpec(Strict):
    name: str | None = None
    version: Text | None = None
    path: str | None = None
    type: Annotated[
        Literal["custom_model", "mlflow_model", "triton_model"], BeforeValidator(_lower)
    ] | None = None
    description: str | None = None
    tags: dict[str, Text] | None = None
    properties: dict[str, Text] | None = None
    stage: str | None = None


#: A probe or scoring route's path: "/" then RFC 3986 path and query characters (no space,
#: quote, backslash or control character), at most 2048. Example: ``/ready?a=1&b=2``; a
#: healthcheck passes it as one argument, never through a shell.
ROUTE_PATH = re.compile(r"/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]{0,2047}")


def _route_path(value: str) -> str:
    if not ROUTE_PATH.fullmatch(value):
        raise PydanticCustomError("mlplan_value", "{message}", {"message": (
            f"{echo(value)} is not a route path; write '/' then letters, digits and "
            "-._~!$&'()*+,;=:@%/? (at most 2048 characters), e.g. '/ready'")})
    return value


#: Folders a model may not be mounted over or below: the system's, and the app root where the
#: scoring code is mounted (a model there would hide it).
_SYSTEM_DIRS = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib64", "/proc", "/run", "/sbin",
                "/sys", "/usr")
_APP_ROOT = "/var/azureml-app"


def _mount_path(value: str) -> str:
    """``model_mount_path``: an absolute, normal path of plain characters, neither a system
    folder nor the app root. ``/var/models/m`` passes; ``models``, ``/a/../b``, ``/etc/x``,
    ``/var/azureml-app`` do not (each a diagnostic saying what to write)."""
    problem = ""
    if not re.fullmatch(r"/[A-Za-z0-9._/+@-]{1,1023}", value) or "//" in value:
        problem = "must be an absolute path of letters, digits and ._/+@- (e.g. /var/models/m)"
    elif posixpath.normpath(value) != value or "/../" in value + "/":
        problem = f"is not a normal path; write {posixpath.normpath(value)!r}"
    elif value.startswith(tuple(d + "/" for d in _SYSTEM_DIRS)) or value in _SYSTEM_DIRS:
        problem = "is a system folder; mount the model under e.g. /var/models"
    elif value == _APP_ROOT:
        problem = f"would hide the scoring code mounted there; use a folder below {_APP_ROOT}"
    if problem:
        raise PydanticCustomError("mlplan_value", "{message}",
                                  {"message": f"{echo(value)} {problem}"})
    return value


class RouteSpec(Strict):
    path: Annotated[str, AfterValidator(_route_path)]
    port: Annotated[WholeNumber, Field(ge=1, le=65535)]


class InferenceConfigSpec(Strict):
    liveness_route: RouteSpec | None = None
    readiness_route: RouteSpec | None = None
    scoring_route: RouteSpec | None = None


NO_INFERENCE_CONFIG = InferenceConfigSpec()  # read only: routes of an environment without one


class BuildSpec(Strict):
    path: str
    dockerfile_path: str | None = None


class EnvironmentSpec(Strict):
    name: str | None = None
    version: Text | None = None
    description: str | None = None
    tags: dict[str, Text] | None = None
    image: str | None = None
    conda_file: str | dict[str, Any] | None = None
    build: BuildSpec | None = None
    inference_config: InferenceConfigSpec | None = None
    os_type: Annotated[Literal["linux", "windows"], BeforeValidator(_lower)] | None = None


class CodeConfigurationSpec(Strict):
    code: str
    scoring_script: str


class ProbeSpec(Strict):
    initial_delay: NonNegativeInt = 10
    period: PositiveInt = 10
    timeout: PositiveInt = 2
    success_threshold: PositiveInt = 1
    failure_threshold: PositiveInt = 30


class RequestSettingsSpec(Strict):
    request_timeout_ms: PositiveInt = 5000
    max_concurrent_requests_per_instance: PositiveInt = 1
    max_queue_wait_ms: NonNegativeInt = 500


class ScaleSettingsSpec(Strict):
    type: Annotated[Literal["default", "target_utilization"], BeforeValidator(_lower)]
    min_instances: NonNegativeInt | None = None
    max_instances: PositiveInt | None = None
    target_utilization_percentage: Annotated[int, Field(ge=1, le=100)] | None = None
    polling_interval: PositiveInt | None = None


Quantity = str | int | float


class ResourceRequestsSpec(Strict):
    cpu: Quantity | None = None
    memory: Quantity | None = None


class ResourceLimitsSpec(Strict):
    cpu: Quantity | None = None
    memory: Quantity | None = None
    nvidia_gpu: NonNegativeInt | None = Field(default=None, alias="nvidia.com/gpu")


class ResourcesSpec(Strict):
    requests: ResourceRequestsSpec | None = None
    limits: ResourceLimitsSpec | None = None


class DataCollectorSpec(BaseModel):
    """Free-form in Azure (collections, sampling_rate, rolling_rate, ...); kept, not interpreted."""

    model_config = ConfigDict(extra="allow", frozen=True)


def _ref_or_inline(value: Any) -> str:
    return "reference" if isinstance(value, str) else "inline"


class DeploymentSpec(Strict):
    schema_: str | None = Field(default=None, alias="$schema")
    name: str
    type: Annotated[Literal["managed", "kubernetes"], BeforeValidator(_lower)] | None = None
    endpoint_name: str | None = None
    description: str | None = None
    tags: dict[str, Text] | None = None
    properties: dict[str, Text] | None = None
    model: Annotated[
        Annotated[str, Tag("reference")] | Annotated[ModelSpec, Tag("inline")],
        Discriminator(_ref_or_inline),
    ] | None = None
    model_mount_path: Annotated[str, AfterValidator(_mount_path)] | None = None
    code_configuration: CodeConfigurationSpec | None = None
    environment: Annotated[
        Annotated[str, Tag("reference")] | Annotated[EnvironmentSpec, Tag("inline")],
        Discriminator(_ref_or_inline),
    ] | None = None
    environment_variables: dict[str, Text] | None = None
    instance_type: str | None = None
    instance_count: PositiveInt | None = None
    app_insights_enabled: bool | None = None
    scale_settings: ScaleSettingsSpec | None = None
    request_settings: RequestSettingsSpec | None = None
    liveness_probe: ProbeSpec | None = None
    readiness_probe: ProbeSpec | None = None
    egress_public_network_access: Annotated[
        Literal["enabled", "disabled"], BeforeValidator(_lower)
    ] | None = None
    data_collector: DataCollectorSpec | None = None
    resources: ResourcesSpec | None = None
    instance_segment: str | None = None


ENDPOINT_ONLY_KEYS = frozenset({"auth_mode", "traffic", "mirror_traffic", "compute", "identity",
                                "public_network_access"})
DEPLOYMENT_ONLY_KEYS = frozenset({"endpoint_name", "model", "code_configuration", "environment",
                                  "instance_type", "instance_count", "scale_settings",
                                  "request_settings", "liveness_probe", "readiness_probe",
                                  "environment_variables", "resources", "model_mount_path"})


def document_kind(value: dict[str, Any]) -> Literal["endpoint", "deployment", "other", ""]:
    """``endpoint`` / ``deployment`` / ``other`` (another Azure ML schema) / ``""`` (unknown)."""
    schema = value.get("$schema")
    if isinstance(schema, str) and schema:
        folded = schema.casefold()
        if "onlineendpoint" in folded:
            return "endpoint"
        if "onlinedeployment" in folded:
            return "deployment"
        if "azureml" in folded:
            return "other"
    keys = set(value)
    if keys & DEPLOYMENT_ONLY_KEYS:
        return "deployment"
    if keys & ENDPOINT_ONLY_KEYS:
        return "endpoint"
    return ""


def schema_kind(schema: str | None) -> DeploymentKind | None:
    if not schema:
        return None
    folded = schema.casefold()
    if "kubernetesonline" in folded:
        return "kubernetes"
    if "managedonline" in folded:
        return "managed"
    return None


