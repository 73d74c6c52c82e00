"""Stack settings: the ``mlplan:*`` keys of ``stacks/Pulumi.<stack>.yaml``, validated.

Keys: ``mlplan:target`` (docker | kubernetes), ``mlplan:endpoints`` (files or folders relative to
the project root), ``mlplan:quota`` ({family: cores, total: cores}), ``mlplan:environment``
(development | production), ``mlplan:instanceTypes`` (custom sizes), ``mlplan:limits`` (Azure's
limits, overridable). ``mlplan:assets``, ``mlplan:docker``, ``mlplan:kubernetes`` and
``mlplan:keys`` belong to the targets and are only checked to be mappings here.
Keys of other namespaces (``docker:host``, ``kubernetes:context``) are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from components.core import codes
from components.core.catalog import Catalog, InstanceType, Toleration
from components.core.diagnostics import Diagnostic, Location, error
from components.core.numbers import FiniteNumber, WholeNumber
from components.core.quantity import QuantityError, cpu_millis, memory_mib
from components.core.validation import describe
from components.core.yamlsource import FieldPath, YamlDocument, format_path

NAMESPACE = "mlplan:"
#: A Kubernetes label value: custom instance type names are stamped as mlplan.dev/instance-type.
INSTANCE_TYPE_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?\Z")
Target = Literal["docker", "kubernetes"]
Environment = Literal["development", "production"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class TolerationSpec(_Strict):
    key: str
    operator: Literal["Exists", "Equal"] = "Exists"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None


class InstanceTypeSpec(_Strict):
    cpu: str | int | float
    memory: str | int | float
    gpu: Annotated[WholeNumber, Field(ge=0)] = 0
    family: str | None = None
    nodeSelector: dict[str, str] | None = None
    tolerations: list[TolerationSpec] | None = None


class LimitsSpec(_Strict):
    deploymentsPerEndpoint: Annotated[WholeNumber, Field(ge=1)] = 20
    instancesPerDeployment: Annotated[WholeNumber, Field(ge=1)] = 50
    endpoints: Annotated[WholeNumber, Field(ge=1)] = 100
    deployments: Annotated[WholeNumber, Field(ge=1)] = 500
    requestTimeoutMsManaged: Annotated[WholeNumber, Field(ge=1)] = 180_000
    requestTimeoutMsKubernetes: Annotated[WholeNumber, Field(ge=1)] = 300_000


class SettingsSpec(_Strict):
    target: Literal["docker", "kubernetes"] = "docker"
    endpoints: list[str]
    quota: dict[str, Annotated[FiniteNumber, Field(ge=0)]] | None = None
    environment: Literal["development", "production"] = "development"
    instanceTypes: dict[str, InstanceTypeSpec] | None = None
    limits: LimitsSpec | None = None
    assets: dict[str, Any] | None = None
    docker: dict[str, Any] | None = None
    kubernetes: dict[str, Any] | None = None
    keys: dict[str, Any] | None = None


@dataclass(frozen=True)
class Limits:
    """Azure's limits by default; each can be changed in ``mlplan:limits``."""

    deployments_per_endpoint: int = 20
    instances_per_deployment: int = 50
    endpoints: int = 100
    deployments: int = 500
    request_timeout_ms_managed: int = 180_000
    request_timeout_ms_kubernetes: int = 300_000


@dataclass(frozen=True)
class Settings:
    target: Target = "docker"
    endpoint_paths: tuple[str, ...] = ()
    quota_millis: Mapping[str, int] = field(default_factory=dict, hash=False)
    environment: Environment = "development"
    instance_types: tuple[InstanceType, ...] = ()
    limits: Limits = Limits()
    assets: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)
    docker: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)
    kubernetes: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)
    file: str = ""

    @property
    def catalog(self) -> Catalog:
        return Catalog.build(self.instance_types)


def quota_from_cores(cores: Mapping[str, float]) -> dict[str, int]:
    """``{"total": 100, "x": 2.5}`` -> millicores ``{"total": 100000, "x": 2500}``."""
    return {name: round(value * 1000) for name, value in cores.items()}


