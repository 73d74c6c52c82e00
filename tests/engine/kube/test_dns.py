"""The real node's cluster DNS answers (no cluster: the packet logic of ``dns.py``)."""

from __future__ import annotations

import struct

import pytest

from tests.engine.kube.dns import RCODE_NXDOMAIN, TYPE_A, TYPE_AAAA, answer, parse_question

SERVICES = {"e-blue.t1-x.svc.cluster.local": "10.96.12.7"}


def query(name: str, qtype: int = TYPE_A, ident: int = 0x1234) -> bytes:
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + labels + struct.pack("!HH",
                                                                                     qtype, 1)


def decode(response: bytes) -> tuple[int, int, int, bytes]:
    """(id, rcode, answer count, the answer's address bytes or b"")."""
    ident, flags, _qd, ancount = struct.unpack("!HHHH", response[:8])
    return ident, flags & 0xF, ancount, response[-4:] if ancount else b""


@pytest.mark.parametrize(("name", "qtype", "rcode", "address"), [
    pytest.param("e-blue.t1-x.svc.cluster.local", TYPE_A, 0, bytes([10, 96, 12, 7]),
                 id="service-a"),
    pytest.param("E-Blue.T1-X.svc.cluster.local", TYPE_A, 0, bytes([10, 96, 12, 7]),
                 id="case-insensitive"),
    pytest.param("e-blue.t1-x.svc.cluster.local", TYPE_AAAA, 0, b"", id="service-aaaa-empty"),
    pytest.param("e-blue.t1-x.svc.cluster.local.t1-x.svc.cluster.local", TYPE_A,
                 RCODE_NXDOMAIN, b"", id="search-list-nxdomain"),
    pytest.param("example.com", TYPE_A, RCODE_NXDOMAIN, b"", id="outside-nxdomain"),
])
def test_answers(name: str, qtype: int, rcode: int, address: bytes) -> None:
    response = answer(query(name, qtype), SERVICES.get)
    assert response is not None
    ident, got_rcode, count, got = decode(response)
    assert (ident, got_rcode, count, got) == (0x1234, rcode, 1 if address else 0, address)


@pytest.mark.parametrize("packet", [
    pytest.param(b"\x00" * 5, id="short"),
    pytest.param(query("a.b")[:-2], id="truncated-question"),
    pytest.param(struct.pack("!HHHHHH", 1, 0x8100, 1, 0, 0, 0) + b"\0" + b"\0\1\0\1",
                 id="a-response"),
])
def test_ignores_what_is_not_a_query(packet: bytes) -> None:
    assert parse_question(packet) is None
    assert answer(packet, SERVICES.get) is None
