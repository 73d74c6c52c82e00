"""nginx configuration of one endpoint's router (pure: values in, config text out).

The router is the endpoint: one listen address, key auth, and a traffic router in front of the
deployments' instances. It renders as three files so that the long-lived router process never
restarts for a traffic change:

- ``nginx.conf`` (``render_static``): process, logs, temp paths, proxy defaults. Depends on
  ``NginxRuntime`` only; the router container is built with it.
- ``routing.conf`` (``render_routing``): upstreams, split, mirror, header routes, the servers.
  Depends on ``RouterConfig``; a change is a file rewrite plus ``nginx -s reload`` (graceful).
- ``keys.conf`` (``render_keys``): the accepted keys, kept apart so that the routing file can
  be shown in plans and golden files and the keys can live in a secret.

``render_nginx_conf`` inlines the three into one self-contained file (same text otherwise).

Rules (Azure ML online endpoint semantics):

- Live split: ``split_clients`` over ``$request_id`` (random per request) by integer percent;
  0% deployments get nothing from it. No positive weight -> 404 "The endpoint doesn't have any
  valid deployment with positive weight".
- Header ``azureml-model-deployment: <name>`` (name matched case-insensitively) routes to that
  deployment at any weight (0% included) and is never mirrored; an unknown name -> 404 whose
  JSON lists the deployments. Answers carry ``azureml-model-deployment: <who answered>``.
- Mirror ``{green: 10}``: 10% of live-split requests (sampled on ``mirror$request_id``, so
  independent of the live split) are copied to green; the copy's answer is discarded. The
  sample is drawn before routing: only sampled requests reach a location with nginx's
  ``mirror`` (``@route/mirrored/live/<name>``), which costs a subrequest per request. nginx
  keeps a client's keep-alive connection busy until every mirror subrequest has ended, so a
  slow copy would delay that client's next request. The copy therefore goes through a local
  relay server (unix socket) that reads it, answers at once and forwards it to green in its own
  background subrequest: live latency never waits for green. Copies count against green's
  429 limit below, so a slow green sheds copies instead of piling them up in the router.
- Keys: ``Authorization: Bearer <primary|secondary>`` (scheme case-insensitive, key exact) ->
  pass; missing or wrong -> 401 JSON. No keys -> auth disabled. The header is never logged and
  never sent upstream.
- Retry: ``proxy_next_upstream error timeout http_502 http_503 non_idempotent`` to another
  instance of the same deployment, POST /score included, so a stopped batch drops nothing.
  ``proxy_next_upstream_timeout`` equals the request timeout, so a read timeout (which can only
  fire after that long) is never retried: only refused/reset connections, connect timeouts and
  502/503 answers are, i.e. failures where the instance produced no scoring answer (a reset
  after the request was sent can score twice; scoring is assumed free of side effects).
- Passive health: an address that failed 3 times is skipped for 5 s, except a name re-resolved
  at run time (``resolve``), which is never skipped (``max_fails=0``): its containers appear
  before they listen, and skipping a booting replacement left none to try when the old one went.
- Request timeout: ``request_timeout_ms`` bounds connect, send and read; slower -> **408**
  (Azure's status for "model took longer than request_timeout_ms"), not nginx's 504. An
  upstream's own 504 passes through unchanged.
- Overload: more than ``2 * max_concurrent_requests_per_instance * instances`` requests in
  flight at one deployment -> 429 (Azure's rule), via ``limit_conn``. No instances -> 503.
- Routes: everything (``/``, ``/score``, ``/swagger.json``, ...) passes through with auth;
  ``/-/healthy`` is answered by the router itself without auth (container healthcheck).
- Scoring route (custom containers, ``inference_config.scoring_route``): the endpoint's scoring
  URI ``/score`` (query kept) reaches a deployment at its ``scoring_path`` on the instances'
  port, as Azure maps it; every other path passes through unchanged (Triton's ``/v2/...``
  under ``scoring_route: {path: /}``). Example: TorchServe with ``/predictions/densenet161``:
  ``POST /score?v=1`` -> ``POST /predictions/densenet161?v=1``; ``GET /ping`` -> ``/ping``.
- Names follow ``^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$``, keys the RFC 6750 token alphabet,
  paths a plain absolute-path alphabet: nothing a caller passes can inject nginx syntax.
  Output is sorted by deployment name, so it is deterministic.
- Instance host names resolve when nginx loads the config (nginx < 1.27.3): an instance name
  that does not resolve makes ``nginx -t``/reload fail. ``NginxRuntime.resolver`` switches to
  run-time re-resolution (``server ... resolve``, nginx >= 1.27.3).

Example: backends blue (2 instances) and green (1), traffic blue=90 green=10, no mirror, keys
("k1...", "k2..."): routing.conf holds ``upstream mlplan_blue`` with two servers,
``split_clients "${request_id}" $mlplan_live_route {90% live/blue; * live/green;}``, a header
map {"" -> split, blue -> direct/blue, green -> direct/green, else unknown}, and locations
``@route/{live,direct}/{blue,green}`` proxying with ``proxy_read_timeout 5000ms``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from mlplan.domain.names import (
    KEY_PATTERN,
    MAX_KEY_LENGTH,
    MAX_MIRROR_PERCENT,
    MAX_ROUTE_PATH_LENGTH,
    MIN_KEY_LENGTH,
    NAME_PATTERN,
    ROUTE_PATH_PATTERN,
    ROUTING_HEADER,
    SCORING_PATH,
)

PATH_PATTERN = re.compile(r"^/[A-Za-z0-9._/+-]*\Z")
_HOST_PATTERN = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
    r"[A-Za-z0-9])?)*\Z"
)
_IPV6_PATTERN = re.compile(r"^\[[0-9A-Fa-f:.]+\]\Z")
_IPV4_PATTERN = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}\Z")
_USER_PATTERN = re.compile(r"^[a-z_][a-z0-9_-]{0,31}\Z")

HEADER = ROUTING_HEADER
MAP_KEYWORDS = frozenset({"default", "hostnames", "include", "volatile"})
HEALTH_PATH = "/-/healthy"
MAIN_FILE = "nginx.conf"
ROUTING_FILE = "routing.conf"
KEYS_FILE = "keys.conf"
NO_VALID_DEPLOYMENT = "The endpoint doesn't have any valid deployment with positive weight"
TIMEOUT_STATUS = 408
#: only ever an internal jump to a named location (a route, a timeout's retry), never answered
ROUTE_STATUS = 418
# Passive health: an instance failing this often within FAIL_TIMEOUT_S is skipped that long.
MAX_FAILS = 3
FAIL_TIMEOUT_S = 5
CONNECT_TIMEOUT_MS = 1000  # capped by the deployment's request timeout
MIRROR_RELAY_TIMEOUT_MS = 1000  # outer hop to the local relay only
UPSTREAM_KEEPALIVE_TIMEOUT_MS = 1000  # below common server idle timeouts (gunicorn: 2 s)
# Per-request log: written in blocks of whole lines, at most ACCESS_LOG_FLUSH_MS late. One
# write() per 4 KiB instead of per request; 4 KiB = PIPE_BUF, so on a pipe (a container's
# stdout) each block is atomic and lines of different workers never interleave.
ACCESS_LOG_BUFFER = "4k"
ACCESS_LOG_FLUSH_MS = 100
# Slow clients (issue 27): a client gets CLIENT_TIMEOUT_S to send its header, and as long
# between two reads of its body or two writes of the answer (nginx's 60 s defaults let 253
# half-sent requests starve the router; the CIS NGINX benchmark asks for about 10 s). A client
# address has at most CLIENT_CONNECTION_LIMIT requests in flight (429 beyond: high, as every
# client behind a NAT or Docker's userland proxy shares one address; /-/healthy is exempt).
# Bodies: at most MAX_BODY_MIB (one scoring request; larger is 413), held in memory up to
# BODY_BUFFER_MIB and spooled to temp files beyond, so a request costs at most that much
# memory; with a mirror on a body is spooled twice (router and relay), hence the cap.
CLIENT_TIMEOUT_S = 10
CLIENT_CONNECTION_LIMIT = 512
MAX_BODY_MIB = 100
BODY_BUFFER_MIB = 1


@dataclass(frozen=True, kw_only=True)
class RouterBackend:
    """One deployment: its instances as ``host:port`` and its request settings."""

    name: str
    instances: tuple[str, ...]
    request_timeout_ms: int = 5000
    max_concurrent_requests_per_instance: int = 1
    scoring_path: str = SCORING_PATH  # where the instances take ``/score`` (scoring_route.path)

    def __post_init__(self) -> None:
        _check_name("deployment", self.name)
        path = self.scoring_path
        if not ROUTE_PATH_PATTERN.match(path) or len(path) > MAX_ROUTE_PATH_LENGTH:
            raise ValueError(f"deployment {self.name}: scoring_path must be an absolute URL path "
                             "of A-Z a-z 0-9 and . _ ~ : @ ! & * + , = % / -")
        for instance in self.instances:
            _check_instance(self.name, instance)
        if len(set(self.instances)) != len(self.instances):
            raise ValueError(f"deployment {self.name}: instances must be distinct")
        if not 1 <= self.request_timeout_ms <= 3_600_000:
            raise ValueError(f"deployment {self.name}: request_timeout_ms must be 1..3600000")
        if self.max_concurrent_requests_per_instance < 1:
            raise ValueError(
                f"deployment {self.name}: max_concurrent_requests_per_instance must be >= 1"
            )

    @property
    def upstream(self) -> str:
        return f"mlplan_{self.name}"

    @property
    def upstream_uri(self) -> str:
        """What the instances are asked for: the request as sent, or for a custom scoring path
        the variable of its map (``_scoring_map``)."""
        if self.scoring_path == SCORING_PATH:
            return "$request_uri"
        return "$mlplan_uri_" + self.name.replace("-", "_")  # names hold no "_": one-to-one

    @property
    def max_in_flight(self) -> int:
        """Azure's 429 threshold: 2 * max_concurrent_requests_per_instance * instances."""
        return 2 * self.max_concurrent_requests_per_instance * len(self.instances)


