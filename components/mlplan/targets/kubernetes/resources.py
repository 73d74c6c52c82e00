"""Kubernetes target: the objects ``mlplan.targets.kubernetes.manifests`` plans -> pulumi-kubernetes
resources in one namespace.

Decides nothing: every object, its fields and what it waits for come as ``Manifest`` values
(``manifests.plan_endpoint``, ``manifests.namespace_manifests``; the design of the objects is
told there). What lives here is the registration: one typed pulumi-kubernetes class per kind
(``CustomResource`` for the HTTPRoute), the components that parent them, the resource options
that give the engine its order, and the values only the engine knows (the endpoint keys, the
router's ``keys.conf`` and its checksum: ``manifests.Pending``). The explicit Provider
(``kubeconfig``/``context``/``renderYamlTo``) is made here too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlplan.domain.diagnostics import Diagnostic
from mlplan.planning.state import DesiredState, EndpointState
from mlplan.targets.containment import resolve
from mlplan.targets.kubernetes import choices as ko
from mlplan.targets.kubernetes import files as local_files
from mlplan.targets.kubernetes import manifests
from mlplan.targets.kubernetes import settings as kubernetes_settings
from mlplan.targets.kubernetes.manifests import (
    DeploymentManifests,
    EndpointManifests,
    Manifest,
    Pending,
)
from mlplan.targets.kubernetes.settings import KubernetesSettings
from mlplan.targets.resources import TOKEN_PREFIX, EndpointKeys, endpoint_keys

#: The typed class of each kind (what the SDK registers as ``kubernetes:<group>/<version>:<Kind>``).
_KINDS: dict[tuple[str, str], Any] = {
    ("apps/v1", "Deployment"): k8s.apps.v1.Deployment,
    ("v1", "Service"): k8s.core.v1.Service,
    ("v1", "ConfigMap"): k8s.core.v1.ConfigMap,
    ("v1", "Secret"): k8s.core.v1.Secret,
    ("v1", "Namespace"): k8s.core.v1.Namespace,
    ("v1", "ResourceQuota"): k8s.core.v1.ResourceQuota,
    ("policy/v1", "PodDisruptionBudget"): k8s.policy.v1.PodDisruptionBudget,
    ("autoscaling/v2", "HorizontalPodAutoscaler"): k8s.autoscaling.v2.HorizontalPodAutoscaler,
    ("networking.k8s.io/v1", "NetworkPolicy"): k8s.networking.v1.NetworkPolicy,
}


def _fill(value: Any, pending: Mapping[str, Any]) -> Any:
    """``value`` with every ``Pending`` replaced by the engine's output of that name."""
    if isinstance(value, Pending):
        return pending[value.what]
    if isinstance(value, dict):
        return {k: _fill(v, pending) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, pending) for v in value]
    return value


def register(manifest: Manifest, opts: pulumi.ResourceOptions,
             registered: Mapping[str, pulumi.Resource],
             after: Sequence[pulumi.Input[pulumi.Resource]] = (),
             pending: Mapping[str, Any] | None = None) -> pulumi.CustomResource:
    """One object as its typed resource, with ``opts`` (parent, provider, what everything
    waits for) plus ``after`` and the ``registered`` resources its ``after`` names."""
    fields = {k: _fill(v, pending or {}) for k, v in manifest.fields.items()}
    for name in manifest.secret:
        fields[name] = pulumi.Output.secret(pulumi.Output.all(**fields[name]))
    extra = pulumi.ResourceOptions(
        depends_on=[*after, *(registered[n] for n in manifest.after)] or None,
        retain_on_delete=manifest.retain_on_delete or None,
        custom_timeouts=pulumi.CustomTimeouts(create=f"{manifest.timeout_s}s",
                                              update=f"{manifest.timeout_s}s")
        if manifest.timeout_s else None)
    opts = pulumi.ResourceOptions.merge(opts, extra)
    kind = _KINDS.get((manifest.api_version, manifest.kind))
    if kind is None:
        return k8s.apiextensions.CustomResource(
            manifest.resource, api_version=manifest.api_version, kind=manifest.kind,
            opts=opts, **fields)
    resource: pulumi.CustomResource = kind(manifest.resource, opts=opts, **fields)
    return resource


