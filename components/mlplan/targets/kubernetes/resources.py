"""Kubernetes target: desired state -> pulumi-kubernetes resources in one namespace.

Decides nothing of its own: names, sizes, strategies, probes, env, quota and asset sources come
from ``mlplan.targets.kubernetes.plan`` and ``kubernetes_settings``; the router's files come
from ``mlplan.router.nginx``. What lives here is the manifests and the resource options that
give the engine its order.

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

Await: every Deployment carries ``pulumi.com/waitFor`` = ``ko.rollout_complete``, so
``pulumi up`` returns only when the rollout is complete (every old pod gone or terminating),
not when the first surge batch is ready (the provider's built-in Deployment await can pass then).

PDB: ``maxUnavailable: 20%``: a node drain may take one rolling batch (``ceil(0.2 N)``,
Kubernetes rounds a PDB percent up), the same bound as a rolling update, and a single-instance
deployment can still be drained. ``unhealthyPodEvictionPolicy: AlwaysAllow`` so crash-looping
pods never block a drain. The router's PDB allows 1.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlplan.domain import labels
from mlplan.domain.diagnostics import sort_diagnostics
from mlplan.domain.kubernetes_settings import (
    KubernetesSettings,
    VolumeSource,
)
from mlplan.domain.names import ROUTING_HEADER
from mlplan.domain.quantity import format_millis
from mlplan.planning.routing import INFERENCE_PORT, router_config
from mlplan.planning.state import DeploymentState, DesiredState, EndpointState
from mlplan.router.nginx import HEALTH_PATH, render_files, render_keys
from mlplan.targets.containment import resolve
from mlplan.targets.kubernetes import files as local_files
from mlplan.targets.kubernetes import plan as ko
from mlplan.targets.kubernetes.plan import DeploymentInputs
from mlplan.targets.resources import TOKEN_PREFIX, EndpointKeys, endpoint_keys, report

KEYS_CHECKSUM = "mlplan.dev/keys-checksum"


def _any(value: object) -> Any:
    """Manifests are plain camelCase dicts (what ``kubectl apply`` takes); the SDK's typed
    ``*ArgsDict`` signatures do not accept ``dict[str, Any]``."""
    return value


# --- components --------------------------------------------------------------------------------


def _meta(name: str, namespace: str, object_labels: dict[str, str],
          annotations: dict[str, Any] | None = None) -> Any:
    meta: dict[str, Any] = {"name": name, "namespace": namespace,
                            "labels": dict(sorted(object_labels.items()))}
    if annotations:
        meta["annotations"] = annotations
    return _any(meta)


def _probe(dep: DeploymentState, which: str) -> dict[str, Any]:
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


def _tolerations(place: ko.Placement) -> list[dict[str, str]]:
    out = []
    for t in place.tolerations:
        item = {"key": t.key, "operator": t.operator}
        if t.value:
            item["value"] = t.value
        if t.effect:
            item["effect"] = t.effect
        out.append(item)
    return out


class OnlineDeployment(pulumi.ComponentResource):
    """One deployment: Deployment, Service, PDB, HPA (autoscaled) and its files."""

    def __init__(self, name: str, endpoint: EndpointState, dep: DeploymentState,
                 inputs: DeploymentInputs, settings: KubernetesSettings,
                 depends_on: list[pulumi.Resource], opts: pulumi.ResourceOptions) -> None:
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
                              "peakPods": ko.peak_pods(dep, dep.quota_instances)},
            "resources": resources.manifest(),
            "reservedCores": format_millis(dep.reserved_millis),
        }
        super().__init__(TOKEN_PREFIX + "OnlineDeployment", name, props, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=depends_on)
        object_labels = ko.deployment_object_labels(endpoint, dep)
        # stable labels only: a label change of an immutable ConfigMap would be a replacement
        config_labels = {**labels.endpoint_labels(endpoint.name, "config"),
                         labels.DEPLOYMENT: dep.name,
                         "app.kubernetes.io/instance": f"{endpoint.name}-{dep.name}"}
        select = ko.selector(endpoint.name, dep.name)

        volumes, mounts, init = self._file_volumes(name, k8s_name, ns, inputs, config_labels,
                                                   resources, child)
        env = ko.env_secret(endpoint.name, dep)
        env_secret = [k8s.core.v1.Secret(  # the deployment's variables, read by secretKeyRef
            f"{name}-env", metadata=_meta(env.name, ns, config_labels), type="Opaque",
            immutable=True, string_data=pulumi.Output.secret(dict(env.data)),
            opts=child)] if env.name else []

        place = ko.placement(dep, settings)
        container: dict[str, Any] = {
            "name": "inference",
            "image": where.image,
            "imagePullPolicy": "IfNotPresent",
            "ports": [{"name": "http" if i == 0 else f"p{port}", "containerPort": port,
                       "protocol": "TCP"} for i, port in enumerate(ko.container_ports(dep))],
            "env": ko.container_env(endpoint.name, dep, where),
            "resources": resources.manifest(),
            "livenessProbe": _probe(dep, "liveness"),
            "readinessProbe": _probe(dep, "readiness"),
            "lifecycle": {"preStop": {"exec": {"command": [
                "/bin/sh", "-c", f"sleep {ko.PRESTOP_SLEEP_S}"]}}},
        }
        if mounts:
            container["volumeMounts"] = mounts
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
        if init:
            pod["initContainers"] = init
        if volumes:
            pod["volumes"] = volumes
        if place.node_selector:
            pod["nodeSelector"] = dict(place.node_selector)
        if place.tolerations:
            pod["tolerations"] = _tolerations(place)
        if settings.image_pull_secrets:
            pod["imagePullSecrets"] = [{"name": n} for n in settings.image_pull_secrets]
        spec: dict[str, Any] = {
            "selector": {"matchLabels": select},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}},
            "template": {"metadata": {"labels": dict(sorted(ko.pod_labels(endpoint,
                                                                          dep).items()))},
                         "spec": pod},
        }
        replicas = ko.replicas(dep)
        if replicas is not None:
            spec = {"replicas": replicas, **spec}
        wait = f"{ko.await_seconds(dep)}s"
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=_meta(k8s_name, ns, object_labels,
                           {labels.IMAGE: where.image,
                            "mlplan.dev/rollout": dep.rollout.describe(),
                            ko.WAIT_FOR_ANNOTATION: ko.rollout_complete(replicas)}),
            spec=_any(spec),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(
                depends_on=env_secret,
                custom_timeouts=pulumi.CustomTimeouts(create=wait, update=wait))),
        )
        self.service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=_meta(k8s_name, ns, object_labels),
            spec=_any({"type": "ClusterIP", "selector": select, "ports": [{
                "name": "http", "port": INFERENCE_PORT, "targetPort": ko.serving_port(dep),
                "protocol": "TCP"}]}),
            opts=child,
        )
        self.pdb = k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata=_meta(k8s_name, ns, object_labels),
            spec=_any(ko.deployment_disruption_budget(select)),
            opts=child,
        )
        if scaler is not None:
            k8s.autoscaling.v2.HorizontalPodAutoscaler(
                f"{name}-hpa",
                metadata=_meta(k8s_name, ns, object_labels),
                spec=_any({
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                       "name": k8s_name},
                    "minReplicas": scaler.min_replicas,
                    "maxReplicas": scaler.max_replicas,
                    "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                        "type": "Utilization", "averageUtilization": scaler.cpu_percent}}}],
                }),
                opts=child,
            )
        self.register_outputs(props)

    def _file_volumes(self, name: str, k8s_name: str, ns: str, inputs: DeploymentInputs,
                      config_labels: dict[str, str], resources: ko.ContainerResources,
                      child: pulumi.ResourceOptions,
                      ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        """The model and code: an immutable ConfigMap each (``self.config_maps``), or the
        model's volume (PVC, host path or an image copied by an init container)."""
        where = inputs.delivery
        volumes: list[dict[str, Any]] = []
        mounts: list[dict[str, Any]] = []
        init: list[dict[str, Any]] = []
        self.config_maps: list[k8s.core.v1.ConfigMap] = []
        for role, files, directory in (("model", inputs.model_files, where.model_dir),
                                       ("code", inputs.code_files, where.code_dir)):
            if files is None:
                continue
            cm_name = ko.config_map_name(k8s_name, role, files.digest)
            self.config_maps.append(k8s.core.v1.ConfigMap(
                f"{name}-{role}",
                metadata=_meta(cm_name, ns, config_labels),
                data=dict(files.data) or None,
                binary_data=dict(files.binary) or None,
                immutable=True,
                opts=child,
            ))
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
        return volumes, mounts, init


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


