"""mlplan's public Pulumi API: ``OnlineEndpoint`` and ``QuotaCheck`` for the user's own program.

    from mlplan import OnlineEndpoint, OnlineEndpointArgs
    endpoint = OnlineEndpoint("my-endpoint", OnlineEndpointArgs(
        endpoint_file="stacks/endpoints/my-endpoint/endpoint.yml",
        deployment_files=["stacks/endpoints/my-endpoint/blue.yml"]))
    pulumi.export("uri", endpoint.scoring_uri)

Inputs carry what the Azure ML CLI v2 YAML carries, as paths of the user's endpoint and
deployment files or as values of the same shape (the mapping ``yaml.safe_load`` gives), plus
what mlplan's stack settings carry (``mlplan:quota``, ``mlplan:docker``, ...: the same shape,
read by the same parser). Everything goes through the pipeline of ``mlplan plan``: the spec
parser, the settings parser, ``edge.pipeline.planned``, the target's checks; any error
diagnostic fails the component, logged with its code, file, line and field, before a single
resource is registered (``report``: a ``pulumi.RunError``, no traceback).
The resources themselves are the targets' (``targets.docker.resources``,
``targets.kubernetes.resources``), registered as children.

The classes are what Pulumi's component provider host
(``pulumi.provider.experimental.component_provider_host``) can serve to other languages: type
tokens ``mlplan:index:<Class>``, ``__init__(name, args, opts)``, args as ``TypedDict``s of
``pulumi.Input`` (no unions), outputs as ``pulumi.Output`` class annotations, and a docstring
under every field (the host's analyzer reads them with ``ast`` into the schema). Hence no
``from __future__ import annotations`` here: the analyzer evaluates the annotations.

Structural inputs (files, documents, settings) must be plain values when the program runs:
the plan is made, and checked, before anything is registered. Only the keys may be outputs
(secrets of another resource, say).
"""

import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypedDict

import pulumi

from mlplan.domain import codes
from mlplan.domain.diagnostics import (
    Diagnostic,
    Location,
    Severity,
    error,
    has_errors,
    sort_diagnostics,
)
from mlplan.domain.quantity import format_millis
from mlplan.domain.settings import NAMESPACE, check_keys, from_stack_document
from mlplan.domain.spec import SourceValue, parse
from mlplan.domain.yamlsource import YamlDocument, format_path
from mlplan.edge import io, pipeline
from mlplan.planning.quota import QuotaReport
from mlplan.planning.state import DesiredState, EndpointState
from mlplan.render import safe
from mlplan.targets import registry
from mlplan.targets.resources import TOKEN_PREFIX

# --- argument types ---------------------------------------------------------------------------


class TolerationArgs(TypedDict, total=False):
    """A Kubernetes toleration of GPU (or custom instance type) nodes."""

    key: pulumi.Input[str]
    """The taint key tolerated, e.g. ``nvidia.com/gpu``. Required."""
    operator: pulumi.Input[str]
    """``Exists`` or ``Equal``. Default ``Exists``."""
    value: pulumi.Input[str]
    """The taint value (with ``Equal``). Default none."""
    effect: pulumi.Input[str]
    """``NoSchedule``, ``PreferNoSchedule`` or ``NoExecute``. Default: every effect."""


class InstanceTypeArgs(TypedDict, total=False):
    """A custom instance type (``mlplan:instanceTypes.<name>``), used by ``instance_type``."""

    cpu: pulumi.Input[str]
    """CPU cores per instance, a Kubernetes quantity: ``"500m"``, ``"4"``. Required."""
    memory: pulumi.Input[str]
    """Memory per instance, a Kubernetes quantity: ``"2Gi"``, ``"512Mi"``. Required."""
    gpu: pulumi.Input[int]
    """GPUs per instance. Default 0."""
    family: pulumi.Input[str]
    """The quota family its cores count against. Default ``custom``."""
    node_selector: pulumi.Input[dict[str, str]]
    """Kubernetes node labels its pods need (``nodeSelector``). Default none."""
    tolerations: pulumi.Input[list[TolerationArgs]]
    """Kubernetes tolerations of its pods. Default none."""


class LimitsArgs(TypedDict, total=False):
    """Azure's service limits (``mlplan:limits``); each defaults to Azure's value."""

    deployments_per_endpoint: pulumi.Input[int]
    """Most deployments of one endpoint (MLP112). Default 20."""
    instances_per_deployment: pulumi.Input[int]
    """Most instances of one deployment (MLP113). Default 50."""
    endpoints: pulumi.Input[int]
    """Most endpoints counted together (MLP116). Default 100."""
    deployments: pulumi.Input[int]
    """Most deployments counted together (MLP116). Default 500."""
    request_timeout_ms_managed: pulumi.Input[int]
    """Largest ``request_settings.request_timeout_ms`` of a managed deployment (MLP114).
    Default 180000."""
    request_timeout_ms_kubernetes: pulumi.Input[int]
    """Largest ``request_settings.request_timeout_ms`` on Kubernetes (MLP114). Default 300000."""


