"""Stack settings: the ``mlplan:*`` keys of ``stacks/Pulumi.<stack>.yaml``, validated.

Keys: ``mlplan:target`` (docker | kubernetes), ``mlplan:endpoints`` (files or folders relative to
the project root), ``mlplan:quota`` ({family: cores, total: cores}), ``mlplan:environment``
(development | production), ``mlplan:instanceTypes`` (custom sizes), ``mlplan:limits`` (Azure's
limits, overridable). ``mlplan:assets``, ``mlplan:docker``, ``mlplan:kubernetes`` and
``mlplan:keys`` belong to the targets and are only checked to be mappings here, but for
``mlplan:keys``, whose shape is checked here without ever echoing a value (``check_keys``).
Keys of other namespaces (``docker:host``, ``kubernetes:context``) are left alone.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError

from mlplan.domain import codes
from mlplan.domain.assets import Assets, parse_assets
from mlplan.domain.catalog import Catalog, InstanceType, Toleration
from mlplan.domain.diagnostics import Diagnostic, Location, error
from mlplan.domain.names import KEY_PATTERN, MAX_KEY_LENGTH, MIN_KEY_LENGTH
from mlplan.domain.numbers import FiniteNumber, WholeNumber
from mlplan.domain.quantity import QuantityError, cpu_millis, memory_mib
from mlplan.domain.validation import Strict, describe
from mlplan.domain.yamlsource import FieldPath, YamlDocument, format_path

NAMESPACE = "mlplan:"
#: A Kubernetes label value: custom instance type names are stamped as mlplan.dev/instance-type.
INSTANCE_TYPE_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?\Z")
Target = Literal["docker", "kubernetes"]
Environment = Literal["development", "production"]


class TolerationSpec(Strict):
    """A Kubernetes toleration as written in ``mlplan:instanceTypes`` and
    ``mlplan:kubernetes.gpuTolerations`` (parsed into ``catalog.Toleration``)."""

    key: str
    operator: Literal["Exists", "Equal"] = "Exists"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None


class InstanceTypeSpec(Strict):
    cpu: str | int | float
    memory: str | int | float
    gpu: Annotated[WholeNumber, Field(ge=0)] = 0
    family: str | None = None
    nodeSelector: dict[str, str] | None = None
    tolerations: list[TolerationSpec] | None = None


class LimitsSpec(Strict):
    """``mlplan:limits``; an unset field takes ``Limits``' default (Azure's value)."""

    deploymentsPerEndpoint: Annotated[WholeNumber, Field(ge=1)] | None = None
    instancesPerDeployment: Annotated[WholeNumber, Field(ge=1)] | None = None
    endpoints: Annotated[WholeNumber, Field(ge=1)] | None = None
    deployments: Annotated[WholeNumber, Field(ge=1)] | None = None
    # the router bounds a request at 1 hour (``router.nginx``); a limit above it planned
    # cleanly and then failed inside ``pulumi up``
    requestTimeoutMsManaged: Annotated[WholeNumber, Field(ge=1, le=3_600_000)] | None = None
    requestTimeoutMsKubernetes: Annotated[WholeNumber, Field(ge=1, le=3_600_000)] | None = None


class SettingsSpec(Strict):
    target: Literal["docker", "kubernetes"] = "docker"
    endpoints: list[str]
    quota: dict[str, Annotated[FiniteNumber, Field(ge=0)]] | None = None
    environment: Literal["development", "production"] = "development"
    instanceTypes: dict[str, InstanceTypeSpec] | None = None
    limits: LimitsSpec | None = None
    assets: dict[str, Any] | None = None
    docker: dict[str, Any] | None = None
    kubernetes: dict[str, Any] | None = None
    keys: Any = None  # checked by check_keys, which never echoes a value


@dataclass(frozen=True)
class Limits:
    """Azure's limits by default; each can be changed in ``mlplan:limits``."""

    deployments_per_endpoint: int = 20
    instances_per_deployment: int = 50
    endpoints: int = 100
    deployments: int = 500
    request_timeout_ms_managed: int = 180_000
    request_timeout_ms_kubernetes: int = 300_000