class OnlineEndpoint(pulumi.ComponentResource):
    """One endpoint: keys, its deployments and the router (nginx Deployment or HTTPRoute)."""

    scoring_uri: pulumi.Output[str]

    def __init__(self, name: str, endpoint: EndpointState, inputs: dict[str, DeploymentInputs],
                 settings: KubernetesSettings, environment: str, configured_keys: Any,
                 depends_on: list[pulumi.Resource],
                 opts: pulumi.ResourceOptions | None = None) -> None:
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
        super().__init__(TOKEN_PREFIX + "KubernetesEndpoint", name, props, opts)
        self.keys: EndpointKeys = endpoint_keys(name, configured_keys, self)
        self.deployments = [
            OnlineDeployment(f"{name}-{d.name}", endpoint, d, inputs[d.name], settings,
                             depends_on, pulumi.ResourceOptions(parent=self))
            for d in endpoint.deployments
        ]
        addresses = {d.name: (f"{ko.service_host(endpoint.name, d.name, ns)}:{INFERENCE_PORT}",)
                     for d in endpoint.deployments}
        runtime = ko.router_runtime()

        def config(keys: tuple[str, ...]) -> Any:
            return router_config(endpoint, lambda d: addresses[d.name], keys,
                                 ko.ROUTER_LISTEN_PORT)

        keys_conf = pulumi.Output.all(self.keys.primary, self.keys.secondary).apply(
            lambda k: render_keys(config((k[0], k[1]))))
        secret_data: dict[str, Any] = {"primary-key": self.keys.primary,
                                       "secondary-key": self.keys.secondary}
        if settings.router_mode == "nginx":
            secret_data["keys.conf"] = keys_conf
        string_data: pulumi.Output[dict[str, Any]] = pulumi.Output.secret(
            pulumi.Output.all(**secret_data))
        self.secret = k8s.core.v1.Secret(
            f"{name}-keys",
            metadata=_meta(ko.keys_secret_name(endpoint.name), ns,
                           labels.endpoint_labels(endpoint.name, "config")),
            type="Opaque",
            string_data=string_data,
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on),
        )
        policy = ko.instance_network_policy(endpoint.name, settings)
        if policy is not None:  # only the router (or the Gateway) reaches instance pods
            k8s.networking.v1.NetworkPolicy(
                f"{name}-instances",
                metadata=_meta(ko.object_name(endpoint.name, "instances"), ns,
                               labels.endpoint_labels(endpoint.name, "instance")),
                spec=_any(policy),
                opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on))
        after_deployments = pulumi.ResourceOptions(
            parent=self, depends_on=[*depends_on, *self.deployments])
        if settings.router_mode == "nginx":
            files = render_files(config(()), runtime)
            self.scoring_uri = self._nginx_router(name, endpoint, settings, environment, files,
                                                  keys_conf, after_deployments, depends_on)
        else:
            self.scoring_uri = self._http_route(name, endpoint, settings, environment,
                                                after_deployments)
        self.swagger_uri = self.scoring_uri.apply(
            lambda uri: uri.removesuffix("/score") + "/swagger.json")
        self.register_outputs({**props, "scoringUri": self.scoring_uri})

    def _nginx_router(self, name: str, endpoint: EndpointState, settings: KubernetesSettings,
                      environment: str, files: dict[str, str], keys_conf: pulumi.Output[str],
                      opts: pulumi.ResourceOptions,
                      namespace_deps: list[pulumi.Resource]) -> pulumi.Output[str]:
        ns = settings.namespace
        router = ko.router_name(endpoint.name)
        runtime = ko.router_runtime()
        static = {k: v for k, v in files.items() if k != "keys.conf"}
        digest = hashlib.sha256("".join(f"{k}\0{v}\0" for k, v in
                                        sorted(static.items())).encode()).hexdigest()
        facts, annotations = ko.routing_facts(endpoint, environment)
        cm_name = ko.config_map_name(router, "router", digest)
        config_map = k8s.core.v1.ConfigMap(
            f"{name}-router-config",
            metadata=_meta(cm_name, ns, {**labels.endpoint_labels(endpoint.name, "config"),
                                         **facts}, annotations),
            data=static,
            immutable=True,
            opts=opts,
        )
        select = ko.selector(endpoint.name)
        router_labels = labels.endpoint_labels(endpoint.name, "router")
        conf = f"{ko.ROUTER_CONF_DIR}/nginx.conf"
        timeout = max((d.deployment.request_settings.request_timeout_ms
                       for d in endpoint.deployments), default=5000)
        health = {"httpGet": {"path": HEALTH_PATH, "port": "http"}, "timeoutSeconds": 2}
        checksum: pulumi.Output[str] = pulumi.Output.secret(keys_conf.apply(
            lambda text: hashlib.sha256(text.encode()).hexdigest()))
        container = {
            "name": "router",
            "image": settings.router_image,
            "imagePullPolicy": "IfNotPresent",
            "command": ["nginx", "-e", "/dev/stderr", "-c", conf, "-g", "daemon off;"],
            "ports": [{"name": "http", "containerPort": ko.ROUTER_LISTEN_PORT,
                       "protocol": "TCP"}],
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
        if settings.image_pull_secrets:
            pod["imagePullSecrets"] = [{"name": n} for n in settings.image_pull_secrets]
        after_config = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(depends_on=[config_map, self.secret]))
        k8s.apps.v1.Deployment(
            f"{name}-router",
            metadata=_meta(router, ns, router_labels, {
                ko.WAIT_FOR_ANNOTATION: ko.rollout_complete(settings.router_replicas)}),
            spec=_any({
                "replicas": settings.router_replicas,
                # a new pod serves 5 s before an old one goes: time for the Service's
                # endpoints to reach every node
                "minReadySeconds": ko.PRESTOP_SLEEP_S,
                "selector": {"matchLabels": select},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": ko.ROUTER_ROLLING_UPDATE},
                "template": {"metadata": {"labels": dict(sorted(router_labels.items())),
                                          "annotations": {KEYS_CHECKSUM: checksum}},
                             "spec": pod},
            }),
            opts=after_config,
        )
        service = k8s.core.v1.Service(
            f"{name}-router-service",
            metadata=_meta(router, ns, router_labels),
            spec=_any({"type": settings.service_type, "selector": select, "ports": [{
                "name": "http", "port": ko.ROUTER_SERVICE_PORT, "targetPort": "http",
                "protocol": "TCP"}]}),
            opts=pulumi.ResourceOptions(parent=self, depends_on=namespace_deps),
        )
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-router-pdb",
            metadata=_meta(router, ns, router_labels),
            spec=_any(ko.router_disruption_budget(select)),
            opts=pulumi.ResourceOptions(parent=self, depends_on=namespace_deps),
        )
        if settings.hostname:
            return pulumi.Output.from_input(
                f"{settings.uri_scheme}://{settings.host(endpoint.name)}/score")
        in_cluster = f"http://{router}.{ns}.svc.cluster.local/score"
        if settings.service_type != "LoadBalancer":
            return pulumi.Output.from_input(in_cluster)
        return service.status.apply(lambda status: _balancer_uri(status, in_cluster))

    def _http_route(self, name: str, endpoint: EndpointState, settings: KubernetesSettings,
                    environment: str, opts: pulumi.ResourceOptions) -> pulumi.Output[str]:
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
        k8s.apiextensions.CustomResource(
            f"{name}-route",
            api_version="gateway.networking.k8s.io/v1",
            kind="HTTPRoute",
            metadata=_meta(ko.router_name(endpoint.name), ns,
                           {**labels.endpoint_labels(endpoint.name, "router"), **facts},
                           annotations),
            spec=_any({"parentRefs": [parent], "hostnames": [host], "rules": rules}),
            opts=opts,
        )
        return pulumi.Output.from_input(f"{settings.uri_scheme}://{host}/score")