class AssetsArgs(TypedDict, total=False):
    """Registered Azure ML assets (``azureml:<name>:<version>``) mapped to what runs off Azure
    (``mlplan:assets``): there is no registry here to resolve them (else MLP117)."""

    models: pulumi.Input[dict[str, str]]
    """``{"azureml:sample-model:1": "stacks/model/sample-model"}``: a local path (relative to
    ``project_dir``) per model reference. Default none."""
    environments: pulumi.Input[dict[str, str]]
    """``{"azureml:sklearn-env:3": "registry.example.com/sklearn:1.4"}``: an image per
    environment reference. Default none."""
    code: pulumi.Input[dict[str, str]]
    """``{"azureml:score-code:1": "stacks/score"}``: a local folder per code reference.
    Default none."""


class DockerSettingsArgs(TypedDict, total=False):
    """The Docker target (``mlplan:docker``): one router container per endpoint, one container
    per instance, on the Docker host of the ``docker`` provider."""

    router_image: pulumi.Input[str]
    """The router's nginx image (nginx >= 1.27.3 with ``wget``). Default
    ``nginx:1.28.0-alpine``."""
    ports: pulumi.Input[dict[str, int]]
    """Host port per endpoint name, ``{"my-endpoint": 8080}``. Default: Docker picks one (the
    scoring URI says which)."""
    publish_address: pulumi.Input[str]
    """Host address the router's port is published on. Default ``127.0.0.1`` (loopback only)."""
    host: pulumi.Input[str]
    """Host name in the scoring and swagger URIs. Default ``localhost``."""
    name_prefix: pulumi.Input[str]
    """Prefix of every container, network and volume name (two stacks on one host). Default
    none."""
    resource_limits: pulumi.Input[str]
    """``enforce`` (CPU and memory limits of the instance type, MLP123 if the host is smaller),
    ``memory-only`` or ``off``. Default ``enforce``."""


class GatewayRefArgs(TypedDict, total=False):
    """The Gateway an HTTPRoute attaches to (``routerMode: gateway-api``)."""

    name: pulumi.Input[str]
    """The Gateway's name. Required."""
    namespace: pulumi.Input[str]
    """The Gateway's namespace. Default: the endpoint's namespace."""
    section_name: pulumi.Input[str]
    """The listener (``sectionName``). Default: every listener."""
    port: pulumi.Input[int]
    """The listener port. Default: the listener's."""


class ModelSourceArgs(TypedDict, total=False):
    """Where a model too big for a ConfigMap comes from: a PVC (``pvc``, ``sub_path``) or an
    image (``image``, ``path``)."""

    pvc: pulumi.Input[str]
    """The PersistentVolumeClaim holding the model."""
    sub_path: pulumi.Input[str]
    """The model's folder in the claim. Default: its root."""
    image: pulumi.Input[str]
    """An image holding the model (copied by an init container)."""
    path: pulumi.Input[str]
    """The model's folder inside ``image``."""


class NetworkPolicyArgs(TypedDict, total=False):
    """Who reaches the instance pods (a NetworkPolicy per endpoint)."""

    enabled: pulumi.Input[bool]
    """Register the NetworkPolicy. Default true; false leaves it to a mesh's own policy."""
    allow_from: pulumi.Input[list[dict[str, Any]]]
    """Kubernetes ``NetworkPolicyPeer``s admitted instead of the router (a mesh's gateway or
    sidecars). Default: the endpoint's router pods (gateway-api: the Gateway's namespace)."""


class KubernetesSettingsArgs(TypedDict, total=False):
    """The Kubernetes target (``mlplan:kubernetes``): per deployment a Deployment, Service and
    PodDisruptionBudget, per endpoint an nginx router or a Gateway API HTTPRoute."""

    namespace: pulumi.Input[str]
    """Namespace of every object. Default ``mlplan``."""
    create_namespace: pulumi.Input[bool]
    """Create the namespace (kept on delete). Default true; set false when several endpoints
    or stacks share it."""
    kubeconfig: pulumi.Input[str]
    """Kubeconfig for an explicit provider. Default: the ambient (or ``opts``) provider."""
    context: pulumi.Input[str]
    """Kubeconfig context for an explicit provider. Default: the current one."""
    render_yaml_to: pulumi.Input[str]
    """Write manifests to this folder (inside the project) instead of applying them. They hold
    no secret value: the Secrets they reference are the output ``kubernetes_secrets``. Default
    off."""
    router_mode: pulumi.Input[str]
    """``nginx`` (in-cluster router) or ``gateway-api`` (HTTPRoute). Default ``nginx``."""
    service_type: pulumi.Input[str]
    """The router Service's type: ``ClusterIP``, ``LoadBalancer`` or ``NodePort``. Default
    ``ClusterIP``."""
    router_replicas: pulumi.Input[int]
    """Router pods (>= 2). Default 2."""
    router_image: pulumi.Input[str]
    """The router's nginx image (>= 1.27.3). Default ``nginx:1.28.0-alpine``."""
    gateway_ref: pulumi.Input[GatewayRefArgs]
    """The Gateway of ``gateway-api`` mode. Required there."""
    hostname: pulumi.Input[str]
    """Scoring URI host, ``{endpoint}.ml.example.com`` (required in ``gateway-api`` mode).
    Default none."""
    uri_scheme: pulumi.Input[str]
    """Scoring URI scheme, ``http`` or ``https``. Default ``http``."""
    image_pull_secrets: pulumi.Input[list[str]]
    """Secret names every pod pulls images with. Default none."""
    gpu_node_selector: pulumi.Input[dict[str, str]]
    """Node labels of GPU instance types' pods. Default ``nvidia.com/gpu.present: "true"``."""
    gpu_tolerations: pulumi.Input[list[TolerationArgs]]
    """Tolerations of GPU instance types' pods. Default ``nvidia.com/gpu`` Exists NoSchedule."""
    resource_quota: pulumi.Input[bool]
    """A namespace ResourceQuota sized by the quota check (+ router pods). Default false."""
    models: pulumi.Input[dict[str, ModelSourceArgs]]
    """Big models by ``azureml:`` reference or path: where each comes from. Default none."""
    network_policy: pulumi.Input[NetworkPolicyArgs]
    """Who reaches the instance pods. Default: only the endpoint's router (or Gateway)."""
    withhold_secrets: pulumi.Input[bool]
    """Register no Secret: the keys and environment Secrets go to the output
    ``kubernetes_secrets`` for your own delivery (kubectl, kubeseal, sops). On with
    ``render_yaml_to``; set it when a rendering provider of your own (``opts``) writes the
    manifests, which would hold Secret values in plain text. Default false."""