def withhold(manifest: Manifest, pending: Mapping[str, Any] | None = None
             ) -> pulumi.Output[dict[str, Any]]:
    """A withheld Secret (``Manifest.withheld``, ``renderYamlTo``): registered with no provider,
    its whole object (the engine's values filled in) kept as a Pulumi secret."""
    fields = {k: _fill(v, pending or {}) for k, v in manifest.fields.items()}
    filled: pulumi.Output[dict[str, Any]] = pulumi.Output.from_input(fields).apply(
        lambda f: manifests.secret_object(manifest, f))
    return pulumi.Output.secret(filled)


# --- components --------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """An SDK output value (output types are dict subclasses) as plain dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _rollout_verdict(name: str, status: Any) -> None:
    """Fail ``pulumi up`` (``pulumi.RunError``, no traceback) when the await of Deployment
    ``name`` ended on the controller's ``ProgressDeadlineExceeded`` (``choices.rollout_failure``):
    the router, which waits for this verdict, is not changed. Not in a preview (it plans)."""
    if pulumi.runtime.is_dry_run():
        return
    failure = ko.rollout_failure(name, _plain(status))
    if failure:
        raise pulumi.RunError(
            f"mlplan: {failure}. The old pods keep serving (maxUnavailable 0) and the router "
            "was not changed. Fix or revert the change (image, probes, resources) and run "
            "`pulumi up` again (`pulumi refresh` first if the cluster recovered on its own); "
            f"`kubectl describe deployment {name}` and its pods' events say what failed.")


def _rollout_verdicts(objects: Sequence[Manifest], registered: Mapping[str, pulumi.Resource]
                      ) -> list[pulumi.Output[None]]:
    """``_rollout_verdict`` of every registered Deployment among ``objects``."""
    return [resource.status.apply(partial(_rollout_verdict,
                                          str(manifest.fields["metadata"]["name"])))
            for manifest in objects
            if isinstance(resource := registered.get(manifest.resource), k8s.apps.v1.Deployment)]


class OnlineDeployment(pulumi.ComponentResource):
    """One deployment: its planned objects (Deployment, Service, PDB, HPA, files).

    ``rolled_out``: this component, once every Deployment's rollout passed
    ``_rollout_verdict`` (what the router waits for)."""

    def __init__(self, plan: DeploymentManifests, depends_on: list[pulumi.Resource],
                 opts: pulumi.ResourceOptions) -> None:
        super().__init__(TOKEN_PREFIX + "OnlineDeployment", plan.resource, dict(plan.props),
                         opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=depends_on)
        registered: dict[str, pulumi.Resource] = {}
        #: Secrets left out of rendered manifests (``renderYamlTo``), as secret objects
        self.withheld: list[pulumi.Output[dict[str, Any]]] = []
        for manifest in plan.objects:
            if manifest.withheld:
                self.withheld.append(withhold(manifest))
                continue
            registered[manifest.resource] = register(manifest, child, registered)
        self.rolled_out: pulumi.Output[pulumi.Resource] = pulumi.Output.all(
            *_rollout_verdicts(plan.objects, registered)).apply(lambda _: self)
        self.register_outputs(dict(plan.props))


