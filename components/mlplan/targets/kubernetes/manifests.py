"""Desired state -> every Kubernetes object of an endpoint, as values (pure).

``plan_endpoint`` returns an ``EndpointManifests``, the Kubernetes twin of the Docker target's
``EndpointContainers``: per deployment its Deployment, Service, PodDisruptionBudget, HPA
(autoscaled) and model/code ConfigMaps; per endpoint the keys Secret and the router (nginx
mode: ConfigMap, Deployment, Service and PDB; gateway-api mode: HTTPRoute).
``namespace_manifests`` returns what a namespace's endpoints share (Namespace, ResourceQuota).
The numbers, names and choices come from ``mlplan.targets.kubernetes.choices``; the router's files
from ``mlplan.router.nginx``. The adapter ``mlplan.targets.kubernetes.resources`` registers each
``Manifest`` as it is, after what its ``after`` names, filling in only what the engine alone
knows (``Pending``: the endpoint keys and the router's ``keys.conf`` and checksum made from
them).

Example: ``plan_endpoint("my-endpoint", state.endpoints[0], inputs, settings, "development")``
for blue 3 + green 2 (nginx mode) -> deployments ``my-endpoint-blue`` and ``my-endpoint-green``
(each ``-deployment``, ``-service``, ``-pdb``, ``-model``, ``-code``) and the endpoint's
``my-endpoint-keys``, ``-router-config``, ``-router``, ``-router-service``, ``-router-pdb``.

Resources (``E`` endpoint, ``D`` deployment; every object has an explicit ``metadata.name``,
the namespace and the ``mlplan.dev/*`` + ``app.kubernetes.io/*`` labels):

- ``mlplan:index:KubernetesEndpoint`` ``E`` (child of the public ``mlplan:index:OnlineEndpoint``,
  ``mlplan.edge.api``): Secret ``E-keys`` (primary, secondary key and the
  router's ``keys.conf``); nginx mode: ConfigMap ``E-router-<hash>`` (``nginx.conf``,
  ``routing.conf``), router Deployment, Service and PDB ``E``; gateway-api mode: HTTPRoute ``E``.
- ``mlplan:index:OnlineDeployment`` ``E-D`` (child of its endpoint): Deployment, Service
  (ClusterIP, port 5001), PodDisruptionBudget, HPA (target_utilization), model/code ConfigMaps.
- the stack: Namespace (``createNamespace``, retained on delete: deleting a namespace deletes
  everything in it, ours or not), ResourceQuota (``resourceQuota``; it sizes the namespace, so
  it belongs to the stack, next to the QuotaCheck it is computed from), the explicit Provider
  (``kubeconfig``/``context``/``renderYamlTo``).

Model and code delivery. Azure mounts model and code into the inference container; here:

- local model/code folders (inline ``path`` or an ``mlplan:assets`` mapping) become immutable
  ConfigMaps named by a hash of their content, mounted read-only where Azure mounts them
  (``/var/azureml-app/azureml-models/<name>/<version>``, ``/var/azureml-app/<code folder>``).
  A scoring script and a small model work out of the box with nothing to upload or build, and a
  content change is a new ConfigMap plus a rolling update (old pods keep the old files; a
  mutable ConfigMap would change under them). Limit: 1 MiB per ConfigMap (MLP119 beyond);
- a bigger model comes from a volume, ``mlplan:kubernetes.models: {<azureml ref or path>:
  {pvc: CLAIM, subPath: DIR}}`` (mounted read-only) or ``{image: IMAGE, path: DIR}`` (an init
  container copies DIR into an emptyDir, for models shipped as OCI images);
- the image is the environment's ``image`` (or the ``mlplan:assets.environments`` mapping of a
  registered one). ``conda_file`` is not applied: the image must hold the dependencies. A
  ``build`` environment is MLP119: the cluster pulls from a registry. Model and code can also be
  baked into the image: leave ``model``/``code_configuration`` out.

Router, nginx mode: the same generated config as the Docker target (``router_config`` with the
deployments' Service DNS names, ``render_files``); ``keys.conf`` lives in the Secret and is
projected next to the ConfigMap's files. A traffic or mirror change renames the ConfigMap, which
changes the pod template: Kubernetes rolls the router (``maxSurge 1``, ``maxUnavailable 0``,
readiness on ``/-/healthy``), each old pod leaves the Service, waits ``PRESTOP_SLEEP_S`` and
quits gracefully (``nginx -s quit`` finishes in-flight requests). No request is dropped, the
change is visible in the preview, and Pulumi waits for it. A key change updates the Secret and a
checksum annotation (itself a secret) rolls the router the same way. (A reload sidecar watching
the mounted files was rejected: kubelet refreshes volumes after up to a minute, unobserved by
Pulumi, so a preview could not say when the split changes.)
The router objects depend on every OnlineDeployment: new deployments are rolled out and ready
before traffic moves to them; removed ones are deleted at the end of the update, after the
router stopped routing to them.

Router, gateway-api mode: an HTTPRoute on ``gatewayRef`` with ``hostname``: per deployment a
rule matching header ``azureml-model-deployment: D`` (more header matches win, so these beat
the split; never mirrored), and a catch-all rule with weighted ``backendRefs`` (the live split)
and a ``RequestMirror`` filter with ``percent`` (Gateway API >= v1.3). Gateway API allows 16
rules per HTTPRoute, so an endpoint has at most 15 deployments in this mode (MLP112). Caller
auth then belongs to the Gateway (e.g. an API-key policy of the Gateway implementation reading
the ``E-keys`` Secret); the keys are still generated and exported. The policy pack cannot see
Gateway policies, so MLP504 is advisory for these endpoints (policy ``mlplan-auth-gateway``).

Await: every Deployment carries ``pulumi.com/waitFor`` = ``choices.rollout_complete``, so
``pulumi up`` returns only when the rollout is complete (every old pod gone or terminating),
not when the first surge batch is ready (the provider's built-in Deployment await can pass then),
or when the controller marked it ``ProgressDeadlineExceeded``: ``progressDeadlineSeconds`` is
one batch's budget from the readiness probe (``choices.progress_deadline_seconds``; the
router's ``ROUTER_PROGRESS_DEADLINE_S``), and the adapter then fails ``pulumi up`` with the
controller's message (``choices.rollout_failure``) before the router moves. A broken image thus
fails at its first batch, one budget after it started, while the old pods keep serving
(``maxUnavailable: 0``); the Pulumi timeout (``await_seconds``, all batches) stays the outer bound.

Secrets and ``renderYamlTo``. Applied, the keys Secret ``E-keys`` and each deployment's
environment Secret ``E-D-env-<digest>`` are Pulumi secrets registered like every object (unless
``withholdSecrets``: the user's own secret delivery creates them, as below). Rendered,
pulumi-kubernetes writes every input as it is, secret values in plain text (its documentation says
so), so the plan marks these Secrets ``withheld``: they are not registered with the rendering
provider, the rendered Deployments still reference them by name (a GitOps repository holds the
workloads, never the credentials), and the adapter hands their full objects over as one Pulumi
secret, the stack output ``E-secrets`` (``secrets_document``), which the user applies or seals:
``pulumi stack output --show-secrets E-secrets | kubectl apply -f -`` (``| kubeseal``...). Until
then the router pods wait for their Secret volume, the instances for their ``secretKeyRef``s.

PDB: ``maxUnavailable: 20%``: a node drain may take one rolling batch (``ceil(0.2 N)``,
Kubernetes rounds a PDB percent up), the same bound as a rolling update, and a single-instance
deployment can still be drained. ``unhealthyPodEvictionPolicy: AlwaysAllow`` so crash-looping
pods never block a drain. The router's PDB allows 1.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import yaml

from mlplan.domain import labels
from mlplan.domain.names import ROUTING_HEADER
from mlplan.domain.quantity import format_millis
from mlplan.planning.routing import INFERENCE_PORT, router_config
from mlplan.planning.state import DeploymentState, DesiredState, EndpointState
from mlplan.router.nginx import HEALTH_PATH, render_files, render_keys
from mlplan.targets.kubernetes import choices as ko
from mlplan.targets.kubernetes.choices import DeploymentInputs
from mlplan.targets.kubernetes.settings import KubernetesSettings, VolumeSource

KEYS_CHECKSUM = "mlplan.dev/keys-checksum"
#: What only the engine knows when the plan is made (``Pending.what``).
PRIMARY_KEY = "primary-key"
SECONDARY_KEY = "secondary-key"
KEYS_CONF = "keys.conf"
KEYS_CHECKSUM_VALUE = "keys-checksum"


@dataclass(frozen=True)
class Pending:
    """A value the engine fills in: an endpoint key (``primary-key``, ``secondary-key``) or
    what is made from the keys (the router's ``keys.conf``, its ``keys-checksum``)."""

    what: str


@dataclass(frozen=True)
class Manifest:
    """One Kubernetes object as the provider takes it.

    ``resource``: the Pulumi resource name; ``fields``: the object's fields besides
    ``apiVersion`` and ``kind`` as the SDK's keyword arguments (``metadata``, ``spec``,
    ``data``, ``binary_data``, ``string_data``, ...), camelCase inside; ``secret``: fields
    that are one Pulumi secret as a whole; ``after``: resource names of the same endpoint (or
    stack) it waits for, besides the namespace's objects, and, if ``after_deployments``, every
    deployment of its endpoint; ``timeout_s``: how long Pulumi waits for it (0: the provider's
    default); ``retain_on_delete``: Pulumi forgets it instead of deleting it; ``withheld``: a
    Secret left out of rendered manifests (``renderYamlTo``), handed to the user as a secret
    output instead of being registered (nothing waits for it).
    """

    resource: str
    api_version: str
    kind: str
    fields: Mapping[str, Any]
    secret: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    after_deployments: bool = False
    timeout_s: int = 0
    retain_on_delete: bool = False
    withheld: bool = False


@dataclass(frozen=True)
class DeploymentManifests:
    """The ``mlplan:index:OnlineDeployment`` component ``resource`` (its ``props``) and its
    objects, in registration order."""

    resource: str
    props: Mapping[str, Any]
    objects: tuple[Manifest, ...]


@dataclass(frozen=True)
class EndpointManifests:
    """The ``mlplan:index:KubernetesEndpoint`` component ``resource`` (its ``props``), its
    deployments, then its own objects in registration order.

    ``scoring_uri``: where callers score; when ``balancer_service`` names the router's
    LoadBalancer Service, its address replaces the host of ``scoring_uri`` once it has one.
    ``keys_conf``: the router's ``keys.conf`` for (primary, secondary) key.
    """

    resource: str
    props: Mapping[str, Any]
    deployments: tuple[DeploymentManifests, ...]
    objects: tuple[Manifest, ...]
    scoring_uri: str
    keys_conf: Callable[[str, str], str]
    balancer_service: str = ""


def keys_checksum(keys_conf: str) -> str:
    """The router pods' ``mlplan.dev/keys-checksum`` annotation: a key change rolls them."""
    return hashlib.sha256(keys_conf.encode()).hexdigest()


def withheld_secrets(settings: KubernetesSettings) -> bool:
    """Whether Secrets are left out of what the provider gets: always with ``renderYamlTo``
    (it writes every input in plain text), when applying only with ``withholdSecrets``."""
    return settings.withhold_secrets or bool(settings.render_yaml_to)


#: SDK keyword names of a Secret's fields -> the Kubernetes API's.
_API_FIELDS = {"string_data": "stringData", "binary_data": "binaryData"}


def secret_object(manifest: Manifest, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The Kubernetes object of a withheld Secret as ``kubectl apply`` takes it, from its
    ``fields`` with the engine's values filled in. Example: ``E-keys`` -> ``{"apiVersion":
    "v1", "kind": "Secret", "metadata": {...}, "stringData": {"primary-key": ...}, "type":
    "Opaque"}`` (keys sorted)."""
    found: dict[str, Any] = {"apiVersion": manifest.api_version, "kind": manifest.kind}
    for key, value in fields.items():
        if value is not None:
            found[_API_FIELDS.get(key, key)] = value
    return dict(sorted(found.items()))


def secrets_document(objects: Sequence[Mapping[str, Any]]) -> str:
    """Withheld Secrets as one YAML stream for ``kubectl apply -f -`` (or kubeseal, sops), in
    the order given, each with a ``---`` line; "" for none."""
    return "".join("---\n" + yaml.safe_dump(dict(o), sort_keys=False, allow_unicode=True)
                   for o in objects)


def _meta(name: str, namespace: str, object_labels: Mapping[str, str],
          annotations: Mapping[str, Any] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace,
                            "labels": dict(sorted(object_labels.items()))}
    if annotations:
        meta["annotations"] = annotations
    return meta


def _pull_secrets(pod: dict[str, Any], settings: KubernetesSettings) -> None:
    if settings.image_pull_secrets:
        pod["imagePullSecrets"] = [{"name": n} for n in settings.image_pull_secrets]


# --- one deployment ----------------------------------------------------------------------------


def probe(dep: DeploymentState, which: str) -> dict[str, Any]:
    """A container probe from the deployment's ``liveness_probe`` / ``readiness_probe``."""
    spec = (dep.deployment.liveness_probe if which == "liveness"
            else dep.deployment.readiness_probe)
    route = ko.probe_route(dep, "liveness" if which == "liveness" else "readiness")
    return {
        "httpGet": {"path": route.path, "port": route.port},
        "initialDelaySeconds": spec.initial_delay,
        "periodSeconds": spec.period,
        "timeoutSeconds": spec.timeout,
        # Kubernetes requires successThreshold 1 for liveness probes.
        "successThreshold": 1 if which == "liveness" else spec.success_threshold,
        "failureThreshold": spec.failure_threshold,
    }


def tolerations(place: ko.Placement) -> list[dict[str, str]]:
    """``Toleration`` values as pod ``tolerations`` (empty value and effect left out)."""
    out = []
    for t in place.tolerations:
        item = {"key": t.key, "operator": t.operator}
        if t.value:
            item["value"] = t.value
        if t.effect:
            item["effect"] = t.effect
        out.append(item)
    return out


def _model_volume(source: VolumeSource) -> dict[str, Any]:
    if source.kind == "pvc":
        return {"name": "model", "persistentVolumeClaim": {"claimName": source.claim,
                                                           "readOnly": True}}
    return {"name": "model", "emptyDir": {}}


def _copy_model(source: VolumeSource, resources: ko.ContainerResources) -> dict[str, Any]:
    """Init container: copy the model folder out of its image into the shared emptyDir. It gets
    the main container's CPU/memory (so the pod's quota footprint does not grow)."""
    return {
        "name": "model",
        "image": source.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/bin/sh", "-c", 'cp -R "$1/." /mlplan-model/', "copy-model", source.path],
        "volumeMounts": [{"name": "model", "mountPath": "/mlplan-model"}],
        "resources": resources.manifest(with_gpus=False),
    }


@dataclass(frozen=True)
class _Files:
    config_maps: tuple[Manifest, ...]
    volumes: list[dict[str, Any]]
    mounts: list[dict[str, Any]]
    init: list[dict[str, Any]]


def _file_volumes(name: str, k8s_name: str, ns: str, inputs: DeploymentInputs,
                  config_labels: Mapping[str, str], resources: ko.ContainerResources) -> _Files:
    """The model and code: an immutable ConfigMap each, or the model's volume (PVC, or an image
    copied by an init container)."""
    where = inputs.delivery
    config_maps: list[Manifest] = []
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    init: list[dict[str, Any]] = []
    for role, files, directory in (("model", inputs.model_files, where.model_dir),
                                   ("code", inputs.code_files, where.code_dir)):
        if files is None:
            continue
        cm_name = ko.config_map_name(k8s_name, role, files.digest)
        config_maps.append(Manifest(f"{name}-{role}", "v1", "ConfigMap", {
            "metadata": _meta(cm_name, ns, config_labels),
            "data": dict(files.data) or None,
            "binary_data": dict(files.binary) or None,
            "immutable": True}))
        volumes.append({"name": role, "configMap": {
            "name": cm_name, "items": [{"key": k, "path": p} for k, p in files.items]}})
        mounts.append({"name": role, "mountPath": directory, "readOnly": True})
    if where.model_volume is not None:
        volumes.append(_model_volume(where.model_volume))
        mounts.append({"name": "model", "mountPath": where.model_dir,
                       "readOnly": where.model_volume.kind == "pvc",
                       **({"subPath": where.model_volume.sub_path}
                          if where.model_volume.sub_path else {})})
        if where.model_volume.kind == "image":
            init.append(_copy_model(where.model_volume, resources))
    return _Files(tuple(config_maps), volumes, mounts, init)


def plan_deployment(name: str, endpoint: EndpointState, dep: DeploymentState,
                    inputs: DeploymentInputs, settings: KubernetesSettings
                    ) -> DeploymentManifests:
    """One deployment's component (``name``) and objects: model/code ConfigMaps, Deployment,
    Service, PodDisruptionBudget, HPA (``target_utilization`` only)."""
    ns = settings.namespace
    k8s_name = ko.deployment_name(endpoint.name, dep.name)
    live, mirror = ko.weights(endpoint)[dep.name]
    scaler = ko.autoscaler(dep)
    surge, unavailable = ko.rolling_strategy(dep)
    resources = ko.container_resources(dep)
    where = inputs.delivery
    props: dict[str, Any] = {
        "endpoint": endpoint.name,
        "deployment": dep.name,
        "namespace": ns,
        "instanceType": dep.size.name,
        "instanceCount": dep.deployment.instance_count,
        "replicas": ko.replicas(dep),
        "autoscale": {"minReplicas": scaler.min_replicas, "maxReplicas": scaler.max_replicas,
                      "cpuPercent": scaler.cpu_percent} if scaler else None,
        "weight": live,
        "mirror": mirror,
        "image": where.image,
        "service": f"{ko.service_host(endpoint.name, dep.name, ns)}:{INFERENCE_PORT}",
        "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable,
                          "peakPods": ko.peak_pods(dep, dep.most_instances)},
        "resources": resources.manifest(),
        "reservedCores": format_millis(dep.reserved_millis),
    }
    object_labels = ko.deployment_object_labels(endpoint, dep)
    # stable labels only: a label change of an immutable ConfigMap would be a replacement
    config_labels = {**labels.endpoint_labels(endpoint.name, "config"),
                     labels.DEPLOYMENT: dep.name,
                     "app.kubernetes.io/instance": f"{endpoint.name}-{dep.name}"}
    select = ko.selector(endpoint.name, dep.name)
    files = _file_volumes(name, k8s_name, ns, inputs, config_labels, resources)
    place = ko.placement(dep, settings)
    container: dict[str, Any] = {
        "name": "inference",
        "image": where.image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http" if i == 0 else f"p{port}", "containerPort": port,
                   "protocol": "TCP"} for i, port in enumerate(ko.container_ports(dep))],
        # the deployment's own variables by secretKeyRef into env_secret (issue 27)
        "env": ko.container_env(endpoint.name, dep, where),
        "resources": resources.manifest(),
        "livenessProbe": probe(dep, "liveness"),
        "readinessProbe": probe(dep, "readiness"),
        "lifecycle": {"preStop": {"exec": {"command": [
            "/bin/sh", "-c", f"sleep {ko.PRESTOP_SLEEP_S}"]}}},
    }
    if files.mounts:
        container["volumeMounts"] = files.mounts
    pod: dict[str, Any] = {
        "containers": [container],
        "terminationGracePeriodSeconds": ko.termination_grace_seconds(
            dep.deployment.request_settings.request_timeout_ms),
        "enableServiceLinks": False,
        "automountServiceAccountToken": False,
        "topologySpreadConstraints": [{
            "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": select}}],
    }
    if files.init:
        pod["initContainers"] = files.init
    if files.volumes:
        pod["volumes"] = files.volumes
    if place.node_selector:
        pod["nodeSelector"] = dict(place.node_selector)
    if place.tolerations:
        pod["tolerations"] = tolerations(place)
    _pull_secrets(pod, settings)
    spec: dict[str, Any] = {
        "selector": {"matchLabels": select},
        "progressDeadlineSeconds": ko.progress_deadline_seconds(dep),
        "strategy": {"type": "RollingUpdate",
                     "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}},
        "template": {"metadata": {"labels": dict(sorted(ko.pod_labels(endpoint, dep).items()))},
                     "spec": pod},
    }
    replicas = ko.replicas(dep)
    if replicas is not None:
        spec = {"replicas": replicas, **spec}
    env = ko.env_secret(endpoint.name, dep)
    env_secret = [Manifest(f"{name}-env", "v1", "Secret", {
        "metadata": _meta(env.name, ns, config_labels), "type": "Opaque", "immutable": True,
        "string_data": dict(env.data)}, secret=("string_data",),
        withheld=withheld_secrets(settings))] if env.name else []
    objects = [
        *files.config_maps,
        *env_secret,
        Manifest(f"{name}-deployment", "apps/v1", "Deployment", {
            "metadata": _meta(k8s_name, ns, object_labels, {
                labels.IMAGE: where.image,
                "mlplan.dev/rollout": dep.rollout.describe(),
                ko.WAIT_FOR_ANNOTATION: ko.rollout_complete(replicas)}),
            "spec": spec}, after=tuple(m.resource for m in env_secret if not m.withheld),
            timeout_s=ko.await_seconds(dep)),
        Manifest(f"{name}-service", "v1", "Service", {
            "metadata": _meta(k8s_name, ns, object_labels),
            "spec": {"type": "ClusterIP", "selector": select, "ports": [{
                "name": "http", "port": INFERENCE_PORT, "targetPort": ko.serving_port(dep),
                "protocol": "TCP"}]}}),
        Manifest(f"{name}-pdb", "policy/v1", "PodDisruptionBudget", {
            "metadata": _meta(k8s_name, ns, object_labels),
            "spec": ko.deployment_disruption_budget(select)}),
    ]
    if scaler is not None:
        objects.append(Manifest(f"{name}-hpa", "autoscaling/v2", "HorizontalPodAutoscaler", {
            "metadata": _meta(k8s_name, ns, object_labels),
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                   "name": k8s_name},
                "minReplicas": scaler.min_replicas,
                "maxReplicas": scaler.max_replicas,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                    "type": "Utilization", "averageUtilization": scaler.cpu_percent}}}],
            }}))
    return DeploymentManifests(name, props, tuple(objects))