class EndpointKeysArgs(TypedDict):
    """The endpoint's two keys (Azure: ``az ml online-endpoint get-credentials``); a caller
    sends ``Authorization: Bearer <key>``. 16-1024 characters of ``A-Za-z0-9._~+/-``."""

    primary: pulumi.Input[str]
    """The primary key (a secret)."""
    secondary: pulumi.Input[str]
    """The secondary key (a secret)."""


class OnlineEndpointArgs(TypedDict, total=False):
    """The inputs of an ``OnlineEndpoint``: its Azure ML YAML (files or values), the target and
    the settings a stack would give (``mlplan:*``). Give ``endpoint_file`` or ``endpoint``."""

    endpoint_name: pulumi.Input[str]
    """Which endpoint the files declare (Azure: ``--endpoint-name``): documents of other
    endpoints in them are left out. Default: the files must declare exactly one endpoint."""
    endpoint_file: pulumi.Input[str]
    """The Azure ML CLI v2 endpoint YAML (``az ml online-endpoint create -f FILE``), relative
    to ``project_dir``; further YAML documents in it may be its deployments. Default none."""
    deployment_files: pulumi.Input[list[str]]
    """Deployment YAML files (``az ml online-deployment create -f FILE``), relative to
    ``project_dir``; paths inside a file are relative to that file. Default none."""
    endpoint: pulumi.Input[dict[str, Any]]
    """The endpoint document as a value, the same keys as the file (``name``, ``auth_mode``,
    ``traffic``, ``mirror_traffic``, ``description``, ``tags``, ...). Default none."""
    deployments: pulumi.Input[list[dict[str, Any]]]
    """Deployment documents as values, the same keys as the files (``name``,
    ``endpoint_name``, ``model``, ``code_configuration``, ``environment``, ``instance_type``,
    ``instance_count``, ``request_settings``, probes, ``scale_settings``, ...); relative paths
    in them are relative to ``project_dir``. Default none."""
    traffic: pulumi.Input[dict[str, int]]
    """Live traffic percent per deployment, replacing the endpoint's ``traffic`` (Azure:
    ``az ml online-endpoint update --traffic "blue=90 green=10"``); sums to 0 or 100. Default:
    the endpoint's."""
    mirror_traffic: pulumi.Input[dict[str, int]]
    """Mirrored percent of live traffic for at most one deployment (<= 50, no live traffic of
    its own), replacing the endpoint's ``mirror_traffic``. Default: the endpoint's."""
    keys: pulumi.Input[EndpointKeysArgs]
    """The endpoint's keys (secrets; ``mlplan:keys.<endpoint>``). Default: generated once
    (``random.RandomPassword``, 48 characters) and kept in the stack state."""
    target: pulumi.Input[str]
    """``docker`` or ``kubernetes`` (``mlplan:target``). Default ``docker``."""
    docker: pulumi.Input[DockerSettingsArgs]
    """Docker target settings (``mlplan:docker``). Default: its defaults."""
    kubernetes: pulumi.Input[KubernetesSettingsArgs]
    """Kubernetes target settings (``mlplan:kubernetes``). Default: its defaults."""
    quota: pulumi.Input[dict[str, float]]
    """Core limits per VM family and ``total`` (``mlplan:quota``), e.g. ``{"standardDSv2Family":
    48, "total": 100}``; reserved cores above one are MLP401/MLP402. Default: total 500."""
    environment: pulumi.Input[str]
    """``development`` or ``production`` (``mlplan:environment``; policy severities). Default
    ``development``."""
    instance_types: pulumi.Input[dict[str, InstanceTypeArgs]]
    """Custom instance types by name (``mlplan:instanceTypes``). Default: Azure's SKU list."""
    limits: pulumi.Input[LimitsArgs]
    """Azure's service limits (``mlplan:limits``). Default: Azure's values."""
    assets: pulumi.Input[AssetsArgs]
    """Registered assets (``mlplan:assets``). Default none."""
    project_dir: pulumi.Input[str]
    """The folder relative paths are relative to. Default: the Pulumi project's root (the
    folder of ``Pulumi.yaml``)."""


