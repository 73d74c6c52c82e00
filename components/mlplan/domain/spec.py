"""Azure ML CLI v2 endpoint and deployment YAML -> ``Endpoint`` values plus diagnostics.

The YAML keys are exactly Azure's (``reference-yaml-endpoint-online``,
``reference-yaml-deployment-managed-online``, ``reference-yaml-deployment-kubernetes-online``).
Enum-like values match case-insensitively, as Azure's tooling does (``auth_mode: Key``).
Every problem in every file is collected in one pass; nothing here raises for bad input.

Kind of a document: its ``$schema`` (``...OnlineEndpoint...`` / ``...OnlineDeployment...``) or,
without one, its keys (``endpoint_name``, ``model``, ``instance_type``... make a deployment).
Documents of another kind found while scanning a folder (a conda file, a batch endpoint) are
skipped; the same in a file named explicitly is an error.

Modules by concern: ``spec_schema`` (the models, ``document_kind``), ``spec_validation``
(pydantic's errors -> diagnostics; partial validation), this one (conversion to domain values,
the parse entry point with its memo, and linking deployments to endpoints).
"""

from __future__ import annotations

import difflib
import functools
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, Literal

from pydantic import (
    BaseModel,
)

from mlplan.domain import codes
from mlplan.domain.diagnostics import Diagnostic, Location, error, sort_diagnostics, warning
from mlplan.domain.model import (
    CodeConfiguration,
    Deployment,
    DeploymentKind,
    Endpoint,
    EnvironmentRef,
    KubernetesResources,
    ModelRef,
    Probe,
    RequestSettings,
    Route,
    ScaleSettings,
    Source,
    skips,
)
from mlplan.domain.names import MLPLAN_VARIABLES, NAME_PATTERN
from mlplan.domain.quantity import QuantityError, cpu_millis, memory_mib
from mlplan.domain.spec_schema import (
    NAME_MAX,
    NAME_MIN,
    NO_INFERENCE_CONFIG,
    DeploymentSpec,
    EndpointSpec,
    ProbeSpec,
    ResourcesSpec,
    RouteSpec,
    ScaleSettingsSpec,
    document_kind,
    schema_kind,
)
from mlplan.domain.spec_validation import validate_partially
from mlplan.domain.yamlsource import FieldPath, YamlDocument, format_path, parse_yaml


@dataclass(frozen=True)
class SourceText:
    """A file's text and the project-relative path it is known by."""

    path: str
    text: str
    explicit: bool = True  # named by the user (not found by scanning a folder)


@dataclass(frozen=True)
class SourceValue:
    """A document given as a value instead of text: the mapping of the YAML's keys (what
    ``yaml.safe_load`` of the file gives), e.g. from a Pulumi program's arguments.

    ``path`` names it in diagnostics (there are no lines): ``OnlineEndpoint my-endpoint
    deployments[0] instance_count: error MLP102 ...``; it holds no ``/``, so relative paths in
    the value are relative to the project root. ``kind`` says what the document is (a value
    needs no ``$schema`` and no telltale key).
    """

    path: str
    value: Any
    kind: Literal["endpoint", "deployment"]


@dataclass(frozen=True)
class ParseResult:
    endpoints: tuple[Endpoint, ...]
    diagnostics: tuple[Diagnostic, ...]


# --- conversion to domain values --------------------------------------------------------------


def _rel(base_file: str, path: str | None) -> str:
    """Resolve ``path`` against the directory of ``base_file``.

    Example: ``../m`` named in ``a/b/x.yml`` -> ``a/m``. References and absolute paths stay.
    """
    if not path:
        return ""
    if path.startswith(("azureml:", "http://", "https://", "/")) or "://" in path:
        return path
    return _joined(posixpath.dirname(base_file), path)


@functools.lru_cache(maxsize=8192)
def _joined(directory: str, path: str) -> str:
    """The files of one folder name the same paths (``../model``): each joined once."""
    return posixpath.normpath(posixpath.join(directory, path))


def _pairs(mapping: dict[str, Any] | None) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((mapping or {}).items()))


def _source(file: str, doc: YamlDocument) -> Source:
    lines = {format_path(p): line for p, line in doc.lines.items()}
    return Source(file=file, line=doc.line, lines=lines)