# --- one endpoint ------------------------------------------------------------------------------


def _router_files(endpoint: EndpointState, ns: str, keys: tuple[str, ...]) -> Any:
    addresses = {d.name: (f"{ko.service_host(endpoint.name, d.name, ns)}:{INFERENCE_PORT}",)
                 for d in endpoint.deployments}
    return router_config(endpoint, lambda d: addresses[d.name], keys, ko.ROUTER_LISTEN_PORT)


def _keys_conf(endpoint: EndpointState, ns: str, primary: str, secondary: str) -> str:
    return render_keys(_router_files(endpoint, ns, (primary, secondary)))


def plan_endpoint(name: str, endpoint: EndpointState, inputs: Mapping[str, DeploymentInputs],
                  settings: KubernetesSettings, environment: str) -> EndpointManifests:
    """Every object of one endpoint (component ``name``; its children are named
    ``name-...``), with ``inputs[deployment]`` from ``plan.stack_problems``."""
    ns = settings.namespace
    props: dict[str, Any] = {
        "endpoint": endpoint.name,
        "namespace": ns,
        "routerMode": settings.router_mode,
        "authMode": endpoint.endpoint.auth_mode,
        "traffic": dict(endpoint.endpoint.traffic),
        "mirrorTraffic": dict(endpoint.endpoint.mirror_traffic),
        "deployments": {d.name: d.deployment.instance_count for d in endpoint.deployments},
    }
    deployments = tuple(plan_deployment(f"{name}-{d.name}", endpoint, d, inputs[d.name], settings)
                        for d in endpoint.deployments)
    nginx = settings.router_mode == "nginx"
    secret_data: dict[str, Any] = {"primary-key": Pending(PRIMARY_KEY),
                                   "secondary-key": Pending(SECONDARY_KEY)}
    if nginx:
        secret_data["keys.conf"] = Pending(KEYS_CONF)
    secret = Manifest(f"{name}-keys", "v1", "Secret", {
        "metadata": _meta(ko.keys_secret_name(endpoint.name), ns,
                          labels.endpoint_labels(endpoint.name, "config")),
        "type": "Opaque",
        "string_data": secret_data}, secret=("string_data",), withheld=withheld_secrets(settings))
    if nginx:
        router, scoring_uri, balancer = _nginx_router(
            name, endpoint, settings, environment, () if secret.withheld else (secret.resource,))
    else:
        router, scoring_uri, balancer = _http_route(name, endpoint, settings, environment), \
            f"{settings.uri_scheme}://{settings.host(endpoint.name)}/score", ""
    policy = ko.instance_network_policy(endpoint.name, settings)
    isolation = (Manifest(f"{name}-instances", "networking.k8s.io/v1", "NetworkPolicy", {
        "metadata": _meta(ko.object_name(endpoint.name, "instances"), ns,
                          labels.endpoint_labels(endpoint.name, "instance")),
        "spec": policy}),) if policy is not None else ()  # only the router reaches instances
    return EndpointManifests(name, props, deployments, (secret, *isolation, *router),
                             scoring_uri, partial(_keys_conf, endpoint, ns), balancer)