def from_stack_document(doc: YamlDocument, file: str) -> tuple[Settings, list[Diagnostic]]:
    """Settings from a parsed ``Pulumi.<stack>.yaml`` document (``config:`` mapping)."""
    found: list[Diagnostic] = []
    root = doc.value if isinstance(doc.value, dict) else {}
    config = root.get("config") or {}
    if not isinstance(config, dict):
        found.append(error(codes.SETTINGS, Location(file, doc.line_of(("config",)), "config"),
                           "'config' must be a mapping of 'namespace:key' to values."))
        return Settings(file=file), found
    values: dict[str, Any] = {}
    lines: dict[FieldPath, int] = {}
    for key, value in config.items():
        if not isinstance(key, str) or not key.startswith(NAMESPACE):
            continue
        short = key[len(NAMESPACE):]
        values[short] = value
        for path, line in doc.lines.items():
            if path[:2] == ("config", key):
                lines[(short, *path[2:])] = line
    settings_doc = YamlDocument(value=values, line=doc.line_of(("config",)), lines=lines)
    return from_values(settings_doc, file, found)


def from_values(
    doc: YamlDocument, file: str, found: list[Diagnostic] | None = None
) -> tuple[Settings, list[Diagnostic]]:
    found = [] if found is None else found

    def at(path: FieldPath) -> Location:
        return Location(file, doc.line_of(path), NAMESPACE + format_path(path))

    values = dict(doc.value) if isinstance(doc.value, dict) else {}
    try:
        spec = SettingsSpec.model_validate(values)
    except ValidationError as exc:
        broken: set[str] = set()
        for err in exc.errors():
            path = tuple(p for p in err["loc"] if p not in ("str", "int", "float"))
            found.append(error(codes.SETTINGS, at(path), _settings_message(err, path)))
            broken.add(str(path[0]) if path else "")
        # Go on with the valid keys so that one pass also finds the endpoint files' problems.
        try:
            spec = SettingsSpec.model_validate({k: v for k, v in values.items()
                                                if k not in broken})
        except ValidationError:
            return Settings(file=file), found
    types: list[InstanceType] = []
    for name, t in sorted((spec.instanceTypes or {}).items()):
        if not INSTANCE_TYPE_NAME.match(name):
            found.append(error(codes.SETTINGS, at(("instanceTypes", name)),
                               f"instance type name '{name}' must be 1-63 letters, digits, '-', "
                               "'_' or '.', starting and ending with a letter or digit (it "
                               "becomes a label value); rename it."))
            continue
        try:
            types.append(InstanceType(
                name=name, cpu_millis=cpu_millis(t.cpu), memory_mib=memory_mib(t.memory),
                gpus=Fraction(t.gpu), family=t.family or "custom", custom=True,
                node_selector=tuple(sorted((t.nodeSelector or {}).items())),
                tolerations=tuple(Toleration(x.key, x.operator, x.value or "", x.effect or "")
                                  for x in t.tolerations or ()),
            ))
        except QuantityError as exc:
            found.append(error(codes.SETTINGS, at(("instanceTypes", name)), f"{exc}."))
    lim = spec.limits or LimitsSpec()
    settings = Settings(
        target=spec.target,
        endpoint_paths=tuple(spec.endpoints),
        quota_millis=quota_from_cores(spec.quota or {}),
        environment=spec.environment,
        instance_types=tuple(types),
        limits=Limits(lim.deploymentsPerEndpoint, lim.instancesPerDeployment, lim.endpoints,
                      lim.deployments, lim.requestTimeoutMsManaged,
                      lim.requestTimeoutMsKubernetes),
        assets=spec.assets or {},
        docker=spec.docker or {},
        kubernetes=spec.kubernetes or {},
        file=file,
    )
    return settings, found


def _settings_message(err: Any, path: FieldPath) -> str:
    if err["type"] == "missing" and path == ("endpoints",):
        return ("missing; add 'mlplan:endpoints:' with the endpoint YAML files or folders, "
                "e.g. '- stacks/endpoints'.")
    known = [f.alias or n for n, f in SettingsSpec.model_fields.items()] if len(path) == 1 \
        else []
    return describe(err, format_path(path), known, noun="setting", prefix=NAMESPACE)