def _balancer_uri(status: Any, fallback: str) -> str:
    """``http://<load balancer ip or host>/score`` once the Service has one."""
    ingress = getattr(getattr(status, "load_balancer", None), "ingress", None) or []
    for entry in ingress:
        host = getattr(entry, "hostname", None) or getattr(entry, "ip", None)
        if host:
            return f"http://{host}/score"
    return fallback


# --- the stack ---------------------------------------------------------------------------------


def deploy(state: DesiredState, keys: dict[str, Any], project: Path) -> dict[str, Any]:
    """One ``OnlineEndpoint`` per endpoint in the namespace; returns the stack exports.

    Problems only this target sees (``plan.stack_problems``: name conflicts, route limits,
    files too big for a ConfigMap; ``mlplan:kubernetes`` was checked with the settings) are
    reported together before any resource. Paths in the state are
    relative to ``project`` (the folder of Pulumi.yaml, which the program found).
    """
    settings = state.settings.kubernetes_settings  # its problems came with the settings'
    problems = ko.stack_problems(state, settings, local_files.packer(project))[1]
    report(tuple(sort_diagnostics(problems)))
    provider, depends_on = stack_resources(state, project)
    exports: dict[str, Any] = {}
    for endpoint in state.endpoints:
        component = deploy_endpoint(
            endpoint.name, state, endpoint, keys.get(endpoint.name), project, depends_on,
            pulumi.ResourceOptions(providers=[provider] if provider else None), shared=True)
        exports[f"{endpoint.name}-scoring-uri"] = component.scoring_uri
        exports[f"{endpoint.name}-swagger-uri"] = component.swagger_uri
        exports[f"{endpoint.name}-primary-key"] = pulumi.Output.secret(component.keys.primary)
        exports[f"{endpoint.name}-secondary-key"] = pulumi.Output.secret(
            component.keys.secondary)
        exports[f"{endpoint.name}-deployments"] = {
            d.name: d.deployment.instance_count for d in endpoint.deployments}
    return exports


