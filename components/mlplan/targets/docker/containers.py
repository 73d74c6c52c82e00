"""Desired state -> the containers of one endpoint on a Docker host (pure; the adapter in
``mlplan.targets.docker.resources`` only turns these values into pulumi-docker resources).

Layout per endpoint ``E`` (names as Azure's local endpoints would show them):

- network ``E`` (user-defined bridge: Docker's DNS at 127.0.0.11 resolves container names);
- volume ``E-router-config`` holding ``routing.conf`` and ``keys.conf``;
- router container ``E-router``: nginx with the static ``nginx.conf`` baked in by upload, the
  only container publishing a host port. Its inputs never include traffic, mirror or keys, so a
  split change can never replace it: it watches the volume and reloads gracefully
  (``nginx -t && nginx -s reload``) when the files change;
- config container ``E-router-config``: a one-shot container on the endpoint's network that
  writes the rendered routing and keys into the volume (``mlplan.router.drain``: ``nginx -t``,
  atomic rename, then it waits until the router serves the file). It is the resource a
  traffic, mirror or key change replaces, and it depends on every instance container, so new
  instances are healthy before the router routes to them; removed deployments are deleted by
  the engine at the end. The router depends on it (its script starts nginx once the first
  files are there);
- per deployment ``D`` and in-place batch ``k``: drain container ``E-D-batch-k-drain``
  (``DrainContainer``), one-shot like the config container: it takes batch k out of the live
  routing (nginx ``down``) and waits until the router serves that, before the batch's
  containers are replaced;
- per deployment ``D`` and instance ``i``: container ``E-D-i`` on the network (no host port)
  with the network alias ``E-D-i`` (the router's upstream server for that instance),
  model and code bind-mounted read-only where Azure's local endpoints mount them
  (``/var/azureml-app/azureml-models/<model>/<version>``, ``/var/azureml-app/<code-folder>``),
  ``AZUREML_MODEL_DIR`` / ``AZUREML_ENTRY_SCRIPT`` / ``AML_APP_ROOT`` / ``WORKER_COUNT`` set,
  CPU/memory limits and GPU requests of the instance type, a healthcheck from the readiness
  probe. Batches: ``ceil(0.2 N)`` instances each (1-based, not a label: see
  ``_instance_labels``); every container of batch k+1 that the Docker host already has
  depends on those of batch k, and each waits to be healthy, so the engine replaces batch after
  batch. Containers the host does not have yet serve nothing: they are created in waves the
  host's CPUs can boot (``instance_order``).

Surge (a rolling update at full capacity, the quota's 20% reservation): pulumi-docker replaces a
container delete-first, whatever its name, and Pulumi deletes a resource the program no longer
registers only at the end of the update. So the first batch is the surge batch: its containers
are named and registered by revision (``E-D-i-<revision>``, ``revision``: a digest of every
input that replaces a container), so a changed revision is a NEW container, created and healthy
beside the old one (which carries the same alias) before any other batch is touched; batches
2.. are then replaced delete-first in place, one at a time, while the surge batch stands in for
them; the old surge-batch containers, no longer registered, are removed at the end of the
update. Peak ``N + batch``, never fewer than N serving; one instance: the new one serves before
the old one goes. Exempt instance types (no surge in their quota) have no surge batch: every
batch delete-first, peak N, ``N - batch`` serving.

Drain before stop: no container leaves while the router routes to it. Each in-place batch k
has a drain (``plan_drains``) between batch k-1 and batch k (``instance_order``): it routes the
surge batch by alias (old and new together), marks batch k ``down`` and waits until the router
serves that; only then does the engine replace batch k. The config container lists the surge
batch by the new revision's names, so it takes the old surge containers out before the engine
deletes them, and puts every drained batch back.

Example: blue with 11 instances -> batches of 3: [0,1,2], [3,4,5], [6,7,8], [9,10]; an image
change creates ``E-blue-0-<rev>`` .. ``E-blue-2-<rev>``, then drains and replaces 3-5, 6-8,
9-10, then the config container routes to the new containers only, then the engine removes
``E-blue-0`` .. ``E-blue-2`` (peak 14, at least 11 serving).
"""

from __future__ import annotations

import functools
import hashlib
import json
import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from mlplan.domain import codes, labels
from mlplan.domain.assets import Assets, resolve_code, resolve_image, resolve_model
from mlplan.domain.catalog import DEFAULT_CATALOG, Catalog
from mlplan.domain.diagnostics import Diagnostic, error, warning
from mlplan.domain.names import instance_name
from mlplan.planning.rollout import batches
from mlplan.planning.routing import probe_route, router_backend, router_config, scoring_route
from mlplan.planning.state import DeploymentState, EndpointState
from mlplan.router.drain import REJECTED_EXIT, RoutingWriter, config_program, drain_program
from mlplan.router.nginx import (
    HEALTH_PATH,
    NginxRuntime,
    render_keys,
    render_routing,
    render_static,
    render_upstream,
)
from mlplan.targets.docker.settings import DockerSettings as DockerSettings
from mlplan.targets.docker.settings import ResourceLimits as ResourceLimits
from mlplan.targets.docker.settings import parse_settings as parse_settings