def name_problem(name: str) -> str:
    """"" if ``name`` is a valid endpoint or deployment name, else what is wrong and the fix."""
    if not NAME_MIN <= len(name) <= NAME_MAX:
        shown = name if len(name) <= 2 * NAME_MAX else name[:NAME_MAX] + "..."
        return f"'{shown}' has {len(name)} characters; use {NAME_MIN} to {NAME_MAX}."
    if not NAME_PATTERN.match(name):
        return (f"'{name}' is not a valid name; start with a letter, use letters, digits and "
                "dashes, end with a letter or digit.")
    return ""


def _endpoint(spec: EndpointSpec, file: str, doc: YamlDocument,
              skipped: frozenset[str] = frozenset()) -> Endpoint:
    kind = schema_kind(spec.schema_) or ("kubernetes" if spec.compute else "managed")
    return Endpoint(
        name=spec.name,
        kind=kind,
        auth_mode=spec.auth_mode,
        traffic=_pairs(spec.traffic),
        mirror_traffic=_pairs(spec.mirror_traffic),
        traffic_declared=spec.traffic is not None,
        description=spec.description or "",
        tags=_pairs(spec.tags),
        compute=spec.compute or "",
        public_network_access=spec.public_network_access,
        source=_source(file, doc),
        skipped=skipped,
    )


def _model(spec: DeploymentSpec, file: str) -> ModelRef | None:
    if spec.model is None:
        return None
    if isinstance(spec.model, str):
        parts = spec.model.split(":")
        name = parts[1] if len(parts) > 1 else ""
        version = parts[2] if len(parts) > 2 else ""
        return ModelRef(reference=spec.model, name=name, version=version)
    m = spec.model
    return ModelRef(path=_rel(file, m.path), name=m.name or "", version=m.version or "",
                    type=m.type or "")


def _route(spec: RouteSpec | None) -> Route | None:
    return Route(spec.path, spec.port) if spec else None


def _environment(spec: DeploymentSpec, file: str) -> EnvironmentRef | None:
    env = spec.environment
    if env is None:
        return None
    if isinstance(env, str):
        return EnvironmentRef(reference=env)
    inference = env.inference_config or NO_INFERENCE_CONFIG
    conda = env.conda_file if isinstance(env.conda_file, str) else ""
    return EnvironmentRef(
        image=env.image or "",
        conda_file=_rel(file, conda),
        build_path=_rel(file, env.build.path) if env.build else "",
        dockerfile_path=(env.build.dockerfile_path or "Dockerfile") if env.build else "",
        liveness_route=_route(inference.liveness_route),
        readiness_route=_route(inference.readiness_route),
        scoring_route=_route(inference.scoring_route),
    )


_DEFAULT_PROBE = Probe()  # frozen: one for every deployment that sets none


def _probe(spec: ProbeSpec | None) -> Probe:
    return Probe(**spec.model_dump()) if spec else _DEFAULT_PROBE


def _scale(spec: ScaleSettingsSpec | None, kind: DeploymentKind, count: int) -> ScaleSettings:
    """Azure's defaults: managed ``default``; Kubernetes ``target_utilization`` 1..1 at 70%."""
    if spec is None:
        return ScaleSettings(type="target_utilization" if kind == "kubernetes" else "default",
                             min_instances=count, max_instances=count)
    if spec.type == "default":
        return ScaleSettings(type="default", min_instances=count, max_instances=count)
    return ScaleSettings(
        type="target_utilization",
        min_instances=spec.min_instances if spec.min_instances is not None else 1,
        max_instances=spec.max_instances if spec.max_instances is not None else 1,
        target_utilization_percentage=spec.target_utilization_percentage or 70,
        polling_interval=spec.polling_interval or 1,
    )


def _resources(
    spec: ResourcesSpec | None, file: str, doc: YamlDocument, found: list[Diagnostic]
) -> KubernetesResources | None:
    if spec is None:
        return None
    values: dict[str, int] = {}
    parts = (("requests", spec.requests), ("limits", spec.limits))
    for section, block in parts:
        if block is None:
            continue
        for key, parse in (("cpu", cpu_millis), ("memory", memory_mib)):
            raw = getattr(block, key)
            if raw is None:
                continue
            try:
                values[f"{section}_{key}"] = parse(raw)
            except QuantityError as exc:
                path: FieldPath = ("resources", section, key)
                found.append(error(codes.INVALID_VALUE,
                                   Location(file, doc.line_of(path), format_path(path)), f"{exc}."))
    return KubernetesResources(
        requests_cpu_millis=values.get("requests_cpu", 0),
        requests_memory_mib=values.get("requests_memory", 0),
        limits_cpu_millis=values.get("limits_cpu", 0),
        limits_memory_mib=values.get("limits_memory", 0),
        limits_gpus=(spec.limits.nvidia_gpu or 0) if spec.limits else 0,
    )