def _nginx_router(name: str, endpoint: EndpointState, settings: KubernetesSettings,
                  environment: str, secret: tuple[str, ...]
                  ) -> tuple[tuple[Manifest, ...], str, str]:
    """The router's ConfigMap, Deployment, Service and PDB; the scoring URI; the Service whose
    load balancer address serves it ("" when none)."""
    ns = settings.namespace
    router = ko.router_name(endpoint.name)
    runtime = ko.router_runtime()
    static = {k: v for k, v in render_files(_router_files(endpoint, ns, ()), runtime).items()
              if k != "keys.conf"}
    digest = hashlib.sha256("".join(f"{k}\0{v}\0" for k, v in
                                    sorted(static.items())).encode()).hexdigest()
    facts, annotations = ko.routing_facts(endpoint, environment)
    cm_name = ko.config_map_name(router, "router", digest)
    config_map = Manifest(f"{name}-router-config", "v1", "ConfigMap", {
        "metadata": _meta(cm_name, ns, {**labels.endpoint_labels(endpoint.name, "config"),
                                        **facts}, annotations),
        "data": static,
        "immutable": True}, after_deployments=True)
    select = ko.selector(endpoint.name)
    router_labels = labels.endpoint_labels(endpoint.name, "router")
    conf = f"{ko.ROUTER_CONF_DIR}/nginx.conf"
    timeout = max((d.deployment.request_settings.request_timeout_ms
                   for d in endpoint.deployments), default=5000)
    health = {"httpGet": {"path": HEALTH_PATH, "port": "http"}, "timeoutSeconds": 2}
    container = {
        "name": "router",
        "image": settings.router_image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["nginx", "-e", "/dev/stderr", "-c", conf, "-g", "daemon off;"],
        "ports": [{"name": "http", "containerPort": ko.ROUTER_LISTEN_PORT, "protocol": "TCP"}],
        "readinessProbe": {**health, "periodSeconds": 2, "failureThreshold": 2},
        "livenessProbe": {**health, "periodSeconds": 10, "failureThreshold": 3},
        "resources": ko.ROUTER_RESOURCES.manifest(),
        "volumeMounts": [
            {"name": "config", "mountPath": ko.ROUTER_CONF_DIR, "readOnly": True},
            {"name": "run", "mountPath": ko.ROUTER_RUN_DIR},
            {"name": "tmp", "mountPath": runtime.temp_dir},
        ],
        "securityContext": ko.ROUTER_SECURITY_CONTEXT,
        "lifecycle": {"preStop": {"exec": {"command": [
            "/bin/sh", "-c",
            f"sleep {ko.PRESTOP_SLEEP_S}; nginx -c {conf} -s quit; "
            f"while [ -e {runtime.pid_path} ]; do sleep 1; done"]}}},
    }
    pod: dict[str, Any] = {
        "containers": [container],
        "volumes": [
            {"name": "config", "projected": {"defaultMode": 0o444, "sources": [
                {"configMap": {"name": cm_name, "items": [
                    {"key": k, "path": k} for k in sorted(static)]}},
                {"secret": {"name": ko.keys_secret_name(endpoint.name),
                            "items": [{"key": "keys.conf", "path": "keys.conf"}]}}]}},
            {"name": "run", "emptyDir": {}},
            {"name": "tmp", "emptyDir": {}},
        ],
        "terminationGracePeriodSeconds": ko.termination_grace_seconds(timeout) + 10,
        "enableServiceLinks": False,
        "automountServiceAccountToken": False,
        "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
            "weight": 100, "podAffinityTerm": {
                "topologyKey": "kubernetes.io/hostname",
                "labelSelector": {"matchLabels": select}}}]}},
    }
    _pull_secrets(pod, settings)
    deployment = Manifest(f"{name}-router", "apps/v1", "Deployment", {
        "metadata": _meta(router, ns, router_labels, {
            ko.WAIT_FOR_ANNOTATION: ko.rollout_complete(settings.router_replicas)}),
        "spec": {
            "replicas": settings.router_replicas,
            # a new pod serves 5 s before an old one goes: time for the Service's
            # endpoints to reach every node
            "minReadySeconds": ko.PRESTOP_SLEEP_S,
            "progressDeadlineSeconds": ko.ROUTER_PROGRESS_DEADLINE_S,
            "selector": {"matchLabels": select},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": ko.ROUTER_ROLLING_UPDATE},
            "template": {"metadata": {"labels": dict(sorted(router_labels.items())),
                                      "annotations": {
                                          KEYS_CHECKSUM: Pending(KEYS_CHECKSUM_VALUE)}},
                         "spec": pod},
        }}, after=(config_map.resource, *secret), after_deployments=True)
    service = Manifest(f"{name}-router-service", "v1", "Service", {
        "metadata": _meta(router, ns, router_labels),
        "spec": {"type": settings.service_type, "selector": select, "ports": [{
            "name": "http", "port": ko.ROUTER_SERVICE_PORT, "targetPort": "http",
            "protocol": "TCP"}]}})
    pdb = Manifest(f"{name}-router-pdb", "policy/v1", "PodDisruptionBudget", {
        "metadata": _meta(router, ns, router_labels),
        "spec": ko.router_disruption_budget(select)})
    objects = (config_map, deployment, service, pdb)
    if settings.hostname:
        return objects, f"{settings.uri_scheme}://{settings.host(endpoint.name)}/score", ""
    in_cluster = f"http://{router}.{ns}.svc.cluster.local/score"
    balancer = service.resource if settings.service_type == "LoadBalancer" else ""
    return objects, in_cluster, balancer