APP_ROOT = "/var/azureml-app"
MODELS_ROOT = f"{APP_ROOT}/azureml-models"
ROUTER_CONF_DIR = "/etc/mlplan-router"
ROUTER_LISTEN_PORT = 8080
ROUTER_STATIC_CONF = "/etc/nginx/nginx.conf"
ROUTER_SCRIPT_PATH = "/usr/local/bin/mlplan-router"
DOCKER_DNS = "127.0.0.11"
#: How stale the router's view of an instance alias may be: a surge container is routed within
#: 1 s of starting (well before it is healthy), a removed one forgotten within 1 s of leaving.
RESOLVE_VALID_S = 1

#: The router container's command: wait for the first config, run nginx, reload on change.
ROUTER_SCRIPT = f"""#!/bin/sh
# mlplan router: nginx in the foreground; routing.conf and keys.conf come from the config
# volume and are applied with a graceful reload (no dropped request) whenever they change.
set -u
conf={ROUTER_CONF_DIR}
until [ -s "$conf/routing.conf" ] && [ -s "$conf/keys.conf" ]; do sleep 0.2; done
digest() {{ cat "$conf/routing.conf" "$conf/keys.conf" | md5sum; }}
nginx -c {ROUTER_STATIC_CONF} -g 'daemon off;' &
nginx_pid=$!
trap 'nginx -s quit; wait "$nginx_pid"; exit 0' TERM INT
last=$(digest)
while kill -0 "$nginx_pid" 2>/dev/null; do
  sleep 1
  now=$(digest)
  if [ "$now" != "$last" ]; then
    last=$now
    if nginx -t -q -c {ROUTER_STATIC_CONF}; then
      nginx -s reload -c {ROUTER_STATIC_CONF} && echo "mlplan-router: configuration reloaded"
    else
      echo "mlplan-router: new configuration rejected; still serving the previous one" >&2
    fi
  fi
done
wait "$nginx_pid"
"""

#: The config and drain containers stage their files here (the check ``nginx.conf`` includes
#: ``keys.conf`` and ``routing.conf`` from it); a configuration nginx rejects is never
#: written: the router keeps serving the previous one and the container exits
#: ``CONFIG_REJECTED_EXIT``, which fails ``pulumi up`` (``resources.router_config_accepted``)
#: instead of the router logging it unseen. ``mlplan.router.drain`` has the protocol.
CONFIG_STAGING_DIR = "/staging"
CONFIG_REJECTED_EXIT = REJECTED_EXIT
#: The router's internal control port (not published): ``GET /-/generation`` tells which
#: routing.conf it serves, so a writer knows when the router applied its file.
ROUTER_CONTROL_PORT = 8081
#: How long a writer waits for the router to serve its file (its watcher polls every second;
#: a reload under load takes longer): a bound, not a sleep.
ROUTER_LOAD_WAIT_S = 60

@dataclass(frozen=True)
class Mount:
    source: str  # absolute host path
    target: str
    read_only: bool = True


@dataclass(frozen=True)
class Healthcheck:
    """Docker healthcheck from a readiness probe: period -> interval, failure_threshold ->
    retries, initial_delay -> start period. Example (Azure defaults): every 10 s, 2 s timeout,
    30 retries, 10 s start period."""

    test: tuple[str, ...]
    interval: str
    timeout: str
    start_period: str
    retries: int


@dataclass(frozen=True)
class InstanceContainer:
    name: str  # the container: ``E-D-i``, or ``E-D-i-<revision>`` in the surge batch
    index: int
    batch: int  # 1-based
    image: str
    env: tuple[tuple[str, str], ...]
    mounts: tuple[Mount, ...]
    labels: tuple[tuple[str, str], ...]
    cpus: str  # "" = no limit; as the provider reads it back (provider_cpus)
    memory_mib: int  # 0 = no limit; swap is limited to the same (memory + swap == memory)
    gpus: int
    port: int
    healthcheck: Healthcheck
    wait_timeout_s: int
    stop_grace_s: int = 0  # SIGTERM, then this long to finish in-flight requests, then SIGKILL
    cpu_millis: int = 0  # the instance type's cores (whatever the limit): sizes creation waves
    alias: str = ""  # the instance's stable DNS name on the endpoint network (``E-D-i``)
    revision: str = ""  # set in the surge batch: the container is a new one per revision

    @property
    def surge(self) -> bool:
        """In the surge batch: a changed revision is a new container beside the old one."""
        return bool(self.revision)

    @property
    def resource_suffix(self) -> str:
        """The Pulumi name's suffix: ``3``, or ``0-1a2b3c4d`` in the surge batch."""
        return f"{self.index}-{self.revision}" if self.revision else str(self.index)


