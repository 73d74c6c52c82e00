"""A private Docker Engine for mlplan's Docker end-to-end suite.

Debian's ``dockerd`` started with its own data root (in the cache, so built images survive
between runs), its own exec root, socket and pidfile (in a fresh folder under /tmp: socket paths
must stay short), and network settings that leave any daemon the user already runs alone:

- ``--bridge=none``: no ``docker0``; the suite uses only user-defined bridge networks;
- ``--iptables=false``: no iptables chains touched; published ports go through docker-proxy,
  which listens on the host address given (127.0.0.1 in the tests);
- ``--default-address-pool base=172.30.0.0/16,size=24``: networks away from Docker's defaults;
- with iptables left alone, a host whose FORWARD policy is DROP (as any host that ever ran a
  Docker daemon with iptables: Docker sets it) drops bridged traffic between containers when
  br_netfilter is loaded. One rule, ``FORWARD -s POOL -d POOL -j ACCEPT`` with the comment
  ``mlplan-e2e``, lets traffic inside the pool through; it is removed when the daemon stops.

One run at a time may use a data root (a lock file, released when the process ends). At start,
containers, networks and volumes left by a crashed earlier run are removed (never images).

``python -m tests.docker.daemon build-images`` starts the daemon, runs ``build-images.sh`` with
its progress on the terminal and stops the daemon again: ``tests/run`` does that before pytest,
so the image builds show in the CI log; the suite's fixture then finds them up to date.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

HERE = Path(__file__).resolve().parent
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30
#: Address pool of the daemon's networks; another value lets a second run (a benchmark beside
#: the suite) keep its own networks and its own FORWARD rule.
POOL = os.environ.get("MLPLAN_DOCKER_POOL", "172.30.0.0/16")
ADDRESS_POOL = f"base={POOL},size=24"
RULE = ["FORWARD", "-s", POOL, "-d", POOL, "-m", "comment", "--comment", "mlplan-e2e",
        "-j", "ACCEPT"]


def _iptables(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["iptables", "-w", "5", *args], capture_output=True, text=True,
                          timeout=30, check=False)


def allow_pool() -> None:
    """Insert the one FORWARD rule (once: a rule left by a crashed run is reused)."""
    if shutil.which("iptables") is None:
        return  # no iptables, no FORWARD policy to get past
    if _iptables("-C", *RULE).returncode != 0:
        done = _iptables("-I", *RULE)
        if done.returncode != 0:
            raise DaemonError(f"iptables -I {' '.join(RULE)} failed: {done.stderr.strip()}")


def remove_pool_rule() -> None:
    if shutil.which("iptables") is None:
        return
    while _iptables("-C", *RULE).returncode == 0:
        if _iptables("-D", *RULE).returncode != 0:
            break


class DaemonError(RuntimeError):
    """The private Docker Engine could not be started (the message says why and what to do)."""


def cache_root() -> Path:
    return Path(os.environ.get("MLPLAN_DOCKER_CACHE")
                or Path.home() / ".cache" / "mlplan-docker")


@dataclass
class DockerDaemon:
    """A running private dockerd; ``host`` is its ``DOCKER_HOST`` (``unix://...``)."""

    host: str
    run_dir: Path
    data_root: Path
    process: subprocess.Popen[bytes]
    lock: IO[str]

    @property
    def env(self) -> dict[str, str]:
        """The environment with ``DOCKER_HOST`` pointing here (and no other daemon settings)."""
        env = {k: v for k, v in os.environ.items()
               if k not in ("DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH")}
        env["DOCKER_HOST"] = self.host
        return env

    def docker(self, *args: str, check: bool = True,
               timeout: float = 120) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["docker", *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise DaemonError(f"docker {' '.join(args)} exited {proc.returncode}: "
                              f"{proc.stderr.strip()[-2000:]}")
        return proc

    def log_tail(self, lines: int = 20) -> str:
        path = self.run_dir / "dockerd.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def clean(self) -> None:
        """Remove every container, then networks and volumes (images stay)."""
        ids = self.docker("ps", "-aq").stdout.split()
        if ids:
            self.docker("rm", "-f", "-v", *ids)
        self.docker("network", "prune", "-f")
        self.docker("volume", "prune", "-f")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        remove_pool_rule()
        with contextlib.suppress(OSError):
            fcntl.flock(self.lock, fcntl.LOCK_UN)
            self.lock.close()
        shutil.rmtree(self.run_dir, ignore_errors=True)


def start(cache: Path | None = None) -> DockerDaemon:
    """Start dockerd on a data root under ``cache``; raise DaemonError with the reason."""
    cache = cache or cache_root()
    dockerd = shutil.which("dockerd") or ("/usr/sbin/dockerd"
                                          if os.access("/usr/sbin/dockerd", os.X_OK) else None)
    if dockerd is None:
        raise DaemonError("dockerd is not installed: apt-get install docker.io "
                          "(tests/run does this as root)")
    if shutil.which("docker") is None:
        raise DaemonError("the docker client is not on PATH: apt-get install docker.io")
    if os.geteuid() != 0:
        raise DaemonError("a private dockerd needs root (run the suite as root, as CI does)")
    data_root = cache / "data"
    data_root.mkdir(parents=True, exist_ok=True)
    lock = open(cache / "data.lock", "w")  # noqa: SIM115 - held for the daemon's lifetime
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        lock.close()
        holders = subprocess.run(["fuser", str(cache / "data.lock")], capture_output=True,
                                 text=True, check=False).stdout.split() if shutil.which(
                                     "fuser") else []
        raise DaemonError(f"another test run (or the dockerd it left, pids {holders or '?'}) is "
                          f"using {data_root} (lock {cache / 'data.lock'}); wait for it, stop "
                          "it, or set MLPLAN_DOCKER_CACHE to another folder") from exc
    run_dir = Path(tempfile.mkdtemp(prefix="mlplan-dockerd-", dir="/tmp"))
    socket = run_dir / "docker.sock"
    log = open(run_dir / "dockerd.log", "wb")  # noqa: SIM115 - the daemon writes it
    process = subprocess.Popen(
        [dockerd, "--data-root", str(data_root), "--exec-root", str(run_dir / "exec"),
         "--host", f"unix://{socket}", "--pidfile", str(run_dir / "docker.pid"),
         "--bridge=none", "--iptables=false", "--ip-masq=false",
         "--default-address-pool", ADDRESS_POOL, "--log-level", "warn"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        # dockerd holds the lock too: a daemon outliving a killed test run keeps its data root
        # from a second daemon.
        pass_fds=(lock.fileno(),), start_new_session=True)
    log.close()
    daemon = DockerDaemon(f"unix://{socket}", run_dir, data_root, process, lock)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            tail = daemon.log_tail()
            daemon.stop()
            raise DaemonError(f"dockerd exited with {process.returncode} while starting:\n{tail}")
        if socket.exists() and daemon.docker("version", check=False, timeout=10).returncode == 0:
            break
        if time.monotonic() > deadline:
            tail = daemon.log_tail()
            daemon.stop()
            raise DaemonError(f"dockerd did not answer within {START_TIMEOUT_S} s:\n{tail}")
        time.sleep(0.3)
    try:
        allow_pool()
        daemon.clean()
    except DaemonError:
        daemon.stop()
        raise
    return daemon


@contextlib.contextmanager
def running(cache: Path | None = None) -> Iterator[DockerDaemon]:
    daemon = start(cache)
    try:
        yield daemon
    finally:
        daemon.stop()


def build_images(daemon: DockerDaemon, *, stream: bool) -> dict[str, str]:
    """Run build-images.sh against ``daemon``; the image tags it wrote. ``stream`` shows its
    progress on this process's stdout (otherwise it is captured and shown on failure)."""
    out = daemon.run_dir / "images.json"
    proc = subprocess.run(["bash", str(HERE / "build-images.sh"), str(out)], env=daemon.env,
                          stdout=None if stream else subprocess.PIPE,
                          stderr=None if stream else subprocess.STDOUT, text=True,
                          check=False)
    if proc.returncode != 0:
        raise DaemonError(f"tests/docker/build-images.sh exited {proc.returncode}"
                          + ("" if stream else f":\n{(proc.stdout or '')[-4000:]}"))
    images: dict[str, str] = json.loads(out.read_text(encoding="utf-8"))
    return images


def main(argv: list[str]) -> int:
    if argv != ["build-images"]:
        print("usage: python -m tests.docker.daemon build-images", file=sys.stderr)
        return 2
    try:
        with running() as daemon:
            print(f"tests/docker: private dockerd at {daemon.host} "
                  f"(data root {daemon.data_root})", flush=True)
            build_images(daemon, stream=True)
    except DaemonError as exc:
        print(f"tests/docker: FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
