"""NetworkPolicy enforcement on the real node: ``network-policies`` (``build.sh``: the controller of
sigs.k8s.io/kube-network-policies v0.7.0 behind our ``netpol/main.go``) as a host process against
the real-node cluster, for the tests that need policies enforced.

What it changes on the host and how that is undone:

- netfilter: ONE nftables table, ``ip TABLE``, with a ``prerouting`` chain (priority dstnat + 5,
  after kube-proxy's DNAT) that hands the first packet of every new connection from or to the
  node's pod addresses (``POD_CIDR``, the suite's bridge ``mlpk0``) to nfqueue ``QUEUE``, where
  the controller accepts or drops it by the NetworkPolicies; established flows are accepted,
  packets the host sends itself (kubelet probes, the tests' own clients) never pass prerouting,
  and no other address matches. The queue
  is reached through the xtables NFQUEUE target (nft_compat), because this kernel has no
  nft_queue module (upstream's own ``queue`` rules fail as one transaction and write nothing;
  ``netpol/main.go`` says more). Nothing else: no iptables chain, no sysctl. The program deletes
  the table when it stops (SIGTERM); ``stop`` deletes it too if it is still there (a killed
  run), and ``start`` deletes one left by an earlier run (fail-closed: with no reader of the
  queue its rules drop new pod connections).
- Bridged pod-to-pod packets reach that hook only through br_netfilter
  (``net.bridge.bridge-nf-call-iptables = 1``); the suite does not change that sysctl, it
  refuses to start when it is off (policies would silently not apply to same-node traffic).
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.engine.kube.node import NODE_NAME, POD_CIDR, stop_process

TABLE = "mlplan-network-policies"
QUEUE = 2727
NFT = "/usr/sbin/nft"
BRIDGE_NF = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")
START_TIMEOUT_S = 30
UPSTREAM_SYNC_NOISE = re.compile(r"syncing nftables rules|netlink receive|conn\.Receive")
STOP_TIMEOUT_S = 15


class EnforcerError(RuntimeError):
    """The enforcer cannot run here (the message says why)."""


def unusable_reason(bin_dir: Path) -> str:
    """Why NetworkPolicy cannot be enforced on this machine ("" when it can)."""
    if not (bin_dir / "network-policies").is_file():
        return f"not built: {bin_dir / 'network-policies'} (run bash tests/engine/kube/build.sh)"
    if not Path(NFT).is_file():
        return "nft is missing (apt-get install nftables)"
    if not BRIDGE_NF.is_file() or BRIDGE_NF.read_text().strip() != "1":
        return ("net.bridge.bridge-nf-call-iptables is not 1 (br_netfilter): pod-to-pod packets "
                "on the node's bridge would bypass netfilter (this suite does not change host "
                "sysctls)")
    if not Path("/proc/net/netfilter/nfnetlink_queue").exists():
        return "the kernel has no nfnetlink_queue (NFQUEUE)"
    return ""


def _table_exists() -> bool:
    return subprocess.run([NFT, "list", "table", "ip", TABLE], capture_output=True,
                          timeout=30, check=False).returncode == 0


def _delete_table() -> None:
    if _table_exists():
        subprocess.run([NFT, "delete", "table", "ip", TABLE], capture_output=True,
                       timeout=30, check=True)


@dataclass
class Enforcer:
    """The running controller; ``stop()`` ends it and leaves no table behind."""

    proc: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 25) -> str:
        """The log's last lines, without upstream's repeated failures to write its own
        ``queue`` rules (expected here, see the module docstring)."""
        text = self.log.read_text(errors="replace") if self.log.is_file() else ""
        kept = [line for line in text.splitlines()
                if not (UPSTREAM_SYNC_NOISE.search(line) or line.strip() == ">")]
        return "\n".join(kept[-lines:])

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(f"network-policies exited with {self.proc.returncode}; last "
                                 f"lines of its log:\n{self.tail()}")

    def drops(self) -> list[str]:
        """Each dropped packet as the controller logged it: the ``Evaluating packet`` line
        (source and destination pod, the packet) before its ``verdict="drop"``."""
        text = self.log.read_text(errors="replace") if self.log.is_file() else ""
        found, evaluating = [], ""
        for line in text.splitlines():
            if "Evaluating packet" in line:
                evaluating = line.split("] ", 1)[-1]
            elif 'verdict="drop"' in line:
                found.append(evaluating)
        return found

    def rules(self) -> str:
        """``nft list table ip TABLE`` (the diversion chain)."""
        return subprocess.run([NFT, "list", "table", "ip", TABLE], capture_output=True,
                              text=True, timeout=30, check=False).stdout

    def stop(self) -> None:
        stop_process(self.proc, STOP_TIMEOUT_S)
        _delete_table()


def start(bin_dir: Path, kubeconfig: Path, logs: Path) -> Enforcer:
    """Start the controller for the real node ``NODE_NAME``; returns once its table exists
    (written after the controller reads the queue)."""
    reason = unusable_reason(bin_dir)
    if reason:
        raise EnforcerError(f"NetworkPolicy cannot be enforced here: {reason}")
    _delete_table()  # left by a killed run: with no queue reader it would drop pod traffic
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / "network-policies.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(bin_dir / "network-policies"), "--kubeconfig", str(kubeconfig),
             "--node", NODE_NAME, "--pod-cidr", POD_CIDR, "--table", TABLE,
             "--queue", str(QUEUE), "--v", "2"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
    enforcer = Enforcer(proc, log)
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while not _table_exists():
            enforcer.check_alive()
            if time.monotonic() > deadline:
                raise EnforcerError(f"network-policies made no table {TABLE} in "
                                    f"{START_TIMEOUT_S} s; last lines of its log:\n"
                                    f"{enforcer.tail()}")
            time.sleep(0.2)
    except BaseException:
        with contextlib.suppress(Exception):
            enforcer.stop()
        raise
    return enforcer