@dataclass(frozen=True, kw_only=True)
class NginxRuntime:
    """Where the router process keeps its files; defaults suit a container.

    ``resolver`` (e.g. Docker's ``127.0.0.11``) makes upstream host names re-resolve at run time
    (``server ... resolve``), which needs nginx >= 1.27.3; without it names resolve once per
    load and an unresolvable instance name fails the load.
    """

    conf_dir: str = "/etc/mlplan-router"
    pid_path: str = "/var/run/mlplan-router.pid"
    error_log: str = "/dev/stderr"
    access_log: str = "/dev/stdout"
    temp_dir: str = "/tmp"  # must exist; nginx creates its client_body, proxy, ... dirs in it
    mirror_socket: str = "/var/run/mlplan-router-mirror.sock"
    worker_processes: int = 0  # 0 = auto (one per core)
    worker_connections: int = 4096
    error_log_level: str = "warn"
    resolver: str = ""
    #: > 0: each upstream re-resolves its names this often (its own ``resolver``, nginx >=
    #: 1.27.3) instead of the static part's 5 s: a container that joins or leaves an instance's
    #: alias is seen within it. 0: the static part's resolver.
    resolve_valid_s: int = 0
    user: str = ""  # worker user when started as root ("" = nginx's default, nobody)

    @property
    def open_files_per_worker(self) -> int:
        """``worker_rlimit_nofile``: two descriptors per connection (client side + upstream side).

        Docker >= 25 and containerd >= 2 start containers with a soft limit of 1024 open files
        (hard 524288) and expect a program that needs more to raise its own: without this, a
        worker stops accepting at about 1000 connections whatever ``worker_connections`` says.
        Example: 4096 connections -> 8192.
        """
        return 2 * self.worker_connections

    def __post_init__(self) -> None:
        for label in ("conf_dir", "pid_path", "error_log", "access_log", "temp_dir"):
            _check_path(label, getattr(self, label))
        _check_path("mirror_socket", self.mirror_socket)
        if len(self.mirror_socket) > 100:  # sun_path is 108 bytes
            raise ValueError("mirror_socket: path longer than 100 characters")
        if not 0 <= self.resolve_valid_s <= 3600:
            raise ValueError("resolve_valid_s must be 0..3600")
        if self.worker_processes < 0 or self.worker_connections < 64:
            raise ValueError("worker_processes must be >= 0 and worker_connections >= 64")
        if self.error_log_level not in ("warn", "error", "crit", "alert", "emerg", "notice"):
            # info/debug would log request details; never allowed.
            raise ValueError("error_log_level must be one of notice, warn, error, crit, ...")
        if self.user and not _USER_PATTERN.match(self.user):
            raise ValueError("user: a plain user name")
        if self.resolver and not all(
            _IPV4_PATTERN.match(part) or _IPV6_PATTERN.match(part) for part in self.resolver.split()
        ):
            raise ValueError("resolver: space-separated IPv4 or [IPv6] addresses")


