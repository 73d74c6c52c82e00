"""The real node's cluster DNS: ``<service>.<namespace>.svc.cluster.local`` -> the Service's
ClusterIP, read from the API at each query (what CoreDNS's kubernetes plugin answers for a
ClusterIP Service; CoreDNS itself would be one more Go build for this one rule).

Listens on UDP ``address:53`` (the node's bridge address, which the kubelet gives pods as
``clusterDNS``); anything else is NXDOMAIN (pods here never need outside names), AAAA of a known
Service is an empty NOERROR answer. Example: ``e-blue.t1-x.svc.cluster.local A`` ->
``10.96.12.7``; ``e-blue.t1-x.svc.cluster.local.t1-x.svc.cluster.local A`` -> NXDOMAIN (the
search list a resolver tries first with ``ndots:5``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import struct
import threading
from collections.abc import Callable

from tests.engine.kube.api import Api, ApiError

ZONE = "svc.cluster.local"
TYPE_A, TYPE_AAAA, CLASS_IN = 1, 28, 1
RCODE_NXDOMAIN = 3
TTL_S = 5


def parse_question(packet: bytes) -> tuple[int, str, int, int, int] | None:
    """(id, name, qtype, qclass, end of the question) of a one-question query, None if not."""
    if len(packet) < 12:
        return None
    ident, flags, qdcount = struct.unpack("!HHH", packet[:6])
    if flags & 0x8000 or qdcount != 1:
        return None
    labels, at = [], 12
    while at < len(packet):
        size = packet[at]
        at += 1
        if size == 0:
            break
        if size & 0xC0 or at + size > len(packet):
            return None
        labels.append(packet[at:at + size].decode("ascii", "replace").lower())
        at += size
    if at + 4 > len(packet):
        return None
    qtype, qclass = struct.unpack("!HH", packet[at:at + 4])
    return ident, ".".join(labels), qtype, qclass, at + 4


def answer(packet: bytes, lookup: Callable[[str], str | None]) -> bytes | None:
    """The response to ``packet``: an A record from ``lookup(name)`` (an IPv4 address or None)."""
    parsed = parse_question(packet)
    if parsed is None:
        return None
    ident, name, qtype, qclass, end = parsed
    address = lookup(name) if qclass == CLASS_IN else None
    rcode = 0 if address else RCODE_NXDOMAIN
    records = b""
    if address and qtype == TYPE_A:
        records = struct.pack("!HHHIH", 0xC00C, TYPE_A, CLASS_IN, TTL_S, 4) + \
            ipaddress.IPv4Address(address).packed
    flags = 0x8400 | 0x0100 | 0x0080 | rcode  # response, authoritative, RD echoed, RA
    header = struct.pack("!HHHHHH", ident, flags, 1, 1 if records else 0, 0, 0)
    return header + packet[12:end] + records


def service_lookup(api: Api) -> Callable[[str], str | None]:
    def lookup(name: str) -> str | None:
        if not name.endswith("." + ZONE):
            return None
        parts = name[: -len(ZONE) - 1].split(".")
        if len(parts) != 2:
            return None
        service, namespace = parts
        try:
            ip = api.get(f"/api/v1/namespaces/{namespace}/services/{service}")["spec"].get(
                "clusterIP")
        except (ApiError, OSError, ValueError):
            return None
        return str(ip) if ip and ip != "None" else None
    return lookup


class ClusterDns:
    """A UDP DNS server thread on ``address:53``; ``stop()`` closes it."""

    def __init__(self, address: str, api: Api) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((address, 53))
        self._sock.settimeout(0.5)
        self._lookup = service_lookup(api)
        self._stopped = threading.Event()
        self.queries = 0
        self._thread = threading.Thread(target=self._serve, name="kube-dns", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                packet, peer = self._sock.recvfrom(1500)
            except TimeoutError:
                continue
            except OSError:
                return
            self.queries += 1
            response = answer(packet, self._lookup)
            if response is not None:
                with contextlib.suppress(OSError):
                    self._sock.sendto(response, peer)

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)
        self._sock.close()