def _http_route(name: str, endpoint: EndpointState, settings: KubernetesSettings,
                environment: str) -> tuple[Manifest, ...]:
    """Gateway-api mode: the endpoint's HTTPRoute (a header rule per deployment, then the
    split with its mirror)."""
    ns = settings.namespace
    ref = settings.gateway_ref
    assert ref is not None  # parse_kubernetes_settings requires it in this mode
    parent: dict[str, Any] = {"group": "gateway.networking.k8s.io", "kind": "Gateway",
                              "name": ref.name, "namespace": ref.namespace}
    if ref.section_name:
        parent["sectionName"] = ref.section_name
    if ref.port:
        parent["port"] = ref.port
    by_name = {d.name: d for d in endpoint.deployments}

    def backend(deployment: str, weight: int | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"name": ko.deployment_name(endpoint.name, deployment),
                               "port": INFERENCE_PORT}
        if weight is not None:
            out["weight"] = weight
        return out

    def timeout(names: list[str]) -> dict[str, str]:
        ms = max((by_name[n].deployment.request_settings.request_timeout_ms
                  for n in names), default=0)
        return {"request": ko.gateway_duration(ms)} if ms else {}

    prefix = {"path": {"type": "PathPrefix", "value": "/"}}
    rules: list[dict[str, Any]] = []
    for dep in sorted(endpoint.deployments, key=lambda d: d.name):
        rules.append({
            "matches": [{**prefix, "headers": [
                {"type": "Exact", "name": ROUTING_HEADER, "value": dep.name}]}],
            "backendRefs": [backend(dep.name)],
            "timeouts": timeout([dep.name]),
        })
    live = ko.live_split(endpoint)
    split: dict[str, Any] = {"matches": [prefix],
                             "backendRefs": [backend(n, p) for n, p in live]}
    mirrored = ko.mirror_target(endpoint)
    if mirrored and live:
        split["filters"] = [{"type": "RequestMirror", "requestMirror": {
            "backendRef": backend(mirrored[0]), "percent": mirrored[1]}}]
    if live:
        split["timeouts"] = timeout([n for n, _ in live])
    rules.append(split)
    facts, annotations = ko.routing_facts(endpoint, environment)
    host = settings.host(endpoint.name)
    return (Manifest(f"{name}-route", "gateway.networking.k8s.io/v1", "HTTPRoute", {
        "metadata": _meta(ko.router_name(endpoint.name), ns,
                          {**labels.endpoint_labels(endpoint.name, "router"), **facts},
                          annotations),
        "spec": {"parentRefs": [parent], "hostnames": [host], "rules": rules}},
        after_deployments=True),)