_LIMIT_FIELDS = {"deploymentsPerEndpoint": "deployments_per_endpoint",
                 "instancesPerDeployment": "instances_per_deployment",
                 "endpoints": "endpoints", "deployments": "deployments",
                 "requestTimeoutMsManaged": "request_timeout_ms_managed",
                 "requestTimeoutMsKubernetes": "request_timeout_ms_kubernetes"}


@dataclass(frozen=True)
class Settings:
    target: Target = "docker"
    endpoint_paths: tuple[str, ...] = ()
    quota_millis: Mapping[str, int] = field(default_factory=dict, hash=False)
    environment: Environment = "development"
    instance_types: tuple[InstanceType, ...] = ()
    limits: Limits = Limits()
    #: ``mlplan:assets`` parsed (``domain.assets.parse_assets``)
    assets: Assets = field(default_factory=Assets, compare=False)
    docker: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)
    kubernetes: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)
    #: ``mlplan:<target>`` parsed by the target's own parser (``ParseTarget``; its problems
    #: were reported with the settings'); None when not parsed: the target's defaults. Read
    #: it through the target (``targets.docker.settings.of``, ``targets.kubernetes.settings.of``)
    target_settings: Any = field(default=None, compare=False)
    file: str = ""
    #: per endpoint named under ``mlplan:keys``: a digest of its keys, never shown (a review
    #: compares them to see a rotation); ``"*"`` for a whole encrypted ``mlplan:keys``
    key_digests: Mapping[str, str] = field(default_factory=dict, hash=False)

    @property
    def catalog(self) -> Catalog:
        return Catalog.build(self.instance_types)


def quota_from_cores(cores: Mapping[str, float]) -> dict[str, int]:
    """``{"total": 100, "x": 2.5}`` -> millicores ``{"total": 100000, "x": 2500}``."""
    return {name: round(value * 1000) for name, value in cores.items()}


#: (target name, its ``mlplan:<target>`` mapping, file, line of a path below it) -> (its parsed
#: settings, problems): the target's own parser, handed in by the edge (``targets.registry``)
ParseTarget = Callable[[str, Mapping[str, Any], str, Callable[[FieldPath], int]],
                       tuple[Any, list[Diagnostic]]]


def from_stack_document(doc: YamlDocument, file: str, parse_target: ParseTarget | None = None
                        ) -> tuple[Settings, list[Diagnostic]]:
    """Settings from a parsed ``Pulumi.<stack>.yaml`` document (``config:`` mapping); the
    target's own settings parsed by ``parse_target`` (left to the target's defaults without)."""
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
    return from_values(settings_doc, file, found, parse_target)


