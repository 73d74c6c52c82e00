"""Docker target: ``EndpointContainers`` (from ``mlplan.targets.docker.containers``) -> resources.

Decides nothing: names, batches, env, mounts, limits and the router's files all come from the
core. What lives here is the translation to pulumi-docker and the resource options that give
the engine its order:

- instance containers ``wait`` for health and ``depends_on`` what
  ``docker_containers.instance_order`` says: those the Docker host already has, batch k+1 on batch
  k, so a replacement (always delete-first in pulumi-docker) goes batch by batch; new ones, which
  serve nothing yet, in waves of what the host's CPUs can boot, wave k+1 on wave k, per
  deployment; when the host cannot be asked, every instance is chained batch by batch. A
  surge-batch container is registered under its revision (``<deployment>-<index>-<revision>``): a
  new revision is a new resource, created before the batches that are replaced in place, and the old
  one, no longer registered, is deleted by the engine at the end of the update, after the config
  container took it out of the routing (SIGTERM, then ``destroyGraceSeconds``);
- a surge container carries its instance's name ``E-D-i`` as a network alias (a drain routes
  the surge batch by it while a roll runs: old and new container answer it together); the
  config container routes it by its own name;
- a batch replaced in place waits for its drain container (``RoutingMount.one_shot``) and
  for that drain's verdict (a drain that failed stops the roll before the batch); the drain
  waits for what the batch waited for;
- the config container ``depends_on`` every instance container (new deployments serve before
  they get traffic) and is the only resource a traffic/mirror/key change replaces; its inputs
  hold the drains' IDs, so it runs again after any drain and puts every batch back;
- the router ``depends_on`` the config container: its script waits for the first routing files
  before nginx starts, so the router can only become healthy after them (the other order was a
  cycle: the first ``pulumi up`` timed out waiting for a router that waited for its config);
- the router container's inputs hold nothing that changes with traffic.
"""

from __future__ import annotations

import functools
import importlib.metadata
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime.settings

from mlplan.domain import labels
from mlplan.domain.diagnostics import Diagnostic
from mlplan.planning.state import DesiredState, EndpointState
from mlplan.router.drain import UNCONFIRMED_EXIT
from mlplan.targets.docker import containers as docker_containers
from mlplan.targets.docker import host as docker_host
from mlplan.targets.docker import settings as docker_settings
from mlplan.targets.docker.containers import (
    DeploymentContainers,
    DockerHost,
    EndpointContainers,
    KnownHost,
)
from mlplan.targets.resources import TOKEN_PREFIX, EndpointKeys, endpoint_keys


