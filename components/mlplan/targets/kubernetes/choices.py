"""Desired state -> the numbers, names and choices of the Kubernetes target (pure).

``mlplan.targets.kubernetes.manifests`` builds every object of an endpoint from these values;
the adapter ``mlplan.targets.kubernetes.resources`` only registers them.

Names (explicit ``metadata.name`` everywhere, lowercase because Kubernetes names are; labels keep
Azure's spelling). Endpoint ``E``, deployment ``D``, namespace ``NS``:

- per deployment: Deployment, Service, PodDisruptionBudget and HPA ``E-D`` (a DNS label of at
  most 63 characters: MLP111 keeps ``len(E) + len(D) <= 62``); immutable ConfigMaps
  ``E-D-model-<hash>`` / ``E-D-code-<hash>``; the router reaches it at
  ``E-D.NS.svc.cluster.local:5001``;
- per endpoint: router Deployment, Service and PodDisruptionBudget ``E`` (the endpoint *is* its
  router), immutable ConfigMap ``E-router-<hash>``, Secret ``E-keys``, HTTPRoute ``E``
  (gateway-api mode).
  ``E-D`` of one endpoint can equal ``E`` or ``E-D`` of another (``a-b`` vs ``a`` + ``b``):
  ``name_conflicts`` reports that as MLP118 before anything is applied (server-side apply would
  otherwise let one resource silently take over the other's object).

Rolling update: ``maxSurge 20%`` (rounded up: ``ceil(0.2 N)`` = one batch) and
``maxUnavailable 0``, so the peak is ``ceil(1.2 N)`` pods, exactly the quota reservation.
Exempt SKUs reserve only ``N``: they roll with ``maxSurge 0`` and ``maxUnavailable`` one batch
(a fixed count; ``20%`` when autoscaled, which Kubernetes rounds down but never below 1), so
the peak stays ``N``. Example: 10 x Standard_DS3_v2 -> surge 2, peak 12 = 48 cores reserved.

Replicas: ``instance_count`` for ``default`` scale settings; omitted when an HPA manages the
Deployment (``target_utilization``), since a declared count would be re-applied by every
``pulumi up`` and fight the autoscaler. The HPA keeps ``min_instances..max_instances`` at the
CPU target; the quota reserves for ``max_instances``. (Switching an existing deployment from
``default`` to ``target_utilization`` drops the field from the applied manifest, so the
Deployment falls back to 1 replica until the HPA scales it up: Kubernetes' documented caveat.)

Environment: ``AML_APP_ROOT`` is the code folder (``/var/azureml-app/<code folder>``; plain
``/var/azureml-app`` without code) and ``AZUREML_ENTRY_SCRIPT`` the script name, as the Docker
target does: ``azmlinfsrv`` appends ``AML_APP_ROOT`` to ``sys.path``, so a scoring script can
import its sibling modules. ``WORKER_COUNT`` = max_concurrent_requests_per_instance.

Resources: an Azure SKU or custom instance type is one instance: requests = limits = its cores
and memory (Guaranteed QoS, so the namespace quota equals the quota check), whole GPUs as
``nvidia.com/gpu`` limits (a partial A10 takes a device). Azure's Kubernetes default type
``defaultinstancetype`` is requests 100m/2Gi, limits 2/2Gi. A Kubernetes deployment's own
``resources`` are used as written (requests default to the limits).

Model and code delivery (``delivery``): see ``mlplan.targets.kubernetes.manifests``.
"""

from __future__ import annotations

import hashlib
import json
import math
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from mlplan.domain import codes, labels
from mlplan.domain.assets import Assets, resolve_code, resolve_image, resolve_model
from mlplan.domain.catalog import KUBERNETES_DEFAULT, Toleration
from mlplan.domain.diagnostics import Diagnostic, Location, error
from mlplan.domain.model import Route
from mlplan.domain.names import MLPLAN_VARIABLES, SCORING_PATH
from mlplan.planning import routing
from mlplan.planning.quota import reserved_instances
from mlplan.planning.rollout import batch_size
from mlplan.planning.routing import scoring_route
from mlplan.planning.state import DeploymentState, DesiredState, EndpointState
from mlplan.router.nginx import NginxRuntime
from mlplan.targets.kubernetes.settings import KubernetesSettings, VolumeSource

APP_ROOT = "/var/azureml-app"
MODELS_ROOT = f"{APP_ROOT}/azureml-models"
ROUTER_LISTEN_PORT = 8080
ROUTER_SERVICE_PORT = 80
ROUTER_CONF_DIR = "/etc/mlplan-router"
ROUTER_RUN_DIR = "/var/run/mlplan"
ROUTER_WORKERS = 2
PRESTOP_SLEEP_S = 5  # lets Service endpoints drop a terminating pod before it stops serving
#: A ConfigMap holds at most 1 MiB; keep room for its metadata.
CONFIGMAP_BUDGET_BYTES = 1_000_000
DEFAULT_AWAIT_S = 600


