"""What each router construct costs per request, in instructions (callgrind), load-independent.

``router_load.py`` measures throughput and latency, which a shared machine's load moves by
10-20% between runs; this counts the instructions nginx executes per request, which load does
not move (same build, same config: the same count to within 0.1%). Each case is a config
started as ONE nginx process (``master_process off``) under ``valgrind --tool=callgrind``;
wrk sends up to 150 requests over one connection to warm it up, the counters are zeroed, then
up to ``--requests`` more in ``--seconds`` (POST /score, 32-byte JSON body, the bench key);
instructions / requests answered (wrk's count).

Cases: ``plain`` (``proxy_pass`` to two upstreams with keep-alive, as in ``router_load.py``),
``plain`` plus ONE construct of the generated router (``+...``), and the generated router's
cumulative variants (``keys`` ... ``logged``, as in ``router_load.py``; with ``--before REF``
also those of git revision REF). ``added`` = case - plain. Counts user space only: the kernel's
share of a request (socket reads and writes, epoll) is the same for every case except those
that add I/O (``mirror``: a copy to the relay and on to its target for 1 request in 10;
``logged``: one write per 4 KiB of log lines).

    .venv/bin/python benchmarks/router_constructs.py [--requests 600] [--before main] [CASE ...]
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import router_load  # the benchmark next door: configs, upstreams, wrk

from mlplan.router import nginx as router_nginx
from tests.dataplane.harness import free_port, nginx_binary, port_open, wait_for

KEY = router_load.KEY
PLAIN_LOCATION = "        location / {\n            proxy_pass http://blue;\n"
PROXY_HEADERS = (
    '            proxy_set_header Authorization "";\n'
    "            proxy_set_header Host $host;\n"
    "            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
)
KEY_MAP = (
    "    map $http_authorization $bench_authorized {\n        default 0;\n"
    f'        "~^(?i:bearer) +{KEY} *$" 1;\n    }}\n'
)
SPLIT = '    split_clients "${request_id}" $bench_split {\n        90% a;\n        * b;\n    }\n'
#: The router's JSON log line, its own variables set as the router sets them.
LOG_FORMAT = (
    router_nginx.render_static(router_nginx.NginxRuntime()).split("    log_format mlplan ", 1)[1]
    .split("\n", 1)[0]
)
LOG_VARIABLES = (
    '    map $http_x_mlplan_probe $mlplan_probe {\n        "" "";\n        default 1;\n    }\n'
    "    map $request_method $mlplan_deployment {\n        default blue;\n    }\n"
    "    map $request_method $mlplan_via {\n        default split;\n    }\n"
)
ROUTE_MAP = "    map $request_method $bench_route {\n        default b;\n    }\n"
#: (name, what it adds to plain: text before ``server {``, text inside ``location /``,
#: a replacement of plain's location start, upstream lines)
CONSTRUCTS: dict[str, tuple[str, str, str, str]] = {
    "+variable_proxy_pass": ("", "", "        location / {\n"
                             "            proxy_pass http://blue$request_uri;\n", ""),
    "+rewrite_internal": ("", "", "        location / { rewrite ^ /-/route/b? last; }\n"
                          "        location = /-/route/b {\n            internal;\n"
                          "            proxy_pass http://blue$request_uri;\n", ""),
    "+named_jump": (ROUTE_MAP, "", "        location / {\n            recursive_error_pages on;\n"
                    "            error_page 418 = @route/$bench_route;\n"
                    "            return 418;\n        }\n        location @route/b {\n"
                    "            proxy_pass http://blue;\n",
                    ""),
    "+key_regex": (KEY_MAP, "            proxy_set_header x-bench $bench_authorized;\n", "", ""),
    "+key_regex_jit": (KEY_MAP, "            proxy_set_header x-bench $bench_authorized;\n", "",
                       ""),
    "+request_id": ("", "            proxy_set_header x-request-id $request_id;\n", "", ""),
    "+request_id_split": (SPLIT, "            proxy_set_header x-request-id $request_id;\n"
                          "            proxy_set_header x-bench $bench_split;\n", "", ""),
    "+limit_conn_x2": ("    limit_conn_zone $binary_remote_addr zone=per_client:10m;\n"
                       "    limit_conn_zone $server_port zone=inflight:1m;\n",
                       "            limit_conn inflight 4000;\n"
                       "            limit_conn per_client 512;\n", "", ""),
    "+proxy_headers": ("", PROXY_HEADERS, "", ""),
    "+add_header": ("", "            add_header azureml-model-deployment blue always;\n", "", ""),
    "+upstream_zone": ("", "", "", "        zone blue 64k;\n"),
    "+json_log": (f"{LOG_VARIABLES}    log_format bench {LOG_FORMAT}\n",
                  "            access_log @LOG@ bench buffer=4k flush=100ms;\n", "", ""),
}


def plain_with(ports: dict[str, list[int]], port: int, workdir: Path, name: str) -> str:
    """plain_conf plus one construct (``name`` in CONSTRUCTS)."""
    http, inside, location, upstream = CONSTRUCTS[name]
    text = router_load.plain_conf(ports, port, workdir)
    if name.endswith("_jit"):
        text = "pcre_jit on;\n" + text
    if PLAIN_LOCATION not in text or "    upstream blue {\n" not in text:
        raise RuntimeError("plain_conf changed: update router_constructs.CONSTRUCTS")
    text = text.replace("    upstream blue {\n", "    upstream blue {\n" + upstream)
    text = text.replace("    server {\n", http + "    server {\n", 1)
    text = text.replace(PLAIN_LOCATION, (location or PLAIN_LOCATION) + inside)
    return text.replace("@LOG@", str(workdir / "plain" / f"access-{port}.log"))


def count_instructions(name: str, conf: str, port: int, workdir: Path, requests: int,
                       seconds: int, pin_every: int) -> float:
    directory = workdir / re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    (directory / "tmp").mkdir(parents=True, exist_ok=True)
    (directory / "nginx.conf").write_text(conf, encoding="utf-8")
    binary = nginx_binary() or "nginx"
    argv = [binary, "-c", str(directory / "nginx.conf"), "-p", str(directory)]
    test = subprocess.run([*argv, "-t"], capture_output=True, text=True, check=False)
    if test.returncode != 0:
        raise RuntimeError(f"{name}: nginx -t failed:\n{test.stderr}")
    out = directory / "callgrind.out"
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *argv,
         "-g", "daemon off; master_process off;"],
        stdout=subprocess.DEVNULL, stderr=(directory / "valgrind.err").open("w"),
    )
    try:
        wait_for(lambda: port_open(port), 60, f"nginx under valgrind ({name})")
        script = router_load.wrk_script(directory, 0, pin_every)
        stop = script.with_name("stop.lua")
        stop.write_text(script.read_text(encoding="utf-8") + STOP_AFTER, encoding="utf-8")
        _wrk(port, stop, 150, 3)
        subprocess.run(["callgrind_control", "-z", str(proc.pid)], capture_output=True,
                       check=True)
        answered = _wrk(port, stop, requests, seconds)
        subprocess.run(["callgrind_control", "-d", str(proc.pid)], capture_output=True,
                       check=True)
        dumps = sorted(glob.glob(f"{out}.*"), key=os.path.getmtime)
        text = Path(dumps[-1]).read_text(errors="replace")
        match = re.search(r"^(?:totals|summary): (\d+)", text, re.M)
        if match is None:
            raise RuntimeError(f"{name}: no totals in {dumps[-1]}")
        return int(match.group(1)) / answered
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


#: Appended to router_load's wrk script: stop after N answers (wrk has no request count).
STOP_AFTER = """
local answered, limit = 0, tonumber(os.getenv("MLPLAN_REQUESTS"))
function response(status, headers, body)
  if status ~= 200 then io.write("mlplan-status " .. status .. "\\n") end
  answered = answered + 1
  if answered >= limit then wrk.thread:stop() end