@dataclass(frozen=True, kw_only=True)
class RouterConfig:
    """One endpoint's router: listen address, deployments, traffic, mirror and keys.

    ``traffic`` and ``mirror`` are (deployment, percent) pairs; live percents sum to 0 or 100;
    at most one mirror, at most 50%, to a deployment with 0% live. ``keys`` empty = no auth.
    """

    endpoint: str
    listen_port: int
    listen_address: str = "0.0.0.0"
    backends: tuple[RouterBackend, ...]
    traffic: tuple[tuple[str, int], ...] = ()
    mirror: tuple[tuple[str, int], ...] = ()
    keys: tuple[str, ...] = ()

    def __post_init__(self) -> None:  # noqa: C901, PLR0912
        _check_name("endpoint", self.endpoint)
        if not 1 <= self.listen_port <= 65535:
            raise ValueError("listen_port must be 1..65535")
        if not (
            self.listen_address == "*"
            or _IPV4_PATTERN.match(self.listen_address)
            or _IPV6_PATTERN.match(self.listen_address)
        ):
            raise ValueError("listen_address must be '*', an IPv4 address or [IPv6]")
        names = [backend.name for backend in self.backends]
        folded = [name.lower() for name in names]
        if len(set(folded)) != len(folded):
            raise ValueError("deployment names must be distinct (case-insensitively)")
        known = set(names)
        live = dict(self.traffic)
        if len(live) != len(self.traffic):
            raise ValueError("traffic names a deployment twice")
        for name, percent in self.traffic:
            if name not in known:
                raise ValueError(f"traffic names unknown deployment {name!r}")
            if not 0 <= percent <= 100:
                raise ValueError(f"traffic {name}: percent must be 0..100")
        if sum(live.values()) not in (0, 100):
            raise ValueError("traffic percents must sum to 0 or 100")
        if len(self.mirror) > 1:
            raise ValueError("at most one mirror_traffic deployment")
        for name, percent in self.mirror:
            if name not in known:
                raise ValueError(f"mirror_traffic names unknown deployment {name!r}")
            if not 0 <= percent <= MAX_MIRROR_PERCENT:
                raise ValueError(f"mirror_traffic {name}: percent must be 0..{MAX_MIRROR_PERCENT}")
            if live.get(name, 0) > 0:
                raise ValueError(f"mirror_traffic {name}: a mirror target must have 0% live")
        for index, key in enumerate(self.keys):  # never echo a key
            if not (MIN_KEY_LENGTH <= len(key) <= MAX_KEY_LENGTH and KEY_PATTERN.match(key)):
                raise ValueError(
                    f"keys[{index}]: must be {MIN_KEY_LENGTH}..{MAX_KEY_LENGTH} characters of "
                    "A-Z a-z 0-9 - . _ ~ + / with optional trailing ="
                )

    def backend(self, name: str) -> RouterBackend:
        return next(b for b in self.backends if b.name == name)

    @property
    def sorted_backends(self) -> tuple[RouterBackend, ...]:
        return tuple(sorted(self.backends, key=lambda b: b.name))

    @property
    def live(self) -> tuple[tuple[str, int], ...]:
        """Positive live weights, sorted by name."""
        return tuple(sorted((n, p) for n, p in self.traffic if p > 0))

    @property
    def mirror_target(self) -> tuple[str, int] | None:
        active = [(n, p) for n, p in self.mirror if p > 0]
        return active[0] if active else None


