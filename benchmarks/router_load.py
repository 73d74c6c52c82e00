"""Router capacity under wrk: the generated router config next to plain nginx, same upstreams.

Measures what the router costs, not the model: the upstreams are one nginx answering
``return 200`` on four loopback ports (blue x2, green, shadow), so nearly all the work is the
router's. Targets, each started in turn on 127.0.0.1 with ONE nginx worker:

- ``direct``: wrk straight to one upstream port (the latency every proxied figure is compared to);
- ``plain``: the floor, a minimal hand-written nginx ``proxy_pass`` to blue's two upstreams with
  upstream keep-alive and no access log;
- the router as ``mlplan.router.nginx.render_nginx_conf`` generates it, in cumulative variants:
  ``keys`` (key auth, blue 100%), ``split`` (blue 90 / green 10), ``mirror`` (+ 10% copied to
  shadow), ``pin`` (+ every 10th request pinned to green by ``azureml-model-deployment``) and
  ``logged`` (+ the per-request JSON access log, to a file). The first four have the access
  log line replaced by ``access_log off`` (the only edit made to the generated text).

With ``--before REF`` every router variant also runs with the generator of git revision REF
(``git show REF:components/mlplan/router/nginx.py``), interleaved in the same run, so a change of
the generator's defaults is measured before and after on the same machine under the same load;
``--compare LABEL=REF`` adds more (REF may also be an nginx.py file).

Placement on a machine with >= 2 CPUs: wrk alone on the last CPU ("the generator on the other
core"), the target nginx and the upstreams on CPU 0. Targets start under the open-files limit
Docker >= 25 / containerd >= 2 give a container (soft 1024). Per target and round:

- saturation: ``wrk -c 64`` for ``--seconds``; requests/s, and requests per CPU-second of the
  target's nginx (utime + stime from /proc, so "per router worker core" does not depend on
  what else shares the core). ``vs plain`` = that per-core figure / plain's.
- fixed rates (``--rates``, default 1000 and 5000 req/s): wrk has no constant-rate mode (wrk2
  is not in Debian), so a Lua ``delay()`` schedules request k of each wrk thread at
  ``start + k / rate`` (clock_gettime via LuaJIT's ffi; wrk waits whole milliseconds, so a
  request may leave up to 1 ms before its slot, never later unless the target lags). wrk's
  latency runs from a request's first write to its last response byte, so it excludes the
  schedule's wait. ``added`` = target minus ``direct`` at the same rate (avg and p99): what
  placing the router in front of a server costs a request, the way azureml-fe publishes it.
- many clients (``--clients``, default 2000 connections) at the first rate: errors, including
  connections the target could not accept (``Too many open files`` in its error.log).

Figures are medians over ``--rounds`` rounds (target order reversed every other round).
Every request must answer 200 (checked once per target before the run, and wrk's error counts
after it). Prints a table per target, the machine's load before and after, and a last line of
name=value pairs. Runs for about targets x rounds x (2 + rates) x seconds: 3 minutes by
default, 5 with ``--before`` (twice the router targets).

    .venv/bin/python benchmarks/router_load.py [--seconds 3] [--rounds 2] [--before main]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mlplan.router import nginx as router_nginx
from tests.dataplane.harness import Proc, free_port, nginx_binary, port_open, wait_for
from tests.lib.modules import load_file

REPO = Path(__file__).resolve().parents[1]
KEY = "benchmark-primary-key-0123456789"
HEADER = router_nginx.HEADER
BODY = '{"data": [[5.1, 3.5, 1.4, 0.2]]}'
ANSWER = '{"ok": true}'
SATURATION_CONNECTIONS = 64
RATE_CONNECTIONS = 32
#: So that Azure's 429 rule (2 x this x instances in flight) never caps the benchmark, not even
#: the 2,000 clients: 2 x 1000 x 1 = 2000 for green, the smallest deployment.
MAX_CONCURRENT = 1000
#: Open files (soft:hard) of a container on Docker >= 25 / containerd >= 2 (moby#45534): soft
#: 1024, hard 524288 (or this machine's hard limit, if lower: raising it needs privileges).
CONTAINER_NOFILE = f"1024:{min(524288, resource.getrlimit(resource.RLIMIT_NOFILE)[1])}"
DEPLOYMENTS = {"blue": 2, "green": 1, "shadow": 1}
VARIANTS = ("keys", "split", "mirror", "pin", "logged")
_ACCESS_LOG = re.compile(r'^(\s*)access_log "[^"]*" mlplan[^;]*;', re.M)


@dataclass(frozen=True)
class Variant:
    """One cumulative router setting (``pin``: every 10th request pinned to green by header)."""

    name: str
    split: bool
    mirror: bool
    pin: bool
    logged: bool


ROUTER_VARIANTS = {
    "keys": Variant("keys", split=False, mirror=False, pin=False, logged=False),
    "split": Variant("split", split=True, mirror=False, pin=False, logged=False),
    "mirror": Variant("mirror", split=True, mirror=True, pin=False, logged=False),
    "pin": Variant("pin", split=True, mirror=True, pin=True, logged=False),
    "logged": Variant("logged", split=True, mirror=True, pin=True, logged=True),
}


@dataclass(frozen=True)
class Load:
    """What wrk measured in one run."""

    requests: int
    seconds: float
    avg_ms: float
    p99_ms: float
    errors: int
    cpu_s: float  # the target's nginx (master + workers) CPU time during the run
    per_core: float = 0.0  # set on medians (the median of the rounds' ratios)
    kinds: str = ""  # errors by kind, e.g. "status:52" (wrk counts non-2xx/3xx as status)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def rps_per_core(self) -> float:
        if self.per_core:
            return self.per_core
        return self.requests / self.cpu_s if self.cpu_s else 0.0


# ------------------------------------------------------------------------------ nginx processes


class Nginx:
    """One nginx from a config text, ``daemon off``, pinned to ``cpus``; stopped with its group."""

    def __init__(self, name: str, workdir: Path, conf: str, port: int, cpus: set[int],
                 container_limits: bool = True) -> None:
        self.dir = workdir / name
        self.container_limits = container_limits
        (self.dir / "tmp").mkdir(parents=True, exist_ok=True)
        self.conf, self.port, self.cpus = self.dir / "nginx.conf", port, cpus
        self.conf.write_text(conf, encoding="utf-8")
        self.proc: Proc | None = None

    def start(self) -> Nginx:
        binary = nginx_binary()
        assert binary is not None
        argv = [binary, "-c", str(self.conf), "-p", str(self.dir)]
        test = subprocess.run([*argv, "-t"], capture_output=True, text=True, check=False)
        if test.returncode != 0:
            raise RuntimeError(f"nginx -t failed for {self.conf}:\n{test.stderr}")
        limits = ["prlimit", f"--nofile={CONTAINER_NOFILE}", "--"] if self.container_limits else []
        self.proc = Proc([*limits, *argv, "-g", "daemon off;"], self.dir / "nginx.out")
        self.proc.start()
        try:
            wait_for(lambda: port_open(self.port) and bool(self._workers()), 10, "nginx")
        except TimeoutError:
            logs = [self.dir / "nginx.out", self.dir / "error.log"]
            text = "".join(p.read_text(errors="replace")[-2000:] for p in logs if p.exists())
            raise RuntimeError(f"nginx in {self.dir} did not start:\n{text}") from None
        for pid in self.pids():
            os.sched_setaffinity(pid, self.cpus)
        return self

    def _workers(self) -> list[int]:
        if self.proc is None:
            return []
        master, found = self.proc.pid, []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                    found.append(int(entry))
        return found

    def pids(self) -> list[int]:
        return [self.proc.pid, *self._workers()] if self.proc is not None else []

    def cpu_seconds(self) -> float:
        ticks = 0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def refused(self) -> int:
        """Connections the workers could not accept for want of file descriptors (error.log)."""
        log = self.dir / "error.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        return text.count("(24: Too many open files)")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None


def upstreams_conf(ports: dict[str, list[int]], workdir: Path) -> str:
    servers = "\n".join(
        f"    server {{ listen 127.0.0.1:{port}; location / {{ return 200 '{ANSWER}'; }} }}"
        for group in ports.values()
        for port in group
    )
    return _plain_process(workdir / "upstreams", servers + "\n")


def plain_conf(ports: dict[str, list[int]], listen: int, workdir: Path) -> str:
    """The floor: what one would write by hand to proxy to the same two servers."""
    servers = "".join(f"        server 127.0.0.1:{port};\n" for port in ports["blue"])
    return _plain_process(
        workdir / "plain",
        "    upstream blue {\n" + servers + "        keepalive 64;\n    }\n"
        f"    server {{\n        listen 127.0.0.1:{listen};\n"
        "        location / {\n            proxy_pass http://blue;\n"
        "            proxy_http_version 1.1;\n"
        '            proxy_set_header Connection "";\n        }\n    }\n',
    )


def _plain_process(directory: Path, http_body: str) -> str:
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = directory / "tmp"
    return (
        f"{user}worker_processes 1;\nworker_rlimit_nofile 8192;\npid {directory}/nginx.pid;\n"
        f"error_log {directory}/error.log warn;\n"
        "events { worker_connections 4096; }\n"
        "http {\n    access_log off;\n    keepalive_requests 100000;\n"
        f"    client_body_temp_path {temp}/client_body;\n    proxy_temp_path {temp}/proxy;\n"
        f"    fastcgi_temp_path {temp}/fastcgi;\n    uwsgi_temp_path {temp}/uwsgi;\n"
        f"    scgi_temp_path {temp}/scgi;\n" + http_body + "}\n"
    )


def router_conf(
    module: ModuleType, variant: Variant, ports: dict[str, list[int]], listen: int, directory: Path
) -> str:
    """The generated config (``module`` is mlplan.router.nginx, now or at ``--before``)."""
    (directory / "tmp").mkdir(parents=True, exist_ok=True)
    backends = tuple(
        module.RouterBackend(
            name=name,
            instances=tuple(f"127.0.0.1:{port}" for port in ports[name]),
            max_concurrent_requests_per_instance=MAX_CONCURRENT,
        )
        for name in DEPLOYMENTS
    )
    traffic = (("blue", 90), ("green", 10)) if variant.split else (("blue", 100),)
    config = module.RouterConfig(
        endpoint="bench",
        listen_port=listen,
        listen_address="127.0.0.1",
        backends=backends,
        traffic=traffic,
        mirror=(("shadow", 10),) if variant.mirror else (),
        keys=(KEY,),
    )
    runtime = module.NginxRuntime(
        conf_dir=str(directory),
        pid_path=str(directory / "nginx.pid"),
        error_log=str(directory / "error.log"),
        access_log=str(directory / "access.log"),
        temp_dir=str(directory / "tmp"),
        mirror_socket=str(directory / "mirror.sock"),
        worker_processes=1,
        user="root" if os.geteuid() == 0 else "",
    )
    text = str(module.render_nginx_conf(config, runtime))
    if not variant.logged:
        text, count = _ACCESS_LOG.subn(r"\1access_log off;", text)
        if count != 1:
            raise RuntimeError(f"expected one 'access_log ... mlplan' line, found {count}")
    return text


def generator_at(ref: str) -> ModuleType:
    """``mlplan.router.nginx`` as it was at git revision ``ref`` (or from the file ``ref``)."""
    if Path(ref).is_file():
        source = Path(ref).read_text(encoding="utf-8")
    else:
        source = subprocess.run(
            ["git", "-C", str(REPO), "show", f"{ref}:components/mlplan/router/nginx.py"],
            capture_output=True, text=True, check=True,
        ).stdout
    with tempfile.TemporaryDirectory(prefix="mlplan-router-before-") as directory:
        path = Path(directory) / "nginx_before.py"
        path.write_text(source, encoding="utf-8")
        return load_file(path, f"mlplan_router_nginx_{len(sys.modules)}")


# ------------------------------------------------------------------------------ wrk


WRK_SCRIPT = """
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } mlplan_timespec;
int clock_gettime(int clock_id, mlplan_timespec *tp);
]]
local clock = ffi.new("mlplan_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, clock)  -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end

local rate = @RATE@  -- requests per second of this thread; 0 = as fast as possible
local pin_every = @PIN_EVERY@  -- every n-th request carries the pin header; 0 = none
local plain, pinned
local sent = 0
local interval = rate > 0 and 1000 / rate or 0
local next_at = nil

function init(args)
  wrk.method = "POST"
  wrk.body = @BODY@
  wrk.headers["Host"] = "127.0.0.1"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer @KEY@"
  plain = wrk.format(nil, "/score")
  wrk.headers["@HEADER@"] = "green"
  pinned = wrk.format(nil, "/score")
end

function request()
  sent = sent + 1
  if pin_every > 0 and sent % pin_every == 0 then
    return pinned
  end
  return plain
end

if rate > 0 then
  function delay()
    local now = now_ms()
    if next_at == nil then next_at = now end
    next_at = next_at + interval
    local wait = next_at - now
    if wait <= 0 then return 0 end
    return wait
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "mlplan-wrk requests=%d duration_us=%d mean_us=%.3f p99_us=%d errors=%d " ..
    "kinds=connect:%d,read:%d,write:%d,status:%d,timeout:%d\\n",
    summary.requests, summary.duration, latency.mean, latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout,
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def wrk_script(directory: Path, rate: float, pin_every: int) -> Path:
    text = WRK_SCRIPT
    for name, value in {"RATE": repr(float(rate)), "PIN_EVERY": str(pin_every),
                        "BODY": f"'{BODY}'", "KEY": KEY, "HEADER": HEADER}.items():
        text = text.replace(f"@{name}@", value)
    path = directory / f"wrk-{int(rate)}-{pin_every}.lua"
    path.write_text(text, encoding="utf-8")
    return path


def run_wrk(
    port: int, target: Nginx | None, script: Path, connections: int, seconds: float,
    cpus: set[int],
) -> Load:
    argv = [
        "wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "5s",
        "-s", str(script), f"http://127.0.0.1:{port}/score",
    ]
    before = target.cpu_seconds() if target else 0.0
    result = subprocess.run(
        argv, capture_output=True, text=True, check=False, timeout=seconds + 30,
        preexec_fn=(lambda: os.sched_setaffinity(0, cpus)),
    )
    cpu = (target.cpu_seconds() - before) if target else 0.0
    match = re.search(
        r"mlplan-wrk requests=(\d+) duration_us=(\d+) mean_us=([\d.]+) p99_us=(\d+) errors=(\d+)"
        r" kinds=(\S+)",
        result.stdout,
    )
    if result.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    requests, duration_us, mean_us, p99_us, errors, kinds = match.groups()
    kinds = ",".join(kind for kind in kinds.split(",") if not kind.endswith(":0"))
    return Load(int(requests), int(duration_us) / 1e6, float(mean_us) / 1000,
                int(p99_us) / 1000, int(errors), cpu, kinds=kinds)


def check_answers(port: int, pinned: bool) -> None:
    """One request (and one pinned one) must answer 200, or the figures mean nothing."""
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"}
    for extra in ({}, {HEADER: "green"}) if pinned else ({},):
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/score", data=BODY.encode(), headers=headers | extra
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                status = answer.status
        except urllib.error.HTTPError as error:
            status = error.code
        if status != 200:
            raise RuntimeError(f"127.0.0.1:{port} answered {status} (headers {sorted(extra)})")


# ------------------------------------------------------------------------------ main


@dataclass
class Target:
    name: str
    port: int
    make: Callable[[], Nginx | None]
    pin_every: int = 0
    compared: bool = False  # a --before/--compare generator: its refusals are the finding


def median_load(loads: list[Load]) -> Load:
    """Each figure's median over the rounds; errors add up."""
    def mid(values: list[float]) -> float:
        return statistics.median(values) if values else 0.0

    return Load(
        requests=round(mid([load.requests for load in loads])),
        seconds=mid([load.seconds for load in loads]),
        avg_ms=mid([load.avg_ms for load in loads]),
        p99_ms=mid([load.p99_ms for load in loads]),
        errors=sum(load.errors for load in loads),
        cpu_s=mid([load.cpu_s for load in loads]),
        per_core=mid([load.rps_per_core for load in loads]),
        kinds=" ".join(load.kinds for load in loads if load.kinds),
    )


def measure(target: Target, args: argparse.Namespace, rates: list[int], workdir: Path,
            wrk_cpus: set[int]) -> dict[str, Load]:
    """One round of one target: saturation, each fixed rate, many clients at the first rate."""
    server = target.make()
    try:
        if server is not None:
            server.start()
        check_answers(target.port, pinned=target.pin_every > 0)
        scripts = {rate: wrk_script(workdir, rate, target.pin_every) for rate in [0, *rates]}
        run_wrk(target.port, server, scripts[0], 16, 1, wrk_cpus)  # warm-up
        measured = {"sat": run_wrk(target.port, server, scripts[0], SATURATION_CONNECTIONS,
                                   args.seconds, wrk_cpus)}
        for rate in rates:
            measured[str(rate)] = run_wrk(target.port, server, scripts[rate], RATE_CONNECTIONS,
                                          args.seconds, wrk_cpus)
        if args.clients:
            refused = server.refused() if server else 0
            many = run_wrk(target.port, server, scripts[rates[0]], args.clients, args.seconds,
                           wrk_cpus)
            refused = (server.refused() if server else 0) - refused
            kinds = " ".join(filter(None, [many.kinds, f"refused:{refused}" if refused else ""]))
            measured["clients"] = dataclasses.replace(many, errors=many.errors + refused,
                                                      kinds=kinds)
        return measured
    finally:
        if server is not None:
            server.stop()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3, help="per measurement (default 3)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (default 2)")
    parser.add_argument("--rates", default="1000,5000", help="fixed rates, req/s (1000,5000)")
    parser.add_argument("--clients", type=int, default=2000,
                        help="connections of the many-clients run at the first rate (0 = none)")
    parser.add_argument("--before", default="", help="git revision of the generator to compare")
    parser.add_argument("--compare", action="append", default=[], metavar="LABEL=REF",
                        help="another generator (git revision or nginx.py file) as LABEL_*")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="router variants to run")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    rates = [int(r) for r in args.rates.split(",") if r]
    variants = [ROUTER_VARIANTS[v] for v in args.variants.split(",") if v]
    if nginx_binary() is None or shutil.which("wrk") is None or shutil.which("prlimit") is None:
        print("router_load: needs nginx, wrk and prlimit (apt-get install nginx wrk util-linux)",
              file=sys.stderr)
        return 2
    available = sorted(os.sched_getaffinity(0))
    cpus = ({available[0]}, {available[-1]}) if len(available) >= 2 else (
        set(available), set(available))
    generators: dict[str, ModuleType] = {}
    for label, ref in [("before", args.before)] * bool(args.before) + [
            tuple(item.split("=", 1)) for item in args.compare]:
        generators[f"{label}_"] = generator_at(ref)
    generators[""] = router_nginx

    workdir = Path(tempfile.mkdtemp(prefix="mlplan-router-load-"))
    ports = {name: [free_port() for _ in range(count)] for name, count in DEPLOYMENTS.items()}
    upstream_port = ports["blue"][0]
    upstreams = Nginx("upstreams", workdir, upstreams_conf(ports, workdir), upstream_port,
                      cpus[0], container_limits=False)
    plain_port = free_port()
    targets = [
        Target("direct", upstream_port, lambda: None),
        Target("plain", plain_port, lambda: Nginx(
            "plain", workdir, plain_conf(ports, plain_port, workdir), plain_port, cpus[0])),
    ]
    for variant in variants:
        for prefix, module in generators.items():
            name, port = f"{prefix}{variant.name}", free_port()
            directory = workdir / name

            def make(module: ModuleType = module, variant: Variant = variant,
                     port: int = port, directory: Path = directory) -> Nginx:
                conf = router_conf(module, variant, ports, port, directory)
                return Nginx(directory.name, workdir, conf, port, cpus[0])

            targets.append(Target(name, port, make, pin_every=10 if variant.pin else 0,
                                  compared=bool(prefix)))

    load_before = os.getloadavg()
    started = time.monotonic()
    rounds: dict[str, list[dict[str, Load]]] = {target.name: [] for target in targets}
    try:
        upstreams.start()
        for number in range(args.rounds):
            for target in targets if number % 2 == 0 else targets[::-1]:
                rounds[target.name].append(measure(target, args, rates, workdir, cpus[1]))
    finally:
        upstreams.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.monotonic() - started
    load_after = os.getloadavg()

    results = {name: {key: median_load([one[key] for one in measured]) for key in measured[0]}
               for name, measured in rounds.items()}
    print(
        f"nginx {nginx_version_text()}, wrk on CPU {sorted(cpus[1])}, target + upstreams on CPU "
        f"{sorted(cpus[0])} ({os.cpu_count()} CPUs), one worker per target under Docker's "
        f"open-files limit ({CONTAINER_NOFILE}); medians of {args.rounds} rounds of "
        f"{args.seconds:g} s; {elapsed:.0f} s in all"
    )
    print(f"load average before {_load(load_before)}, after {_load(load_after)}")
    figures = {"load1_before": f"{load_before[0]:.2f}", "load1_after": f"{load_after[0]:.2f}"}
    figures |= report(results, rates, args.clients)
    compared = {target.name for target in targets if target.compared}
    failed = {f"{name} {key}": load.kinds for name, measured in results.items()
              for key, load in measured.items()
              if load.errors and not (name in compared and key == "clients")}
    if failed:
        print(f"errors (non-200 or transport) in: {failed}", file=sys.stderr)
    print(" ".join(f"{name}={value}" for name, value in figures.items()))
    return 1 if failed else 0


