"""A real Kubernetes node for the cluster suite: containerd (Debian's, on its own socket, root and
state folders), kubelet and kube-proxy (built by ``build.sh`` from the control plane's module)
and a CNI bridge, following ``shared/reference/real-runtimes.md`` "A real Kubernetes node".

What keeps the host as it was (each is needed):

- containerd and kubelet run in one private mount namespace (``unshare -m --propagation
  private``, held by a ``sleep``; both started with ``nsenter -t HOLDER -m``, so runc sees the
  kubelet's tmpfs mounts). Files holding the values kubelet wants are bind-mounted over
  ``vm.overcommit_memory``, ``kernel.panic`` and ``kernel.panic_on_oops`` there, and kubelet runs
  with ``protectKernelDefaults: true``: it never writes a host sysctl, it would fail instead.
- kubelet's PATH has no iptables binaries (it would add KUBE-FIREWALL chains); kube-proxy runs
  in ``nftables`` mode (its own table, removed by ``kube-proxy --cleanup`` at the end), NodePorts
  on the bridge address only, no conntrack sysctl (every value 0).
- the CNI bridge ``BRIDGE`` (``NODE_IP``/24) is created here and deleted at the end; the bridge
  plugin runs with ``isGateway: false, ipMasq: false`` (no rules from CNI).
- containerd's CRI plugin: ``restrict_oom_score_adj`` (root here lacks CAP_SYS_RESOURCE),
  ``disable_apparmor``, network namespaces under its state folder, runc's root in the run folder.
- the cluster DNS (``dns.ClusterDns``) listens on ``NODE_IP:53`` only.

Stop: kubelet, every container and sandbox (``ctr``), containerd, kube-proxy (then
``--cleanup``), the namespace holder (its mounts vanish with it), the bridge, the ``/kubepods``
cgroups, and ``/var/lib/kubelet`` when this run created it.

Images: the e2e inference and router images are saved from the private Docker daemon once
(cached under the kube cache by tag) and imported with ``ctr images import``; the sandbox image
is ``PAUSE_IMAGE``, the ``pause`` binary from ``build.sh`` written as a one-layer image here.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.engine.kube.api import Api
from tests.engine.kube.dns import ClusterDns

NODE_NAME = "real-0"
BRIDGE = "mlpk0"
NODE_IP = "10.244.77.1"
POD_CIDR = "10.244.77.0/24"
PAUSE_IMAGE = "mlplan.test/pause:1"
NODE_LABEL = ("mlplan.test/pool", "real")
KUBELET_PORT, KUBELET_HEALTHZ_PORT = 21250, 21248
#: The kubelet's serving certificate and key, next to the cluster CA (``cluster.make_pki``:
#: from that CA, for NODE_IP and NODE_NAME), so clients can verify the kubelet (metrics-server).
KUBELET_SERVING = ("kubelet-serving.crt", "kubelet-serving.key")
PROXY_HEALTHZ_PORT, PROXY_METRICS_PORT = 21256, 21249
SYSCTLS = {"vm/overcommit_memory": "1", "kernel/panic": "10", "kernel/panic_on_oops": "1"}
#: Debian's packages the node needs (``tests/run`` installs them).
TOOLS = {"/usr/bin/containerd": "containerd (apt-get install docker.io or containerd)",
         "/usr/bin/ctr": "ctr (apt-get install containerd)",
         "/usr/bin/containerd-shim-runc-v2": "containerd-shim-runc-v2 (apt-get install containerd)",
         "/usr/sbin/runc": "runc (apt-get install runc)",
         "/usr/lib/cni/bridge": "the CNI plugins (apt-get install containernetworking-plugins)",
         "/usr/lib/cni/host-local": "the CNI plugins (apt-get install containernetworking-plugins)",
         "/usr/sbin/nft": "nft (apt-get install nftables), for kube-proxy's nftables mode",
         "/usr/bin/unshare": "unshare (util-linux)", "/usr/bin/nsenter": "nsenter (util-linux)",
         "/usr/sbin/ip": "ip (iproute2)"}
#: kubelet's PATH: mount, nsenter & co., no iptables (it is in /usr/sbin).
KUBELET_PATH = "/usr/local/bin:/usr/bin:/bin"
STOP_TIMEOUT_S = 15


def stop_process(proc: subprocess.Popen[Any], timeout_s: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM to a process that still runs, then SIGKILL if it has not ended within
    ``timeout_s``; returns once it has ended (its own cleanup on SIGTERM gets the chance)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout_s)


class NodeError(RuntimeError):
    """The node cannot start here (the message says why and what to do)."""


def unusable_reason() -> str:
    """Why a real node cannot run on this machine ("" when it can)."""
    if os.geteuid() != 0:
        return "a real node needs root (containerd, kubelet, a bridge)"
    missing = [what for path, what in TOOLS.items() if not os.access(path, os.X_OK)]
    if missing:
        return "missing: " + "; ".join(sorted(set(missing)))
    if not Path("/sys/fs/cgroup/memory").is_dir() and not Path(
            "/sys/fs/cgroup/cgroup.controllers").is_file():
        return "no memory cgroup hierarchy under /sys/fs/cgroup"
    if Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() != "1":
        return ("net.ipv4.ip_forward is 0: pods could not reach Services through kube-proxy "
                "(this suite does not change host sysctls)")
    return ""


def _run(*argv: str, timeout: float = 60, check: bool = True,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                          check=False, env=env)
    if check and proc.returncode != 0:
        raise NodeError(f"{' '.join(argv)} exited {proc.returncode}: "
                        f"{(proc.stderr or proc.stdout).strip()[-1500:]}")
    return proc


def pause_image_tar(pause_binary: Path) -> bytes:
    """A ``docker save`` archive of ``PAUSE_IMAGE``: one layer holding ``/pause``."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        info = tarfile.TarInfo("pause")
        data = pause_binary.read_bytes()
        info.size, info.mode, info.mtime = len(data), 0o755, 0
        tar.addfile(info, io.BytesIO(data))
    layer_bytes = layer.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Entrypoint": ["/pause"]},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    manifest = json.dumps([{"Config": "config.json", "RepoTags": [PAUSE_IMAGE],
                            "Layers": ["layer.tar"]}]).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, blob in (("layer.tar", layer_bytes), ("config.json", config),
                           ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(blob), 0o644, 0
            tar.addfile(info, io.BytesIO(blob))
    return out.getvalue()


#: The e2e images the node imports (names in ``tests/docker/build-images.sh``'s JSON).
E2E_IMAGES = ("inference", "inference_r2", "router")


def image_recipe_key() -> str:
    """sha256 over what the e2e image tags are made from (``tests/docker/build-images.sh`` and
    ``tests/docker/images/``): a cached export is reused only while these are unchanged."""
    docker_dir = Path(__file__).resolve().parents[2] / "docker"
    digest = hashlib.sha256()
    for path in [docker_dir / "build-images.sh",
                 *sorted(p for p in (docker_dir / "images").rglob("*") if p.is_file())]:
        digest.update(str(path.relative_to(docker_dir)).encode() + b"\0" + path.read_bytes())
    digest.update(os.environ.get("MLPLAN_DEBIAN_MIRROR", "").encode())
    return digest.hexdigest()[:16]


def saved_images(cache: Path, say: Callable[[str], None]) -> tuple[dict[str, str], list[Path]]:
    """The e2e images (name -> tag, e.g. ``inference`` -> ``mlplan-e2e/inference:3f2a...``) and
    their ``docker save`` archives in ``cache``. Exported once per image recipe
    (``image_recipe_key``): the private Docker daemon is started, its images brought up to
    date (a no-op when built), the archives saved and the daemon stopped again; later sessions
    need no Docker daemon."""
    cache.mkdir(parents=True, exist_ok=True)
    manifest = cache / f"images-{image_recipe_key()}.json"
    if manifest.is_file():
        tags: dict[str, str] = json.loads(manifest.read_text())
        paths = [cache / _archive_name(tag) for tag in tags.values()]
        if all(p.is_file() for p in paths):
            return tags, paths
    from tests.docker import daemon as docker_daemon

    start = time.monotonic()
    with docker_daemon.running() as docker:
        built = docker_daemon.build_images(docker, stream=False)
        tags = {name: built[name] for name in E2E_IMAGES}
        paths = []
        for tag in tags.values():
            path = cache / _archive_name(tag)
            if not path.is_file():
                tmp = path.with_suffix(".tmp")
                docker.docker("save", "-o", str(tmp), tag, timeout=300)
                tmp.replace(path)
            paths.append(path)
    tmp_manifest = manifest.with_suffix(".tmp")
    tmp_manifest.write_text(json.dumps(tags, sort_keys=True))
    tmp_manifest.replace(manifest)
    say(f"kube node: e2e images exported from the private Docker daemon in "
        f"{time.monotonic() - start:.1f} s")
    return tags, paths


def _archive_name(tag: str) -> str:
    return tag.replace("/", "_").replace(":", "_") + ".tar"


def containerd_config(run: Path) -> str:
    """containerd 1.6's config (version 2): own root/state/socket, the CRI settings above."""
    return f"""version = 2
root = "{run}/containerd/root"
state = "{run}/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "{run}/containerd.sock"
[ttrpc]
  address = "{run}/containerd.sock.ttrpc"
[debug]
  level = "warn"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{run}/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  disable_apparmor = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{run}/cni"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "/usr/sbin/runc"
        Root = "{run}/runc"
"""


def cni_config(run: Path) -> dict[str, Any]:
    return {"cniVersion": "1.0.0", "name": "mlplan-e2e", "plugins": [{
        "type": "bridge", "bridge": BRIDGE, "isGateway": False, "ipMasq": False,
        "hairpinMode": True,
        "ipam": {"type": "host-local", "dataDir": str(run / "cni-ipam"),
                 "ranges": [[{"subnet": POD_CIDR, "gateway": NODE_IP}]],
                 "routes": [{"dst": "0.0.0.0/0"}]}}]}


def kubelet_config(run: Path, ca_file: Path) -> dict[str, Any]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
        "address": NODE_IP, "port": KUBELET_PORT, "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1", "healthzPort": KUBELET_HEALTHZ_PORT,
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                           "x509": {"clientCAFile": str(ca_file)}},
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": str(ca_file.parent / KUBELET_SERVING[0]),
        "tlsPrivateKeyFile": str(ca_file.parent / KUBELET_SERVING[1]),
        "cgroupDriver": "cgroupfs", "failCgroupV1": False, "failSwapOn": False,
        "protectKernelDefaults": True,
        "containerRuntimeEndpoint": f"unix://{run}/containerd.sock",
        "podLogsDir": str(run / "pod-logs"),  # RealNode.pod_logs
        "clusterDNS": [NODE_IP], "clusterDomain": "cluster.local",
        "resolvConf": str(run / "resolv.conf"),
        "podCIDR": POD_CIDR, "maxPods": 110, "serializeImagePulls": False,
        "imageGCHighThresholdPercent": 99, "imageGCLowThresholdPercent": 98,
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%",
                         "imagefs.available": "1%", "nodefs.inodesFree": "1%"},
        "nodeStatusUpdateFrequency": "4s", "syncFrequency": "10s",
    }


