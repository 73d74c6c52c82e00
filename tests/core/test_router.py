"""The router config generator, as named scenarios; every scenario also passes ``nginx -t``."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import socket
import subprocess
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlplan.router.nginx import (
    KEYS_FILE,
    MAIN_FILE,
    ROUTING_FILE,
    NginxRuntime,
    RouterBackend,
    RouterConfig,
    render_files,
    render_keys,
    render_nginx_conf,
    render_routing,
    render_static,
)
from tests.lib.ci import in_ci

PRIMARY = "pRiMaRy-key.0123456789+/abc=="
SECONDARY = "secondary_key~0123456789"
BLUE = RouterBackend(name="blue", instances=("my-endpoint-blue-0:5001", "my-endpoint-blue-1:5001"))
GREEN = RouterBackend(name="green", instances=("my-endpoint-green-0:5001",))
RUNTIME = NginxRuntime()


def cfg(**changes: object) -> RouterConfig:
    base = RouterConfig(
        endpoint="my-endpoint",
        listen_port=5001,
        backends=(BLUE, GREEN),
        traffic=(("blue", 100), ("green", 0)),
        keys=(PRIMARY, SECONDARY),
    )
    return replace(base, **changes)


def block(text: str, header: str) -> str:
    """The ``header { ... }`` block of nginx config text (braces matched)."""
    start = text.index(header + " {")
    depth, index = 0, start + len(header)
    while True:
        char = text[index]
        depth += char == "{"
        depth -= char == "}"
        if char == "}" and depth == 0:
            return text[start : index + 1]
        index += 1


@dataclass(frozen=True)
class Scenario:
    name: str
    config: RouterConfig
    runtime: NginxRuntime = RUNTIME
    present: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    blocks: dict[str, tuple[str, ...]] = field(default_factory=dict)  # header -> must contain
    min_nginx: tuple[int, int, int] = (1, 0, 0)


SCENARIOS = [
    Scenario(
        "one live deployment, no split table",
        cfg(),
        present=('"" live/blue;', "blue direct/blue;", "green direct/green;"),
        absent=("split_clients", "mirror /-/mirror", "live/green"),
    ),
    Scenario(
        "90/10 split by request id",
        cfg(traffic=(("blue", 90), ("green", 10))),
        present=(
            'split_clients "${request_id}" $mlplan_live_route {\n'
            "    90% live/blue;\n    * live/green;  # 10%\n}",
            '"" $mlplan_live_route;',
        ),
    ),
    Scenario(
        "three-way split sorted by name",
        cfg(
            backends=(GREEN, BLUE, RouterBackend(name="red", instances=("10.0.0.7:5001",))),
            traffic=(("red", 20), ("green", 30), ("blue", 50)),
        ),
        present=("    50% live/blue;\n    30% live/green;\n    * live/red;  # 20%",),
    ),
    Scenario(
        "zero weight gets no split share but a header route",
        cfg(traffic=(("blue", 100), ("green", 0))),
        present=("location @route/direct/green {",),
        absent=("location @route/live/green {",),
    ),
    Scenario(
        "no positive weight routes the split to the 404",
        cfg(traffic=(("blue", 0), ("green", 0))),
        present=(
            '"" none;',
            "The endpoint doesn't have any valid deployment with positive weight",
        ),
        absent=("location @route/live/",),
    ),
    Scenario(
        "empty traffic equals no positive weight",
        cfg(traffic=()),
        present=('"" none;',),
    ),
    Scenario(
        "unknown header is a 404 listing deployments",
        cfg(),
        present=("default unknown;", "Deployments: blue, green."),
    ),
    Scenario(
        "mirror 10% to the zero-weight deployment via the relay, sampled before routing",
        cfg(mirror=(("green", 10),)),
        present=(
            'split_clients "mirror${request_id}" $mlplan_mirror_sample {\n'
            '    10% mirrored/;\n    * "";\n}',
            '"" "${mlplan_mirror_sample}live/blue";',
            "listen unix:/var/run/mlplan-router-mirror.sock;",
        ),
        absent=("location @route/mirrored/live/green",),
        blocks={
            "location @route/mirrored/live/blue": (
                "mirror /-/mirror;", "mirror_request_body on;", "set $mlplan_via split;",
            ),
            "location @route/direct/blue": ("proxy_pass http://mlplan_blue;",),
            "location = /-/mirror": (
                "proxy_pass http://mlplan_mirror_relay$request_uri;",
                "proxy_set_header Connection close;",
            ),
            "location = /-/relay": (
                "proxy_pass http://mlplan_green$request_uri;",
                "set $mlplan_via mirror;",
                "proxy_set_header x-request-id $http_x_request_id;",
            ),
        },
    ),
    Scenario(
        "mirror of 0% is no mirror",
        cfg(mirror=(("green", 0),)),
        absent=("mirror /-/mirror", "relay", "split_clients"),
    ),
    Scenario(
        "keys in keys.conf only, exact and escaped",
        cfg(),
        absent=(PRIMARY, SECONDARY),  # checked against routing.conf + nginx.conf
    ),
    Scenario(
        "per-deployment timeout, retry and 408",
        cfg(
            backends=(
                BLUE,
                RouterBackend(name="green", instances=GREEN.instances, request_timeout_ms=120_000),
            )
        ),
        blocks={
            "location @route/direct/green": (
                "proxy_read_timeout 120000ms;",
                "proxy_send_timeout 120000ms;",
                "proxy_connect_timeout 1000ms;",
                "proxy_next_upstream error timeout http_502 http_503 non_idempotent;",
                "proxy_next_upstream_timeout 120000ms;",
                "error_page 504 = @mlplan_timeout_green;",
            ),
            "location @mlplan_timeout_green": ("return 408 ", "request_timeout_ms=120000"),
            "location @route/live/blue": ("proxy_read_timeout 5000ms;",),
        },
    ),
    Scenario(
        "connect timeout never exceeds the request timeout",
        cfg(
            backends=(
                RouterBackend(name="blue", instances=BLUE.instances, request_timeout_ms=250),
                GREEN,
            )
        ),
        blocks={"location @route/live/blue": ("proxy_connect_timeout 250ms;",)},
    ),
    Scenario(
        "overload limit is 2 x max_concurrent x instances",
        cfg(
            backends=(
                RouterBackend(
                    name="blue", instances=BLUE.instances, max_concurrent_requests_per_instance=3
                ),
                GREEN,
            )
        ),
        blocks={
            "location @route/live/blue": ("limit_conn mlplan_inflight 12;",),
            "location @route/direct/green": ("limit_conn mlplan_inflight 2;",),
            "upstream mlplan_blue": ("keepalive 12;", "keepalive_timeout 1000ms;"),
        },
    ),
    Scenario(
        "deployment without instances answers 503",
        cfg(backends=(BLUE, RouterBackend(name="green", instances=()))),
        present=("return 503 ",),
        absent=("upstream mlplan_green",),
    ),
    Scenario(
        "auth disabled without keys",
        cfg(keys=()),
        present=("default 1;  # auth disabled",),
    ),
    Scenario(
        "liveness route without auth, passthrough of everything else",
        cfg(),
        blocks={
            "location = /-/healthy": ("access_log off;", "return 200 "),
            "location /": (
                "recursive_error_pages on;",
                "error_page 418 = @route/$mlplan_route;",
                "return 418;",
            ),
        },
    ),
    Scenario(
        "process defaults: a worker per core, 4096 connections, two files each, JIT, buffered log",
        cfg(),
        present=(
            "worker_processes auto;",
            "worker_connections 4096;",
            "worker_rlimit_nofile 8192;",
            "pcre_jit on;",
            "keepalive_requests 10000;",
            'access_log "/dev/stdout" mlplan buffer=4k flush=100ms;',
        ),
        blocks={"upstream mlplan_blue": ("keepalive 4;", "keepalive_timeout 1000ms;")},
    ),
    Scenario(
        "the open-files limit follows worker_connections",
        cfg(),
        runtime=replace(RUNTIME, worker_processes=2, worker_connections=1024),
        present=("worker_processes 2;", "worker_connections 1024;", "worker_rlimit_nofile 2048;"),
    ),
    Scenario(
        "upstream host names re-resolve with a resolver (nginx >= 1.27.3)",
        cfg(backends=(BLUE, RouterBackend(name="green", instances=("10.1.2.3:5001",)))),
        runtime=replace(RUNTIME, resolver="127.0.0.11"),
        present=(
            "server my-endpoint-blue-0:5001 resolve max_fails=0;",
            "server 10.1.2.3:5001 max_fails=3 fail_timeout=5s;",
            "resolver 127.0.0.11 valid=5s ipv6=off;",
        ),
        min_nginx=(1, 27, 3),
    ),
    Scenario(
        "a resolved name is never marked down: a booting replacement that refused while the "
        "old one leaves is still tried (no 502 'no live upstreams')",
        cfg(),
        runtime=replace(RUNTIME, resolver="127.0.0.11", resolve_valid_s=1),
        present=("    server my-endpoint-blue-0:5001 resolve max_fails=0;\n"
                 "    server my-endpoint-blue-1:5001 resolve max_fails=0;\n"
                 "    keepalive 4;",),
        absent=("fail_timeout",),
        min_nginx=(1, 27, 3),
    ),
    Scenario(
        "nginx's own 502 (no address answered, or the address list changed between two tries) "
        "gets one fresh pass over the current addresses, unlimited, then the JSON answers",
        cfg(),
        blocks={
            "location @route/live/blue": ("error_page 502 = @mlplan_retry_blue;",
                                          "recursive_error_pages on;"),
            "location @mlplan_retry_blue": (
                "proxy_pass http://mlplan_blue;",
                "proxy_next_upstream error timeout http_502 http_503 non_idempotent;",
                "error_page 502 = @mlplan_unavailable_blue;",
                "error_page 504 = @mlplan_timed_out_blue;"),
        },
    ),
    Scenario(
        "a timeout whose last try never connected (a gone container) gets the same fresh "
        "pass; a read timeout (connected, slow model) is the 408 at once",
        cfg(),
        present=('map $upstream_connect_time $mlplan_never_connected {\n'
                 '    "~(^|[,:] )-$" 1;\n    default 0;\n}',),
        blocks={
            "location @mlplan_timeout_blue": ("error_page 418 = @mlplan_retry_blue;",
                                              "if ($mlplan_never_connected) {",
                                              "return 418;", "return 408 "),
            "location @mlplan_timed_out_blue": ("return 408 ",),
        },
    ),
    Scenario(
        "without a resolver (Kubernetes Service names, addresses) passive health marks down",
        cfg(),
        present=("server my-endpoint-blue-0:5001 max_fails=3 fail_timeout=5s;",),
        absent=("max_fails=0",),
    ),
    Scenario(
        "each upstream re-resolves every second (Docker: a surge container is routed within "
        "1 s of starting, a removed one forgotten within 1 s)",
        cfg(),
        runtime=replace(RUNTIME, resolver="127.0.0.11", resolve_valid_s=1),
        present=(
            "server my-endpoint-blue-0:5001 resolve max_fails=0;",
            "    resolver 127.0.0.11 valid=1s ipv6=off;",
        ),
        blocks={"upstream mlplan_blue": ("zone mlplan_blue 64k;",
                                         "resolver 127.0.0.11 valid=1s ipv6=off;")},
        min_nginx=(1, 27, 3),
    ),
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario(scenario: Scenario) -> None:
    files = render_files(scenario.config, scenario.runtime)
    text = render_nginx_conf(scenario.config, scenario.runtime)
    public = files[MAIN_FILE] + files[ROUTING_FILE]

    for fragment in scenario.present:
        assert fragment in "\n".join(files.values()), fragment
    for fragment in scenario.absent:
        assert fragment not in public, fragment
    for header, fragments in scenario.blocks.items():
        body = block(text, header)
        for fragment in fragments:
            assert fragment in body, f"{header}: {fragment}"
    if "location @route/direct/blue" in scenario.blocks:  # header routes never mirror
        assert "mirror" not in block(text, "location @route/direct/blue")
    if "location @route/mirrored/live/blue" in scenario.blocks:  # unsampled: no subrequest
        assert "mirror" not in block(text, "location @route/live/blue")
        assert "$mlplan_mirror_sample" not in block(text, "location = /-/mirror")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario_invariants(scenario: Scenario) -> None:
    config, runtime = scenario.config, scenario.runtime
    files = render_files(config, runtime)
    text = render_nginx_conf(config, runtime)
    # Deterministic: same input, same text; input order does not matter.
    shuffled = replace(
        config,
        backends=config.backends[::-1],
        traffic=config.traffic[::-1],
        keys=config.keys[::-1],
    )
    assert render_nginx_conf(shuffled, runtime) == text
    # The single file is the split files with includes inlined.
    inlined = {line.strip() for line in text.split("\n")}
    for part in (KEYS_FILE, ROUTING_FILE):
        assert {line.strip() for line in files[part].split("\n")} <= inlined
    assert f'include "{runtime.conf_dir}/{ROUTING_FILE}";' in files[MAIN_FILE]
    # Every location that proxies strips the key and keeps upstream connections alive.
    for match in re.finditer(r"location [^{]+\{", text):
        body = block(text, match.group(0)[:-2])
        if "proxy_pass" in body:
            assert 'proxy_set_header Authorization "";' in body, match.group(0)
            assert "proxy_http_version 1.1;" in body
    # No header ever reaches a log line.
    log_format = next(line for line in text.split("\n") if "log_format" in line)
    assert "$http_" not in log_format and "$request_body" not in log_format


def test_static_part_does_not_change_with_traffic_mirror_or_keys() -> None:
    before = render_files(cfg(traffic=(("blue", 90), ("green", 10))), RUNTIME)
    after = render_files(cfg(traffic=(("blue", 50), ("green", 50)), keys=(PRIMARY,)), RUNTIME)
    assert before[MAIN_FILE] == after[MAIN_FILE] == render_static(RUNTIME)
    assert before[ROUTING_FILE] != after[ROUTING_FILE]
    assert before[KEYS_FILE] != after[KEYS_FILE]


def test_keys_match_exactly_with_the_scheme_case_insensitive() -> None:
    text = render_keys(cfg())
    assert '"~^(?i:bearer) +pRiMaRy-key\\.0123456789\\+/abc== *$" 1;' in text
    assert '"~^(?i:bearer) +secondary_key~0123456789 *$" 1;' in text
    assert "default 0;" in text
    assert render_keys(cfg(keys=(PRIMARY, PRIMARY))).count("bearer") == 1


def _weights(cuts: list[int]) -> list[int]:
    """Cut points on 0..100 -> integer weights summing to 100, e.g. [30, 90] -> [30, 60, 10]."""
    edges = [0, *sorted(cuts), 100]
    return [b - a for a, b in itertools.pairwise(edges)]


@given(weights=st.lists(st.integers(0, 100), max_size=5).map(_weights))
def test_split_shares_always_sum_to_100(weights: list[int]) -> None:
    backends = tuple(
        RouterBackend(name=f"d{i}", instances=(f"h{i}:5001",)) for i in range(len(weights))
    )
    config = RouterConfig(
        endpoint="e1",
        listen_port=80,
        backends=backends,
        traffic=tuple((f"d{i}", w) for i, w in enumerate(weights)),
    )
    routing = render_routing(config, RUNTIME)
    live = sorted((f"d{i}", w) for i, w in enumerate(weights) if w > 0)
    if len(live) == 1:
        assert f'"" live/{live[0][0]};' in routing
        return
    table = block(routing, 'split_clients "${request_id}" $mlplan_live_route')
    explicit = [int(p) for p in re.findall(r"(\d+)% live/", table)]
    remainder = int(re.search(r"\* live/\S+;  # (\d+)%", table).group(1))  # type: ignore[union-attr]
    assert sum(explicit) + remainder == 100
    assert re.findall(r"live/(d\d+)", table) == [name for name, _ in live]


# ------------------------------------------------------------------------------ validation

INVALID = [
    ("name injects syntax", lambda: RouterBackend(name="blue;return 200", instances=()), "name"),
    ("name with brace", lambda: RouterBackend(name="blue}", instances=()), "name"),
    ("name starts with dash", lambda: RouterBackend(name="-blue", instances=()), "name"),
    ("name ends with dash", lambda: RouterBackend(name="blue-", instances=()), "name"),
    (
        "instance injects syntax",
        lambda: RouterBackend(name="b", instances=("h:1; x",)),
        "host:port",
    ),
    ("instance without port", lambda: RouterBackend(name="b", instances=("host",)), "host:port"),
    ("instance port 0", lambda: RouterBackend(name="b", instances=("host:0",)), "host:port"),
    ("instance twice", lambda: RouterBackend(name="b", instances=("h:1", "h:1")), "distinct"),
    ("timeout 0", lambda: RouterBackend(name="b", instances=(), request_timeout_ms=0), "timeout"),
    (
        "concurrency 0",
        lambda: RouterBackend(name="b", instances=(), max_concurrent_requests_per_instance=0),
        "max_concurrent",
    ),
    (
        "names equal ignoring case",
        lambda: cfg(backends=(BLUE, replace(GREEN, name="BLUE"))),
        "distinct",
    ),
    ("traffic sums to 90", lambda: cfg(traffic=(("blue", 90),)), "sum to 0 or 100"),
    ("traffic to unknown", lambda: cfg(traffic=(("blue", 90), ("red", 10))), "unknown"),
    ("traffic twice", lambda: cfg(traffic=(("blue", 50), ("blue", 50))), "twice"),
    ("mirror over 50", lambda: cfg(mirror=(("green", 51),)), "0..50"),
    (
        "mirror to live",
        lambda: cfg(traffic=(("blue", 90), ("green", 10)), mirror=(("green", 5),)),
        "0% live",
    ),
    ("two mirrors", lambda: cfg(mirror=(("green", 5), ("blue", 5))), "at most one"),
    ("mirror to unknown", lambda: cfg(mirror=(("red", 5),)), "unknown"),
    ("key with quote", lambda: cfg(keys=('abcdefghijklmnop"; x',)), "keys[0]"),
    ("key with dollar", lambda: cfg(keys=("abcdefghijklmnop$host",)), "keys[0]"),
    ("key too short", lambda: cfg(keys=(PRIMARY, "short")), "keys[1]"),
    ("port 0", lambda: cfg(listen_port=0), "listen_port"),
    ("listen on a name", lambda: cfg(listen_address="localhost; x"), "listen_address"),
    ("relative path", lambda: NginxRuntime(conf_dir="etc/router"), "conf_dir"),
    ("path with space", lambda: NginxRuntime(access_log="/var/log/a b.log"), "access_log"),
    ("path with variable", lambda: NginxRuntime(access_log="/var/log/$host.log"), "access_log"),
    ("debug log level", lambda: NginxRuntime(error_log_level="debug"), "error_log_level"),
    ("resolver injection", lambda: NginxRuntime(resolver="1.1.1.1; x"), "resolver"),
    ("re-resolve period out of range", lambda: NginxRuntime(resolve_valid_s=-1),
     "resolve_valid_s"),
]


@pytest.mark.parametrize(("name", "build", "message"), INVALID, ids=[case[0] for case in INVALID])
def test_invalid_input_is_rejected(name: str, build, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=re.escape(message)) as raised:
        build()
    if message.startswith("keys"):  # a rejected key is never echoed
        assert "abcdefghijklmnop" not in str(raised.value) and PRIMARY not in str(raised.value)


# ------------------------------------------------------------------------------ nginx -t


def _nginx() -> str | None:
    return shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None
    )


def _nginx_version() -> tuple[int, ...]:
    binary = _nginx()
    if binary is None:
        return ()
    out = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False).stderr
    found = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", out)
    return tuple(int(g) for g in found.groups()) if found else ()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: What Debian bookworm's nginx (1.22) loads; the rest (``min_nginx``) is checked in the router
#: image the Docker target runs, by tests/engine/test_router_image.py, as are these.
HOST_SCENARIOS = [s for s in SCENARIOS if s.min_nginx <= (1, 22, 0)]


@pytest.mark.parametrize("scenario", HOST_SCENARIOS, ids=[s.name for s in HOST_SCENARIOS])
def test_nginx_accepts_scenario(scenario: Scenario, tmp_path: Path) -> None:
    binary = _nginx()
    if binary is None:
        if in_ci():
            pytest.fail("nginx is not installed (apt-get install nginx)")
        pytest.skip("nginx is not installed")
    if _nginx_version() < scenario.min_nginx:
        pytest.fail(f"needs nginx >= {'.'.join(map(str, scenario.min_nginx))}")
    runtime = replace(
        scenario.runtime,
        conf_dir=str(tmp_path),
        pid_path=str(tmp_path / "nginx.pid"),
        error_log=str(tmp_path / "error.log"),
        access_log=str(tmp_path / "access.log"),
        temp_dir=str(tmp_path),
        mirror_socket=str(tmp_path / "mirror.sock"),
    )
    config = replace(scenario.config, listen_port=_free_port(), listen_address="127.0.0.1")
    # Upstream host names must resolve when nginx loads: point them at loopback.
    resolvable = replace(
        config,
        backends=tuple(
            replace(b, instances=tuple(f"127.0.0.{i + 1}:5001" for i in range(len(b.instances))))
            for b in config.backends
        ),
    )
    for name, text in render_files(resolvable, runtime).items():
        (tmp_path / name).write_text(text)
    (tmp_path / "single.conf").write_text(render_nginx_conf(resolvable, runtime))
    for conf in (MAIN_FILE, "single.conf"):
        result = subprocess.run(
            [binary, "-t", "-c", str(tmp_path / conf), "-p", str(tmp_path)],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr
