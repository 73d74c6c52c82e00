"""Real processes on 127.0.0.1 for the data-plane tests and the router benchmark.

- ``Instance``: one ``azmlinfsrv`` (one deployment instance) on a free loopback port. azmlinfsrv
  1.5.1 hard-codes ``0.0.0.0`` as its bind host; ``azmlinfsrv_argv`` runs the same CLI entry
  point (``amlserver.run``) with that constant set to ``127.0.0.1`` so nothing listens beyond
  loopback.
- ``Router``: nginx with files rendered by ``mlplan.router.nginx``; ``apply`` is what the
  Docker target does on a traffic change (rewrite routing.conf, ``nginx -t``, ``nginx -s reload``).
- ``Client``: http.client on a keep-alive connection per thread, bounded loops in ``hammer``.

Every process runs in its own process group and is killed with its group on ``stop`` (and at
interpreter exit for anything a crashed test left behind).
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import json
import math
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mlplan.router.nginx import (
    KEYS_FILE,
    MAIN_FILE,
    NginxRuntime,
    RouterConfig,
    render_files,
)

REPO = Path(__file__).resolve().parents[2]
SCORE_SCRIPT = REPO / "stacks" / "score" / "score.py"
MODEL_DIR = REPO / "stacks" / "model" / "sample-model"
PROBE_SCRIPT = Path(__file__).resolve().with_name("probe_score.py")
SCORE_BODY = b'{"data": [[5.1, 3.5, 1.4, 0.2]]}'
JSON = {"Content-Type": "application/json"}

_LIVE: set[Proc] = set()
_LIVE_LOCK = threading.Lock()


def nginx_binary() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


def nginx_version() -> tuple[int, ...]:
    binary = nginx_binary()
    if not binary:
        return ()
    out = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False).stderr
    match = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", out)
    return tuple(int(part) for part in match.groups()) if match else ()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, step: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step)
    raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {what}")


# ------------------------------------------------------------------------------ processes


class Proc:
    """A child in its own process group, output to ``log``; ``stop`` signals the whole group."""

    def __init__(self, argv: list[str], log: Path, env: Mapping[str, str] | None = None) -> None:
        self.argv, self.log, self.env = argv, log, dict(env or os.environ)
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.popen = subprocess.Popen(
                self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=REPO,
                start_new_session=True,
            )
        with _LIVE_LOCK:
            _LIVE.add(self)

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        if self.popen is None:
            return
        if self.popen.poll() is None:
            _killpg(self.popen.pid, sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                _killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
        _killpg(self.popen.pid, signal.SIGKILL)  # stragglers of the group (gunicorn workers)
        with _LIVE_LOCK:
            _LIVE.discard(self)


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


@atexit.register
def _kill_leftovers() -> None:
    with _LIVE_LOCK:
        leftovers = list(_LIVE)
    for proc in leftovers:
        proc.stop(signal.SIGKILL, timeout=2)


def azmlinfsrv_argv(entry_script: Path, port: int) -> list[str]:
    """``azmlinfsrv --entry_script S --port N`` bound to 127.0.0.1 instead of 0.0.0.0."""
    shim = (
        "import sys\n"
        "import azureml_inference_server_http.constants as c\n"
        "c.DEFAULT_HOST = '127.0.0.1'\n"
        "from azureml_inference_server_http.amlserver import run\n"
        "sys.argv[0] = 'azmlinfsrv'\n"
        "sys.exit(run())\n"
    )
    return [sys.executable, "-c", shim, "--entry_script", str(entry_script), "--port", str(port)]


@dataclass
class Instance:
    """One azmlinfsrv process standing for one instance of ``deployment``."""

    deployment: str
    workdir: Path
    script: Path = SCORE_SCRIPT
    workers: int = 1
    port: int = field(default_factory=free_port)
    proc: Proc | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.workdir / f"{self.deployment}-{self.port}.log"

    def start(self) -> None:
        env = dict(os.environ)
        env.update(
            AZUREML_MODEL_DIR=str(MODEL_DIR),
            MLPLAN_DEPLOYMENT=self.deployment,
            WORKER_COUNT=str(self.workers),
            PYTHONUNBUFFERED="1",
            GUNICORN_CMD_ARGS="--no-control-socket",
        )
        self.proc = Proc(azmlinfsrv_argv(self.script, self.port), self.log, env)
        self.proc.start()

    def ready(self) -> bool:
        if self.proc is None or not self.proc.alive():
            raise RuntimeError(f"{self.deployment} on {self.port} exited; see {self.log}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
            conn.request("GET", "/")
            return conn.getresponse().status == 200
        except OSError:
            return False

    def wait_ready(self, timeout: float = 60) -> None:
        wait_for(self.ready, timeout, f"{self.deployment} instance on port {self.port}", 0.05)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None:
            self.proc.stop(sig)

    def log_size(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def scored_since(self, offset: int) -> int:
        """POST /score requests this instance answered (its own access log) after ``offset``."""
        with open(self.log, "rb") as handle:
            handle.seek(offset)
            text = handle.read().decode("utf-8", "replace")
        return len(re.findall(r'gunicorn\.access - .*"POST /score HTTP/1\.[01]" \d{3}', text))


def stop_all(instances: Iterable[Instance]) -> None:
    """SIGTERM every instance first, then wait: shutdowns overlap instead of queueing."""
    procs = [i.proc for i in instances if i.proc is not None and i.proc.alive()]
    for proc in procs:
        _killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        proc.stop()


def start_instances(instances: Iterable[Instance], timeout: float = 60) -> list[Instance]:
    started = list(instances)
    for instance in started:
        instance.start()
    for instance in started:
        instance.wait_ready(timeout)
    return started


class Router:
    """nginx in front of the instances, configured only through the rendered files."""

    def __init__(self, workdir: Path, worker_processes: int = 1, open_files: str = "") -> None:
        """``open_files`` ("soft:hard", e.g. "1024:524288") starts nginx under that
        RLIMIT_NOFILE, the way a container runtime would (``prlimit``)."""
        binary = nginx_binary()
        if binary is None:
            raise RuntimeError("nginx is not installed (apt-get install nginx)")
        self.binary = binary
        self.dir = workdir
        self.limits = ["prlimit", f"--nofile={open_files}", "--"] if open_files else []
        (workdir / "tmp").mkdir(parents=True, exist_ok=True)
        self.runtime = NginxRuntime(
            conf_dir=str(workdir),
            pid_path=str(workdir / "nginx.pid"),
            error_log=str(workdir / "error.log"),
            access_log=str(workdir / "access.log"),
            temp_dir=str(workdir / "tmp"),
            mirror_socket=str(workdir / "mirror.sock"),
            worker_processes=worker_processes,
            user="root" if os.geteuid() == 0 else "",
        )
        self.proc: Proc | None = None
        self.config: RouterConfig | None = None

    @property
    def port(self) -> int:
        assert self.config is not None
        return self.config.listen_port

    @property
    def access_log(self) -> Path:
        return self.dir / "access.log"

    @property
    def error_log(self) -> Path:
        return self.dir / "error.log"

    def _nginx(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = [self.binary, "-c", str(self.dir / MAIN_FILE), "-p", str(self.dir), *args]
        return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)

    def write(self, config: RouterConfig) -> None:
        for name, text in render_files(config, self.runtime).items():
            path = self.dir / name
            tmp = path.with_suffix(".new")
            tmp.write_text(text, encoding="utf-8")
            if name == KEYS_FILE:
                tmp.chmod(0o600)
            tmp.replace(path)  # atomic: a reload never sees half a file
        self.config = config

    def test(self) -> None:
        result = self._nginx("-t")
        if result.returncode != 0:
            raise RuntimeError(f"nginx -t failed:\n{result.stderr}")

    def start(self, config: RouterConfig) -> Router:
        self.write(config)
        self.test()
        self.proc = Proc(
            [
                *self.limits,
                self.binary,
                "-c",
                str(self.dir / MAIN_FILE),
                "-p",
                str(self.dir),
                "-g",
                "daemon off;",
            ],
            self.dir / "nginx.out",
        )
        self.proc.start()

        def up() -> bool:
            if self.proc is None or not self.proc.alive():
                raise RuntimeError(f"nginx exited: {self.error_log.read_text(errors='replace')}")
            return port_open(self.port) and len(self.workers()) == self._worker_count()

        wait_for(up, 10, "nginx to listen")
        return self

    def apply(self, config: RouterConfig, wait: bool = True) -> None:
        """Traffic change as the Docker target does it: rewrite, ``nginx -t``, graceful reload."""
        self.write(config)
        self.reload(wait)

    def reload(self, wait: bool = True) -> None:
        """``nginx -t`` then ``nginx -s reload``; waits until no old worker is left."""
        old = self.workers()
        self.test()
        result = self._nginx("-s", "reload")
        if result.returncode != 0:
            raise RuntimeError(f"nginx -s reload failed:\n{result.stderr}")
        if wait:
            wait_for(
                lambda: (
                    (now := self.workers()).isdisjoint(old) and len(now) == self._worker_count()
                ),
                15,
                "nginx workers to be replaced after reload",
            )

    def _worker_count(self) -> int:
        return self.runtime.worker_processes or (os.cpu_count() or 1)

    def workers(self) -> set[int]:
        """Worker pids (children of the master that are not the cache helpers)."""
        if self.proc is None:
            return set()
        master, found = self.proc.pid, set()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == master and b"worker process" in cmdline and b"shutting" not in cmdline:
                found.add(int(entry))
        return found

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(signal.SIGTERM)
            self.proc = None


# ------------------------------------------------------------------------------ client


@dataclass(frozen=True)
class Result:
    status: int  # 0 = transport error
    body: bytes
    headers: Mapping[str, str]
    started: float
    seconds: float
    error: str = ""

    def json(self) -> dict[str, object]:
        value = json.loads(self.body)
        assert isinstance(value, dict)
        return value

    @property
    def deployment(self) -> str:
        try:
            return str(self.json().get("deployment", ""))
        except (ValueError, AssertionError):
            return ""


_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class Client:
    """One HTTP/1.1 connection, reused while the server keeps it alive.

    Like urllib3, a pooled connection that the server has already closed is detected before
    use, and a request whose reused connection was closed before any response byte arrived is
    sent once more on a fresh connection (``stale_retries`` counts those). Anything else
    (timeout, reset after the status line, non-2xx) is reported as it is.
    """

    def __init__(self, port: int, timeout: float = 30, keep_alive: bool = True) -> None:
        self.port, self.timeout, self.keep_alive = port, timeout, keep_alive
        self.conn: http.client.HTTPConnection | None = None
        self.used = 0
        self.stale_retries = 0

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn, self.used = None, 0

    def _connection(self) -> http.client.HTTPConnection:
        if self.conn is not None and self.conn.sock is not None:
            readable, _, _ = select.select([self.conn.sock], [], [], 0)
            if readable:  # closed by the server while idle (no request outstanding)
                self.close()
        if self.conn is None or self.conn.sock is None:
            self.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        return self.conn

    def request(
        self,
        method: str = "POST",
        path: str = "/score",
        body: bytes | None = SCORE_BODY,
        headers: Mapping[str, str] | None = None,
    ) -> Result:
        sent = dict(JSON if body is not None else {})
        sent.update(headers or {})
        if not self.keep_alive:
            sent["Connection"] = "close"
        started = time.perf_counter()
        for attempt in (0, 1):
            conn = self._connection()
            reused = self.used > 0
            try:
                conn.request(method, path, body=body, headers=sent)
                response = conn.getresponse()
            except _STALE as exc:
                self.close()
                if reused and attempt == 0:
                    self.stale_retries += 1
                    continue
                return Result(0, b"", {}, started, time.perf_counter() - started, repr(exc))
            except OSError as exc:
                self.close()
                return Result(0, b"", {}, started, time.perf_counter() - started, repr(exc))
            try:
                data = response.read()
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                return Result(0, b"", {}, started, time.perf_counter() - started, repr(exc))
            self.used += 1
            if response.will_close or not self.keep_alive:
                self.close()
            headers_out = {k.lower(): v for k, v in response.getheaders()}
            return Result(
                response.status, data, headers_out, started, time.perf_counter() - started
            )
        raise AssertionError("unreachable")


def hammer(
    port: int,
    total: int,
    threads: int = 4,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = SCORE_BODY,
    method: str = "POST",
    path: str = "/score",
    keep_alive: bool = True,
) -> list[Result]:
    """``total`` requests over ``threads`` keep-alive connections; results in completion order."""
    results: list[Result] = []
    lock = threading.Lock()
    counter = iter(range(total))

    def work() -> None:
        client = Client(port, keep_alive=keep_alive)
        local: list[Result] = []
        while True:
            with lock:
                if next(counter, None) is None:
                    break
            local.append(client.request(method, path, body, headers))
        client.close()
        with lock:
            results.extend(local)

    pool = [threading.Thread(target=work, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(120)
    assert len(results) == total, f"{total - len(results)} requests did not finish"
    return results


class Stream:
    """Background request stream until ``stop()`` (bounded by ``max_requests``)."""

    def __init__(
        self,
        port: int,
        threads: int = 4,
        keep_alive: bool = True,
        max_requests: int = 200_000,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.port, self.keep_alive, self.max_requests = port, keep_alive, max_requests
        self.headers = dict(headers or {})
        self.results: list[Result] = []
        self.stale_retries = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._work, daemon=True) for _ in range(threads)]

    def _work(self) -> None:
        client = Client(self.port, keep_alive=self.keep_alive)
        while not self._stop.is_set():
            result = client.request(headers=self.headers)
            with self._lock:
                self.results.append(result)
                if len(self.results) >= self.max_requests:
                    self._stop.set()
        client.close()
        with self._lock:
            self.stale_retries += client.stale_retries

    def __enter__(self) -> Stream:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def count(self) -> int:
        with self._lock:
            return len(self.results)

    def wait_count(self, more: int, timeout: float = 30) -> None:
        target = self.count() + more
        wait_for(lambda: self.count() >= target, timeout, f"{more} more streamed requests")

    def stop(self) -> list[Result]:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)
        return self.results


def failures(results: Iterable[Result], expect: str | None = None) -> list[Result]:
    """Results that are not a 200 (from ``expect``, when given)."""
    return [
        r for r in results if r.status != 200 or (expect is not None and r.deployment != expect)
    ]


def percentile(values: Iterable[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(0, math.ceil(q / 100 * len(ordered)) - 1)
    return ordered[rank]


def chi_square_p(observed: Mapping[str, int], expected_share: Mapping[str, float]) -> float:
    """Goodness-of-fit p-value for two categories (1 degree of freedom).

    statistic = sum((O - E)^2 / E); survival function of chi2(1) is erfc(sqrt(x / 2)).
    Example: 1,830 vs 170 observed for 90/10 of 2,000 -> x = 4.44, p = 0.035.
    """
    if len(expected_share) != 2:
        raise ValueError("exactly two categories (1 degree of freedom)")
    total = sum(observed.values())
    statistic = 0.0
    for name, share in expected_share.items():
        expected = share * total
        statistic += (observed.get(name, 0) - expected) ** 2 / expected
    return math.erfc(math.sqrt(statistic / 2))