def _deployment(
    spec: DeploymentSpec, file: str, doc: YamlDocument, found: list[Diagnostic],
    skipped: frozenset[str] = frozenset(),
) -> Deployment:
    kind: DeploymentKind = spec.type or schema_kind(spec.schema_) or "managed"
    if kind == "kubernetes" and spec.resources is None and spec.instance_type is None:
        instance_type = "defaultinstancetype"
    else:
        instance_type = spec.instance_type or ""
    scale = spec.scale_settings
    if spec.instance_count is not None:
        count = spec.instance_count
    elif scale is not None and scale.type == "target_utilization":
        count = scale.min_instances or 1
    else:
        count = 1
    code = spec.code_configuration
    return Deployment(
        name=spec.name,
        endpoint_name=spec.endpoint_name or "",
        kind=kind,
        instance_type=instance_type,
        instance_count=count,
        model=_model(spec, file),
        model_mount_path=spec.model_mount_path or "",
        code_configuration=CodeConfiguration(_rel(file, code.code), code.scoring_script)
        if code else None,
        environment=_environment(spec, file),
        environment_variables=_pairs(spec.environment_variables),
        request_settings=RequestSettings(**spec.request_settings.model_dump())
        if spec.request_settings else RequestSettings(),
        liveness_probe=_probe(spec.liveness_probe),
        readiness_probe=_probe(spec.readiness_probe),
        scale_settings=_scale(spec.scale_settings, kind, count),
        resources=_resources(spec.resources, file, doc, found),
        app_insights_enabled=bool(spec.app_insights_enabled),
        egress_public_network_access=spec.egress_public_network_access or "enabled",
        description=spec.description or "",
        tags=_pairs(spec.tags),
        source=_source(file, doc),
        skipped=skipped,
    )


def _check_deployment_fields(spec: DeploymentSpec, dep: Deployment) -> list[Diagnostic]:  # noqa: C901
    found: list[Diagnostic] = []
    src = dep.source
    skipped = dep.skipped
    if skips(skipped, "type"):  # the kind is unknown: what follows from it is not judged
        skipped = skipped | {"instance_type"}
    if dep.kind == "managed" and not spec.instance_type and not skips(skipped, "instance_type"):
        found.append(error(codes.MISSING_FIELD, src.at("instance_type"),
                           "a managed deployment needs instance_type; add e.g. "
                           "'instance_type: Standard_DS3_v2'."))
    if spec.resources is not None and dep.kind != "kubernetes" and not skips(skipped, "type"):
        found.append(error(codes.INVALID_VALUE, src.at("resources"),
                           "'resources' is only for Kubernetes deployments; add 'type: kubernetes' "
                           "or remove 'resources'."))
    res = None if skips(skipped, "resources") else spec.resources
    if res is not None and res.requests is not None and res.requests.cpu is None:
        found.append(error(codes.MISSING_FIELD, src.at("resources.requests"),
                           "resources.requests needs cpu (e.g. cpu: \"500m\")."))
    if res is not None and res.requests is not None and res.requests.memory is None:
        found.append(error(codes.MISSING_FIELD, src.at("resources.requests"),
                           "resources.requests needs memory (e.g. memory: 1Gi)."))
    scale = spec.scale_settings
    if scale is not None and scale.type == "default":
        extra = [k for k in ("min_instances", "max_instances", "target_utilization_percentage",
                             "polling_interval") if getattr(scale, k) is not None]
        if extra:
            found.append(error(codes.INVALID_VALUE, src.at(f"scale_settings.{extra[0]}"),
                               f"'{extra[0]}' only applies to 'type: target_utilization'; "
                               "change the type or remove it."))
    if (scale is not None and scale.type == "target_utilization" and dep.kind == "managed"
            and not skips(skipped, "type")):
        found.append(error(codes.INVALID_VALUE, src.at("scale_settings.type"),
                           "managed deployments support only 'scale_settings.type: default'; "
                           "autoscale them with a separate rule or use a Kubernetes deployment."))
    s = dep.scale_settings
    bounds_known = not skips(skipped, "scale_settings.min_instances",
                             "scale_settings.max_instances")
    if s.type == "target_utilization" and s.min_instances > s.max_instances and bounds_known:
        found.append(error(codes.INVALID_VALUE, src.at("scale_settings.min_instances"),
                           f"min_instances {s.min_instances} is above max_instances "
                           f"{s.max_instances}; raise max_instances or lower min_instances."))
    if dep.model is not None and dep.model.reference and not dep.model.reference.startswith(
        "azureml:"
    ):
        found.append(error(codes.INVALID_VALUE, src.at("model"),
                           f"model '{dep.model.reference}' is neither a registered asset "
                           "('azureml:<name>:<version>') nor an inline mapping with 'path'."))
    env = dep.environment
    if env is not None and env.reference and not env.reference.startswith("azureml:"):
        found.append(error(codes.INVALID_VALUE, src.at("environment"),
                           f"environment '{env.reference}' is neither a registered asset "
                           "('azureml:<name>:<version>') nor an inline mapping with 'image'."))
    if (env is not None and not env.reference and not (env.image or env.build_path)
            and not skips(skipped, "environment")):
        found.append(error(codes.MISSING_FIELD, src.at("environment"),
                           "an inline environment needs 'image' or 'build'; add "
                           "'image: <registry>/<name>:<tag>'."))
    found.extend(warning(codes.INVALID_VALUE, src.at(f"environment_variables.{name}"),
                         f"'{name}' is set by mlplan ({MLPLAN_VARIABLES[name]}), whose value "
                         "wins on both targets; rename this variable.")
                 for name, _value in dep.environment_variables if name in MLPLAN_VARIABLES)
    return found