def render_files(config: RouterConfig, runtime: NginxRuntime) -> dict[str, str]:
    """The three files by name; ``nginx.conf`` includes the others from ``runtime.conf_dir``."""
    return {
        MAIN_FILE: render_static(runtime),
        ROUTING_FILE: render_routing(config, runtime),
        KEYS_FILE: render_keys(config),
    }


def render_nginx_conf(config: RouterConfig, runtime: NginxRuntime) -> str:
    """One self-contained nginx.conf: the static part with keys and routing inlined."""
    return _static(runtime, render_keys(config), render_routing(config, runtime))


def render_static(runtime: NginxRuntime) -> str:
    """The static part (depends on ``runtime`` only); includes keys.conf and routing.conf."""
    return _static(
        runtime,
        f"include {_path(runtime.conf_dir + '/' + KEYS_FILE)};\n",
        f"include {_path(runtime.conf_dir + '/' + ROUTING_FILE)};\n",
    )


def render_keys(config: RouterConfig) -> str:
    """``$mlplan_authorized``: 1 for an accepted bearer key (or when auth is off), else 0."""
    keys = sorted(set(config.keys))
    lines = [
        f"# mlplan router: accepted keys of endpoint {config.endpoint} (secret; {len(keys)} keys)",
        "map $http_authorization $mlplan_authorized {",
    ]
    if not keys:
        lines.append("    default 1;  # auth disabled")
    else:
        lines.append("    default 0;")
        for key in keys:
            escaped = key.replace(".", r"\.").replace("+", r"\+")
            lines.append(f'    "~^(?i:bearer) +{escaped} *$" 1;')
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_routing(config: RouterConfig, runtime: NginxRuntime) -> str:
    """The routing part: upstreams, split, mirror sampling, header map and the servers."""
    backends = config.sorted_backends
    live = config.live
    mirror = config.mirror_target
    out: list[str] = [
        f"# mlplan router: routing of endpoint {config.endpoint} (generated; do not edit)",
        "# traffic: " + (" ".join(f"{n}={p}" for n, p in live) or "none"),
        "# mirror: " + (" ".join(f"{n}={p}" for n, p in ([mirror] if mirror else [])) or "none"),
        "",
    ]
    out += [
        "# 1 when the last try of a request never connected ($upstream_connect_time ends in",
        '# "-"): a timeout then scored nothing and may be retried.',
        "map $upstream_connect_time $mlplan_never_connected {",
        '    "~(^|[,:] )-$" 1;',
        "    default 0;",
        "}",
        "",
    ]
    for backend in backends:
        out += _upstream(backend, runtime)
        out += _scoring_map(backend)
    if mirror:
        out += [
            "upstream mlplan_mirror_relay {",
            f"    server unix:{runtime.mirror_socket};",
            "}",
            "",
        ]

    # live split -> $mlplan_live_route
    if len(live) > 1:
        out.append('split_clients "${request_id}" $mlplan_live_route {')
        for name, percent in live[:-1]:
            out.append(f"    {percent}% live/{name};")
        out.append(f"    * live/{live[-1][0]};  # {live[-1][1]}%")
        out += ["}", ""]
        live_route = "$mlplan_live_route"
    else:
        live_route = f"live/{live[0][0]}" if live else "none"
    if mirror and live:
        # Sampled here, before routing: only sampled requests reach a location with `mirror`
        # (nginx runs a subrequest for every request such a location sees, sampled or not).
        out += [
            'split_clients "mirror${request_id}" $mlplan_mirror_sample {',
            f"    {mirror[1]}% mirrored/;",
            '    * "";',
            "}",
            "",
        ]
        live_route = '"${mlplan_mirror_sample}' + live_route + '"'

    out += [
        f"map $http_{HEADER.replace('-', '_')} $mlplan_requested_route {{",
        "    default unknown;",
        f'    "" {live_route};',
    ]
    # "\" before a name that is a map keyword (default, include, hostnames, volatile): the map
    # drops it and matches the name as a value. Only there: nginx's tokenizer reads "\t",
    # "\n" and "\r" as tab / newline / return, so "\triton" would be "<tab>riton".
    out += [f"    {chr(92) if b.name in MAP_KEYWORDS else ''}{b.name} direct/{b.name};"
            for b in backends]
    out += [
        "}",
        "",
        "map $mlplan_authorized $mlplan_route {",
        "    1 $mlplan_requested_route;",
        "    default unauthorized;",
        "}",
        "",
    ]

    out += _main_server(config, backends, live, mirror)
    if mirror:
        out += _relay_server(config.backend(mirror[0]), runtime)
    return "\n".join(out).rstrip("\n") + "\n"