def report(results: dict[str, dict[str, Load]], rates: list[int],
           clients: int) -> dict[str, str]:
    """The table, and the figures of the last line."""
    header = f"{'target':<16}{'sat req/s':>10}{'req/s/core':>11}{'vs plain':>9}"
    for rate in rates:
        header += f"{f'@{rate} avg/p99 ms':>20}{'added avg/p99':>16}"
    if clients:
        header += f"  {f'{clients} clients @{rates[0]}':>24}"
    print(header)
    plain_core = results["plain"]["sat"].rps_per_core if "plain" in results else 0.0
    figures: dict[str, str] = {}
    for name, measured in results.items():
        sat = measured["sat"]
        ratio = sat.rps_per_core / plain_core if plain_core and sat.cpu_s else 0.0
        line = f"{name:<16}{sat.rps:>10.0f}"
        line += f"{sat.rps_per_core:>11.0f}{ratio:>9.2f}" if sat.cpu_s else f"{'-':>11}{'-':>9}"
        figures[f"{name}_sat_rps"] = f"{sat.rps:.0f}"
        if sat.cpu_s:
            figures[f"{name}_rps_per_core"] = f"{sat.rps_per_core:.0f}"
        if name not in ("direct", "plain") and ratio:
            figures[f"{name}_vs_plain"] = f"{ratio:.3f}"
        for rate in rates:
            load, direct = measured[str(rate)], results["direct"][str(rate)]
            added_avg, added_p99 = load.avg_ms - direct.avg_ms, load.p99_ms - direct.p99_ms
            short = "*" if load.rps < 0.95 * rate else ""
            line += f" {f'{load.rps:.0f}/s{short} {load.avg_ms:.2f}/{load.p99_ms:.2f}':>19}"
            line += f"{f'{added_avg:+.2f}/{added_p99:+.2f}':>16}" if name != "direct" else " " * 16
            if name != "direct":
                figures[f"{name}_added_avg_ms_{rate}"] = f"{added_avg:.3f}"
                figures[f"{name}_added_p99_ms_{rate}"] = f"{added_p99:.3f}"
            figures[f"{name}_rate_{rate}"] = f"{load.rps:.0f}"
        if clients:
            many = measured["clients"]
            line += f"  {f'{many.avg_ms:.2f}/{many.p99_ms:.2f} ms, {many.errors} err':>24}"
            figures[f"{name}_clients_errors"] = str(many.errors)
        print(line)
    print("* = the generator fell short of the rate by more than 5%; added = target - direct; "
          "err = connect/read/write errors, timeouts, non-200 answers and connections the "
          "target could not accept (accept4: Too many open files, from its error.log)")
    return figures


def nginx_version_text() -> str:
    binary = nginx_binary() or "nginx"
    out = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False).stderr
    return out.strip().split("/")[-1]


def _load(values: tuple[float, float, float]) -> str:
    return " ".join(f"{value:.2f}" for value in values)


if __name__ == "__main__":
    sys.exit(main())