def router_runtime() -> NginxRuntime:
    """nginx's files in the router pod: config from volumes, writable paths on emptyDirs, so
    the container runs as a non-root user on a read-only root file system."""
    return NginxRuntime(
        conf_dir=ROUTER_CONF_DIR,
        pid_path=f"{ROUTER_RUN_DIR}/router.pid",
        temp_dir="/tmp",
        mirror_socket=f"{ROUTER_RUN_DIR}/mirror.sock",
        worker_processes=ROUTER_WORKERS,
    )


# --- names ------------------------------------------------------------------------------------


def object_name(*parts: str) -> str:
    """``object_name("My-Endpoint", "blue")`` -> ``my-endpoint-blue``."""
    return "-".join(parts).lower()


def router_name(endpoint: str) -> str:
    return object_name(endpoint)


def keys_secret_name(endpoint: str) -> str:
    return object_name(endpoint, "keys")


def config_map_name(owner: str, role: str, digest: str) -> str:
    """Immutable ConfigMaps are named by their content: ``e-blue-model-0123456789``. A change
    is a new ConfigMap and a rolling update of the pods that mount it; the old one is deleted
    after the rollout."""
    return f"{owner}-{role}-{digest[:10]}"


def deployment_name(endpoint: str, deployment: str) -> str:
    return object_name(endpoint, deployment)


def service_host(endpoint: str, deployment: str, namespace: str) -> str:
    """Cluster DNS name of a deployment's Service: ``e-blue.mlplan.svc.cluster.local``."""
    return f"{deployment_name(endpoint, deployment)}.{namespace}.svc.cluster.local"


def object_names(state: DesiredState, settings: KubernetesSettings
                 ) -> list[tuple[str, str, Location, str]]:
    """(kind, name, where declared, owner) of every fixed-name object in the namespace."""
    found: list[tuple[str, str, Location, str]] = []
    nginx = settings.router_mode == "nginx"
    for ep in state.endpoints:
        where = ep.endpoint.source.at("name")
        owner = f"endpoint '{ep.name}'"
        found.append(("Secret", keys_secret_name(ep.name), where, owner))
        if nginx:
            for kind in ("Deployment", "Service", "PodDisruptionBudget"):
                found.append((kind, router_name(ep.name), where, owner))
        else:
            found.append(("HTTPRoute", router_name(ep.name), where, owner))
            found.append(("hostname", settings.host(ep.name), where, owner))
        for dep in ep.deployments:
            dep_where = dep.deployment.source.at("name")
            dep_owner = f"deployment '{dep.name}' of endpoint '{ep.name}'"
            kinds = ["Deployment", "Service", "PodDisruptionBudget"]
            if autoscaler(dep) is not None:
                kinds.append("HorizontalPodAutoscaler")
            for kind in kinds:
                found.append((kind, deployment_name(ep.name, dep.name), dep_where, dep_owner))
    return found


def name_conflicts(state: DesiredState, settings: KubernetesSettings) -> list[Diagnostic]:
    """MLP118 for two objects of one kind with one name in the namespace (or one host name
    for two endpoints' HTTPRoutes)."""
    seen: dict[tuple[str, str], str] = {}
    found: list[Diagnostic] = []
    for kind, name, where, owner in object_names(state, settings):
        first = seen.setdefault((kind, name), owner)
        if first == owner:
            continue
        what = f"host name '{name}'" if kind == "hostname" else f"{kind} '{name}'"
        fix = ("put '{endpoint}' in mlplan:kubernetes.hostname" if kind == "hostname"
               else "rename one of them")
        found.append(error(codes.KUBERNETES_NAME_CONFLICT, where,
                           f"on Kubernetes, {owner} needs {what} in namespace "
                           f"'{settings.namespace}', which {first} also needs; {fix}."))
    return found


#: Gateway API allows at most 16 rules in one HTTPRoute (``spec.rules`` maxItems).
HTTPROUTE_MAX_RULES = 16


def route_limits(state: DesiredState, settings: KubernetesSettings) -> list[Diagnostic]:
    """MLP112 in gateway-api mode for an endpoint whose HTTPRoute would exceed Gateway API's 16
    rules: one ``azureml-model-deployment`` rule per deployment plus the split, so at most 15
    deployments (Azure allows 20). The API server would reject the route at ``pulumi up``.
    MLP104 for a custom ``scoring_route`` path, which an HTTPRoute cannot map per backend."""
    if settings.router_mode != "gateway-api":
        return []
    most = HTTPROUTE_MAX_RULES - 1
    return [error(codes.TOO_MANY_DEPLOYMENTS, ep.endpoint.source.at("name"),
                  f"endpoint '{ep.name}' has {len(ep.deployments)} deployments; in routerMode "
                  "gateway-api its HTTPRoute holds one header rule per deployment plus the "
                  f"split, and Gateway API allows {HTTPROUTE_MAX_RULES} rules, so at most "
                  f"{most}. Delete retired deployments or use routerMode nginx.")
            for ep in state.endpoints if len(ep.deployments) > most] + [
        error(codes.INVALID_VALUE, d.deployment.source.at("environment.inference_config"
                                                          ".scoring_route.path"),
              f"deployment '{d.name}' takes scoring requests at "
              f"'{scoring_route(d.deployment).path}', but in routerMode gateway-api the "
              f"HTTPRoute forwards the endpoint's {SCORING_PATH} unchanged (Gateway API has no "
              "portable per-backend path rewrite); use routerMode nginx, which maps it.")
        for ep in state.endpoints for d in ep.deployments
        if scoring_route(d.deployment).path != SCORING_PATH]