# ---------------------------------------------------------------------------------------------


def _static(runtime: NginxRuntime, keys: str, routing: str) -> str:
    workers = str(runtime.worker_processes) if runtime.worker_processes else "auto"
    temp = runtime.temp_dir.rstrip("/")
    log_format = (
        '{"time":"$time_iso8601","remote":"$remote_addr","method":"$request_method",'
        '"uri":"$request_uri","status":$status,"bytes":$body_bytes_sent,'
        '"request_time":$request_time,"deployment":"$mlplan_deployment","via":"$mlplan_via",'
        '"upstream":"$upstream_addr","upstream_status":"$upstream_status",'
        '"upstream_time":"$upstream_response_time","request_id":"$request_id",'
        '"msec":$msec,"probe":"$mlplan_probe"}'
    )
    lines = [
        "# mlplan router (static part): process, logs and proxy defaults. Routing and keys are",
        "# rewritten and applied with `nginx -s reload`; this part never changes with them.",
        *([f"user {runtime.user};"] if runtime.user else []),
        f"worker_processes {workers};",
        f"worker_rlimit_nofile {runtime.open_files_per_worker};",
        "# The key check and the scoring-path maps are regular expressions run on every request:",
        "# compiled to machine code the key check costs about 1,600 fewer instructions.",
        "pcre_jit on;",
        f"pid {_path(runtime.pid_path)};",
        f"error_log {_path(runtime.error_log)} {runtime.error_log_level};",
        "",
        "events {",
        f"    worker_connections {runtime.worker_connections};",
        "}",
        "",
        "http {",
        "    server_tokens off;",
        "    default_type application/json;",
        f"    client_body_temp_path {_path(temp + '/client_body')};",
        f"    proxy_temp_path {_path(temp + '/proxy')};",
        f"    fastcgi_temp_path {_path(temp + '/fastcgi')};",
        f"    uwsgi_temp_path {_path(temp + '/uwsgi')};",
        f"    scgi_temp_path {_path(temp + '/scgi')};",
        "    # No header is logged: the Authorization header (the key) never reaches a log.",
        "    # mlplan's probes send x-mlplan-probe; only whether they did is logged (1 or empty).",
        "    map $http_x_mlplan_probe $mlplan_probe {",
        '        "" "";',
        "        default 1;",
        "    }",
        f"    log_format mlplan escape=json {_quote(log_format, allow_variables=True)};",
        f"    access_log {_path(runtime.access_log)} mlplan buffer={ACCESS_LOG_BUFFER} "
        f"flush={ACCESS_LOG_FLUSH_MS}ms;",
        f"    client_max_body_size {MAX_BODY_MIB}m;",
        f"    client_body_buffer_size {BODY_BUFFER_MIB}m;",
        f"    client_header_timeout {CLIENT_TIMEOUT_S}s;",
        f"    client_body_timeout {CLIENT_TIMEOUT_S}s;",
        f"    send_timeout {CLIENT_TIMEOUT_S}s;",
        "    limit_conn_zone $binary_remote_addr zone=mlplan_per_client:10m;",
        "    keepalive_timeout 75s;",
        "    keepalive_requests 10000;",
        "    reset_timedout_connection on;",
        "    limit_conn_zone $mlplan_deployment zone=mlplan_inflight:1m;",
        "    limit_conn_status 429;",
        "    limit_conn_log_level warn;",
    ]
    if runtime.resolver:
        lines.append(f"    resolver {runtime.resolver} valid=5s ipv6=off;")
    lines.append("")
    lines += _indent(keys.rstrip("\n").split("\n"), 1)
    lines.append("")
    lines += _indent(routing.rstrip("\n").split("\n"), 1)
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_upstream(backend: RouterBackend, runtime: NginxRuntime,
                    down: frozenset[str] = frozenset()) -> str:
    """One deployment's ``upstream`` block as ``render_routing`` writes it, with the servers in
    ``down`` (``host:port``, as in ``backend.instances``) marked ``down``: nginx sends them no
    new request, in-flight ones finish. Used to take an instance out of the routing before it
    stops (Docker's drain). Example: blue ``(b-0:5001, b-1:5001)``, down ``{b-1:5001}`` ->
    ``server b-1:5001 resolve max_fails=0 down;`` beside ``server b-0:5001 resolve ...;``."""
    return "\n".join(_upstream(backend, runtime, down)).rstrip("\n") + "\n"