def stack_resources(state: DesiredState, project: Path, prefix: str = "",
                    parent: pulumi.Resource | None = None
                    ) -> tuple[k8s.Provider | None, list[pulumi.Resource]]:
    """What the endpoints of one namespace share: the explicit provider (``kubeconfig``,
    ``context``, ``renderYamlTo``), the namespace (``createNamespace``) and its ResourceQuota
    sized by the quota check (``resourceQuota``). Returns the provider (None: the ambient or
    inherited one) and the resources every endpoint object must wait for. Names are
    ``{prefix}namespace``, ``{prefix}namespace-quota``, ``{prefix}kubernetes``."""
    settings = state.settings.kubernetes_settings
    provider = _provider(settings, project, prefix, parent)
    stack_opts = pulumi.ResourceOptions(provider=provider, parent=parent)
    stack_labels = {labels.MANAGED_BY: "mlplan", "app.kubernetes.io/part-of": "mlplan"}
    depends_on: list[pulumi.Resource] = []
    if settings.create_namespace:
        depends_on.append(k8s.core.v1.Namespace(
            f"{prefix}namespace",
            metadata=_any({"name": settings.namespace, "labels": stack_labels}),
            opts=pulumi.ResourceOptions.merge(stack_opts,
                                              pulumi.ResourceOptions(retain_on_delete=True))))
    if settings.resource_quota:
        depends_on.append(k8s.core.v1.ResourceQuota(
            f"{prefix}namespace-quota",
            metadata=_meta("mlplan-quota", settings.namespace, stack_labels),
            spec=_any({"hard": dict(ko.namespace_quota(state, settings))}),
            opts=pulumi.ResourceOptions.merge(stack_opts,
                                              pulumi.ResourceOptions(depends_on=depends_on[:]))))
    return provider, depends_on