class OnlineEndpoint(pulumi.ComponentResource):
    """One endpoint: keys, its deployments and the router (nginx Deployment or HTTPRoute)."""

    scoring_uri: pulumi.Output[str]

    def __init__(self, plan: EndpointManifests, configured_keys: Any,
                 depends_on: list[pulumi.Resource],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        props = dict(plan.props)
        super().__init__(TOKEN_PREFIX + "KubernetesEndpoint", plan.resource, props, opts)
        self.keys: EndpointKeys = endpoint_keys(plan.resource, configured_keys, self)
        self.deployments = [OnlineDeployment(d, depends_on, pulumi.ResourceOptions(parent=self))
                            for d in plan.deployments]
        keys_conf: pulumi.Output[str] = pulumi.Output.all(
            self.keys.primary, self.keys.secondary).apply(lambda k: plan.keys_conf(k[0], k[1]))
        checksum: pulumi.Output[str] = pulumi.Output.secret(
            keys_conf.apply(manifests.keys_checksum))
        pending = {manifests.PRIMARY_KEY: self.keys.primary,
                   manifests.SECONDARY_KEY: self.keys.secondary,
                   manifests.KEYS_CONF: keys_conf, manifests.KEYS_CHECKSUM_VALUE: checksum}
        own = pulumi.ResourceOptions(parent=self, depends_on=depends_on)
        registered: dict[str, pulumi.Resource] = {}
        rolled_out = [d.rolled_out for d in self.deployments]
        withheld: list[pulumi.Output[dict[str, Any]]] = []
        for manifest in plan.objects:
            if manifest.withheld:
                withheld.append(withhold(manifest, pending))
                continue
            after = rolled_out if manifest.after_deployments else ()
            registered[manifest.resource] = register(manifest, own, registered, after, pending)
        withheld += [secret for d in self.deployments for secret in d.withheld]
        #: ``renderYamlTo``: the Secrets the rendered manifests reference but do not hold, one
        #: YAML stream for ``kubectl apply -f -`` (a Pulumi secret); None when applying
        self.withheld_secrets: pulumi.Output[str] | None = pulumi.Output.secret(
            pulumi.Output.all(*withheld).apply(manifests.secrets_document)) if withheld else None
        self.scoring_uri = pulumi.Output.from_input(plan.scoring_uri)
        if plan.balancer_service:
            service = registered[plan.balancer_service]
            assert isinstance(service, k8s.core.v1.Service)
            self.scoring_uri = service.status.apply(
                lambda status: _balancer_uri(status, plan.scoring_uri))
        if not pulumi.runtime.is_dry_run():  # the router's own rollout verdict
            self.scoring_uri = pulumi.Output.all(
                self.scoring_uri, *_rollout_verdicts(plan.objects, registered)
            ).apply(lambda values: str(values[0]))
        self.swagger_uri = self.scoring_uri.apply(
            lambda uri: uri.removesuffix("/score") + "/swagger.json")
        self.register_outputs({**props, "scoringUri": self.scoring_uri,
                               **({"withheldSecrets": self.withheld_secrets}
                                  if self.withheld_secrets is not None else {})})


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
    Problems only this target sees (``stack_diagnostics``) were reported with the plan's
    diagnostics, before any resource. Paths in the state are relative to ``project`` (the
    folder of Pulumi.yaml, which the program found).
    """
    provider, depends_on = stack_resources(state, project)
    exports: dict[str, Any] = {}
    for endpoint in state.endpoints:
        component = deploy_endpoint(
            endpoint.name, state, endpoint, keys.get(endpoint.name), project,
            pulumi.ResourceOptions(providers=[provider] if provider else None), depends_on,
            shared=True)
        exports[f"{endpoint.name}-scoring-uri"] = component.scoring_uri
        exports[f"{endpoint.name}-swagger-uri"] = component.swagger_uri
        exports[f"{endpoint.name}-primary-key"] = pulumi.Output.secret(component.keys.primary)
        exports[f"{endpoint.name}-secondary-key"] = pulumi.Output.secret(
            component.keys.secondary)
        exports[f"{endpoint.name}-deployments"] = {
            d.name: d.deployment.instance_count for d in endpoint.deployments}
        if component.withheld_secrets is not None:  # renderYamlTo
            exports[secrets_output(endpoint.name)] = component.withheld_secrets
    return exports


def secrets_output(endpoint: str) -> str:
    """The stack output holding an endpoint's withheld Secrets (``renderYamlTo``)."""
    return f"{endpoint}-secrets"


def stack_resources(state: DesiredState, project: Path, prefix: str = "",
                    parent: pulumi.Resource | None = None
                    ) -> tuple[k8s.Provider | None, list[pulumi.Resource]]:
    """What the endpoints of one namespace share: the explicit provider (``kubeconfig``,
    ``context``, ``renderYamlTo``), the namespace (``createNamespace``) and its ResourceQuota
    sized by the quota check (``resourceQuota``). Returns the provider (None: the ambient or
    inherited one) and the resources every endpoint object must wait for. Names are
    ``{prefix}namespace``, ``{prefix}namespace-quota``, ``{prefix}kubernetes``."""
    settings = kubernetes_settings.of(state.settings)
    provider = _provider(settings, project, prefix, parent)
    stack_opts = pulumi.ResourceOptions(provider=provider, parent=parent)
    registered: dict[str, pulumi.Resource] = {}
    for manifest in manifests.namespace_manifests(state, settings, prefix):
        registered[manifest.resource] = register(manifest, stack_opts, registered)
    return provider, list(registered.values())


def deploy_endpoint(name: str, state: DesiredState, endpoint: EndpointState,
                    configured_keys: Any, project: Path,
                    opts: pulumi.ResourceOptions | None = None,
                    depends_on: Sequence[pulumi.Resource] = (), *,
                    shared: bool = False) -> OnlineEndpoint:
    """The objects of one endpoint of ``state`` (children named ``name-...``), each waiting for
    ``depends_on``. Unless ``shared`` (the namespace's provider and objects were made by
    ``stack_resources`` for a whole stack), its own ``stack_resources`` are made first, named
    ``name-...``."""
    depends_on = list(depends_on)
    settings = kubernetes_settings.of(state.settings)
    inputs, _ = ko.stack_problems(state, settings, local_files.packer(project))
    parent = opts.parent if opts else None
    if not shared:
        provider, own = stack_resources(state, project, f"{name}-", parent)
        depends_on = [*depends_on, *own]
        if provider is not None:
            opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
                providers=[provider]))
    plan = manifests.plan_endpoint(name, endpoint, inputs[endpoint.name], settings,
                                   state.settings.environment)
    return OnlineEndpoint(plan, configured_keys, depends_on, opts)