def _upstream(backend: RouterBackend, runtime: NginxRuntime,
              down: frozenset[str] = frozenset()) -> list[str]:
    if not backend.instances:
        return []
    lines = [f"upstream {backend.upstream} {{", f"    zone {backend.upstream} 64k;"]
    if runtime.resolver and runtime.resolve_valid_s > 0:
        lines.append(f"    resolver {runtime.resolver} valid={runtime.resolve_valid_s}s ipv6=off;")
    for instance in sorted(backend.instances):
        marked = " down" if instance in down else ""
        if runtime.resolver and not _is_ip(instance):
            # Never marked down (max_fails=0): Docker's DNS answers a name from a container's
            # start, not from healthy, so passive health would skip a booting replacement
            # that refused while it loaded; when the old container then left, every address
            # was skipped and nginx answered 502 "no live upstreams" (seen: a 1-instance
            # surge roll lost half its requests for 5 s; backup copies of the names did not
            # prevent it). A refused connect costs nothing and the request moves on; a gone
            # container costs one connect timeout until the name is re-resolved. The routing
            # writers (router/drain.py) follow each such line with its addresses of the
            # moment as ``backup`` servers: a reload's new workers start with no address.
            lines.append(f"    server {instance} resolve max_fails=0{marked};")
        else:
            lines.append(f"    server {instance} max_fails={MAX_FAILS} "
                         f"fail_timeout={FAIL_TIMEOUT_S}s{marked};")
    keepalive = min(64, max(2, backend.max_in_flight))
    lines += [
        f"    keepalive {keepalive};",
        f"    keepalive_timeout {UPSTREAM_KEEPALIVE_TIMEOUT_MS}ms;",
        "}",
        "",
    ]
    return lines


def _scoring_map(backend: RouterBackend) -> list[str]:
    """A custom scoring path: ``/score`` (with its query) -> that path, anything else as sent."""
    if backend.scoring_path == SCORING_PATH:
        return []
    target = _quote(backend.scoring_path + "$1", allow_variables=True)
    return [
        f"# {backend.name}: the scoring URI {SCORING_PATH} -> {backend.scoring_path}",
        f"map $request_uri {backend.upstream_uri} {{",
        "    default $request_uri;",
        f'    "~^{SCORING_PATH}(\\?.*)?$" {target};',
        "}",
        "",
    ]


def _main_server(
    config: RouterConfig,
    backends: tuple[RouterBackend, ...],
    live: tuple[tuple[str, int], ...],
    mirror: tuple[str, int] | None,
) -> list[str]:
    names = ", ".join(b.name for b in backends) or "none"
    unknown = _json_error(
        "DeploymentNotFound",
        f"The deployment named by header {HEADER} does not exist in endpoint "
        f"{config.endpoint}. Deployments: {names}.",
    )
    lines = [
        "server {",
        f"    listen {config.listen_address}:{config.listen_port};",
        "    # $mlplan_deployment/$mlplan_via are set per route; unset (logged empty) elsewhere.",
        "    # No server-level `set`: subrequests (mirror) rerun it and share the variables.",
        "    uninitialized_variable_warn off;",
        "",
        f"    location = {HEALTH_PATH} {{",
        "        access_log off;",
        f"        return 200 {_quote(json.dumps({'status': 'Healthy'}))};",
        "    }",
        "",
        "    # Every request jumps to its route's named handler (@route/live/blue, ...) through",
        "    # error_page: unlike a rewrite to an internal URI this keeps the request URI, so",
        "    # a route proxies it as sent with a fixed proxy_pass (no URL parse and upstream",
        "    # lookup per request). recursive_error_pages: the routes' own error_page (408, 502,",
        "    # 429) still apply.",
        "    location / {",
        "        recursive_error_pages on;",
        f"        error_page {ROUTE_STATUS} = @route/$mlplan_route;",
        f"        return {ROUTE_STATUS};",
        "    }",
        "",
        "    location @route/unauthorized {",
        '        add_header WWW-Authenticate "Bearer" always;',
        "        return 401 "
        + _json_error(
            "Unauthorized",
            "Missing or invalid key: send 'Authorization: Bearer <primary or secondary key>'.",
        )
        + ";",
        "    }",
        "",
        "    location @route/unknown {",
        f"        return 404 {unknown};",
        "    }",
        "",
        "    location @route/none {",
        f"        return 404 {_json_error('NoValidDeployment', NO_VALID_DEPLOYMENT)};",
        "    }",
    ]
    live_names = {name for name, _ in live}
    for backend in backends:
        if backend.name in live_names:
            lines += _route(backend, "live", "split", mirrored=False)
            if mirror:
                lines += _route(backend, "mirrored/live", "split", mirrored=True)
        lines += _route(backend, "direct", "header", mirrored=False)
        lines += _error_locations(backend)
    if mirror:
        lines += [
            "",
            "    # Copies of the sampled live-split requests: sent to the relay, answer dropped.",
            "    location = /-/mirror {",
            "        internal;",
            "        proxy_pass http://mlplan_mirror_relay$request_uri;",
            *_proxy_headers("Connection", "close", request_id="$request_id"),
            f"        proxy_connect_timeout {MIRROR_RELAY_TIMEOUT_MS}ms;",
            f"        proxy_send_timeout {MIRROR_RELAY_TIMEOUT_MS}ms;",
            f"        proxy_read_timeout {MIRROR_RELAY_TIMEOUT_MS}ms;",
            "        proxy_next_upstream off;",
            "    }",
        ]
    lines += ["}", ""]
    return lines