class QuotaCheckArgs(TypedDict, total=False):
    """The inputs of a ``QuotaCheck``: the endpoints it counts and the limits."""

    paths: pulumi.Input[list[str]]
    """Endpoint and deployment YAML files or folders (``mlplan:endpoints``), relative to
    ``project_dir``. Default none."""
    endpoints: pulumi.Input[list[dict[str, Any]]]
    """Endpoint documents as values (the YAML's keys). Default none."""
    deployments: pulumi.Input[list[dict[str, Any]]]
    """Deployment documents as values (the YAML's keys). Default none."""
    quota: pulumi.Input[dict[str, float]]
    """Core limits per VM family and ``total`` (``mlplan:quota``). Default: total 500."""
    target: pulumi.Input[str]
    """``docker`` or ``kubernetes`` (``mlplan:target``: Kubernetes instance names and sizes).
    Default ``docker``."""
    instance_types: pulumi.Input[dict[str, InstanceTypeArgs]]
    """Custom instance types by name (``mlplan:instanceTypes``). Default: Azure's SKU list."""
    limits: pulumi.Input[LimitsArgs]
    """Azure's service limits (``mlplan:limits``). Default: Azure's values."""
    assets: pulumi.Input[AssetsArgs]
    """Registered assets (``mlplan:assets``). Default none."""
    project_dir: pulumi.Input[str]
    """The folder relative paths are relative to. Default: the Pulumi project's root."""


# --- output types -----------------------------------------------------------------------------


class QuotaFamily(TypedDict):
    """Cores reserved in one VM family: per deployment ``ceil(1.2 x instances) x cores``
    (exempt SKUs ``instances x cores``; autoscaled: ``max_instances``). 3 x Standard_DS3_v2
    (4 cores) -> ceil(3.6) = 4 instances -> 16 cores. (One-word fields: the component
    provider host passes the items of a list output through unrenamed.)"""

    family: str
    """The VM family, e.g. ``standardDSv2Family``."""
    reserved: float
    """Cores reserved."""
    limit: float
    """The family's core limit (``quota``); absent when only ``total`` limits it."""
    users: list[str]
    """``endpoint/deployment`` of each deployment counted."""


# The fields are typed as what arrives at run time inside the ``quota_reserved`` output: plain
# values (``Output[float]`` fields made mypy --strict reject correct code reading them).
class QuotaReportOutput(TypedDict):
    """The quota a set of deployments reserves, per family and in total, with the limits."""

    families: list[QuotaFamily]
    """Per VM family, sorted by name."""
    total_reserved_cores: float
    """Cores reserved in all families."""
    total_limit_cores: float
    """The ``total`` limit."""


# --- the components ---------------------------------------------------------------------------