def stack_diagnostics(state: DesiredState, project: Path) -> list[Diagnostic]:
    """What only this target sees, before anything is registered: names, route limits and
    delivery (MLP112, MLP117-MLP119), with the files under ``project``."""
    return ko.stack_problems(state, kubernetes_settings.of(state.settings),
                             local_files.packer(project))[1]


#: mlplan:kubernetes keys that make the stack's own objects (made once, by the program)
STACK_KUBERNETES = ("kubeconfig", "context", "renderYamlTo")


def shared_stack(state: DesiredState, project: Path, config: Mapping[str, Any]
                 ) -> tuple[pulumi.ResourceOptions | None, dict[str, Any] | None]:
    """For a program deploying a whole stack: the stack's provider, namespace and
    ResourceQuota, made once, as the options every endpoint gets, and the ``mlplan:kubernetes``
    each endpoint gets (without what the stack made)."""
    provider, depends_on = stack_resources(state, project)
    given: dict[str, Any] = (config["kubernetes"] if isinstance(config.get("kubernetes"), dict)
                             else {})
    endpoint_settings = {k: v for k, v in given.items() if k not in STACK_KUBERNETES}
    endpoint_settings.update(createNamespace=False, resourceQuota=False)
    if given.get("renderYamlTo"):  # the stack's provider renders: no Secret may reach it
        endpoint_settings["withholdSecrets"] = True
    return pulumi.ResourceOptions(providers=[provider] if provider else None,
                                  depends_on=depends_on), endpoint_settings


def _provider(settings: KubernetesSettings, project: Path, prefix: str = "",
              parent: pulumi.Resource | None = None) -> k8s.Provider | None:
    if not settings.explicit_provider:
        return None
    render = ""
    if settings.render_yaml_to:
        render = str(resolve(project, settings.render_yaml_to).resolve())  # contained
        pulumi.log.warn(
            f"mlplan: renderYamlTo: manifests are written to {render} instead of being applied. "
            "They hold no secret value: the Secrets they reference (endpoint keys, deployment "
            "environment) are the stack output <endpoint>-secrets; after `pulumi up` create them "
            "with `pulumi stack output --show-secrets <endpoint>-secrets | kubectl apply -f -` "
            "(or pipe it to kubeseal / sops for a GitOps repository).")
    return k8s.Provider(
        f"{prefix}kubernetes",
        kubeconfig=settings.kubeconfig or None,
        context=settings.context or None,
        render_yaml_to_directory=render or None,
        opts=pulumi.ResourceOptions(parent=parent),
    )