# --- the entry point --------------------------------------------------------------------------


@dataclass
class _Collected:
    endpoints: list[tuple[EndpointSpec, Endpoint]]
    deployments: list[tuple[DeploymentSpec, Deployment]]
    # (endpoint_name, where) of deployments that failed validation, still checked for linkage
    failed_links: list[tuple[str, Location]]
    # names of endpoints that failed validation: declared, so no "unknown endpoint" for them
    failed_endpoints: set[str]
    # (endpoint_name or "", folder, name or "*") of deployments that failed validation: declared,
    # so traffic naming them gets no "add its deployment file"
    failed_deployments: list[tuple[str, str, str]]


_PARSED: dict[tuple[str, str, bool], tuple[_Collected, list[Diagnostic]]] = {}
_PARSED_LIMIT = 50_000


def parse(sources: Iterable[SourceText | SourceValue], only: str | None = None) -> ParseResult:
    """Parse every document of every source; link deployments to endpoints; check names.

    Output is deterministic: endpoints sorted by name, deployments by name. With ``only``
    (an endpoint's name, Azure's ``--endpoint-name``), documents of other endpoints are left
    out: an endpoint named otherwise, a deployment whose ``endpoint_name`` names another.
    """
    found: list[Diagnostic] = []
    collected = _Collected([], [], [], set(), [])
    for source in sources:
        if isinstance(source, SourceValue):
            _parse_value(source, collected, found)
            continue
        # A file is parsed once per process for its (path, text): ``mlplan review`` reads the
        # base and the head, and most files are the same on both sides. The result depends on
        # nothing else and holds frozen values only, so a copy of the lists is all it takes.
        key = (source.path, source.text, source.explicit)
        one = _PARSED.get(key)
        if one is None:
            one = (_Collected([], [], [], set(), []), [])
            _parse_file(source, one[0], one[1])
            if len(_PARSED) >= _PARSED_LIMIT:
                _PARSED.clear()
            _PARSED[key] = one
        part, problems = one
        collected.endpoints.extend(part.endpoints)
        collected.deployments.extend(part.deployments)
        collected.failed_links.extend(part.failed_links)
        collected.failed_endpoints.update(part.failed_endpoints)
        collected.failed_deployments.extend(part.failed_deployments)
        found.extend(problems)
    if only is not None:
        collected = _only(collected, only)
    endpoints = _link(collected, found)
    return ParseResult(endpoints=endpoints, diagnostics=tuple(sort_diagnostics(found)))