# --- labels ------------------------------------------------------------------------------------


def selector(endpoint: str, deployment: str = "") -> dict[str, str]:
    """The labels a Deployment/Service/PDB selects on: fixed for the object's life (a
    Deployment's selector cannot change in place). Router: role ``router``."""
    if not deployment:
        return {labels.ENDPOINT: endpoint, labels.ROLE: "router"}
    return {labels.ENDPOINT: endpoint, labels.DEPLOYMENT: deployment, labels.ROLE: "instance"}


def deployment_object_labels(endpoint: EndpointState, dep: DeploymentState) -> dict[str, str]:
    """Labels of a deployment's Deployment, Service, PDB and HPA: ``labels.deployment_labels``
    (with the live and mirror percents, for policies) plus ``mlplan.dev/gpus`` and
    ``mlplan.dev/cpu-millis`` of one instance."""
    live, mirror = weights(endpoint)[dep.name]
    found = labels.deployment_labels(endpoint.name, dep.name, dep.size.name, live, mirror)
    found[labels.GPUS] = str(dep.size.whole_gpus)
    found[labels.CPU_MILLIS] = str(dep.size.cpu_millis)
    return found


def routing_facts(endpoint: EndpointState, environment: str
                  ) -> tuple[dict[str, str], dict[str, str]]:
    """(labels, annotations) of the object that carries an endpoint's routing (the router
    ConfigMap, or the HTTPRoute), in the Docker target's format so one policy reader fits
    both: ``mlplan.dev/traffic: "blue=90,green=10"`` (an annotation here: label values cannot
    hold ``=`` or ``,``), ``mlplan.dev/mirror: "green=10"`` or ``none``, auth mode and
    environment as labels."""
    traffic = labels.format_split(endpoint.endpoint.traffic)
    mirror = labels.format_split((n, p) for n, p in endpoint.endpoint.mirror_traffic if p)
    return ({labels.AUTH_MODE: endpoint.endpoint.auth_mode, labels.ENVIRONMENT: environment},
            {labels.TRAFFIC: traffic, labels.MIRROR: mirror})


def pod_labels(endpoint: EndpointState, dep: DeploymentState) -> dict[str, str]:
    """Pod template labels: the object labels without weight and mirror, so a traffic change
    never touches the template (and never rolls the pods)."""
    found = deployment_object_labels(endpoint, dep)
    del found[labels.WEIGHT], found[labels.MIRROR]
    return found


# --- one deployment's pods ---------------------------------------------------------------------