@dataclass(frozen=True)
class DrainContainer:
    """A one-shot container that takes one in-place batch out of the router's routing before
    its containers stop (``mlplan.router.drain``). Its inputs are the batch's container names
    and the deployment's revision, so the engine re-runs it exactly when the batch is replaced
    (a new revision) or its membership changes (a scale changes the batch size), never for a
    traffic, mirror or key change. Example: blue 10, batch 2 -> container
    ``my-endpoint-blue-batch-2-drain`` marks ``my-endpoint-blue-2``, ``-3`` down."""

    name: str
    deployment: str
    batch: int  # 1-based, as ``InstanceContainer.batch``
    instances: tuple[str, ...]  # the batch's container names
    revision: str
    upstream_conf: str  # the deployment's upstream block: this batch down, the others up
    command: str
    labels: tuple[tuple[str, str], ...]

    @property
    def resource_suffix(self) -> str:
        return f"batch-{self.batch}-drain"


@dataclass(frozen=True)
class DeploymentContainers:
    name: str
    image: str
    build_context: str  # absolute path when the environment builds an image, else ""
    dockerfile: str
    containers: tuple[InstanceContainer, ...]
    drains: tuple[DrainContainer, ...] = ()
    revision: str = ""  # of every instance (``revision``), surge batch or not

    def drain_of(self, batch: int) -> DrainContainer | None:
        return next((d for d in self.drains if d.batch == batch), None)

    @property
    def batches(self) -> tuple[tuple[InstanceContainer, ...], ...]:
        count = max((c.batch for c in self.containers), default=0)
        return tuple(tuple(c for c in self.containers if c.batch == b)
                     for b in range(1, count + 1))


@dataclass(frozen=True)
class RouterContainer:
    name: str
    image: str
    listen_port: int
    published_port: int | None  # None: Docker picks one
    publish_address: str
    labels: tuple[tuple[str, str], ...]
    static_config: str
    script: str
    #: the static part including the staged files, for the config container's ``nginx -t``
    check_config: str = ""


@dataclass(frozen=True)
class EndpointContainers:
    endpoint: str
    network: str
    volume: str
    router: RouterContainer
    config_container: str
    config_labels: tuple[tuple[str, str], ...]
    deployments: tuple[DeploymentContainers, ...]
    runtime: NginxRuntime
    host: str
    config_command: str = ""

    def addresses(self, deployment: DeploymentState) -> tuple[str, ...]:
        """Where the router reaches ``deployment`` once the update is done: each instance's
        container by name, on the inference port (prefix included); a surge-batch container
        by its revision's name, so the old surge containers are out of the routing before
        the engine deletes them at the end of the update (and a roll always re-runs the
        config container). Example: namePrefix ``pr-``, blue 5 ->
        ``("pr-my-endpoint-blue-0-1a2b3c4d:5001", "pr-my-endpoint-blue-1:5001", ...)``."""
        planned = next(d for d in self.deployments if d.name == deployment.name)
        return tuple(f"{c.name}:{c.port}" for c in planned.containers)

    def routing_files(self, endpoint: EndpointState, keys: tuple[str, ...]) -> dict[str, str]:
        """``routing.conf`` and ``keys.conf`` for these keys (called inside an Output.apply)."""
        config = router_config(endpoint, self.addresses, keys, ROUTER_LISTEN_PORT)
        return {"routing.conf": render_routing(config, self.runtime),
                "keys.conf": render_keys(config)}


#: What the inference server may take to stop once its last request is answered (gunicorn's
#: arbiter and workers, the interpreter's teardown), Kubernetes' default grace: azmlinfsrv
#: stops in 0.6 s on a quiet host, but drained containers of a 10-instance roll took 7-15 s at
#: load average 25 (all killed at the end of a 5 s grace; some at 15 s).
STOP_ALLOWANCE_S = 30