@dataclass
class RealNode:
    """The running node; ``stop()`` undoes everything ``start`` did, also after a failure."""

    run: Path  # state (containerd's images and snapshots, kubelet's root): removed at stop
    bin_dir: Path
    api: Api
    say: Callable[[str], None]
    logs: Path  # the processes' logs: kept
    procs: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    holder: subprocess.Popen[bytes] | None = None
    dns: ClusterDns | None = None
    bridge_made: bool = False
    proxy_started: bool = False
    made_var_lib_kubelet: bool = False
    made_fifo_dir: bool = False
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def pod_logs(self) -> Path:
        """The kubelet's pod logs: ``<namespace>_<pod>_<uid>/<container>/0.log``."""
        return self.run / "pod-logs"

    @property
    def socket(self) -> str:
        return str(self.run / "containerd.sock")

    def log_tail(self, name: str, lines: int = 25) -> str:
        path = self.logs / f"{name}.log"
        if not path.is_file():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def check_alive(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.returncode}; last lines of its "
                                     f"log:\n{self.log_tail(name)}")

    def ctr(self, *args: str, timeout: float = 120,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        return _run("/usr/bin/ctr", "-a", self.socket, "-n", "k8s.io", *args, timeout=timeout,
                    check=check)

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 (child keeps it)
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=self.run, env=env,
                                start_new_session=True)
        log.close()
        self.procs.append((name, proc))

    def _in_namespace(self, *argv: str) -> list[str]:
        assert self.holder is not None
        return ["/usr/bin/nsenter", "-t", str(self.holder.pid), "-m", "--", *argv]

    # --- start ------------------------------------------------------------------------------

    def start(self, kubeconfig: Path, ca_file: Path, images: list[Path]) -> None:
        t0 = time.monotonic()
        self.logs.mkdir(parents=True, exist_ok=True)
        self.made_var_lib_kubelet = not Path("/var/lib/kubelet").exists()
        self.made_fifo_dir = not Path("/run/containerd/fifo").exists()
        self._bridge()
        self.dns = ClusterDns(NODE_IP, self.api)
        self._namespace()
        self._containerd(images)
        self._kubelet(kubeconfig, ca_file)
        self._proxy(kubeconfig)
        self.timings["node_start_to_ready_s"] = time.monotonic() - t0

    def _bridge(self) -> None:
        if _run("/usr/sbin/ip", "link", "show", BRIDGE, check=False).returncode == 0:
            _run("/usr/sbin/ip", "link", "delete", BRIDGE)  # left by a killed run
        _run("/usr/sbin/ip", "link", "add", BRIDGE, "type", "bridge")
        self.bridge_made = True
        _run("/usr/sbin/ip", "addr", "add", f"{NODE_IP}/24", "dev", BRIDGE)
        _run("/usr/sbin/ip", "link", "set", BRIDGE, "up")

    def _namespace(self) -> None:
        self.holder = subprocess.Popen(
            ["/usr/bin/unshare", "-m", "--propagation", "private", "sleep", "infinity"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        deadline = time.monotonic() + 10
        while os.readlink(f"/proc/{self.holder.pid}/ns/mnt") == os.readlink("/proc/self/ns/mnt"):
            if self.holder.poll() is not None or time.monotonic() > deadline:
                raise NodeError("unshare -m did not make a mount namespace")
            time.sleep(0.05)
        sysctl_dir = self.run / "sysctl"
        sysctl_dir.mkdir()
        for key, value in SYSCTLS.items():
            held = sysctl_dir / key.replace("/", ".")
            held.write_text(value + "\n")
            _run(*self._in_namespace("/usr/bin/mount", "--bind", str(held),
                                     f"/proc/sys/{key}"))

    def _containerd(self, images: list[Path]) -> None:
        (self.run / "cni").mkdir()
        (self.run / "cni" / "10-mlplan.conflist").write_text(json.dumps(cni_config(self.run)))
        (self.run / "containerd.toml").write_text(containerd_config(self.run))
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
        self._spawn("containerd", self._in_namespace(
            "/usr/bin/containerd", "--config", str(self.run / "containerd.toml")), env)
        self._wait("containerd", lambda: self.ctr("version", timeout=5,
                                                  check=False).returncode == 0, 30)
        start = time.monotonic()
        pause = self.run / "pause.tar"
        pause.write_bytes(pause_image_tar(self.bin_dir / "pause"))
        for archive in (pause, *images):
            self.ctr("images", "import", str(archive), timeout=300)
        self.timings["image_import_s"] = time.monotonic() - start

    def _kubelet(self, kubeconfig: Path, ca_file: Path) -> None:
        (self.run / "resolv.conf").write_text("")
        config = self.run / "kubelet.yaml"
        config.write_text(yaml.safe_dump(kubelet_config(self.run, ca_file)))
        self._spawn("kubelet", self._in_namespace(
            str(self.bin_dir / "kubelet"), "--config", str(config),
            "--kubeconfig", str(kubeconfig), "--root-dir", str(self.run / "kubelet"),
            "--cert-dir", str(self.run / "kubelet-pki"), "--node-ip", NODE_IP,
            "--hostname-override", NODE_NAME,
            "--node-labels", f"{NODE_LABEL[0]}={NODE_LABEL[1]}", "--v", "1"),
            {"PATH": KUBELET_PATH})

        def ready() -> bool:
            node = self.api.get(f"/api/v1/nodes/{NODE_NAME}")
            return any(c["type"] == "Ready" and c["status"] == "True"
                       for c in node.get("status", {}).get("conditions", []))

        self._wait("kubelet (node Ready)", ready, 90)

    def _proxy(self, kubeconfig: Path) -> None:
        self._spawn("kube-proxy", [
            str(self.bin_dir / "kube-proxy"), "--kubeconfig", str(kubeconfig),
            "--proxy-mode", "nftables", "--hostname-override", NODE_NAME,
            "--bind-address", NODE_IP, "--nodeport-addresses", f"{NODE_IP}/32",
            "--cluster-cidr", POD_CIDR, "--masquerade-all",
            "--healthz-bind-address", f"127.0.0.1:{PROXY_HEALTHZ_PORT}",
            "--metrics-bind-address", f"127.0.0.1:{PROXY_METRICS_PORT}",
            "--conntrack-max-per-core", "0", "--conntrack-min", "0",
            "--conntrack-tcp-timeout-established", "0",
            "--conntrack-tcp-timeout-close-wait", "0", "--v", "1"],
            {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
        self.proxy_started = True

        def healthy() -> bool:
            import urllib.request
            with urllib.request.urlopen(f"http://127.0.0.1:{PROXY_HEALTHZ_PORT}/healthz",
                                        timeout=2) as r:
                return bool(r.status == 200)

        self._wait("kube-proxy", healthy, 30)

    def _wait(self, what: str, check: Callable[[], bool], timeout_s: float) -> None:
        start = time.monotonic()
        self.say(f"kube node: waiting for {what}")
        last = ""
        while True:
            self.check_alive()
            try:
                if check():
                    break
            except Exception as e:
                last = f"{type(e).__name__}: {e}"
            if time.monotonic() - start > timeout_s:
                name = what.split()[0]
                raise NodeError(f"{what} not ready after {timeout_s:.0f} s ({last}); last lines "
                                f"of its log:\n{self.log_tail(name)}")
            time.sleep(0.2)
        took = time.monotonic() - start
        self.timings[f"{what.split()[0]}_s"] = took
        self.say(f"kube node: {what} ready in {took:.1f} s")

    # --- stop -------------------------------------------------------------------------------

    def _stop_proc(self, name: str) -> None:
        for n, proc in self.procs:
            if n == name:
                stop_process(proc)

    def _remove_containers(self) -> None:
        if not any(n == "containerd" and p.poll() is None for n, p in self.procs):
            return
        for line in self.ctr("tasks", "ls", "-q", check=False, timeout=30).stdout.split():
            self.ctr("tasks", "kill", "-s", "SIGKILL", line, check=False, timeout=30)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            listed = self.ctr("tasks", "ls", "-q", check=False, timeout=30).stdout.split()
            for task in listed:
                self.ctr("tasks", "delete", task, check=False, timeout=30)
            if not listed:
                break
            time.sleep(0.5)
        for container in self.ctr("containers", "ls", "-q", check=False,
                                  timeout=30).stdout.split():
            self.ctr("containers", "delete", container, check=False, timeout=30)

    def _kill_leftovers(self) -> None:
        """Processes still naming this run's folder (containerd shims): SIGKILL, by PID."""
        marker = str(self.run).encode()
        for pid_dir in Path("/proc").iterdir():
            if not pid_dir.name.isdigit() or int(pid_dir.name) == os.getpid():
                continue
            with contextlib.suppress(OSError):
                if marker in (pid_dir / "cmdline").read_bytes():
                    os.kill(int(pid_dir.name), signal.SIGKILL)

    def stop(self) -> None:
        steps: list[tuple[str, Callable[[], None]]] = [
            ("kubelet", lambda: self._stop_proc("kubelet")),
            ("containers", self._remove_containers),
            ("containerd", lambda: self._stop_proc("containerd")),
            ("kube-proxy", lambda: self._stop_proc("kube-proxy")),
            ("kube-proxy --cleanup", self._proxy_cleanup),
            ("leftover processes", self._kill_leftovers),
            ("namespace holder", self._stop_holder),
            ("dns", lambda: self.dns.stop() if self.dns else None),
            ("bridge", self._remove_bridge),
            ("cgroups", _remove_cgroups),
            ("host folders", self._remove_host_folders),
            ("run folder", lambda: shutil.rmtree(self.run, ignore_errors=True)),
        ]
        problems = []
        for name, step in steps:
            try:
                step()
            except Exception as e:
                problems.append(f"{name}: {type(e).__name__}: {e}")
        self.procs.clear()
        if problems:
            raise NodeError("stopping the real node left: " + "; ".join(problems))

    def _proxy_cleanup(self) -> None:
        if self.proxy_started:
            _run(str(self.bin_dir / "kube-proxy"), "--cleanup", "--proxy-mode", "nftables",
                 check=False, timeout=60, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})

    def _stop_holder(self) -> None:
        if self.holder is not None and self.holder.poll() is None:
            self.holder.kill()
            self.holder.wait(timeout=STOP_TIMEOUT_S)

    def _remove_bridge(self) -> None:
        if self.bridge_made:
            _run("/usr/sbin/ip", "link", "delete", BRIDGE, check=False)

    def _remove_host_folders(self) -> None:
        if self.made_var_lib_kubelet:
            shutil.rmtree("/var/lib/kubelet", ignore_errors=True)
        if self.made_fifo_dir:
            shutil.rmtree("/run/containerd/fifo", ignore_errors=True)


def _remove_cgroups() -> None:
    """``/kubepods`` (kubelet's QoS tree) in every v1 hierarchy, deepest first, once empty."""
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        for top in ("kubepods", "k8s.io"):
            root = hierarchy / top
            if not root.is_dir():
                continue
            for path in sorted((p for p in root.rglob("*") if p.is_dir()),
                               key=lambda p: len(p.parts), reverse=True):
                with contextlib.suppress(OSError):
                    path.rmdir()
            with contextlib.suppress(OSError):
                root.rmdir()


def start(run: Path, logs: Path, bin_dir: Path, api: Api, kubeconfig: Path, ca_file: Path,
          images: list[Path], say: Callable[[str], None] = print) -> RealNode:
    """Start the node in ``run`` (short: socket paths; removed at stop), logs in ``logs``;
    stopped again on failure."""
    reason = unusable_reason()
    if reason:
        raise NodeError(f"a real node cannot run on this machine: {reason}")
    for binary in ("kubelet", "kube-proxy", "pause"):
        if not os.access(bin_dir / binary, os.X_OK):
            raise NodeError(f"not built: {bin_dir / binary} (run bash tests/engine/kube/build.sh)")
    node = RealNode(run, bin_dir, api, say, logs)
    try:
        node.start(kubeconfig, ca_file, images)
    except BaseException:
        with contextlib.suppress(NodeError):
            node.stop()
        raise
    return node


def main(argv: list[str]) -> int:
    """``python -m tests.engine.kube.node save-images``: the real node's image archives, saved
    now into the cluster cache (a no-op when they are there). ``tests/run`` calls it before its
    two test lanes start side by side: the private Docker daemon takes one user at a time, and
    the Docker lane is one."""
    if argv != ["save-images"]:
        print("usage: python -m tests.engine.kube.node save-images", file=sys.stderr)
        return 2
    from tests.docker.daemon import DaemonError
    from tests.engine.kube.cluster import cache_root

    try:
        tags, _ = saved_images(cache_root() / "images", lambda line: print(line, flush=True))
    except (DaemonError, OSError, subprocess.SubprocessError) as exc:
        print(f"kube node: FAILED to save the e2e images: {exc}", file=sys.stderr)
        return 1
    print(f"kube node: e2e images ready ({', '.join(sorted(tags.values()))})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