@dataclass(frozen=True)
class Amounts:
    """CPU in millicores and memory in MiB; 0 = not set."""

    cpu_millis: int = 0
    memory_mib: int = 0

    def quantities(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.cpu_millis:
            out["cpu"] = cpu_quantity(self.cpu_millis)
        if self.memory_mib:
            out["memory"] = memory_quantity(self.memory_mib)
        return out


@dataclass(frozen=True)
class ContainerResources:
    requests: Amounts
    limits: Amounts
    gpus: int = 0

    def manifest(self, with_gpus: bool = True) -> dict[str, dict[str, str]]:
        """``{"requests": {...}, "limits": {...}}``; GPUs only in limits (Azure's rule)."""
        limits = self.limits.quantities()
        if with_gpus and self.gpus:
            limits["nvidia.com/gpu"] = str(self.gpus)
        out = {"requests": self.requests.quantities()}
        if limits:
            out["limits"] = limits
        return out


def cpu_quantity(millis: int) -> str:
    """4000 -> ``4``, 250 -> ``250m``."""
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def memory_quantity(mib: int) -> str:
    """14336 -> ``14Gi``, 3584 -> ``3584Mi``."""
    return f"{mib // 1024}Gi" if mib % 1024 == 0 else f"{mib}Mi"


ROUTER_RESOURCES = ContainerResources(Amounts(100, 64), Amounts(1000, 256))
#: Azure's ``defaultinstancetype`` on Kubernetes compute.
KUBERNETES_DEFAULT_RESOURCES = ContainerResources(Amounts(100, 2048), Amounts(2000, 2048))


def container_resources(dep: DeploymentState) -> ContainerResources:
    """Requests/limits of one instance (see the module docstring for the rules).

    Examples: Standard_DS3_v2 -> requests = limits = cpu 4, memory 14Gi; Standard_NC6s_v3 ->
    cpu 6, memory 112Gi, limits nvidia.com/gpu 1; ``resources: {requests: {cpu: 100m,
    memory: 512Mi}}`` -> requests only.
    """
    res = dep.deployment.resources
    if res is not None and dep.deployment.kind == "kubernetes":
        limits = Amounts(res.limits_cpu_millis, res.limits_memory_mib)
        requests = Amounts(res.requests_cpu_millis or res.limits_cpu_millis,
                           res.requests_memory_mib or res.limits_memory_mib)
        return ContainerResources(requests, limits, dep.size.whole_gpus)
    if dep.size.name.casefold() == KUBERNETES_DEFAULT.name.casefold() and not dep.size.gpus:
        return KUBERNETES_DEFAULT_RESOURCES
    size = Amounts(dep.size.cpu_millis, dep.size.memory_mib)
    return ContainerResources(size, size, dep.size.whole_gpus)


@dataclass(frozen=True)
class Placement:
    node_selector: tuple[tuple[str, str], ...] = ()
    tolerations: tuple[Toleration, ...] = ()


def placement(dep: DeploymentState, settings: KubernetesSettings) -> Placement:
    """GPU types get the GPU node selector and tolerations; every type adds its own (from
    ``mlplan:instanceTypes``). Example: Standard_NC6s_v3 -> ``nvidia.com/gpu.present: "true"``
    and toleration ``nvidia.com/gpu`` Exists NoSchedule; Standard_DS3_v2 -> nothing."""
    selector: dict[str, str] = {}
    tolerations: list[Toleration] = []
    if dep.size.is_gpu:
        selector.update(settings.gpu_node_selector)
        tolerations.extend(settings.gpu_tolerations)
    selector.update(dep.size.node_selector)
    tolerations.extend(t for t in dep.size.tolerations if t not in tolerations)
    return Placement(tuple(sorted(selector.items())), tuple(tolerations))


@dataclass(frozen=True)
class Autoscaler:
    min_replicas: int
    max_replicas: int
    cpu_percent: int


def autoscaler(dep: DeploymentState) -> Autoscaler | None:
    """``target_utilization`` -> an HPA (min at least 1: scale to zero needs a feature gate)."""
    scale = dep.deployment.scale_settings
    if scale.type != "target_utilization":
        return None
    low = max(1, scale.min_instances)
    return Autoscaler(low, max(low, scale.max_instances), scale.target_utilization_percentage)


def replicas(dep: DeploymentState) -> int | None:
    """``instance_count``, or None when an HPA owns the count."""
    return None if autoscaler(dep) is not None else dep.deployment.instance_count


def surges(exempt: bool) -> bool:
    """Whether a roll starts a batch of new pods before it stops a batch of old ones: yes
    unless the instance type is exempt from the 20% surge reservation (``target.py``)."""
    return not exempt


def rolling_strategy(dep: DeploymentState) -> tuple[int | str, int | str]:
    """(maxSurge, maxUnavailable). Examples: DS3_v2 -> ("20%", 0); 5 x NC24ads_A100_v4
    (exempt) -> (0, 1); 10 of them -> (0, 2)."""
    if surges(dep.size.exempt):
        return "20%", 0
    return 0, ("20%" if autoscaler(dep) is not None else dep.rollout.batch_size)


def peak_pods(dep: DeploymentState, instances: int) -> int:
    """Pods alive at the peak of a roll of ``instances`` with ``rolling_strategy``: Kubernetes
    rounds a percent ``maxSurge`` up, so ``20%`` of N is ``ceil(0.2 N)`` = one batch."""
    surge, _unavailable = rolling_strategy(dep)
    return instances + (batch_size(instances) if surge == "20%" else 0)


#: The router rolls one extra pod at a time and never runs below its replicas.
ROUTER_ROLLING_UPDATE: dict[str, int] = {"maxSurge": 1, "maxUnavailable": 0}
#: nginx's unprivileged user (uid/gid 101 in the official images), read-only root.
ROUTER_SECURITY_CONTEXT: dict[str, Any] = {
    "runAsNonRoot": True, "runAsUser": 101, "runAsGroup": 101, "readOnlyRootFilesystem": True,
    "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def deployment_disruption_budget(select: Mapping[str, str]) -> dict[str, Any]:
    """PDB of a deployment: a drain may take one rolling batch (``20%``, which Kubernetes
    rounds up: ``ceil(0.2 N)``, so one instance of 1-5 can go); crash-looping pods never
    block a drain (``AlwaysAllow``)."""
    return {"maxUnavailable": "20%", "selector": {"matchLabels": dict(select)},
            "unhealthyPodEvictionPolicy": "AlwaysAllow"}


def router_disruption_budget(select: Mapping[str, str]) -> dict[str, Any]:
    """PDB of the router: one pod at a time."""
    return {"maxUnavailable": 1, "selector": {"matchLabels": dict(select)}}


def termination_grace_seconds(request_timeout_ms: int) -> int:
    """Long enough for the slowest request after the preStop pause; never below Kubernetes'
    default 30 s. Example: 5000 ms -> 30; 300000 ms -> 310."""
    return max(30, math.ceil(request_timeout_ms / 1000) + PRESTOP_SLEEP_S + 5)


#: Time a new pod may take to be pulled and started, on top of its readiness probe's budget.
POD_START_SLACK_S = 50
#: The router's batch budget: readiness every 2 s (2 failures), ``minReadySeconds`` 5, a pull.
ROUTER_PROGRESS_DEADLINE_S = 120


def batch_seconds(dep: DeploymentState) -> int:
    """How long one rolling batch may take to become Ready: the readiness probe's whole failure
    budget plus ``POD_START_SLACK_S`` to pull and start. Example: Azure's defaults
    (initial delay 10, period 10, 30 failures, timeout 2) -> 10 + 300 + 2 + 50 = 362."""
    probe = dep.deployment.readiness_probe
    return (probe.initial_delay + probe.period * probe.failure_threshold + probe.timeout
            + POD_START_SLACK_S)


def progress_deadline_seconds(dep: DeploymentState) -> int:
    """The Deployment's ``progressDeadlineSeconds``: one batch's budget (``batch_seconds``).
    The controller resets the clock on every pod that becomes available, so a roll of many
    batches is never cut short, but a batch that cannot become Ready (image that cannot be
    pulled, a crash loop, a probe that never passes, a pod nobody can schedule) is marked
    ``Progressing=False, reason ProgressDeadlineExceeded`` one budget after its last progress,
    and ``pulumi up`` fails then (``rollout_complete``), not after the whole ``await_seconds``.
    Example: probe 2 s initial delay, 2 s period, 10 failures, 2 s timeout -> 74 s."""
    return batch_seconds(dep)


def await_seconds(dep: DeploymentState) -> int:
    """How long Pulumi waits for a rollout at most (``customTimeouts``): every batch may take
    ``batch_seconds``. Example: 10 instances, Azure's probe defaults -> 5 x 362 s = 1810 s."""
    return max(DEFAULT_AWAIT_S, dep.rollout.batch_count * batch_seconds(dep))


ROLLOUT_COMPLETE_REASON = "NewReplicaSetAvailable"
ROLLOUT_FAILED_REASON = "ProgressDeadlineExceeded"
WAIT_FOR_ANNOTATION = "pulumi.com/waitFor"
_STALLED = (f'@.conditions[?(@.type=="Progressing" && @.reason=="{ROLLOUT_FAILED_REASON}")]')


def rollout_complete(replicas: int | None) -> str:
    """The ``pulumi.com/waitFor`` annotation of every Deployment: Pulumi's create or update
    ends when the rollout is complete, as ``kubectl rollout status`` decides it, or when the
    controller gave up on it (``ProgressDeadlineExceeded``, see ``progress_deadline_seconds``);
    ``rollout_failure`` then fails ``pulumi up`` with the controller's message.

    Why waitFor: the provider's own Deployment await reads the *live* new ReplicaSet's
    ``spec.replicas``, which is the first surge batch mid-roll, and the Deployment's conditions
    from an event that may predate the rollout. On a real control plane (pods ready within
    milliseconds) ``pulumi up`` returned with 1 new and 2 old router pods of 2. Neither that
    await nor waitFor ever fails early (pulumi-kubernetes ``await/internal/awaiter.go`` ignores
    the condition's errors until the timeout), so a broken image held ``pulumi up`` for the
    whole timeout: the condition ends the wait on the controller's failure verdict as well.
    The provider checks it only once ``status.observedGeneration`` is current, so no stale
    status passes. With a fixed count N: N updated, N in total (every old pod gone or
    terminating) and N available. Autoscaled (an HPA owns the count, unknown here): the
    controller's own verdict, ``Progressing`` with reason ``NewReplicaSetAvailable`` (set only
    when updated = total = available = the wanted count). One RFC 9535 expression (the
    provider's JSONPath), the ``&&`` nested by two (its parser refuses three in a row).
    Example: 2 -> ``["jsonpath={$[?(@.updatedReplicas==2 && (@.replicas==2 &&
    @.availableReplicas==2)) || @.conditions[?(@.type==\"Progressing\" &&
    @.reason==\"ProgressDeadlineExceeded\")]]}"]``."""
    if replicas is None:
        done = (f'jsonpath={{.status.conditions[?(@.type=="Progressing" && '
                f'(@.reason=="{ROLLOUT_COMPLETE_REASON}" || '
                f'@.reason=="{ROLLOUT_FAILED_REASON}"))].reason}}')
    else:
        done = (f"jsonpath={{$[?(@.updatedReplicas=={replicas} && (@.replicas=={replicas} && "
                f"@.availableReplicas=={replicas})) || {_STALLED}]}}")
    return json.dumps([done])


def rollout_failure(name: str, status: Mapping[str, Any] | None) -> str:
    """Why the rollout of Deployment ``name`` failed, from its ``status`` as the await left it
    ("" when it did not): the controller's ``ProgressDeadlineExceeded`` message. Example:
    ``Progressing=False ProgressDeadlineExceeded 'ReplicaSet "e-blue-5d9" has timed out
    progressing.'`` -> ``Deployment e-blue: the rollout stalled (ProgressDeadlineExceeded:
    ReplicaSet "e-blue-5d9" has timed out progressing.)``."""
    for condition in (status or {}).get("conditions") or ():
        if (condition.get("type") == "Progressing"
                and condition.get("reason") == ROLLOUT_FAILED_REASON):
            said = str(condition.get("message") or "").strip()
            return (f"Deployment {name}: the rollout stalled ({ROLLOUT_FAILED_REASON}: {said}); "
                    "its new pods did not become Ready within progressDeadlineSeconds")
    return ""


def serving_port(dep: DeploymentState) -> int:
    """The container's scoring port: the environment's ``scoring_route`` port, else 5001."""
    return scoring_route(dep.deployment).port


def probe_route(dep: DeploymentState, which: Literal["liveness", "readiness"]) -> Route:
    """HTTP GET target of a probe (``planning.routing.probe_route``)."""
    return routing.probe_route(dep.deployment, which)


def container_ports(dep: DeploymentState) -> tuple[int, ...]:
    ports = {serving_port(dep), probe_route(dep, "liveness").port,
             probe_route(dep, "readiness").port}
    return (serving_port(dep), *sorted(ports - {serving_port(dep)}))


# --- model, code and image -------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """How image, model and code reach one deployment's pods.

    ``model_path`` / ``code_path``: project-relative local path packed into a ConfigMap;
    ``model_volume``: a PVC or image source from ``mlplan:kubernetes.models`` instead.
    """

    image: str
    model_dir: str = ""
    model_path: str = ""
    model_volume: VolumeSource | None = None
    code_dir: str = ""
    code_path: str = ""
    entry_script: str = ""

    @property
    def app_root(self) -> str:
        return self.code_dir or APP_ROOT


def delivery(dep: DeploymentState, assets: Assets,
             settings: KubernetesSettings) -> tuple[Delivery, list[Diagnostic]]:
    """Image, model and code of a deployment, or MLP117/MLP119 saying why one cannot reach
    the pods. Example: inline ``model: {path: ../model/m}`` -> ``model_path`` ``stacks/model/m``
    mounted at ``/var/azureml-app/azureml-models/m/1``."""
    d = dep.deployment
    found: list[Diagnostic] = []
    image = resolve_image(d, assets)
    env = d.environment
    if not image:
        if env is not None and env.reference:
            found.append(error(codes.UNRESOLVED_ASSET, d.source.at("environment"),
                               f"environment '{env.reference}' is a registered asset; map it "
                               "to an image: mlplan:assets: {environments: {\""
                               f"{env.reference}\": <registry>/<image>:<tag>}}}}."))
        elif env is not None and env.build_path:
            found.append(error(codes.KUBERNETES_DELIVERY, d.source.at("environment.build"),
                               "the Kubernetes target pulls images from a registry and builds "
                               "none; build and push this image, then set 'environment.image'."))
        elif env is not None:  # none at all: a no-code deployment (MLP131, planning.fidelity)
            found.append(error(codes.KUBERNETES_DELIVERY, d.source.at("environment"),
                               "no image: add 'environment: {image: <registry>/<name>:<tag>}'."))
    model_dir = model_path = ""
    volume: VolumeSource | None = None
    if d.model is not None:
        key = d.model.reference or d.model.path
        volume = settings.model_source(key)
        resolved = resolve_model(d, assets)
        name = d.model.name or posixpath.basename(d.model.path.rstrip("/")) or "model"
        version = d.model.version or "1"
        if resolved is not None:
            name, version = resolved.name, resolved.version
            model_path = "" if volume else resolved.path
        elif volume is None:
            found.append(error(codes.UNRESOLVED_ASSET, d.source.at("model"),
                               f"model '{d.model.reference}' is a registered asset; map it in "
                               "the stack config: mlplan:assets: {models: {\""
                               f"{d.model.reference}\": <local folder>}}}} or, for a big model, "
                               "mlplan:kubernetes: {models: {\"" + d.model.reference +
                               "\": {pvc: <claim>, subPath: <dir>}}}."))
        model_dir = d.model_mount_path or f"{MODELS_ROOT}/{name}/{version}"
    code_dir = code_path = entry = ""
    if d.code_configuration is not None:
        code = d.code_configuration
        code_path = resolve_code(d, assets)  # an azureml: code asset: its mapped folder
        code_dir = f"{APP_ROOT}/{posixpath.basename(code_path.rstrip('/')) or 'code'}"
        entry = code.scoring_script
    return Delivery(image, model_dir, model_path, volume, code_dir, code_path, entry), found


def environment(endpoint: str, dep: DeploymentState, where: Delivery) -> tuple[tuple[str, str],
                                                                               ...]:
    """The container's env, sorted: Azure's server variables, mlplan's names, then the
    deployment's ``environment_variables`` (which win, except ``MLPLAN_*``)."""
    d = dep.deployment
    env: dict[str, str] = {
        "AML_APP_ROOT": where.app_root,
        "WORKER_COUNT": str(d.request_settings.max_concurrent_requests_per_instance),
    }
    if where.model_dir:
        env["AZUREML_MODEL_DIR"] = where.model_dir
    if where.entry_script:
        env["AZUREML_ENTRY_SCRIPT"] = where.entry_script
    env.update(dict(d.environment_variables))
    env.update({"MLPLAN_ENDPOINT": endpoint, "MLPLAN_DEPLOYMENT": d.name})
    return tuple(sorted(env.items()))


_SECRET_KEY = re.compile(r"[-._a-zA-Z0-9]{1,253}")


@dataclass(frozen=True)
class EnvSecret:
    """A deployment's ``environment_variables`` as a Secret the container reads with
    ``secretKeyRef`` (issue 27: values are often credentials; the Deployment then holds only
    names). Immutable and named by a digest of its content (10 hex characters of SHA-256 over
    the sorted pairs, as the ConfigMaps are), so a changed value is a new Secret and a rolling
    update, as a changed value in the pod template was. ``name`` is "" with no variables.
    Example: ``{API_TOKEN: t}`` of my-endpoint/blue -> ``my-endpoint-blue-env-1a2b3c4d5e`` with
    key ``API_TOKEN``; a name a Secret key cannot hold gets key ``var-<n>``."""

    name: str
    data: tuple[tuple[str, str], ...]  # Secret key -> value
    keys: tuple[tuple[str, str], ...]  # variable -> Secret key


def env_secret(endpoint: str, dep: DeploymentState) -> EnvSecret:
    d = dep.deployment
    user = [(k, v) for k, v in sorted(d.environment_variables) if k not in MLPLAN_VARIABLES]
    if not user:
        return EnvSecret("", (), ())
    keys = tuple((k, k if _SECRET_KEY.fullmatch(k) else f"var-{i}")
                 for i, (k, _v) in enumerate(user))
    data = tuple((key, v) for (_k, key), (_n, v) in zip(keys, user, strict=True))
    digest = hashlib.sha256("".join(f"{k}\0{v}\0" for k, v in data).encode()).hexdigest()
    return EnvSecret(config_map_name(deployment_name(endpoint, d.name), "env", digest), data,
                     keys)


def container_env(endpoint: str, dep: DeploymentState, where: Delivery) -> list[dict[str, Any]]:
    """``env`` of the inference container: ``environment``'s order and precedence, the
    deployment's own variables as ``secretKeyRef`` into ``env_secret``, mlplan's and Azure's
    server variables as plain values (nothing secret in them)."""
    secret = env_secret(endpoint, dep)
    refs = dict(secret.keys)
    return [{"name": k, "valueFrom": {"secretKeyRef": {"name": secret.name, "key": refs[k]}}}
            if k in refs else {"name": k, "value": v}
            for k, v in environment(endpoint, dep, where)]


def instance_network_policy(endpoint: str, settings: KubernetesSettings
                            ) -> dict[str, Any] | None:
    """The NetworkPolicy spec that admits only the router to an endpoint's instance pods
    (issue 27: any pod could score without a key through a deployment's Service): the
    endpoint's router pods in nginx mode, the Gateway's namespace in gateway-api mode, or the
    peers of ``networkPolicy.allowFrom`` (a mesh); None when ``networkPolicy.enabled`` is
    false. Kubelet probes are not pod traffic and stay allowed."""
    if not settings.network_policy:
        return None
    peers: list[dict[str, Any]] = [dict(p) for p in settings.network_policy_from]
    if not peers and settings.router_mode == "gateway-api" and settings.gateway_ref:
        peers = [{"namespaceSelector": {"matchLabels": {
            "kubernetes.io/metadata.name": settings.gateway_ref.namespace}}}]
    if not peers:
        peers = [{"podSelector": {"matchLabels": selector(endpoint)}}]
    return {"podSelector": {"matchLabels": {labels.ENDPOINT: endpoint,
                                            labels.ROLE: "instance"}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": peers}]}


# --- the namespace -----------------------------------------------------------------------------


def namespace_quota(state: DesiredState, settings: KubernetesSettings
                    ) -> tuple[tuple[str, str], ...]:
    """ResourceQuota ``hard`` sized by the quota check: per deployment ``reserved_instances``
    (``ceil(1.2 n)``, ``n`` if exempt, ``n`` = max_instances when autoscaled) pods of its
    resources, plus ``routerReplicas + 1`` router pods per endpoint (nginx mode).

    For instance types (requests = limits = size) ``requests.cpu`` equals the quota check's
    total. ``limits.*`` is only set when every pod has limits (a quota on limits rejects pods
    without them). Example: blue 3 x DS3_v2, green 2 x DS3_v2, 2 routers -> requests.cpu 28 +
    0.3 = ``28300m``, pods 4 + 3 + 3 = 10.
    """
    req_cpu = req_mem = lim_cpu = lim_mem = gpus = pods = 0
    all_limited = True
    usage: list[tuple[int, ContainerResources]] = []
    for ep in state.endpoints:
        for dep in ep.deployments:
            usage.append((reserved_instances(dep.most_instances, dep.size.exempt),
                          container_resources(dep)))
        if settings.router_mode == "nginx":
            usage.append((settings.router_replicas + 1, ROUTER_RESOURCES))
    for count, res in usage:
        pods += count
        req_cpu += count * res.requests.cpu_millis
        req_mem += count * res.requests.memory_mib
        lim_cpu += count * res.limits.cpu_millis
        lim_mem += count * res.limits.memory_mib
        gpus += count * res.gpus
        all_limited = all_limited and bool(res.limits.cpu_millis and res.limits.memory_mib)
    hard = {
        "pods": str(pods),
        "requests.cpu": cpu_quantity(req_cpu),
        "requests.memory": memory_quantity(req_mem),
        "requests.nvidia.com/gpu": str(gpus),
    }
    if all_limited:
        hard["limits.cpu"] = cpu_quantity(lim_cpu)
        hard["limits.memory"] = memory_quantity(lim_mem)
    return tuple(sorted(hard.items()))


# --- Gateway API -------------------------------------------------------------------------------


def gateway_duration(ms: int) -> str:
    """Gateway API duration (``^([0-9]{1,5}(h|m|s|ms)){1,4}$``): 5000 -> ``5s``, 1500 ->
    ``1s500ms``, 300000 -> ``300s``."""
    seconds, rest = divmod(ms, 1000)
    parts = ([f"{seconds}s"] if seconds else []) + ([f"{rest}ms"] if rest else [])
    return "".join(parts) or "0s"


def live_split(endpoint: EndpointState) -> tuple[tuple[str, int], ...]:
    """Positive live weights, sorted by deployment name."""
    return tuple(sorted((n, p) for n, p in endpoint.endpoint.traffic if p > 0))


def mirror_target(endpoint: EndpointState) -> tuple[str, int] | None:
    active = [(n, p) for n, p in endpoint.endpoint.mirror_traffic if p > 0]
    return active[0] if active else None


def weights(endpoint: EndpointState) -> dict[str, tuple[int, int]]:
    """Deployment -> (live percent, mirror percent), for labels."""
    live = dict(endpoint.endpoint.traffic)
    mirror = dict(endpoint.endpoint.mirror_traffic)
    return {d.name: (live.get(d.name, 0), mirror.get(d.name, 0)) for d in endpoint.deployments}


@dataclass(frozen=True)
class PackedFiles:
    """A local file or folder as ConfigMap ``data``/``binaryData`` plus volume ``items``."""

    data: tuple[tuple[str, str], ...]
    binary: tuple[tuple[str, str], ...]
    items: tuple[tuple[str, str], ...]  # (key, path in the volume)
    digest: str
    size: int


#: relative path -> its files packed, or None when nothing is there (``files.packer``)
Packer = Callable[[str], PackedFiles | None]


@dataclass(frozen=True)
class DeploymentInputs:
    delivery: Delivery
    model_files: PackedFiles | None
    code_files: PackedFiles | None


def deployment_inputs(dep: DeploymentState, settings: KubernetesSettings,
                      assets: Assets, pack: Packer,
                      found: list[Diagnostic]) -> DeploymentInputs:
    """What reaches the pods (``delivery``) and its files packed for ConfigMaps; MLP119 when a
    folder is over ``CONFIGMAP_BUDGET_BYTES`` (then serve it from a volume or an image)."""
    where, problems = delivery(dep, assets, settings)
    found.extend(problems)
    packed: dict[str, PackedFiles | None] = {"model": None, "code": None}
    for what, relative, field in (("model", where.model_path, "model"),
                                  ("code", where.code_path, "code_configuration.code")):
        if not relative:
            continue
        location = dep.deployment.source.at(field)
        files = pack(relative)
        if files is None:
            found.append(error(codes.PATH_NOT_FOUND, location,
                               f"{what} '{relative}' does not exist; fix the path."))
            continue
        if files.size > CONFIGMAP_BUDGET_BYTES:
            model = dep.deployment.model
            key = (model.reference or model.path) if model else relative
            hint = ("serve it from a volume: mlplan:kubernetes: {models: {\"" + key +
                    "\": {pvc: <claim>, subPath: <dir>}}} (or {image: <image>, path: <dir>}), "
                    "or bake it into the image" if what == "model"
                    else "bake it into the image and drop code_configuration")
            found.append(error(codes.KUBERNETES_DELIVERY, location,
                               f"{what} '{relative}' has {files.size} bytes; a ConfigMap holds "
                               f"at most {CONFIGMAP_BUDGET_BYTES}: {hint}."))
            continue
        packed[what] = files
    return DeploymentInputs(where, packed["model"], packed["code"])


def stack_problems(state: DesiredState, settings: KubernetesSettings, pack: Packer,
                   ) -> tuple[dict[str, dict[str, DeploymentInputs]], list[Diagnostic]]:
    """Every problem only this target sees (name conflicts, route limits, delivery: MLP117 /
    MLP118 / MLP119), with each deployment's inputs: ``inputs[endpoint][deployment]``. The
    program registers no resource when one is an error; ``mlplan plan`` reports the same."""
    found = [*name_conflicts(state, settings), *route_limits(state, settings)]
    inputs = {e.name: {d.name: deployment_inputs(d, settings, state.settings.assets, pack, found)
                       for d in e.deployments}
              for e in state.endpoints}
    return inputs, found