class OnlineEndpoint(pulumi.ComponentResource):
    """An Azure-ML-style managed online endpoint on Docker or Kubernetes: a stable scoring URI
    with key auth and a traffic router (live split by percent, mirror, the
    ``azureml-model-deployment`` header), and its deployments rolled 20% of the instances at a
    time. Bad input fails it with mlplan's diagnostics (MLPnnn, file, line, field, the fix)
    before any resource is registered."""

    endpoint_name: pulumi.Output[str]
    """The endpoint's ``name`` from its YAML."""
    scoring_uri: pulumi.Output[str]
    """``POST`` requests here (Azure: ``scoring_uri``), e.g. ``http://localhost:8080/score``."""
    swagger_uri: pulumi.Output[str]
    """The inference server's swagger document through the router (Azure: ``openapi_uri``)."""
    primary_key: pulumi.Output[str]
    """The primary key (secret): ``Authorization: Bearer <key>``."""
    secondary_key: pulumi.Output[str]
    """The secondary key (secret)."""
    deployments: pulumi.Output[dict[str, int]]
    """Instances per deployment (``instance_count``)."""
    traffic: pulumi.Output[dict[str, int]]
    """Live traffic percent per deployment."""
    mirror_traffic: pulumi.Output[dict[str, int]]
    """Mirrored percent per deployment."""
    quota_reserved: pulumi.Output[QuotaReportOutput]
    """The quota this endpoint's deployments reserve, per VM family and in total."""
    kubernetes_secrets: pulumi.Output[str]
    """Kubernetes with ``render_yaml_to``: the Secrets the rendered manifests reference but do
    not hold (keys, deployment environment), as YAML for ``kubectl apply -f -`` (secret);
    otherwise empty."""

    def __init__(self, name: str, args: OnlineEndpointArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        label = f"OnlineEndpoint {_label(name)}"
        given = _Given(label, dict(args or {}))
        state, root = _endpoint_state(given)
        (endpoint,) = state.endpoints
        configured_keys = given.keys()
        props = _endpoint_props(endpoint, state)
        super().__init__(TOKEN_PREFIX + "OnlineEndpoint", name, props, opts)
        child = pulumi.ResourceOptions(parent=self)
        depends_on = list(opts.depends_on) if opts and isinstance(opts.depends_on, list) else []
        built: Any = registry.resources(state.target).deploy_endpoint(
            name, state, endpoint, configured_keys, root, child, depends_on)
        self.endpoint_name = pulumi.Output.from_input(endpoint.name)
        self.scoring_uri = built.scoring_uri
        self.swagger_uri = built.swagger_uri
        self.primary_key = pulumi.Output.secret(built.keys.primary)
        self.secondary_key = pulumi.Output.secret(built.keys.secondary)
        self.deployments = pulumi.Output.from_input(props["deployments"])
        self.traffic = pulumi.Output.from_input(props["traffic"])
        self.mirror_traffic = pulumi.Output.from_input(props["mirrorTraffic"])
        self.quota_reserved = pulumi.Output.from_input(typing.cast(
            QuotaReportOutput, _quota_output(state.quota)))
        self.kubernetes_secrets = getattr(built, "withheld_secrets", None) or \
            pulumi.Output.secret("")
        self.register_outputs({**props, "quotaReserved": quota_props(state.quota),
                               "kubernetesSecrets": self.kubernetes_secrets,
                               "scoringUri": self.scoring_uri,
                               "swaggerUri": self.swagger_uri,
                               "primaryKey": self.primary_key,
                               "secondaryKey": self.secondary_key})


class QuotaCheck(pulumi.ComponentResource):
    """Azure's quota rule over a set of endpoints: per deployment ``ceil(1.2 x instances) x
    cores`` (exempt SKUs ``instances x cores``), summed per VM family and in total, checked
    against ``quota``. Over a limit it fails (MLP401 per family, MLP402 total, with the
    numbers) before it is registered; registered, its outputs are what ``mlplan plan`` prints."""

    quota_reserved: pulumi.Output[QuotaReportOutput]
    """Per VM family (cores reserved, the limit, who uses them) and in total."""
    total_reserved_cores: pulumi.Output[float]
    """Cores reserved in all families."""
    total_limit_cores: pulumi.Output[float]
    """The ``total`` core limit."""

    # The output annotations name no registered property (``families``, ``totalReservedCores``,
    # ...): the SDK checks a registered property against an annotation of its name, and a
    # TypedDict is no output type to it.
    def __init__(self, name: str, args: QuotaCheckArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        given = _Given(f"QuotaCheck {_label(name)}", dict(args or {}))
        state = _quota_state(given)
        props = quota_props(state.quota)
        super().__init__(TOKEN_PREFIX + "QuotaCheck", name, props, opts)
        out = _quota_output(state.quota)
        self.quota_reserved = pulumi.Output.from_input(typing.cast(QuotaReportOutput, out))
        self.total_reserved_cores = pulumi.Output.from_input(out["total_reserved_cores"])
        self.total_limit_cores = pulumi.Output.from_input(out["total_limit_cores"])
        self.register_outputs(props)


# --- from arguments to a desired state --------------------------------------------------------

#: argument -> stack setting (``mlplan:<key>``) read by the stack file's parser
SETTINGS_ARGS = {"target": "target", "environment": "environment", "quota": "quota",
                 "instance_types": "instanceTypes", "limits": "limits", "assets": "assets",
                 "docker": "docker", "kubernetes": "kubernetes"}


def _label(name: str) -> str:
    """The component's name as diagnostics show it: no ``/`` (relative paths in values are
    relative to the project root, never to a folder named by it) and no control character."""
    return "".join(c if c.isprintable() and c != "/" else "_" for c in name)[:80] or "_"


@dataclass
class _Given:
    """A component's arguments, as given (Python or schema names), with what is wrong."""

    label: str
    args: dict[str, Any]

    def at(self, field: str) -> Location:
        return Location(self.label, 0, field)

    def plain_problems(self, skip: tuple[str, ...] = ("keys",)) -> list[Diagnostic]:
        """An output where a plain value must be: the plan is made before anything runs."""
        found: list[Diagnostic] = []

        def walk(value: Any, path: tuple[str | int, ...]) -> None:
            if isinstance(value, pulumi.Output) or hasattr(value, "__await__"):
                found.append(error(codes.SETTINGS, self.at(format_path(path)),
                                   "must be a plain value when the program runs, not the output "
                                   "of another resource: mlplan plans (and checks) the endpoint "
                                   "before it registers anything. Only 'keys' may be outputs."))
            elif isinstance(value, Mapping):
                for k, v in value.items():
                    walk(v, (*path, str(k)))
            elif isinstance(value, list | tuple):
                for i, v in enumerate(value):
                    walk(v, (*path, i))

        for key, value in sorted(self.args.items()):
            if _py(key) not in skip:
                walk(value, (key,))
        return found

    def get(self, name: str) -> Any:
        """The argument ``name`` (a Python name) given under it or its schema name."""
        if name in self.args:
            return self.args[name]
        return self.args.get(_camel(name))

    def unknown(self, known: Sequence[str]) -> list[Diagnostic]:
        import difflib

        found = []
        for key in sorted(self.args):
            if _py(key) in known:
                continue
            close = difflib.get_close_matches(_py(key), list(known), n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            found.append(error(codes.SETTINGS, self.at(str(key)[:80]),
                               f"unknown argument '{str(key)[:80]}'; {hint}known: "
                               f"{', '.join(known)}."))
        return found

    def keys(self) -> dict[str, Any] | None:
        """``keys`` for ``targets.resources.endpoint_keys``: a mapping of texts or outputs, or
        one output of the mapping (a secret input through the provider host) split in two."""
        keys = self.get("keys")
        if isinstance(keys, pulumi.Output):
            return {"primary": keys.apply(_primary), "secondary": keys.apply(_secondary)}
        return dict(keys) if isinstance(keys, Mapping) else None


def _key_of(keys: Any, which: str) -> str:
    """One key of a resolved ``keys`` output; its shape is checked as ``mlplan:keys``' is,
    late (the value was not known before registration), never showing a value."""
    _, problems = check_keys({"endpoint": keys}, lambda path: Location(
        "OnlineEndpoint", 0, format_path(("keys", *path[1:]))))
    if problems:
        raise pulumi.RunError("mlplan: " + "; ".join(str(d) for d in problems))
    return str(keys[which])


def _primary(keys: Any) -> str:
    return _key_of(keys, "primary")


def _secondary(keys: Any) -> str:
    return _key_of(keys, "secondary")


def _camel(name: str) -> str:
    """``instance_types`` -> ``instanceTypes`` (schema and stack-setting names)."""
    first, *rest = name.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


def _py(name: str) -> str:
    """``instanceTypes`` -> ``instance_types``."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in str(name))


def _settings_value(value: Any, hint: Any) -> Any:
    """An argument as its stack setting: the fields of the ``TypedDict``s renamed to the
    settings' camelCase (``router_image`` -> ``routerImage``), map keys kept as given
    (``ports: {my-endpoint: 8080}``, ``azureml:m:1``). Example: ``{"gateway_ref":
    {"section_name": "https"}}`` -> ``{"gatewayRef": {"sectionName": "https"}}``."""
    hint = _unwrap(hint)
    if typing.is_typeddict(hint) and isinstance(value, Mapping):
        fields = hint.__annotations__  # not get_type_hints: Input names 'Output[T]'
        return {(_camel(k) if k in fields else k):
                _settings_value(v, fields.get(k, Any)) for k, v in value.items()}
    origin = typing.get_origin(hint)
    if origin in (dict, Mapping) and isinstance(value, Mapping):
        inner = typing.get_args(hint)[1]
        return {k: _settings_value(v, inner) for k, v in value.items()}
    if origin in (list, Sequence) and isinstance(value, list | tuple):
        (inner,) = typing.get_args(hint)
        return [_settings_value(v, inner) for v in value]
    return value


def _unwrap(hint: Any) -> Any:
    """``pulumi.Input[X]`` / ``Optional[X]`` -> ``X``."""
    if typing.get_origin(hint) in (typing.Union, __import__("types").UnionType):
        plain = [a for a in typing.get_args(hint)
                 if a is not type(None) and typing.get_origin(a) not in (
                     pulumi.Output, typing.get_origin(typing.Awaitable[int]))
                 and not isinstance(a, typing.ForwardRef)]
        return plain[0] if len(plain) == 1 else Any
    return hint


def _settings(given: _Given, args_type: Any, extra: dict[str, Any] | None = None) -> tuple[
        Any, list[Diagnostic]]:
    """Settings from the arguments, through the stack file's parser (``from_stack_document``);
    diagnostics name the component and the argument (``OnlineEndpoint my-endpoint
    quota.total``)."""
    hints = args_type.__annotations__
    config: dict[str, Any] = {NAMESPACE + "endpoints": []}
    for name, setting in SETTINGS_ARGS.items():
        value = given.get(name)
        if value is not None and name in hints:
            config[NAMESPACE + setting] = _settings_value(value, hints[name])
    config.update(extra or {})
    settings, found = from_stack_document(YamlDocument({"config": config}, 0), given.label,
                                          registry.settings_parsers())
    return settings, [_as_argument(d, given.label) for d in found]


#: stack setting (``mlplan:<key>``) -> the argument that carries it
_ARG_OF = {f"{NAMESPACE}{setting}": arg for arg, setting in SETTINGS_ARGS.items()}


def _as_argument(found: Diagnostic, label: str) -> Diagnostic:
    """A settings finding named as the component's argument: ``OnlineEndpoint my-endpoint
    mlplan:target`` -> ``... target``; ``mlplan:docker.resourceLimits`` ->
    ``docker.resourceLimits`` (the keys inside as the schema names them)."""
    where = found.location
    head, dot, rest = where.field.partition(".")
    if where.file != label or head not in _ARG_OF:
        return found
    return replace(found, location=replace(where, field=_ARG_OF[head] + dot + rest))


def project_root(given: _Given) -> Path:
    """``project_dir``, else the Pulumi project's root, else the working folder."""
    named = given.get("project_dir")
    if isinstance(named, str) and named:
        return Path(named).resolve()
    try:
        root = pulumi.runtime.get_root_directory()
    except Exception:
        root = None
    if root and Path(root).is_absolute() and Path(root).is_dir():  # mocks name none real
        return Path(root)
    return io.find_project_root(Path.cwd()) or Path.cwd()


def _files(given: _Given, *names: str) -> tuple[list[tuple[str, Location]], list[Diagnostic]]:
    """(path, where it was named) of each file argument; wrong types are MLP120."""
    paths: list[tuple[str, Location]] = []
    found: list[Diagnostic] = []
    for name in names:
        value = given.get(name)
        if value is None:
            continue
        many = name != "endpoint_file"
        if not many and isinstance(value, str):
            paths.append((value, given.at(name)))
        elif many and isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            paths.extend((v, given.at(f"{name}[{i}]")) for i, v in enumerate(value))
        else:
            want = "a list of paths" if many else "a path"
            found.append(error(codes.SETTINGS, given.at(name),
                               f"must be {want} (text), got {type(value).__name__}."))
    return paths, found


def _values(given: _Given, name: str, kind: typing.Literal["endpoint", "deployment"],
            one: bool) -> tuple[list[SourceValue], list[Diagnostic]]:
    value = given.get(name)
    if value is None:
        return [], []
    if one:
        return [SourceValue(f"{given.label} {name}", value, kind)], []
    if not isinstance(value, list | tuple):
        return [], [error(codes.SETTINGS, given.at(name),
                          f"must be a list of {kind} documents, got {type(value).__name__}.")]
    return [SourceValue(f"{given.label} {name}[{i}]", v, kind) for i, v in enumerate(value)], []


def _endpoint_state(given: _Given) -> tuple[DesiredState, Path]:
    """Parse, plan and check one endpoint; report and stop (nothing registered) on an error."""
    found = given.unknown(list(OnlineEndpointArgs.__annotations__))
    found.extend(given.plain_problems())
    if has_errors(found):
        report(tuple(sort_diagnostics(found)))
    settings, problems = _settings(given, OnlineEndpointArgs)
    found.extend(problems)
    root = project_root(given)
    paths, problems = _files(given, "endpoint_file", "deployment_files")
    found.extend(problems)
    values, problems = _values(given, "endpoint", "endpoint", one=True)
    found.extend(problems)
    more, problems = _values(given, "deployments", "deployment", one=False)
    found.extend(problems)
    only = given.get("endpoint_name")
    if only is not None and not isinstance(only, str):
        found.append(error(codes.SETTINGS, given.at("endpoint_name"),
                           f"must be an endpoint name (text), got {type(only).__name__}."))
        only = None
    loaded = io.load_endpoints(root, settings, paths, [*values, *more], found, only)
    found = list(loaded.diagnostics)
    endpoints = loaded.endpoints
    if len(endpoints) != 1 and not has_errors(found):
        declared = ", ".join(e.name for e in endpoints)
        found.append(error(
            codes.MISSING_FIELD, given.at("endpoint_file"),
            (f"declares no online endpoint named '{only}'; fix endpoint_name or the files."
             if only else "declares no online endpoint; give endpoint_file (an endpoint YAML) "
             "or endpoint (its keys as a value).") if not endpoints else
            f"declares {len(endpoints)} endpoints ({declared}); an OnlineEndpoint is one "
            "endpoint: make one OnlineEndpoint per endpoint."))
    endpoints, problems = _with_traffic(given, endpoints)
    found.extend(problems)
    found.extend(_key_problems(given))
    state = pipeline.planned(endpoints, settings, found)
    state = replace(state, diagnostics=_in_arguments(state.diagnostics, given, endpoints))
    state = pipeline.program_state(state, root)  # the policy rules are the pack's
    report(state.diagnostics)
    return state, root


def _with_traffic(given: _Given, endpoints: tuple[Any, ...]) -> tuple[tuple[Any, ...],
                                                                      list[Diagnostic]]:
    """``traffic`` / ``mirror_traffic`` arguments in place of the endpoint's, checked by the
    endpoint document's own rules (percent 0-100, deployment names as keys)."""
    override = {k: given.get(k) for k in ("traffic", "mirror_traffic")
                if given.get(k) is not None}
    if not override or len(endpoints) != 1:
        return endpoints, []
    (endpoint,) = endpoints
    parsed = parse([SourceValue(given.label, {"name": endpoint.name, **override}, "endpoint")])
    if has_errors(parsed.diagnostics) or not parsed.endpoints:
        return endpoints, list(parsed.diagnostics)
    values = parsed.endpoints[0]
    changed = {"traffic": values.traffic, "traffic_declared": True} if "traffic" in override \
        else {}
    if "mirror_traffic" in override:
        changed["mirror_traffic"] = values.mirror_traffic
    return (replace(endpoint, **changed),), []


def _key_problems(given: _Given) -> list[Diagnostic]:
    """The shape of ``keys`` (``mlplan:keys``' rules; never a value shown). Outputs are
    checked by the router when they resolve."""
    keys = given.get("keys")
    if keys is None:
        return []
    if isinstance(keys, pulumi.Output) or (isinstance(keys, Mapping) and any(
            isinstance(v, pulumi.Output) for v in keys.values())):
        return []  # checked when they resolve (_key_of)
    io.register_secrets(keys)
    _, found = check_keys({"endpoint": keys},
                          lambda path: given.at(format_path(("keys", *path[1:]))))
    return [replace(d, message=d.message.replace("'mlplan:keys' maps each endpoint name to ",
                                                 "'keys' is "))
            for d in found]


def report(diagnostics: tuple[Diagnostic, ...], hint: str = "") -> None:
    """Log every diagnostic with its code; raise once if any is an error (nothing registered).
    ``hint`` ends the error: where to see more, in the caller's terms (the program: ``mlplan
    plan --stack``; a component in a user's program: nothing, its diagnostics name its
    arguments and ``mlplan plan`` cannot see them)."""
    errors = [d for d in diagnostics if d.severity is Severity.ERROR]
    for d in diagnostics:
        (pulumi.log.error if d.severity is Severity.ERROR else pulumi.log.warn)(safe.text(str(d)))
    if errors:
        codes = ", ".join(sorted({d.code for d in errors}))
        raise pulumi.RunError(
            f"mlplan: {len(errors)} error(s) ({codes}); nothing was changed." +
            (f" {hint}" if hint else ""))


def _in_arguments(diagnostics: tuple[Diagnostic, ...], given: _Given,
                  endpoints: tuple[Any, ...]) -> tuple[Diagnostic, ...]:
    """Findings on ``traffic`` / ``mirror_traffic`` named as the component's arguments when the
    arguments replaced the endpoint file's: ``OnlineEndpoint my-endpoint traffic`` rather than
    the file's line that holds the split they replaced. Example: ``traffic={"blue": 70,
    "green": 10}`` -> MLP201 at ``OnlineEndpoint my-endpoint traffic``."""
    given_fields = tuple(k for k in ("traffic", "mirror_traffic") if given.get(k) is not None)
    files = {e.source.file for e in endpoints}

    def named(d: Diagnostic) -> Diagnostic:
        where = d.location
        head = where.field.split(".", 1)[0]
        if where.file in files and head in given_fields:
            return replace(d, location=given.at(where.field))
        return d

    return tuple(sort_diagnostics(named(d) for d in diagnostics)) if given_fields else diagnostics


def _quota_state(given: _Given) -> DesiredState:
    found = given.unknown(list(QuotaCheckArgs.__annotations__))
    found.extend(given.plain_problems(skip=()))
    if has_errors(found):
        report(tuple(sort_diagnostics(found)))
    settings, problems = _settings(given, QuotaCheckArgs)
    found.extend(problems)
    root = project_root(given)
    paths, problems = _files(given, "paths")
    found.extend(problems)
    values, problems = _values(given, "endpoints", "endpoint", one=False)
    found.extend(problems)
    more, problems = _values(given, "deployments", "deployment", one=False)
    found.extend(problems)
    loaded = io.load_endpoints(root, settings, paths, [*values, *more], found)
    state = pipeline.planned(loaded.endpoints, settings, loaded.diagnostics)
    # every error fails it; of the warnings, the quota's (the endpoints' are their own)
    report(tuple(d for d in state.diagnostics
                 if d.severity is Severity.ERROR or d.code.startswith("MLP4")))
    return state


def _endpoint_props(endpoint: EndpointState, state: DesiredState) -> dict[str, Any]:
    return {
        "endpointName": endpoint.name,
        "target": state.settings.target,
        "authMode": endpoint.endpoint.auth_mode,
        "traffic": dict(endpoint.endpoint.traffic),
        "mirrorTraffic": dict(endpoint.endpoint.mirror_traffic),
        "deployments": {d.name: d.deployment.instance_count for d in endpoint.deployments},
    }


def _cores(millis: int | None) -> float | None:
    """Millicores as cores: 16000 -> 16.0, 2500 -> 2.5 (``format_millis``' rounding)."""
    return None if millis is None else float(format_millis(millis))


def quota_props(report_: QuotaReport) -> dict[str, Any]:
    """The quota report as registered (schema names): cores reserved and limits."""
    return {
        "families": [{"family": f.family, "reservedCores": _cores(f.reserved_millis),
                      "limitCores": _cores(f.limit_millis), "users": list(f.users)}
                     for f in report_.families],  # names planning.preview reads
        "totalReservedCores": _cores(report_.total_reserved_millis),
        "totalLimitCores": _cores(report_.total_limit_millis),
    }


def _quota_output(report_: QuotaReport) -> dict[str, Any]:
    """The quota report as Python outputs (``QuotaReportOutput``: snake_case keys)."""
    return {
        "families": [{"family": f.family, "reserved": _cores(f.reserved_millis),
                      "limit": _cores(f.limit_millis), "users": list(f.users)}
                     for f in report_.families],
        "total_reserved_cores": _cores(report_.total_reserved_millis),
        "total_limit_cores": _cores(report_.total_limit_millis),
    }
