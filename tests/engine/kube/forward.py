"""A TCP forwarder from an address of the suite's own bridge to a ClusterIP Service: the test
stand-in for the ingress or load balancer a user's scoring URI names (``mlplan:kubernetes``
``hostname``), so that host-side tools (``mlplan promote --apply``'s gates) reach the router
through kube-proxy as callers would. Bounded: threads end with the connections, ``close()``
stops the listener."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from typing import Any


class Forward:
    """``Forward(("10.244.77.1", 80), ("10.96.0.12", 80))``: every connection to the first
    address is relayed to the second, byte for byte, both ways."""

    def __init__(self, listen: tuple[str, int], target: tuple[str, int]) -> None:
        self.target = target
        forward = self

        class Relay(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                forward._relay(self.request)

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self.server = Server(listen, Relay)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _relay(self, client: socket.socket) -> None:
        with contextlib.suppress(OSError), socket.create_connection(self.target,
                                                                    timeout=30) as upstream:
            client.settimeout(120)
            upstream.settimeout(120)
            back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
            back.start()
            _pump(client, upstream)
            back.join(timeout=120)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Forward:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)