def from_values(
    doc: YamlDocument, file: str, found: list[Diagnostic] | None = None,
    parse_target: ParseTarget | None = None,
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
    catalog = Catalog.build(types)
    found.extend(error(codes.SETTINGS, at(("quota", key)), f"{problem}.")
                 for key in sorted(spec.quota or {})
                 if (problem := catalog.quota_key_problem(key)))
    digests, key_problems = check_keys(spec.keys, lambda path: at(("keys", *path)))
    found.extend(key_problems)
    target_settings: Any = None
    if parse_target is not None:  # the target's own settings live under mlplan:<target>
        target_settings, target_problems = parse_target(
            spec.target, getattr(spec, spec.target, None) or {}, file,
            lambda path: doc.line_of((spec.target, *path)))
        found.extend(target_problems)
    assets, asset_problems = parse_assets(spec.assets or {}, lambda path: at(("assets", *path)))
    found.extend(asset_problems)
    lim = spec.limits or LimitsSpec()
    settings = Settings(
        target=spec.target,
        endpoint_paths=tuple(spec.endpoints),
        quota_millis=quota_from_cores(spec.quota or {}),
        environment=spec.environment,
        instance_types=tuple(types),
        limits=Limits(**{_LIMIT_FIELDS[k]: v
                         for k, v in lim.model_dump(exclude_none=True).items()}),
        assets=assets,
        docker=spec.docker or {},
        kubernetes=spec.kubernetes or {},
        target_settings=target_settings,
        file=file,
        key_digests=digests,
    )
    return settings, found


KEY_SHAPE = ("'mlplan:keys' maps each endpoint name to {primary: KEY, secondary: KEY} (set them "
             "with 'pulumi config set --secret --path mlplan:keys.<endpoint>.primary ...')")


def _key_text(value: Any) -> str | None:
    """A key as written: plain text, or Pulumi's ``{secure: <ciphertext>}``."""
    if isinstance(value, dict) and set(value) == {"secure"}:
        value = value["secure"]
    return value if isinstance(value, str) and value else None


def check_keys(value: Any, at: Any) -> tuple[dict[str, str], list[Diagnostic]]:  # noqa: C901
    """The shape of ``mlplan:keys`` -> (digest per endpoint, problems). No message shows a
    value: they are secrets. A plain key must be 16-1024 characters of a bearer token
    (``A-Za-z0-9._~+/-``, ``=`` padding), as the router requires.

    Example: ``{"my-endpoint": {"primary": "p" * 16}}`` -> ``secondary`` is missing.
    """
    digests: dict[str, str] = {}
    found: list[Diagnostic] = []
    if value is None:
        return digests, found
    if isinstance(value, dict) and set(value) == {"secure"}:
        return {"*": _digest(str(value["secure"]))}, found  # one encrypted object
    if not isinstance(value, dict):
        found.append(error(codes.SETTINGS, at(()),
                           f"must be a mapping, got {type(value).__name__} (not shown: it may "
                           f"be a secret); {KEY_SHAPE}."))
        return digests, found
    for endpoint, keys in value.items():
        where = (str(endpoint),)
        if not isinstance(keys, dict):
            found.append(error(codes.SETTINGS, at(where),
                               f"must be a mapping, got {type(keys).__name__} (not shown); "
                               f"{KEY_SHAPE}."))
            continue
        texts: list[str] = []
        for which in ("primary", "secondary"):
            text = _key_text(keys.get(which))
            if which not in keys:
                found.append(error(codes.SETTINGS, at(where),
                                   f"'{which}' is missing; {KEY_SHAPE}."))
            elif text is None:
                found.append(error(codes.SETTINGS, at((*where, which)),
                                   "must be a non-empty text (not shown); " f"{KEY_SHAPE}."))
            elif not isinstance(keys.get(which), dict) and not (
                    MIN_KEY_LENGTH <= len(text) <= MAX_KEY_LENGTH and KEY_PATTERN.match(text)):
                found.append(error(codes.SETTINGS, at((*where, which)),
                                   f"must be {MIN_KEY_LENGTH}-{MAX_KEY_LENGTH} characters of "
                                   "A-Z a-z 0-9 "
                                   "._~+/- (and = at the end); the value is not shown. Pick a "
                                   "longer random key, e.g. 'openssl rand -hex 24'."))
            if text:
                texts.append(text)
        for extra in sorted(str(k) for k in keys if k not in ("primary", "secondary")):
            found.append(error(codes.SETTINGS, at((*where, extra)),
                               f"unknown key '{extra[:60]}'; only primary and secondary."))
        digests[str(endpoint)] = _digest("\0".join(texts))
    return digests, found


def _digest(text: str) -> str:
    return hashlib.sha256(b"mlplan-keys\0" + text.encode("utf-8", "surrogatepass")).hexdigest()


def _settings_message(err: Any, path: FieldPath) -> str:
    if path[:1] == ("keys",):  # never echo a value under mlplan:keys
        return f"has the wrong shape (the value is not shown: it may be a secret); {KEY_SHAPE}."
    if err["type"] == "missing" and path == ("endpoints",):
        return ("missing; add 'mlplan:endpoints:' with the endpoint YAML files or folders, "
                "e.g. '- stacks/endpoints'.")
    known = [f.alias or n for n, f in SettingsSpec.model_fields.items()] if len(path) == 1 \
        else []
    return describe(err, format_path(path), known, noun="setting", prefix=NAMESPACE)