# --- the namespace -----------------------------------------------------------------------------


def namespace_manifests(state: DesiredState, settings: KubernetesSettings, prefix: str = ""
                        ) -> tuple[Manifest, ...]:
    """What the endpoints of one namespace share: the Namespace ``{prefix}namespace``
    (``createNamespace``; retained on delete: deleting a namespace deletes everything in it,
    ours or not) and its ResourceQuota ``{prefix}namespace-quota`` sized by the quota check
    (``resourceQuota``). Example: both set -> (Namespace ``ml``, ResourceQuota
    ``mlplan-quota`` after it)."""
    stack_labels = {labels.MANAGED_BY: "mlplan", "app.kubernetes.io/part-of": "mlplan"}
    found: list[Manifest] = []
    if settings.create_namespace:
        found.append(Manifest(f"{prefix}namespace", "v1", "Namespace", {
            "metadata": {"name": settings.namespace, "labels": stack_labels}},
            retain_on_delete=True))
    if settings.resource_quota:
        found.append(Manifest(f"{prefix}namespace-quota", "v1", "ResourceQuota", {
            "metadata": _meta("mlplan-quota", settings.namespace, stack_labels),
            "spec": {"hard": dict(ko.namespace_quota(state, settings))}},
            after=tuple(m.resource for m in found)))
    return tuple(found)


def pending_values(manifest: Manifest) -> set[str]:
    """The ``Pending`` names anywhere in ``manifest``'s fields (what the engine fills in)."""
    found: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, Pending):
            found.add(value.what)
        elif isinstance(value, Mapping):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    walk(manifest.fields)
    return found