def deploy_endpoint(name: str, state: DesiredState, endpoint: EndpointState,
                    configured_keys: Any, project: Path, depends_on: list[pulumi.Resource],
                    opts: pulumi.ResourceOptions | None = None, *,
                    shared: bool = False) -> OnlineEndpoint:
    """The objects of one endpoint of ``state`` (children named ``name-...``). Unless
    ``shared`` (the namespace's provider and objects were made by ``stack_resources`` for a
    whole stack), its own ``stack_resources`` are made first, named ``name-...``."""
    settings = state.settings.kubernetes_settings
    inputs, _ = ko.stack_problems(state, settings, local_files.packer(project))
    parent = opts.parent if opts else None
    if not shared:
        provider, own = stack_resources(state, project, f"{name}-", parent)
        depends_on = [*depends_on, *own]
        if provider is not None:
            opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
                providers=[provider]))
    return OnlineEndpoint(name, endpoint, inputs[endpoint.name], settings,
                          state.settings.environment, configured_keys, depends_on, opts)


def _provider(settings: KubernetesSettings, project: Path, prefix: str = "",
              parent: pulumi.Resource | None = None) -> k8s.Provider | None:
    if not settings.explicit_provider:
        return None
    render = ""
    if settings.render_yaml_to:
        render = str(resolve(project, settings.render_yaml_to).resolve())  # contained
        pulumi.log.warn(f"mlplan: renderYamlTo: manifests are written to {render} instead of "
                        "being applied; Secrets (the endpoint keys) are written in plain text.")
    return k8s.Provider(
        f"{prefix}kubernetes",
        kubeconfig=settings.kubeconfig or None,
        context=settings.context or None,
        render_yaml_to_directory=render or None,
        opts=pulumi.ResourceOptions(parent=parent),
    )