def _parse_file(source: SourceText, collected: _Collected, found: list[Diagnostic]) -> None:
    loaded = parse_yaml(source.text)
    text_lines = source.text.splitlines()
    if loaded.syntax_error:
        line, message = loaded.syntax_error
        hint = "" if loaded.not_text else _fix_hint(text_lines, line,
                                                    "Fix the indentation or quoting there.")
        found.append(error(codes.YAML_SYNTAX, Location(source.path, line),
                           f"YAML syntax error: {message}. {hint}".strip()))
    for doc in loaded.documents:
        for line, field_name, message in doc.problems:
            found.append(error(codes.YAML_SYNTAX, Location(source.path, line, field_name),
                               f"{message}. {_fix_hint(text_lines, line, '')}".strip()))
        if doc.value is None:
            continue
        if not isinstance(doc.value, dict):
            found.append(error(codes.WRONG_TYPE, Location(source.path, doc.line),
                               "expected a mapping of keys (name, endpoint_name, ...) at the top "
                               f"level, got {type(doc.value).__name__}."))
            continue
        kind = document_kind(doc.value)
        if kind in ("", "other"):
            if source.explicit:
                found.append(error(codes.UNKNOWN_DOCUMENT, Location(source.path, doc.line),
                                   "not an online endpoint or deployment; add '$schema: https://"
                                   "azuremlschemas.azureedge.net/latest/managedOnlineEndpoint."
                                   "schema.json' (or ...OnlineDeployment...) or the keys of one."))
            continue
        _validate_document(kind, doc, source.path, collected, found)


def _only(collected: _Collected, name: str) -> _Collected:
    mine = ("", name)
    return _Collected(
        [(s, e) for s, e in collected.endpoints if e.name == name],
        [(s, d) for s, d in collected.deployments if d.endpoint_name in mine],
        [(target, where) for target, where in collected.failed_links if target == name],
        collected.failed_endpoints & {name},
        [f for f in collected.failed_deployments if f[0] in mine])


def _parse_value(source: SourceValue, collected: _Collected, found: list[Diagnostic]) -> None:
    value = _plain(source.value)
    if not isinstance(value, dict):
        found.append(error(codes.WRONG_TYPE, Location(source.path),
                           "expected a mapping of the YAML's keys (name, endpoint_name, ...), "
                           f"got {type(source.value).__name__}."))
        return
    _validate_document(source.kind, YamlDocument(value=value, line=0), source.path, collected,
                       found)