def _labels(pairs: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    return [{"label": k, "value": v} for k, v in pairs]


#: What pulumi-docker's own classes add to every resource's options (its version, so the
#: engine picks the same default provider).
_PROVIDER_DEFAULTS = pulumi.ResourceOptions(version=importlib.metadata.version("pulumi_docker"))


def _docker(kind: str, name: str, inputs: dict[str, Any], opts: pulumi.ResourceOptions,
            outputs: tuple[str, ...] = ()) -> pulumi.CustomResource:
    """A pulumi-docker resource (``docker:index/<kind>:<Kind>``) from its inputs as the engine
    sees them (camelCase; None left out), reading back only ``outputs``.

    Same inputs, same type, same provider as ``docker.Container(...)`` & co., but the typed
    classes declare every property of the schema (78 for a container): the SDK then serialises
    78 keys and keeps 78 unresolved outputs per container, and its ``wait_for_rpcs`` walks
    every unresolved output each time one resolves (benchmarks/preview_scale.py). The
    pulumi-docker package stays installed: the language host names the provider plugin (and
    this version) from it. Example:
    ``_docker("container", "ep-blue-0", {"name": "ep-blue-0", "wait": True}, opts)``.
    """
    props: dict[str, Any] = {k: v for k, v in inputs.items() if v is not None}
    props.update({k: None for k in outputs})
    token = f"docker:index/{kind}:{kind[0].upper()}{kind[1:]}"
    return pulumi.CustomResource(token, name, props,
                                 pulumi.ResourceOptions.merge(_PROVIDER_DEFAULTS, opts))


def _itself(resource: pulumi.CustomResource, _accepted: bool) -> pulumi.CustomResource:
    return resource


def _out(resource: pulumi.CustomResource, key: str) -> pulumi.Output[Any]:
    """An output of a ``_docker`` resource, by its engine name (``imageId``, ``ports``)."""
    found: pulumi.Output[Any] = getattr(resource, key)
    return found


class OnlineDeployment(pulumi.ComponentResource):
    """One deployment: its image and one container per instance, each waiting for what
    ``docker_containers.instance_order`` says for what the host has (``host`` None: unknown, chained
    batch by batch)."""

    def __init__(self, name: str, endpoint: str, plan: DeploymentContainers,
                 network: pulumi.CustomResource, opts: pulumi.ResourceOptions,
                 host: KnownHost | None = None, routing: RoutingMount | None = None) -> None:
        props: dict[str, Any] = {
            "deployment": plan.name,
            "image": plan.image,
            "instanceCount": len(plan.containers),
            "batches": [[c.name for c in batch] for batch in plan.batches],
        }
        super().__init__(TOKEN_PREFIX + "OnlineDeployment", name, props, opts)
        child = pulumi.ResourceOptions(parent=self)
        build = ({"context": plan.build_context, "dockerfile": plan.dockerfile}
                 if plan.build_context else None)
        image = _out(_docker("remoteImage", f"{name}-image",
                             {"name": plan.image, "keepLocally": True, "build": build}, child,
                             outputs=("imageId",)), "imageId")
        order = docker_containers.instance_order(plan, host)
        made: dict[str, pulumi.Input[pulumi.Resource]] = {}  # what a later one waits for
        containers: dict[str, pulumi.CustomResource] = {}
        self.drains: list[pulumi.CustomResource] = []
        for spec in order.registration(plan):
            previous = [made[w] for w in order.waits[spec.name]]
            if isinstance(spec, docker_containers.DrainContainer):
                if routing is None:
                    raise ValueError("a deployment with drains needs the routing volume")
                drain = routing.one_shot(
                    f"{name}-{spec.resource_suffix}", spec.name, spec.labels, network,
                    spec.command, {"upstream.conf": spec.upstream_conf},
                    {"MLPLAN_REVISION": spec.revision,
                     "MLPLAN_DRAINED": ",".join(spec.instances)},
                    pulumi.ResourceOptions(parent=self, depends_on=previous))
                self.drains.append(drain)
                # what waits for the drain waits for its verdict: a drain that failed (the
                # router never served the batch's removal) stops the roll before the batch
                made[spec.name] = routing.verdict(
                    drain, f"{endpoint}/{plan.name} batch {spec.batch}").apply(
                        functools.partial(_itself, drain))
            else:
                containers[spec.name] = self._container(name, spec, image, network, previous)
                made[spec.name] = containers[spec.name]
        self.containers: list[pulumi.CustomResource] = [containers[c.name]
                                                        for c in plan.containers]
        if any(not order.wave_of(c.name) for c in plan.containers):  # some may be replaced
            pulumi.log.info(docker_containers.roll_note(endpoint, plan), resource=self)
        created = docker_containers.creation_note(endpoint, plan, order)
        if created:
            pulumi.log.info(created, resource=self)
        self.register_outputs(props)

    def _container(self, name: str, spec: docker_containers.InstanceContainer,
                   image: pulumi.Input[str], network: pulumi.CustomResource,
                   previous: list[pulumi.Input[pulumi.Resource]]) -> pulumi.CustomResource:
        check = spec.healthcheck
        return _docker("container", f"{name}-{spec.resource_suffix}", {
            "name": spec.name,
            "image": image,
            # a secret in the state (issue 27): values of environment_variables are often
            # credentials; `docker inspect` on the host still shows them (README: Security)
            "envs": pulumi.Output.secret([f"{k}={v}" for k, v in spec.env]),
            "mounts": [{"type": "bind", "source": m.source, "target": m.target,
                        "readOnly": m.read_only} for m in spec.mounts],
            "labels": _labels(spec.labels),
            # The router reaches an instance by its alias, which Docker's DNS on the endpoint's
            # network answers with every container named or aliased so: a surge container
            # carries it as an alias, the others are named so (no alias: adding one to a
            # running container's inputs would replace it).
            "networksAdvanced": [{"name": _out(network, "name"),
                                  **({"aliases": [spec.alias]} if spec.surge else {})}],
            "cpus": spec.cpus or None,
            "memory": spec.memory_mib or None,
            # Docker's default swap limit is twice the memory; read back into the state it
            # would be a diff on every preview. Memory + swap == memory: no swap, as on Azure.
            "memorySwap": spec.memory_mib or None,
            "deviceRequests": [{"driver": "nvidia", "count": spec.gpus,
                                "capabilities": ["gpu"]}] if spec.gpus else None,
            "healthcheck": {"tests": list(check.test), "interval": check.interval,
                            "timeout": check.timeout, "startPeriod": check.start_period,
                            "retries": check.retries},
            "wait": True,
            "waitTimeout": spec.wait_timeout_s,
            "destroyGraceSeconds": spec.stop_grace_s or None,
            "restart": "unless-stopped",
        }, pulumi.ResourceOptions(parent=self, depends_on=list(previous)))


class OnlineEndpoint(pulumi.ComponentResource):
    """One endpoint: network, router, its routing config, keys and deployments. Registered as
    ``mlplan:index:DockerEndpoint``, the child of the public ``mlplan:index:OnlineEndpoint``
    (``mlplan.edge.api``) that checked its inputs."""

    scoring_uri: pulumi.Output[str]

    def __init__(self, name: str, endpoint: EndpointState, plan: EndpointContainers,
                 configured_keys: Any, opts: pulumi.ResourceOptions | None = None,
                 host: KnownHost | None = None) -> None:
        props: dict[str, Any] = {
            "endpoint": endpoint.name,
            "authMode": endpoint.endpoint.auth_mode,
            "traffic": dict(endpoint.endpoint.traffic),
            "mirrorTraffic": dict(endpoint.endpoint.mirror_traffic),
            "deployments": {d.name: len(d.containers) for d in plan.deployments},
        }
        super().__init__(TOKEN_PREFIX + "DockerEndpoint", name, props, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.keys: EndpointKeys = endpoint_keys(name, configured_keys, self)
        network = _docker("network", f"{name}-network", {
            "name": plan.network, "driver": "bridge", "labels": _labels(plan.router.labels)},
            child)
        volume = _docker("volume", f"{name}-router-volume", {
            "name": plan.volume, "labels": _labels(plan.router.labels)}, child)
        router_spec = plan.router
        router_image = _out(_docker("remoteImage", f"{name}-router-image",
                                    {"name": router_spec.image, "keepLocally": True}, child,
                                    outputs=("imageId",)), "imageId")
        routing = RoutingMount(router_image, volume, router_spec.check_config)
        deployments = [
            OnlineDeployment(f"{name}-{d.name}", endpoint.name, d, network,
                             pulumi.ResourceOptions(parent=self), host, routing)
            for d in plan.deployments
        ]
        files = pulumi.Output.all(self.keys.primary, self.keys.secondary).apply(
            lambda keys: plan.routing_files(endpoint, (keys[0], keys[1])))
        instances = [c for d in deployments for c in d.containers]
        drains = [r for d in deployments for r in d.drains]
        config = routing.one_shot(
            f"{name}-router-config", plan.config_container, plan.config_labels, network,
            plan.config_command,
            {"routing.conf": files.apply(lambda f: f["routing.conf"]),
             "keys.conf": pulumi.Output.secret(files.apply(lambda f: f["keys.conf"]))},
            # a drain's ID changes when it runs again: the config container then runs again
            # and restores every server the drains took out (a failed roll's included)
            {"MLPLAN_DRAINS": pulumi.Output.all(*[d.id for d in drains]).apply(
                lambda ids: ",".join(str(i) for i in ids))} if drains else {},
            pulumi.ResourceOptions(parent=self, depends_on=[*instances, *drains]))
        accepted = routing.verdict(config, endpoint.name)
        router = _docker("container", f"{name}-router", {
            "name": router_spec.name,
            "image": router_image,
            "command": ["/bin/sh", docker_containers.ROUTER_SCRIPT_PATH],
            "uploads": [
                {"file": docker_containers.ROUTER_STATIC_CONF,
                 "content": router_spec.static_config},
                {"file": docker_containers.ROUTER_SCRIPT_PATH, "content": router_spec.script,
                 "executable": True},
            ],
            "mounts": [{"type": "volume", "source": _out(volume, "name"),
                        "target": docker_containers.ROUTER_CONF_DIR, "readOnly": True}],
            "networksAdvanced": [{"name": _out(network, "name")}],
            "ports": [{"internal": router_spec.listen_port,
                       "external": router_spec.published_port,
                       "ip": router_spec.publish_address}],
            "labels": _labels(router_spec.labels),
            "healthcheck": {
                "tests": ["CMD-SHELL", f"wget -q -O /dev/null http://127.0.0.1:"
                                       f"{router_spec.listen_port}/-/healthy"],
                "interval": "5s", "timeout": "2s", "startPeriod": "2s", "retries": 3},
            "wait": True,
            "waitTimeout": 60,
            "restart": "unless-stopped",
            # The router starts once its first routing.conf/keys.conf are in the volume (its
            # script waits for them, so it is healthy only then): after the config container.
            # Only depends_on, never an input: a config replacement leaves the router running.
        }, pulumi.ResourceOptions(parent=self, depends_on=[config]))
        port: pulumi.Output[int] = (
            pulumi.Output.from_input(router_spec.published_port)
            if router_spec.published_port
            else _out(router, "ports").apply(_published_port))
        self.scoring_uri = pulumi.Output.concat("http://", plan.host, ":",
                                                port.apply(str), "/score")
        self.swagger_uri = pulumi.Output.concat("http://", plan.host, ":",
                                                port.apply(str), "/swagger.json")
        self.register_outputs({**props, "scoringUri": self.scoring_uri,
                               "routerConfigAccepted": accepted,
                               "swaggerUri": self.swagger_uri,
                               "primaryKey": self.keys.primary,
                               "secondaryKey": self.keys.secondary})


class RoutingMount:
    """The one-shot containers that write the router's files: the router image on the
    endpoint's network with the config volume, staged files and the check ``nginx.conf`` under
    ``CONFIG_STAGING_DIR``, run to their end (``attach``), their exit code read back."""

    def __init__(self, image: pulumi.Input[str], volume: pulumi.CustomResource,
                 check_config: str) -> None:
        self.image, self.volume, self.check_config = image, volume, check_config

    def one_shot(self, resource: str, name: str, container_labels: tuple[tuple[str, str], ...],
                 network: pulumi.CustomResource, command: str,
                 files: Mapping[str, pulumi.Input[str]], env: Mapping[str, pulumi.Input[str]],
                 opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
        staging = docker_containers.CONFIG_STAGING_DIR
        return _docker("container", resource, {
            "name": name,
            "image": self.image,
            "command": ["/bin/sh", "-c", command],
            "uploads": [{"file": f"{staging}/{f}", "content": c} for f, c in files.items()]
                       + [{"file": f"{staging}/nginx.conf", "content": self.check_config}],
            "envs": [pulumi.Output.concat(k, "=", v) for k, v in sorted(env.items())] or None,
            "mounts": [{"type": "volume", "source": _out(self.volume, "name"),
                        "target": docker_containers.ROUTER_CONF_DIR}],
            # on the endpoint's network: it asks the router which routing it serves
            "networksAdvanced": [{"name": _out(network, "name")}],
            "labels": _labels(container_labels),
            "mustRun": False,
            "attach": True,
            "logs": True,
        }, opts, outputs=("exitCode", "containerLogs"))

    @staticmethod
    def verdict(container: pulumi.CustomResource, who: str) -> pulumi.Output[bool]:
        """True once ``container`` applied its routing (see ``router_config_accepted``)."""
        return pulumi.Output.all(_out(container, "exitCode"), _out(container, "containerLogs")
                                 ).apply(lambda o: router_config_accepted(who, *o))


def router_config_accepted(endpoint: str, exit_code: int | None, logs: str | None) -> bool:
    """True when a routing writer (the config container, a batch's drain; ``endpoint`` names
    which: ``my-endpoint`` or ``my-endpoint/blue batch 2``) applied its routing and the router
    serves it; a configuration nginx rejected (``CONFIG_REJECTED_EXIT``), a router that did
    not load it in time (``drain.UNCONFIRMED_EXIT``) or any other failure raises, so ``pulumi
    up`` fails with the writer's words (lines naming keys.conf withheld). ``None`` (not run
    yet, as in a preview) passes."""
    if exit_code in (None, 0):
        return True
    said = [("    (a line about keys.conf, withheld: it holds the keys)" if "keys.conf" in line
             else f"    {line}") for line in (logs or "").splitlines()[-10:] if line.strip()]
    if exit_code == docker_containers.CONFIG_REJECTED_EXIT:
        what = ("nginx rejected the router configuration; the router keeps serving the "
                "previous configuration and this change is NOT live")
    elif exit_code == UNCONFIRMED_EXIT:
        what = (f"the router did not serve the new routing within "
                f"{docker_containers.ROUTER_LOAD_WAIT_S} s; this change is NOT confirmed live "
                "and the roll stopped before the containers it protects")
    else:
        what = (f"the router's routing writer failed (exit {exit_code}); this change is NOT "
                "live")
    raise pulumi.RunError(
        f"endpoint {endpoint}: {what}. Run `mlplan plan` and report the lines below if it "
        "passes:\n" + "\n".join(said))


def _published_port(ports: Sequence[Mapping[str, Any]] | None) -> int:
    """The host port Docker picked, from the router's ``ports`` output (camelCase dicts)."""
    return int(ports[0].get("external") or 0) if ports else 0


#: The Docker host's answers in this Pulumi run, keyed by the run's resource monitor (one per
#: ``pulumi preview``/``up``, Automation API run or set of mocks): ``GET /info`` and the
#: instance listing are asked once per host address and shared by the stack-wide MLP123 check
#: and every endpoint component (50 endpoints: 2 asks, not 100, each a blocking round trip
#: in the program). One listing serves the whole run: it is taken before any resource of the
#: run is registered, so it says what the host had before this update, which is what the
#: instance order needs. A new run asks again (the host's containers change between runs).
_run: dict[str, Any] = {"monitor": None, "info": {}, "instances": {}}
#: Hosts that did not answer, and when (monotonic s): not asked again for ``UNANSWERED_S``, so
#: runs one after another on a host that never answers (Automation API) wait one timeout (3 s).
_unanswered: dict[str, float] = {}
UNANSWERED_S = 60.0


def _this_run() -> dict[str, Any]:
    monitor = pulumi.runtime.settings.get_monitor()
    if _run["monitor"] is not monitor:
        _run.update(monitor=monitor, info={}, instances={})
    return _run


def _ask(where: str) -> DockerHost | None:
    if time.monotonic() - _unanswered.get(where, -UNANSWERED_S) < UNANSWERED_S:
        return None
    host = docker_host.ask(where)
    if host is None:
        _unanswered[where] = time.monotonic()
    return host


def _once_per_run(what: str, where: str, ask: Callable[[str], Any]) -> Any:
    """``ask(where)``, the first time this run asks ``what`` (``info``, ``instances``) of it."""
    answers: dict[str, Any] = _this_run()[what]
    if where not in answers:
        answers[where] = ask(where)
    return answers[where]


def _info(where: str) -> DockerHost | None:
    """``GET /info`` of the host at ``where``, once per run."""
    host: DockerHost | None = _once_per_run("info", where, _ask)
    return host


def _host_address() -> str:
    return docker_host.address(pulumi.Config("docker").get("host"))


def host_diagnostics(state: DesiredState) -> list[Diagnostic]:
    """MLP123 for instance limits the Docker host cannot give, asked before any resource is
    registered; nothing when the host does not answer (Docker's own error then stands)."""
    host = _info(_host_address())
    if host is None:
        return []
    settings = docker_settings.of(state.settings)
    return docker_containers.check_host(state.endpoints, settings, host, state.settings.catalog)


def _known_host() -> KnownHost | None:
    """The host's CPUs and the instance containers it has (each asked once per run); None
    when either cannot be asked (everything is chained)."""
    where = _host_address()
    host = _info(where)
    if host is None:
        return None
    instances: frozenset[str] | None = _once_per_run(
        "instances", where, lambda at: docker_host.containers(at, f"{labels.ROLE}=instance"))
    return KnownHost(host.cpus, instances) if instances is not None else None


def deploy(state: DesiredState, keys: dict[str, Any], project: Path) -> dict[str, Any]:
    """One ``OnlineEndpoint`` per endpoint; returns the stack exports. ``mlplan:docker``
    problems were reported with the plan's diagnostics, before any resource. Paths in the
    state are relative to ``project`` (the folder of Pulumi.yaml)."""
    exports: dict[str, Any] = {}
    for endpoint in state.endpoints:
        component = deploy_endpoint(endpoint.name, state, endpoint, keys.get(endpoint.name),
                                    project)
        exports[f"{endpoint.name}-scoring-uri"] = component.scoring_uri
        exports[f"{endpoint.name}-swagger-uri"] = component.swagger_uri
        exports[f"{endpoint.name}-primary-key"] = component.keys.primary
        exports[f"{endpoint.name}-secondary-key"] = component.keys.secondary
        exports[f"{endpoint.name}-deployments"] = {d.name: d.deployment.instance_count
                                                    for d in endpoint.deployments}
    return exports


def deploy_endpoint(name: str, state: DesiredState, endpoint: EndpointState,
                    configured_keys: Any, project: Path,
                    opts: pulumi.ResourceOptions | None = None,
                    depends_on: Sequence[pulumi.Resource] = ()) -> OnlineEndpoint:
    """The resources of one endpoint of ``state`` (children named ``name-...``). A Docker
    stack shares no objects (``shared_stack``): ``depends_on`` is left to the parent, the
    public component, whose own options carry what a program orders it after."""
    plan = docker_containers.plan_endpoint(
        endpoint, state.settings.environment, docker_settings.of(state.settings),
        state.settings.assets,
        absolute=lambda p: str((project / p).resolve()),
        is_file=lambda p: (project / p).is_file(),
    )
    return OnlineEndpoint(name, endpoint, plan, configured_keys, opts, host=_known_host())


def stack_diagnostics(state: DesiredState, _project: Path) -> list[Diagnostic]:
    """What only this target sees, before anything is registered: the Docker host's size
    (MLP123)."""
    return host_diagnostics(state)


def shared_stack(_state: DesiredState, _project: Path, _config: Mapping[str, Any]
                 ) -> tuple[pulumi.ResourceOptions | None, dict[str, Any] | None]:
    """Nothing is shared between a Docker stack's endpoints (each has its own network):
    no options, and each endpoint gets ``mlplan:docker`` as it is."""
    return None, None