def stop_grace_seconds(request_timeout_ms: int) -> int:
    """How long a removed instance may take to stop after SIGTERM (``destroyGraceSeconds``):
    the longest request the router lets it serve, in whole seconds, rounded up, plus
    ``STOP_ALLOWANCE_S`` for the server's own shutdown. It is drained by then (the router sends
    it nothing new), so a server that stops at once ends the wait at once; without it the
    provider's delete is SIGTERM then SIGKILL at once, and a request in flight loses its
    answer mid-body (seen on a real host during a roll). Examples: 5000 ms -> 35 s; 90500 ms
    -> 121 s; 1 ms -> 31 s."""
    return -(-request_timeout_ms // 1000) + STOP_ALLOWANCE_S


def provider_cpus(millis: int) -> str:
    """A CPU limit written exactly as the Docker provider reads it back from the container, so
    that an unchanged limit is no diff (a diff in ``cpus`` replaces the container).

    The provider renders NanoCPUs with 9 decimals; when the text has exactly nine zeros it
    keeps one decimal, otherwise it strips trailing zeros (a quirk: ten zeros, as in 10, leave
    the point). Examples: 1000 -> "1.0", 4000 -> "4.0", 16000 -> "16.0", 500 -> "0.5",
    1250 -> "1.25", 10000 -> "10.", 100000 -> "100.", 50 -> "0.1" (0.050000000: nine zeros).
    """
    whole, fraction = divmod(millis, 1000)
    text = f"{whole}.{fraction * 1_000_000:09d}"
    if text.count("0") == 9:  # one decimal, halves rounded away from zero (big.Rat)
        tenths = (millis + 50) // 100
        return f"{tenths // 10}.{tenths % 10}"
    return text.rstrip("0")


def revision(image: str, env: tuple[tuple[str, str], ...], mounts: tuple[Mount, ...],
             instance_labels: tuple[tuple[str, str], ...], cpus: str, gpus: int) -> str:
    """The first 8 hex digits of a SHA-256 over every input that replaces a container
    (image, environment, mounts, labels without the instance index, CPU limit, GPUs; not the
    health check, memory or stop grace, which change in place), so a new revision is exactly a
    rolling replacement. Deterministic: the same deployment gives the same revision on every
    run. Example: ``revision("inference:1", (), (), (), "1.0", 0)`` -> 8 hex digits that change
    when the image becomes ``inference:2``."""
    text = json.dumps([image, env, [(m.source, m.target, m.read_only) for m in mounts],
                       [kv for kv in instance_labels if kv[0] != labels.INSTANCE], cpus, gpus])
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _seconds(value: int) -> str:
    return f"{value}s"


#: The healthcheck's fixed script (exec form, ``CMD``): the URL is its first argument
#: (``"$1"``), never text of the script, so no readiness path can become shell syntax
#: (``/ready?a=1&b=2``, ``/x;true;#`` and ``/it's`` are each one URL). The first of curl,
#: wget and python3 the image has asks it; any HTTP status >= 400 or no answer fails.
HEALTHCHECK_SCRIPT = (
    'if command -v curl >/dev/null; then exec curl -fsSg -o /dev/null --max-time "$2" "$1"; fi; '
    'if command -v wget >/dev/null; then exec wget -q -O /dev/null -T "$2" "$1"; fi; '
    'exec python3 -c "import sys, urllib.request; '
    'urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2]))" "$1" "$2"'
)


def healthcheck(state: DeploymentState, port: int, path: str) -> Healthcheck:
    """Exec form: ``CMD /bin/sh -c HEALTHCHECK_SCRIPT mlplan-healthcheck URL TIMEOUT``."""
    probe = state.deployment.readiness_probe
    url = f"http://127.0.0.1:{port}{path}"
    test = ("CMD", "/bin/sh", "-c", HEALTHCHECK_SCRIPT, "mlplan-healthcheck", url,
            str(probe.timeout))
    return Healthcheck(test, _seconds(probe.period), _seconds(probe.timeout),
                       _seconds(probe.initial_delay), probe.failure_threshold)


def _instance_labels(endpoint: str, state: DeploymentState, image: str,
                     index: int) -> tuple[tuple[str, str], ...]:
    """Labels never carry the batch: a label change replaces a Docker container, and an
    instance's batch changes with the instance count (3 -> 10 moves instance 1 from batch 2 to
    batch 1), so scaling would restart instances that did not change. The batch follows from
    the index and the count (``rollout.batches``)."""
    found = labels.docker_labels(endpoint, "instance")
    found.update({labels.DEPLOYMENT: state.name,
                  labels.INSTANCE_TYPE: state.size.name,
                  labels.INSTANCE: str(index),
                  labels.GPUS: str(state.size.whole_gpus),
                  labels.CPU_MILLIS: str(state.size.cpu_millis),
                  labels.IMAGE: image})
    return tuple(sorted(found.items()))


def plan_endpoint(
    endpoint: EndpointState,
    environment: str,
    settings: DockerSettings,
    assets: Assets,
    absolute: Callable[[str], str],
    is_file: Callable[[str], bool],
) -> EndpointContainers:
    """All containers of one endpoint. ``absolute`` maps a project-relative path to the host
    path; ``is_file`` tells a model file from a model folder (both supplied by the edge)."""
    name = endpoint.name
    prefix = settings.name_prefix
    deployments = tuple(_deployment(endpoint.name, d, settings, assets, absolute, is_file)
                        for d in endpoint.deployments)
    runtime = NginxRuntime(conf_dir=ROUTER_CONF_DIR, resolver=DOCKER_DNS,
                           resolve_valid_s=RESOLVE_VALID_S)
    router = RouterContainer(
        name=f"{prefix}{name}-router",
        image=settings.router_image,
        listen_port=ROUTER_LISTEN_PORT,
        published_port=dict(settings.ports).get(name),
        publish_address=settings.publish_address,
        labels=tuple(sorted(labels.endpoint_labels(name, "router").items())),
        static_config=render_static(runtime),
        script=ROUTER_SCRIPT,
        check_config=render_static(replace(runtime, conf_dir=CONFIG_STAGING_DIR)),
    )
    traffic = labels.format_split(endpoint.endpoint.traffic)
    mirror = labels.format_split((n, p) for n, p in endpoint.endpoint.mirror_traffic if p)
    config_labels = labels.docker_labels(name, "config")
    config_labels.update({labels.TRAFFIC: traffic, labels.MIRROR: mirror,
                          labels.AUTH_MODE: endpoint.endpoint.auth_mode,
                          labels.ENVIRONMENT: environment})
    writer = RoutingWriter(conf_dir=ROUTER_CONF_DIR, staging_dir=CONFIG_STAGING_DIR,
                           router=router.name, listen_port=ROUTER_LISTEN_PORT,
                           health_path=HEALTH_PATH, control_port=ROUTER_CONTROL_PORT,
                           wait_s=ROUTER_LOAD_WAIT_S)
    deployments = tuple(
        replace(planned, drains=plan_drains(endpoint, state, planned, runtime, writer, prefix))
        for state, planned in zip(endpoint.deployments, deployments, strict=True))
    return EndpointContainers(
        endpoint=name, network=f"{prefix}{name}", volume=f"{prefix}{name}-router-config",
        router=router, config_container=f"{prefix}{name}-router-config",
        config_labels=tuple(sorted(config_labels.items())), deployments=deployments,
        runtime=runtime, host=settings.host,
        config_command=config_program(writer, f"mlplan-router-config: endpoint {name}"),
    )


def plan_drains(endpoint: EndpointState, state: DeploymentState,
                planned: DeploymentContainers, runtime: NginxRuntime, writer: RoutingWriter,
                prefix: str = "") -> tuple[DrainContainer, ...]:
    """One drain per in-place batch (every batch but the surge batch; all of them for an
    exempt instance type). Its upstream block routes the surge batch by alias (the old and
    the new container answer it together while the roll runs), the other batches by name,
    and marks its own batch ``down``. No drain for a deployment that is only its surge batch
    (one instance, not exempt): the config container switches from the old revision's name
    to the new one's once the new one is healthy. An exempt one-instance deployment's drain
    marks its only server down: while it is replaced the router answers 502 at once instead
    of queueing requests for a container on its way out (it had no instance to serve anyway).
    Example: blue 10 (batches of 2), not exempt -> drains of batches 2..5; blue 10 exempt ->
    batches 1..5; blue 1 -> none."""
    routed = tuple(f"{c.alias if c.surge else c.name}:{c.port}" for c in planned.containers)
    backend = router_backend(state, routed)
    drains = []
    for number, batch in enumerate(planned.batches, start=1):
        if all(c.surge for c in batch):
            continue
        down = frozenset(f"{c.name}:{c.port}" for c in batch)
        found = labels.docker_labels(endpoint.name, "drain")
        found.update({labels.DEPLOYMENT: state.name, labels.BATCH: str(number)})
        who = f"mlplan-drain: {endpoint.name}/{state.name} batch {number}"
        drains.append(DrainContainer(
            name=f"{prefix}{endpoint.name}-{state.name}-batch-{number}-drain",
            deployment=state.name, batch=number, instances=tuple(c.name for c in batch),
            revision=planned.revision, upstream_conf=render_upstream(backend, runtime, down),
            command=drain_program(writer, who, backend.upstream),
            labels=tuple(sorted(found.items()))))
    return tuple(drains)


def _deployment(
    endpoint: str,
    state: DeploymentState,
    settings: DockerSettings,
    assets: Assets,
    absolute: Callable[[str], str],
    is_file: Callable[[str], bool],
) -> DeploymentContainers:
    dep = state.deployment
    # WORKER_PRELOAD: azmlinfsrv then runs init() (loads the model) before gunicorn binds its
    # port, so a replaced instance refuses connections until it can answer, and the router
    # (which re-resolves the instance's name at once) retries elsewhere instead of queueing a
    # request behind a booting worker (seen on a real host: 408s during a roll without it).
    env: dict[str, str] = {"MLPLAN_ENDPOINT": endpoint, "MLPLAN_DEPLOYMENT": dep.name,
                           "WORKER_COUNT": str(
                               dep.request_settings.max_concurrent_requests_per_instance),
                           "WORKER_PRELOAD": "true"}
    mounts: list[Mount] = []
    model = resolve_model(dep, assets)
    if model is not None:
        model_dir = dep.model_mount_path or f"{MODELS_ROOT}/{model.name}/{model.version}"
        target = model_dir
        if is_file(model.path):
            target = f"{model_dir}/{posixpath.basename(model.path)}"
        mounts.append(Mount(absolute(model.path), target))
        env["AZUREML_MODEL_DIR"] = model_dir
    code = dep.code_configuration
    if code is not None:
        folder = resolve_code(dep, assets)  # an azureml: code asset: its mapped folder
        code_dir = f"{APP_ROOT}/{posixpath.basename(folder.rstrip('/')) or 'code'}"
        mounts.append(Mount(absolute(folder), code_dir))
        env["AML_APP_ROOT"] = code_dir
        env["AZUREML_ENTRY_SCRIPT"] = code.scoring_script
    env.update(dict(dep.environment_variables))
    # mlplan's own variables win, as on Kubernetes (the spec warns about a colliding name)
    env.update({"MLPLAN_ENDPOINT": endpoint, "MLPLAN_DEPLOYMENT": dep.name})
    environment = dep.environment
    port = scoring_route(dep).port  # the router's upstream; the healthcheck asks readiness
    ready = probe_route(dep, "readiness")
    image = resolve_image(dep, assets)
    build_context = ""
    if environment is not None and environment.build_path and not image:
        build_context = absolute(environment.build_path)
        image = f"mlplan/{endpoint}-{dep.name}:local"
    size = state.size
    limits = settings.resource_limits
    cpus = provider_cpus(size.cpu_millis) if limits == "enforce" and size.cpu_millis else ""
    memory = size.memory_mib if limits in ("enforce", "memory-only") else 0
    check = healthcheck(state, ready.port, ready.path)
    probe = dep.readiness_probe
    wait_timeout = probe.initial_delay + probe.period * probe.failure_threshold + probe.timeout
    grace = stop_grace_seconds(dep.request_settings.request_timeout_ms)
    env_pairs = tuple(sorted(env.items()))
    rev = revision(image, env_pairs, tuple(mounts), _instance_labels(endpoint, state, image, 0),
                   cpus, size.whole_gpus)
    surges = state.rollout.surge  # the target's answer (``DOCKER.surges``): not exempt
    containers = []
    for batch_number, members in enumerate(batches(dep.instance_count), start=1):
        for index in members:
            alias = instance_name(endpoint, dep.name, index, settings.name_prefix)
            surge = surges and batch_number == 1
            containers.append(InstanceContainer(
                name=f"{alias}-{rev}" if surge else alias,
                index=index, batch=batch_number, image=image,
                env=env_pairs, mounts=tuple(mounts),
                labels=_instance_labels(endpoint, state, image, index),
                cpus=cpus, memory_mib=memory, gpus=size.whole_gpus, port=port,
                healthcheck=check, wait_timeout_s=wait_timeout, stop_grace_s=grace,
                cpu_millis=size.cpu_millis, alias=alias, revision=rev if surge else "",
            ))
    return DeploymentContainers(
        name=dep.name, image=image, build_context=build_context,
        dockerfile=environment.dockerfile_path if environment and build_context else "",
        containers=tuple(containers), revision=rev,
    )


@dataclass(frozen=True)
class KnownHost:
    """What the Docker host answered: its CPUs and the names of the instance containers it
    has (running or not, any stack's)."""

    cpus: int
    instances: frozenset[str]


@dataclass(frozen=True)
class InstanceOrder:
    """What each instance container of one deployment waits for (``depends_on``, by container
    name) and the creation waves of those the host does not have yet (none: host unknown)."""

    waits: Mapping[str, tuple[str, ...]]
    waves: tuple[tuple[str, ...], ...]
    host_cpus: int | None

    @functools.cached_property
    def _wave_numbers(self) -> dict[str, int]:
        return {n: number for number, wave in enumerate(self.waves, start=1) for n in wave}

    def wave_of(self, name: str) -> int:
        """1-based wave of a new container; 0 for one the host has (or an unknown host)."""
        return self._wave_numbers.get(name, 0)

    def registration(self, deployment: DeploymentContainers
                     ) -> tuple[InstanceContainer | DrainContainer, ...]:
        """The deployment's containers and drains in an order that registers each after what
        it waits for: new containers (in wave order) first, then batch by batch its drain and
        its other containers by index. Example: scale 3 -> 5 (batches of 1) -> blue-3, blue-4,
        blue-0, drain 2, blue-1, drain 3, blue-2, drain 4, drain 5 (blue-0 waits for blue-4)."""
        numbers = self._wave_numbers
        new = sorted((c for c in deployment.containers if numbers.get(c.name)),
                     key=lambda c: c.index)
        found: list[InstanceContainer | DrainContainer] = list(new)
        for number, batch in enumerate(deployment.batches, start=1):
            drain = deployment.drain_of(number)
            if drain is not None:
                found.append(drain)
            found += [c for c in batch if not numbers.get(c.name)]
        return tuple(found)


def wave_size(host_cpus: int, cpu_millis: int) -> int:
    """New instances created together: ``floor(host CPUs / cores per instance)``, at least 1;
    a type without cores counts as one. Examples: 2 CPUs, 1 core -> 2; 2 CPUs, 4 cores -> 1;
    5 CPUs, 2 cores -> 2; 64 CPUs, 4 cores -> 16."""
    return max(1, host_cpus * 1000 // (cpu_millis if cpu_millis > 0 else 1000))


def instance_order(deployment: DeploymentContainers, host: KnownHost | None) -> InstanceOrder:
    """The creation and replacement order of one deployment's instance containers.

    Rules:

    - host unknown (None: it could not be asked): every container of batch k+1 waits for every
      container of batch k, as for a replacement;
    - a container the host does not have serves nothing yet: the new ones, by index, are
      created in waves of ``wave_size`` (booting more at once on the host only slows every one
      of them past its health wait), every one of wave k+1 waiting for every one of wave k;
    - a container the host already has can only be replaced, delete first, so it stops
      serving: it waits for the existing containers of the nearest earlier batch that has any,
      and the first existing batch waits for the last wave (Azure's order: scale first, then
      roll).

    The cap is per deployment: deployments created in one update boot side by side, as their
    first batches always did. Example: 2-CPU host, 1-core instances, blue 5 (batches of 1)
    of which the host has blue-0..2 (names shortened): waves [blue-3, blue-4]; blue-3,
    blue-4 -> (); blue-0 -> (blue-3, blue-4); blue-1 -> (blue-0,); blue-2 -> (blue-1,).
    A new red of 5: waves [red-0, red-1], [red-2, red-3], [red-4]; red-2, red-3 -> (red-0,
    red-1); red-4 -> (red-2, red-3). Host unknown: blue-k -> (blue-(k-1),), no waves.
    """
    drains = {d.batch: d.name for d in deployment.drains}
    if host is None:
        return InstanceOrder(_chain(deployment.batches, (), lambda _name: True, drains), (),
                             None)
    new = [c for c in deployment.containers if c.name not in host.instances]
    waits: dict[str, tuple[str, ...]] = {}
    waves: list[tuple[str, ...]] = []
    if new:
        size = wave_size(host.cpus, max(c.cpu_millis for c in new))
        for start in range(0, len(new), size):
            wave = tuple(c.name for c in new[start:start + size])
            for name in wave:
                waits[name] = waves[-1] if waves else ()
            waves.append(wave)
    waits.update(_chain(deployment.batches, waves[-1] if waves else (),
                        host.instances.__contains__, drains))
    return InstanceOrder(waits, tuple(waves), host.cpus)


def _chain(groups: tuple[tuple[InstanceContainer, ...], ...], first: tuple[str, ...],
           chained: Callable[[str], bool], drains: Mapping[int, str]
           ) -> dict[str, tuple[str, ...]]:
    """The ``chained`` containers of each batch wait for those of the nearest earlier batch
    that has any (the first for ``first``); a batch's drain (``drains``: batch -> name) sits
    between: it waits for that, and the batch's chained containers wait for it, so the
    router has taken the batch out before its containers are replaced."""
    waits: dict[str, tuple[str, ...]] = {}
    previous = first
    for number, batch in enumerate(groups, start=1):
        drain = drains.get(number)
        if drain is not None:
            waits[drain] = previous
            previous = (drain,)
        names = tuple(c.name for c in batch if chained(c.name))
        for name in names:
            waits[name] = previous
        if names:
            previous = names
    return waits


def creation_note(endpoint: str, deployment: DeploymentContainers, order: InstanceOrder) -> str:
    """One line for the engine's log on the new containers of a deployment ("" if none).

    Example (2-CPU host, 1-core instances): ``my-endpoint/red creates 5 new instances in 3
    waves of 2 (floor(2 host CPUs / 1 core), wave 1: instances 0, 1; wave 2: 2, 3; wave 3:
    4); each wave must be healthy before the next starts``.
    """
    if not order.waves:
        return ""
    index = {c.name: c for c in deployment.containers}
    count = sum(len(w) for w in order.waves)
    parts = []
    for number, wave in enumerate(order.waves, start=1):
        indexes = ", ".join(str(index[n].index) for n in wave)
        noun = ("instance " if len(wave) == 1 else "instances ") if number == 1 else ""
        parts.append(f"wave {number}: {noun}{indexes}")
    cores = max(index[n].cpu_millis for w in order.waves for n in w) / 1000
    waves = len(order.waves)
    return (f"{endpoint}/{deployment.name} creates {count} new instance"
            f"{'s' if count != 1 else ''} in {waves} wave{'s' if waves != 1 else ''} of "
            f"{len(order.waves[0])} (floor({order.host_cpus} host CPUs / {cores:g} "
            f"core{'s' if cores != 1 else ''}), {'; '.join(parts)}); each wave must be "
            "healthy before the next starts")


@dataclass(frozen=True)
class DockerHost:
    """What the Docker host says of itself (``GET /info``): CPUs and memory."""

    cpus: int
    memory_mib: int


def check_host(endpoints: tuple[EndpointState, ...], settings: DockerSettings, host: DockerHost,
               catalog: Catalog = DEFAULT_CATALOG) -> list[Diagnostic]:
    """Instance limits the Docker host cannot give, one diagnostic per deployment.

    Rules: Docker refuses a container whose CPU limit exceeds the host's CPUs ("Range of CPUs is
    from 0.01 to 2.00"), so with ``resourceLimits: enforce`` an instance type with more cores
    than the host is an error; a memory limit above the host's memory is accepted by Docker but
    limits nothing, so it is a warning (``enforce`` and ``memory-only``). Example: 2-CPU host,
    blue on Standard_DS3_v2 (4 cores) -> MLP123 error suggesting ``resourceLimits:
    memory-only`` or Standard_DS2_v2 (2 cores, the largest of its family that fits).
    """
    found: list[Diagnostic] = []
    limits = settings.resource_limits
    for endpoint in endpoints:
        for state in endpoint.deployments:
            size = state.size
            where = state.deployment.source.at("instance_type")
            who = f"deployment {endpoint.name}/{state.name}"
            if limits == "enforce" and size.cpu_millis > host.cpus * 1000:
                fits = _largest_fitting(catalog, size.family, host.cpus)
                hint = f", or an instance type with at most {host.cpus} cores" + (
                    f" such as {fits}" if fits else "")
                found.append(error(codes.DOCKER_HOST_CAPACITY, where, (
                    f"{who}: instance type {size.name} limits each container to "
                    f"{size.cpu_millis / 1000:g} CPUs but the Docker host has {host.cpus}; "
                    "Docker would refuse every instance. Set mlplan:docker.resourceLimits: "
                    f"memory-only (memory limits only) or off{hint}.")))
            if limits in ("enforce", "memory-only") and size.memory_mib > host.memory_mib:
                found.append(warning(codes.DOCKER_HOST_CAPACITY, where, (
                    f"{who}: instance type {size.name} limits each container to "
                    f"{size.memory_mib} MiB of memory but the Docker host has "
                    f"{host.memory_mib} MiB, so the limit protects nothing; use a smaller "
                    "instance type or mlplan:docker.resourceLimits: off.")))
    return found


def _largest_fitting(catalog: Catalog, family: str, cpus: int) -> str:
    """The largest CPU-only type of ``family`` with at most ``cpus`` cores ("" if none)."""
    fitting = [t for t in catalog.by_key.values()
               if family and t.family == family and not t.is_gpu and not t.custom
               and t.cpu_millis <= cpus * 1000]
    if not fitting:
        return ""
    return max(fitting, key=lambda t: (t.cpu_millis, t.memory_mib, t.name)).name


def roll_note(endpoint: str, deployment: DeploymentContainers) -> str:
    """One line for the engine's log: which instance is in which batch, and the wait. Printed
    with the deployment, so a container that never becomes healthy (``my-endpoint-blue-3``)
    can be read as "batch 2 of 5" and the batches after it as untouched.

    Example (5 instances, 23 s wait): ``my-endpoint/blue rolls in 5 batches of 1 (batch 1:
    instance 0, batch 2: 1, ..., batch 5: 4); each batch must be healthy within 23 s before the
    next starts, and a batch that is not stops the update with the later batches untouched``,
    then, with a surge batch, ``; batch 1 is the surge batch: a new revision (1a2b3c4d) starts
    its containers beside the old ones, which serve until the end of the update``.
    """
    groups = deployment.batches
    if not groups:
        return f"{endpoint}/{deployment.name} has no instances"
    size = len(groups[0])
    parts = []
    for number, batch in enumerate(groups, start=1):
        indexes = ", ".join(str(c.index) for c in batch)
        noun = "instance" if len(batch) == 1 else "instances"
        parts.append(f"batch {number}: {noun} {indexes}" if number == 1
                     else f"batch {number}: {indexes}")
    wait = max(c.wait_timeout_s for c in deployment.containers)
    batch_word = "batch" if len(groups) == 1 else "batches"
    surge = ""
    if all(c.surge for c in groups[0]):
        surge = (f"; batch 1 is the surge batch: a new revision ({groups[0][0].revision}) "
                 "starts its containers beside the old ones, which serve until the end of the "
                 "update")
    return (f"{endpoint}/{deployment.name} rolls in {len(groups)} {batch_word} of {size} "
            f"({'; '.join(parts)}); each batch must be healthy within {wait} s before the next "
            "starts, and a batch that is not stops the update with the later batches untouched"
            + surge)