def _route(backend: RouterBackend, kind: str, via: str, *, mirrored: bool) -> list[str]:
    lines = [
        "",
        f"    location @route/{kind}/{backend.name} {{",
        f"        set $mlplan_deployment {backend.name};",
        f"        set $mlplan_via {via};",
        f"        add_header {HEADER} {backend.name} always;",
    ]
    if not backend.instances:
        message = f"Deployment {backend.name} has no instances."
        return [*lines, f"        return 503 {_json_error('NoInstances', message)};", "    }"]
    if mirrored:
        lines += ["        mirror /-/mirror;", "        mirror_request_body on;"]
    lines += _proxy(backend, request_id="$request_id", as_sent=True)
    lines += [
        f"        error_page 504 = @mlplan_timeout_{backend.name};",
        f"        error_page 502 = @mlplan_retry_{backend.name};",
        f"        error_page 429 = @mlplan_overloaded_{backend.name};",
        "        recursive_error_pages on;  # the retry's own errors get the JSON answers",
        "    }",
    ]
    return lines


def _retry_location(backend: RouterBackend) -> list[str]:
    """One fresh pass over the deployment's current addresses after nginx itself answered 502.

    nginx gives up with 502 "no live upstreams" when the upstream's address list changed
    while a request was between two tries (a re-resolved name: a container left or joined),
    even though other addresses would answer; seen during Docker rolls after a 1 s connect
    timeout to a container that had just gone. The retry picks from the list as it is now.
    Only nginx's own 502 comes here (no instance answered; an instance's 502 passes through),
    so nothing is scored twice by it; its failures end as the usual JSON answers."""
    return [
        f"    location @mlplan_retry_{backend.name} {{",
        f"        set $mlplan_deployment {backend.name};",
        f"        add_header {HEADER} {backend.name} always;",
        *_proxy(backend, request_id="$request_id", limited=False, as_sent=True),
        f"        error_page 504 = @mlplan_timed_out_{backend.name};",
        f"        error_page 502 = @mlplan_unavailable_{backend.name};",
        "    }",
    ]


def _proxy(
    backend: RouterBackend, *, request_id: str, limited: bool = True, as_sent: bool = False
) -> list[str]:
    """Proxying to ``backend``; ``limited``: with the in-flight limits (a retry's request was
    counted where it came in). ``as_sent``: the location runs for the request itself (a named
    location, not a subrequest), so a deployment that takes ``/score`` as sent gets the URI as
    sent from a ``proxy_pass`` without variables (no URL parse and upstream lookup per request)."""
    timeout = backend.request_timeout_ms
    uri = "" if as_sent and backend.upstream_uri == "$request_uri" else backend.upstream_uri
    limits = [
        f"        limit_conn mlplan_inflight {backend.max_in_flight};",
        # repeated here: a location's own limit_conn drops the ones it would inherit
        f"        limit_conn mlplan_per_client {CLIENT_CONNECTION_LIMIT};",
    ]
    return [
        *(limits if limited else []),
        f"        proxy_pass http://{backend.upstream}{uri};",
        *_proxy_headers("Connection", '""', request_id=request_id),
        f"        proxy_connect_timeout {min(timeout, CONNECT_TIMEOUT_MS)}ms;",
        f"        proxy_send_timeout {timeout}ms;",
        f"        proxy_read_timeout {timeout}ms;",
        "        proxy_next_upstream error timeout http_502 http_503 non_idempotent;",
        f"        proxy_next_upstream_timeout {timeout}ms;",
    ]


def _proxy_headers(name: str, value: str, *, request_id: str) -> list[str]:
    # Listed in every proxying location (a location's own proxy_set_header drops inherited ones).
    return [
        "        proxy_http_version 1.1;",
        f"        proxy_set_header {name} {value};",
        '        proxy_set_header Authorization "";',
        "        proxy_set_header Host $host;",
        "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        f"        proxy_set_header x-request-id {request_id};",
    ]