end
"""


def _wrk(port: int, script: Path, requests: int, seconds: int) -> int:
    """Requests answered: at most ``requests`` (the script stops there), fewer if the
    ``seconds`` (wrk always runs them all) run out first."""
    result = subprocess.run(
        ["wrk", "-t1", "-c1", f"-d{seconds}s", "--timeout", "10s", "-s", str(script),
         f"http://127.0.0.1:{port}/score"],
        capture_output=True, text=True, check=False, timeout=seconds + 30,
        env=dict(os.environ, MLPLAN_REQUESTS=str(requests)),
    )
    if result.returncode != 0 or "mlplan-status" in result.stdout:
        raise RuntimeError(f"wrk: {result.stdout[-500:]}{result.stderr[-500:]}")
    match = re.search(r"mlplan-wrk requests=(\d+)", result.stdout)
    if match is None or int(match.group(1)) < 50:
        raise RuntimeError(f"wrk: too few requests answered: {result.stdout[-500:]}")
    return int(match.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=600, help="counted requests per case")
    parser.add_argument("--seconds", type=int, default=8,
                        help="at most this long per case (wrk runs them all; default 8)")
    parser.add_argument("--before", default="", help="git revision of the generator to compare")
    parser.add_argument("cases", nargs="*", help="only these cases (plain always runs)")
    args = parser.parse_args()
    if not all(shutil.which(tool) for tool in ("valgrind", "callgrind_control", "wrk")):
        print("router_constructs: needs valgrind and wrk (apt-get install valgrind wrk)",
              file=sys.stderr)
        return 2
    generators = {"": router_nginx}
    if args.before:
        generators = {"before_": router_load.generator_at(args.before), "": router_nginx}
    workdir = Path(tempfile.mkdtemp(prefix="mlplan-router-constructs-"))
    ports = {name: [free_port() for _ in range(count)]
             for name, count in router_load.DEPLOYMENTS.items()}
    cases: list[tuple[str, Callable[[int], str], int]] = [
        ("plain", lambda port: router_load.plain_conf(ports, port, workdir), 0)]
    cases += [(name, lambda port, name=name: plain_with(ports, port, workdir, name), 0)
              for name in CONSTRUCTS]
    for variant in router_load.VARIANTS:
        for prefix, module in generators.items():
            def make(port: int, module: ModuleType = module, variant: str = variant,
                     prefix: str = prefix) -> str:
                return router_load.router_conf(module, router_load.ROUTER_VARIANTS[variant],
                                               ports, port, workdir / f"{prefix}{variant}")
            cases.append((f"{prefix}{variant}", make, 10 if variant in ("pin", "logged") else 0))
    upstreams = router_load.Nginx("upstreams", workdir,
                                  router_load.upstreams_conf(ports, workdir), ports["blue"][0],
                                  set(os.sched_getaffinity(0)), container_limits=False)
    figures: dict[str, str] = {}
    try:
        upstreams.start()
        print(f"nginx {router_load.nginx_version_text()}; instructions per request (user space,"
              f" callgrind), {args.requests} requests per case; load before "
              f"{os.getloadavg()[0]:.2f} (does not change the counts)")
        print(f"{'case':<24}{'instr/req':>11}{'added':>9}{'x plain':>9}")
        plain = 0.0
        for name, make, pin_every in cases:
            if args.cases and name != "plain" and name not in args.cases:
                continue
            port = free_port()
            count = count_instructions(name, make(port), port, workdir, args.requests,
                                       args.seconds, pin_every)
            plain = plain or count
            print(f"{name:<24}{count:>11.0f}{count - plain:>+9.0f}{count / plain:>9.3f}",
                  flush=True)
            key = name.lstrip("+")
            figures[f"{key}_instr"] = f"{count:.0f}"
    finally:
        upstreams.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(" ".join(f"{name}={value}" for name, value in figures.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
