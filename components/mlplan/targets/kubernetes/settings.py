"""Settings of the Kubernetes target: ``mlplan:kubernetes`` in ``Pulumi.<stack>.yaml``, validated.

Pure: a mapping in, ``(KubernetesSettings, diagnostics)`` out, never an exception. Every problem
is an MLP120 error located at ``mlplan:kubernetes.<key>`` (with its line when the caller passes
``line_of``); the valid keys are kept, so one pass reports all problems.

Keys (camelCase, as all stack config):

| key | meaning | default |
|---|---|---|
| ``namespace`` | namespace of every object | ``mlplan`` |
| ``createNamespace`` | create (and own) the namespace | ``true`` |
| ``kubeconfig`` / ``context`` | explicit provider: kubeconfig path or content, context | ambient |
| ``renderYamlTo`` | write manifests to this folder instead of applying them | off |
| ``withholdSecrets`` | Secrets go to the output ``E-secrets`` (see below) | with rendering |
| ``routerMode`` | ``nginx`` (router Deployment) or ``gateway-api`` (HTTPRoute) | ``nginx`` |
| ``serviceType`` | router Service: ``ClusterIP``, ``LoadBalancer``, ``NodePort`` | ``ClusterIP`` |
| ``routerReplicas`` | router pods (>= 2) | ``2`` |
| ``routerImage`` | nginx image (>= 1.27.3) | ``nginx:1.28.0-alpine`` |
| ``gatewayRef`` | ``{name, namespace, sectionName, port}`` of the Gateway (gateway-api) | none |
| ``hostname`` | scoring URI host, ``{endpoint}`` replaced; required by gateway-api | none |
| ``uriScheme`` | scheme of the scoring URI when ``hostname`` is set | ``http`` |
| ``imagePullSecrets`` | Secret names for every pod | none |
| ``gpuNodeSelector`` | node selector of GPU instance types | ``nvidia.com/gpu.present: "true"`` |
| ``gpuTolerations`` | tolerations of GPU instance types | ``nvidia.com/gpu`` Exists NoSchedule |
| ``resourceQuota`` | a namespace ResourceQuota sized by the quota check | ``false`` |
| ``models`` | big models: ``{<ref or path>: {pvc, subPath} or {image, path}}`` | none |
| ``networkPolicy`` | ``{enabled, allowFrom}``: who reaches instance pods | the router |

``withholdSecrets`` is mlplan's own: its stack program sets it for the endpoints when the stack's
provider renders (``renderYamlTo``, stripped from the endpoints, which share that provider).
``renderYamlTo`` with ``withholdSecrets: false`` is an error (rendered Secrets are plain text).

Example: ``parse_kubernetes_settings({"routerMode": "gateway-api"})`` -> defaults plus two
MLP120 errors: gateway-api needs ``gatewayRef`` and ``hostname``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, ValidationError

from mlplan.domain import codes
from mlplan.domain.catalog import Toleration
from mlplan.domain.diagnostics import Diagnostic, Location, error, sort_diagnostics
from mlplan.domain.names import DEFAULT_ROUTER_IMAGE
from mlplan.domain.settings import Settings, TolerationSpec
from mlplan.domain.validation import Strict, describe
from mlplan.domain.yamlsource import FieldPath, format_path

KEY = "mlplan:kubernetes"
DEFAULT_NAMESPACE = "mlplan"
#: Pinned nginx (stable branch 1.28, Alpine): >= 1.27.3, so ``server ... resolve`` is available.
DEFAULT_ROUTER_REPLICAS = 2
#: Label set by NVIDIA GPU Feature Discovery (GPU operator) on nodes with a GPU.
DEFAULT_GPU_NODE_SELECTOR: tuple[tuple[str, str], ...] = (("nvidia.com/gpu.present", "true"),)
#: The taint GPU node pools usually carry (AKS, GKE and the GPU operator docs use it).
DEFAULT_GPU_TOLERATIONS: tuple[Toleration, ...] = (
    Toleration("nvidia.com/gpu", "Exists", "", "NoSchedule"),
)

RouterMode = Literal["nginx", "gateway-api"]
ServiceType = Literal["ClusterIP", "LoadBalancer", "NodePort"]

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*"
                        r"[A-Za-z0-9])?\Z")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?\Z")
#: Paths handed to a shell-free init container and to mounts: a plain absolute path.
_PATH = re.compile(r"^/[A-Za-z0-9._/+-]*\Z")


class _GatewayRefSpec(Strict):
    name: str
    namespace: str | None = None
    sectionName: str | None = None
    port: Annotated[int, Field(ge=1, le=65535)] | None = None


class _LabelSelectorSpec(Strict):
    matchLabels: dict[str, str] | None = None
    matchExpressions: list[dict[str, Any]] | None = None


class _IpBlockSpec(Strict):
    cidr: str
    except_: list[str] | None = Field(default=None, alias="except")


class _PeerSpec(Strict):
    """A Kubernetes ``NetworkPolicyPeer``, as written in a NetworkPolicy."""

    podSelector: _LabelSelectorSpec | None = None
    namespaceSelector: _LabelSelectorSpec | None = None
    ipBlock: _IpBlockSpec | None = None


class _NetworkPolicySpec(Strict):
    enabled: bool = True
    allowFrom: list[_PeerSpec] | None = None


class _PvcSourceSpec(Strict):
    pvc: str
    subPath: str = ""


class _ImageSourceSpec(Strict):
    image: str
    path: str


def _source_kind(value: Any) -> str | None:
    if isinstance(value, Mapping):
        return "pvc" if "pvc" in value else "image" if "image" in value else None
    return None


ModelSourceSpec = Annotated[
    Annotated[_PvcSourceSpec, Tag("pvc")] | Annotated[_ImageSourceSpec, Tag("image")],
    Discriminator(_source_kind),
]


class KubernetesSettingsSpec(Strict):
    namespace: str = DEFAULT_NAMESPACE
    createNamespace: bool = True
    kubeconfig: str | None = None
    context: str | None = None
    renderYamlTo: str | None = None
    withholdSecrets: bool | None = None
    routerMode: RouterMode = "nginx"
    serviceType: ServiceType = "ClusterIP"
    routerReplicas: Annotated[int, Field(ge=2, le=100)] = DEFAULT_ROUTER_REPLICAS
    routerImage: str = DEFAULT_ROUTER_IMAGE
    gatewayRef: _GatewayRefSpec | None = None
    hostname: str | None = None
    uriScheme: Literal["http", "https"] = "http"
    imagePullSecrets: list[str] = Field(default_factory=list)
    gpuNodeSelector: dict[str, str] | None = None
    gpuTolerations: list[TolerationSpec] | None = None
    resourceQuota: bool = False
    models: dict[str, ModelSourceSpec] = Field(default_factory=dict)
    networkPolicy: _NetworkPolicySpec = Field(default_factory=_NetworkPolicySpec)


@dataclass(frozen=True)
class GatewayRef:
    """The Gateway an HTTPRoute attaches to (``parentRefs``)."""

    name: str
    namespace: str
    section_name: str = ""
    port: int = 0


@dataclass(frozen=True)
class VolumeSource:
    """Where a big model comes from: a PVC (``claim``, ``sub_path``) or an image (``image``,
    ``path`` inside it, copied by an init container)."""

    kind: Literal["pvc", "image"]
    claim: str = ""
    sub_path: str = ""
    image: str = ""
    path: str = ""


@dataclass(frozen=True)
class KubernetesSettings:
    namespace: str = DEFAULT_NAMESPACE
    create_namespace: bool = True
    kubeconfig: str = ""
    context: str = ""
    render_yaml_to: str = ""
    #: Secrets are left out of what the provider gets (``manifests.withheld_secrets``): with
    #: ``render_yaml_to`` (it writes every input in plain text), or ``withholdSecrets``, which
    #: mlplan's stack program sets for its endpoints when the stack's provider renders
    withhold_secrets: bool = False
    router_mode: RouterMode = "nginx"
    service_type: ServiceType = "ClusterIP"
    router_replicas: int = DEFAULT_ROUTER_REPLICAS
    router_image: str = DEFAULT_ROUTER_IMAGE
    gateway_ref: GatewayRef | None = None
    hostname: str = ""
    uri_scheme: str = "http"
    image_pull_secrets: tuple[str, ...] = ()
    gpu_node_selector: tuple[tuple[str, str], ...] = DEFAULT_GPU_NODE_SELECTOR
    gpu_tolerations: tuple[Toleration, ...] = DEFAULT_GPU_TOLERATIONS
    resource_quota: bool = False
    models: tuple[tuple[str, VolumeSource], ...] = ()
    #: a NetworkPolicy admits only these peers to instance pods (``targets.kubernetes.choices.
    #: instance_network_policy``); ``()`` = the router pods (the Gateway's namespace in
    #: gateway-api mode). ``network_policy`` False: none (a mesh that authorises itself).
    network_policy: bool = True
    network_policy_from: tuple[dict[str, Any], ...] = ()

    @property
    def explicit_provider(self) -> bool:
        """An explicit ``kubernetes.Provider`` is needed (else the ambient one is used)."""
        return bool(self.kubeconfig or self.context or self.render_yaml_to)

    def host(self, endpoint: str) -> str:
        """``hostname`` for ``endpoint``: ``{endpoint}.ml.example.com`` -> ``e.ml.example.com``."""
        return self.hostname.replace("{endpoint}", endpoint.lower())

    def model_source(self, key: str) -> VolumeSource | None:
        return dict(self.models).get(key)


def parse_kubernetes_settings(
    values: Mapping[str, Any] | None,
    file: str = "",
    line_of: Callable[[FieldPath], int] | None = None,
) -> tuple[KubernetesSettings, list[Diagnostic]]:
    """``mlplan:kubernetes`` -> settings and MLP120 diagnostics.

    ``line_of(path)`` gives the line of a path below ``mlplan:kubernetes`` (e.g.
    ``("gatewayRef", "name")``); without it the location has line 0.
    """
    found: list[Diagnostic] = []

    def at(path: FieldPath) -> Location:
        line = line_of(path) if line_of else 0
        return Location(file, line, KEY + ("." + format_path(path) if path else ""))

    raw = dict(values or {})
    try:
        spec = KubernetesSettingsSpec.model_validate(raw)
    except ValidationError as exc:
        broken: set[str] = set()
        for err in exc.errors():
            path = _clean(err["loc"])
            found.append(error(codes.SETTINGS, at(path), _message(err, path)))
            broken.add(str(path[0]) if path else "")
        try:
            spec = KubernetesSettingsSpec.model_validate(
                {k: v for k, v in raw.items() if k not in broken})
        except ValidationError:  # pragma: no cover - the valid keys validate alone
            return KubernetesSettings(), sort_diagnostics(found)
    found.extend(_checks(spec, at))
    return _settings(spec), sort_diagnostics(found)


def _settings(spec: KubernetesSettingsSpec) -> KubernetesSettings:
    ref = spec.gatewayRef
    gateway = GatewayRef(ref.name, ref.namespace or spec.namespace, ref.sectionName or "",
                         ref.port or 0) if ref else None
    selector = DEFAULT_GPU_NODE_SELECTOR if spec.gpuNodeSelector is None \
        else tuple(sorted(spec.gpuNodeSelector.items()))
    tolerations = DEFAULT_GPU_TOLERATIONS if spec.gpuTolerations is None else tuple(
        Toleration(t.key, t.operator, t.value or "", t.effect or "") for t in spec.gpuTolerations)
    models: list[tuple[str, VolumeSource]] = []
    for key, source in sorted(spec.models.items()):
        if isinstance(source, _PvcSourceSpec):
            models.append((key, VolumeSource("pvc", claim=source.pvc,
                                             sub_path=source.subPath.strip("/"))))
        else:
            models.append((key, VolumeSource("image", image=source.image,
                                             path=source.path.rstrip("/") or "/")))
    return KubernetesSettings(
        namespace=spec.namespace,
        create_namespace=spec.createNamespace,
        kubeconfig=spec.kubeconfig or "",
        context=spec.context or "",
        render_yaml_to=spec.renderYamlTo or "",
        withhold_secrets=bool(spec.withholdSecrets or spec.renderYamlTo),
        router_mode=spec.routerMode,
        service_type=spec.serviceType,
        router_replicas=spec.routerReplicas,
        router_image=spec.routerImage,
        gateway_ref=gateway,
        hostname=spec.hostname or "",
        uri_scheme=spec.uriScheme,
        image_pull_secrets=tuple(spec.imagePullSecrets),
        gpu_node_selector=selector,
        gpu_tolerations=tolerations,
        resource_quota=spec.resourceQuota,
        models=tuple(models),
        network_policy=spec.networkPolicy.enabled,
        network_policy_from=tuple(peer.model_dump(exclude_none=True, by_alias=True)
                                  for peer in spec.networkPolicy.allowFrom or ()),
    )


def _checks(spec: KubernetesSettingsSpec,  # noqa: C901, PLR0912
            at: Callable[[FieldPath], Location]) -> list[Diagnostic]:
    """What the types cannot say: Kubernetes name syntax and the gateway-api requirements."""
    found: list[Diagnostic] = []
    if spec.renderYamlTo and spec.withholdSecrets is False:
        found.append(error(codes.SETTINGS, at(("withholdSecrets",)),
                           "renderYamlTo writes every input in plain text, so its Secrets are "
                           "always withheld (the output <endpoint>-secrets); remove "
                           "withholdSecrets: false."))
    if not (len(spec.namespace) <= 63 and DNS_LABEL.match(spec.namespace)):
        found.append(error(codes.SETTINGS, at(("namespace",)),
                           f"'{spec.namespace}' is not a Kubernetes namespace name; use at most "
                           "63 lowercase letters, digits and dashes, alphanumeric at both ends."))
    for index, name in enumerate(spec.imagePullSecrets):
        if not _subdomain(name):
            found.append(error(codes.SETTINGS, at(("imagePullSecrets", index)),
                               f"'{name}' is not a Kubernetes Secret name; use lowercase "
                               "letters, digits, '-' and '.'."))
    for key, value in (spec.gpuNodeSelector or {}).items():
        if not (_LABEL_KEY.match(key) and len(value) <= 63 and _LABEL_VALUE.match(value)):
            found.append(error(codes.SETTINGS, at(("gpuNodeSelector", key)),
                               f"'{key}: {value}' is not a valid node label selector."))
    for index, toleration in enumerate(spec.gpuTolerations or ()):
        if toleration.operator == "Exists" and toleration.value:
            found.append(error(codes.SETTINGS, at(("gpuTolerations", index, "value")),
                               "a toleration with operator Exists takes no value; remove it or "
                               "use operator Equal."))
    if not spec.routerImage.strip():
        found.append(error(codes.SETTINGS, at(("routerImage",)),
                           "routerImage is empty; give an nginx image >= 1.27.3."))
    if spec.gatewayRef is not None:
        ref = spec.gatewayRef
        if not _subdomain(ref.name):
            found.append(error(codes.SETTINGS, at(("gatewayRef", "name")),
                               f"'{ref.name}' is not a Kubernetes object name."))
        if ref.namespace is not None and not DNS_LABEL.match(ref.namespace):
            found.append(error(codes.SETTINGS, at(("gatewayRef", "namespace")),
                               f"'{ref.namespace}' is not a Kubernetes namespace name."))
    if spec.hostname is not None:
        sample = spec.hostname.replace("{endpoint}", "endpoint")
        if not (len(sample) <= 253 and DNS_SUBDOMAIN.match(sample)):
            found.append(error(codes.SETTINGS, at(("hostname",)),
                               f"'{spec.hostname}' is not a host name; use lowercase DNS labels "
                               "and '{endpoint}' for the endpoint's name, e.g. "
                               "'{endpoint}.ml.example.com'."))
    if spec.routerMode == "gateway-api":
        if spec.gatewayRef is None:
            found.append(error(codes.SETTINGS, at(("gatewayRef",)),
                               "routerMode gateway-api needs the Gateway to attach the routes "
                               "to; add 'gatewayRef: {name: <gateway>, namespace: <its "
                               "namespace>}'."))
        if spec.hostname is None:
            found.append(error(codes.SETTINGS, at(("hostname",)),
                               "routerMode gateway-api needs a host name per endpoint (routes "
                               "of several endpoints on one Gateway must not overlap); add "
                               "'hostname: \"{endpoint}.ml.example.com\"'."))
    elif spec.gatewayRef is not None:
        found.append(error(codes.SETTINGS, at(("gatewayRef",)),
                           "gatewayRef only applies to 'routerMode: gateway-api'; set the mode "
                           "or remove gatewayRef."))
    for index, peer in enumerate(spec.networkPolicy.allowFrom or ()):
        if not (peer.podSelector or peer.namespaceSelector or peer.ipBlock):
            found.append(error(codes.SETTINGS, at(("networkPolicy", "allowFrom", index)),
                               "an empty peer would admit nothing; give podSelector, "
                               "namespaceSelector or ipBlock (a Kubernetes NetworkPolicyPeer)."))
    if spec.networkPolicy.allowFrom == []:
        found.append(error(codes.SETTINGS, at(("networkPolicy", "allowFrom")),
                           "an empty allowFrom would cut the router off; leave it out (the "
                           "router is admitted) or set 'enabled: false' for a mesh."))
    for key, source in spec.models.items():
        if isinstance(source, _PvcSourceSpec):
            if not _subdomain(source.pvc):
                found.append(error(codes.SETTINGS, at(("models", key, "pvc")),
                                   f"'{source.pvc}' is not a PersistentVolumeClaim name."))
            if source.subPath and (source.subPath.startswith("/") or ".." in
                                   source.subPath.split("/")):
                found.append(error(codes.SETTINGS, at(("models", key, "subPath")),
                                   "subPath must be relative and stay inside the volume."))
        elif not _PATH.match(source.path) or "/../" in source.path + "/":
            found.append(error(codes.SETTINGS, at(("models", key, "path")),
                               f"'{source.path}' must be an absolute path inside the image of "
                               "A-Z a-z 0-9 . _ / + -."))
    return found


def _subdomain(name: str) -> bool:
    return len(name) <= 253 and bool(DNS_SUBDOMAIN.match(name))


def _clean(loc: tuple[int | str, ...]) -> FieldPath:
    """pydantic's location without union tags: ``("models", "m", "pvc", "pvc")`` keeps the
    field, drops the tag (the tag is the second of two equal parts)."""
    return tuple(part for index, part in enumerate(loc)
                 if not (index == 2 and loc[0] == "models" and part in ("pvc", "image")))


def _message(err: Any, path: FieldPath) -> str:
    if err["type"] in ("union_tag_not_found", "union_tag_invalid"):
        return ("a model source is '{pvc: <claim>, subPath: <dir>}' or "
                "'{image: <image>, path: <dir in the image>}'.")
    known = list(KubernetesSettingsSpec.model_fields) if len(path) == 1 else []
    return describe(err, f"{KEY}.{format_path(path)}", known, noun="setting")


def of(settings: Settings) -> KubernetesSettings:
    """``mlplan:kubernetes`` as parsed with the stack's settings (``Settings.target_settings``), or
    its defaults when the stack is on another target or was read without its parser."""
    found = settings.target_settings
    return found if isinstance(found, KubernetesSettings) else KubernetesSettings()