def _error_locations(backend: RouterBackend) -> list[str]:
    name = backend.name
    timeout = _json_error(
        "RequestTimeout",
        f"Deployment {name} did not answer within request_timeout_ms={backend.request_timeout_ms}.",
    )
    unavailable = _json_error(
        "DeploymentUnavailable", f"No instance of deployment {name} could take the request."
    )
    overloaded = _json_error(
        "TooManyRequests",
        f"Deployment {name} has {backend.max_in_flight} requests in flight "
        "(2 * max_concurrent_requests_per_instance * instances); retry later.",
    )
    # A timeout whose last try never connected (a container that had just gone, still in the
    # DNS cache: its address no longer answers) scored nothing: one fresh pass, like a 502.
    # A read timeout (connected, the model was slow) is the deployment's 408, never retried.
    retry = ([f"        error_page {ROUTE_STATUS} = @mlplan_retry_{name};",
              "        recursive_error_pages on;",
              "        if ($mlplan_never_connected) {",
              f"            return {ROUTE_STATUS};",
              "        }"] if backend.instances else [])
    return [
        "",
        *(_retry_location(backend) if backend.instances else []),
        f"    location @mlplan_timeout_{name} {{",
        *retry,
        f"        add_header {HEADER} {name} always;",
        f"        return {TIMEOUT_STATUS} {timeout};",
        "    }",
        f"    location @mlplan_timed_out_{name} {{",
        f"        add_header {HEADER} {name} always;",
        f"        return {TIMEOUT_STATUS} {timeout};",
        "    }",
        f"    location @mlplan_unavailable_{name} {{",
        f"        add_header {HEADER} {name} always;",
        f"        return 502 {unavailable};",
        "    }",
        f"    location @mlplan_overloaded_{name} {{",
        f"        add_header {HEADER} {name} always;",
        f"        return 429 {overloaded};",
        "    }",
    ]


def _relay_server(target: RouterBackend, runtime: NginxRuntime) -> list[str]:
    """Local relay: answers each copy at once, forwards it to the mirror target in background."""
    lines = [
        "# Mirror relay: the client's connection never waits for the mirror target.",
        "server {",
        f"    listen unix:{runtime.mirror_socket};",
        "    uninitialized_variable_warn off;",
        "",
        "    location / {",
        "        access_log off;",
        "        mirror /-/relay;",
        "        mirror_request_body on;",
        "        error_page 405 =204 @mlplan_relayed;",
        "        empty_gif;",
        "    }",
        "",
        "    location @mlplan_relayed {",
        "        access_log off;",
        "        return 204;",
        "    }",
        "",
        "    location = /-/relay {",
        "        internal;",
        "        log_subrequest on;",
        "        proxy_ignore_client_abort on;",
        f"        set $mlplan_deployment {target.name};",
        "        set $mlplan_via mirror;",
    ]
    if target.instances:
        lines += _proxy(target, request_id="$http_x_request_id")
    else:
        lines.append("        return 204;")
    return [*lines, "    }", "}", ""]


# ---------------------------------------------------------------------------------------------


def _json_error(code: str, message: str) -> str:
    body = json.dumps({"error": {"code": code, "message": message}}, sort_keys=True)
    return _quote(body)


def _quote(text: str, *, allow_variables: bool = False) -> str:
    """nginx double-quoted string; ``$`` only where variables are meant."""
    if "$" in text and not allow_variables:
        raise ValueError("unexpected '$' in a literal")
    if any(ord(c) < 32 for c in text):
        raise ValueError("control character in a literal")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _path(path: str) -> str:
    return _quote(path)


def _indent(lines: list[str], level: int) -> list[str]:
    pad = "    " * level
    return [pad + line if line else "" for line in lines]


def _check_name(label: str, name: str) -> None:
    if not (len(name) <= 63 and NAME_PATTERN.match(name)):
        raise ValueError(
            f"{label} name {name!r} must match {NAME_PATTERN.pattern} (at most 63 characters)"
        )


def _check_path(label: str, path: str) -> None:
    if not PATH_PATTERN.match(path) or "//" in path or "/../" in path + "/":
        raise ValueError(f"{label}: {path!r} must be an absolute path of A-Z a-z 0-9 . _ / + -")


def _check_instance(deployment: str, instance: str) -> None:
    host, sep, port = instance.rpartition(":")
    valid_host = bool(_HOST_PATTERN.match(host) or _IPV6_PATTERN.match(host))
    valid_port = port.isdigit() and 1 <= int(port) <= 65535 and str(int(port)) == port
    if not (sep and valid_host and valid_port):
        raise ValueError(f"deployment {deployment}: instance {instance!r} must be host:port")


def _is_ip(instance: str) -> bool:
    host = instance.rpartition(":")[0]
    return bool(_IPV4_PATTERN.match(host) or _IPV6_PATTERN.match(host))