def _plain(value: Any) -> Any:
    """A program's value as YAML would hold it: tuples as lists, mapping keys as text."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _fix_hint(text_lines: list[str], line: int, default: str) -> str:
    """Unquoted ``{{NAME}}`` template placeholders are the usual cause of YAML errors in Azure's
    examples: ``endpoint_name: {{ENDPOINT_NAME}}`` is a flow mapping, not text."""
    text = text_lines[line - 1] if 0 < line <= len(text_lines) else ""
    if "{{" in text:
        return ("This line holds a template placeholder ({{...}}); substitute it before planning, "
                "or quote the value.")
    return default


def _validate_document(
    kind: str, doc: YamlDocument, file: str, collected: _Collected, found: list[Diagnostic]
) -> None:
    root: type[BaseModel] = EndpointSpec if kind == "endpoint" else DeploymentSpec
    spec, problems, skipped = validate_partially(root, doc, file)
    found.extend(problems)
    if spec is None:
        _check_invalid_document(kind, doc, file, collected, found)
        return
    if isinstance(spec, EndpointSpec):
        endpoint = _endpoint(spec, file, doc, skipped)
        if problem := name_problem(endpoint.name):
            found.append(error(codes.INVALID_NAME, endpoint.source.at("name"), problem))
        collected.endpoints.append((spec, endpoint))
    elif isinstance(spec, DeploymentSpec):
        deployment = _deployment(spec, file, doc, found, skipped)
        if problem := name_problem(deployment.name):
            found.append(error(codes.INVALID_NAME, deployment.source.at("name"), problem))
        found.extend(_check_deployment_fields(spec, deployment))
        collected.deployments.append((spec, deployment))


def _check_invalid_document(
    kind: str, doc: YamlDocument, file: str, collected: _Collected, found: list[Diagnostic]
) -> None:
    """Name and endpoint link of a document that failed validation, so one pass finds all."""
    name = doc.value.get("name")
    if isinstance(name, str) and (problem := name_problem(name)):
        found.append(error(codes.INVALID_NAME, Location(file, doc.line_of(("name",)), "name"),
                           problem))
    if kind == "endpoint" and isinstance(name, str):
        collected.failed_endpoints.add(name)
    target = doc.value.get("endpoint_name")
    if kind == "deployment" and isinstance(target, str):
        where = Location(file, doc.line_of(("endpoint_name",)), "endpoint_name")
        collected.failed_links.append((target, where))
    if kind == "deployment":
        collected.failed_deployments.append((target if isinstance(target, str) else "",
                                             posixpath.dirname(file),
                                             name if isinstance(name, str) else "*"))


def _unknown_endpoint(name: str, known: list[str], where: Location) -> Diagnostic:
    listed = ", ".join(sorted(known)) or "none declared"
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return error(codes.UNKNOWN_ENDPOINT, where,
                 f"endpoint '{name}' is not declared; {hint}declare it or fix the name "
                 f"(endpoints: {listed}).")


def _link(collected: _Collected, found: list[Diagnostic]) -> tuple[Endpoint, ...]:  # noqa: C901, PLR0912
    by_name: dict[str, Endpoint] = {}
    for _endpoint_spec, endpoint in collected.endpoints:
        first = by_name.get(endpoint.name)
        if first is not None:
            found.append(error(codes.DUPLICATE_ENDPOINT, endpoint.source.at("name"),
                               f"endpoint '{endpoint.name}' is also declared at "
                               f"{first.source.at('name')}; keep one or rename this one."))
            continue
        by_name[endpoint.name] = endpoint
    children: dict[str, list[Deployment]] = {name: [] for name in by_name}
    for _deployment_spec, declared in collected.deployments:
        if skips(declared.skipped, "endpoint_name"):  # reported: its endpoint is unknown
            collected.failed_deployments.append(
                ("", posixpath.dirname(declared.source.file), declared.name))
            continue
        deployment = declared if declared.endpoint_name else _infer_endpoint(declared, by_name)
        if not deployment.endpoint_name:
            found.append(error(codes.MISSING_FIELD, deployment.source.at("endpoint_name"),
                               "endpoint_name is missing and no single endpoint is declared in "
                               "the same folder to infer it from; add 'endpoint_name: <name>'."))
            continue
        if deployment.endpoint_name in collected.failed_endpoints:
            continue  # its endpoint has its own errors; planning it waits for their fix
        siblings = children.get(deployment.endpoint_name)
        if siblings is None:
            found.append(_unknown_endpoint(deployment.endpoint_name, list(by_name),
                                           deployment.source.at("endpoint_name")))
            continue
        twin = next((d for d in siblings if d.name == deployment.name), None)
        if twin is not None:
            found.append(error(codes.DUPLICATE_DEPLOYMENT, deployment.source.at("name"),
                               f"deployment '{deployment.name}' of endpoint "
                               f"'{deployment.endpoint_name}' is also declared at "
                               f"{twin.source.at('name')}; keep one or rename this one."))
            continue
        siblings.append(deployment)
    for target, where in collected.failed_links:
        if target not in by_name and target not in collected.failed_endpoints:
            found.append(_unknown_endpoint(target, list(by_name), where))
    unusable: dict[str, set[str]] = {name: set() for name in by_name}
    for target, folder, deployment_name in collected.failed_deployments:
        nearby = [e.name for e in by_name.values() if posixpath.dirname(e.source.file) == folder]
        owner = target or (nearby[0] if len(nearby) == 1 else "")
        if owner in unusable:
            unusable[owner].add(deployment_name)
    linked = []
    for name in sorted(by_name):
        endpoint = by_name[name]
        deployments = tuple(sorted(children[name], key=lambda d: d.name))
        linked.append(replace(_with_deployments(endpoint, deployments),
                              unusable_deployments=frozenset(unusable[name])))
    return tuple(linked)


def _infer_endpoint(deployment: Deployment, endpoints: dict[str, Endpoint]) -> Deployment:
    """``az ml`` takes a missing endpoint_name from ``--endpoint-name``; mlplan takes it from the
    one endpoint declared in the same folder, if there is exactly one."""
    folder = posixpath.dirname(deployment.source.file)
    nearby = [e.name for e in endpoints.values() if posixpath.dirname(e.source.file) == folder]
    return replace(deployment, endpoint_name=nearby[0]) if len(nearby) == 1 else deployment


def _with_deployments(endpoint: Endpoint, deployments: tuple[Deployment, ...]) -> Endpoint:
    return replace(endpoint, deployments=deployments)
