"""A small Kubernetes REST client for the cluster suite (bearer token, the cluster's own CA).

Only what the tests need: JSON requests and a watch stream. Example::

    api = Api("https://127.0.0.1:6443", token, ca_file)
    api.get("/api/v1/namespaces/default")["metadata"]["name"]   # -> "default"
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

REQUEST_TIMEOUT_S = 30


class ApiError(Exception):
    """A non-2xx answer: ``status`` and the Status object's ``reason`` / ``message``."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        self.status = status
        try:
            doc = json.loads(body)
        except json.JSONDecodeError:
            doc = {}
        self.reason = str(doc.get("reason", ""))
        self.message = str(doc.get("message", body[:500]))
        super().__init__(f"{method} {path}: {status} {self.reason}: {self.message}")


@dataclass
class Api:
    server: str
    token: str
    ca_file: str

    def __post_init__(self) -> None:
        url = urllib.parse.urlsplit(self.server)
        self._host = url.hostname or "127.0.0.1"
        self._port = url.port or 443
        self._ssl = ssl.create_default_context(cafile=self.ca_file)

    def _conn(self, timeout: float | None = REQUEST_TIMEOUT_S) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(self._host, self._port, context=self._ssl,
                                           timeout=timeout)

    def request(self, method: str, path: str, body: Any = None,
                content_type: str = "application/json") -> Any:
        conn = self._conn()
        try:
            data = None if body is None else json.dumps(body).encode()
            headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
            if data is not None:
                headers["Content-Type"] = content_type
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            text = resp.read().decode("utf-8", "replace")
        finally:
            conn.close()
        if not 200 <= resp.status < 300:
            raise ApiError(method, path, resp.status, text)
        return json.loads(text) if text else None

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def items(self, path: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.get(path).get("items", [])
        return found

    def create(self, path: str, body: Any) -> Any:
        return self.request("POST", path, body)

    def merge_patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, body, "application/merge-patch+json")

    def strategic_patch(self, path: str, body: Any) -> Any:
        """Kubernetes' strategic merge patch: lists such as ``containers`` merge by name."""
        return self.request("PATCH", path, body, "application/strategic-merge-patch+json")

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def exists(self, path: str) -> bool:
        try:
            self.get(path)
        except ApiError as e:
            if e.status == 404:
                return False
            raise
        return True

    def stream(self, path: str, stop: threading.Event,
               opened: Callable[[http.client.HTTPSConnection], None] = lambda c: None,
               ) -> Iterator[dict[str, Any]]:
        """Watch events of a list path (``?watch=1`` is added) until ``stop`` is set or the
        connection is shut down (``opened`` receives it, so another thread can do that)."""
        sep = "&" if "?" in path else "?"
        conn = self._conn(timeout=None)
        conn.request("GET", f"{path}{sep}watch=1&allowWatchBookmarks=false",
                     headers={"Authorization": f"Bearer {self.token}"})
        resp = conn.getresponse()
        if resp.status != 200:
            raise ApiError("WATCH", path, resp.status, resp.read().decode("utf-8", "replace"))
        opened(conn)
        buf = b""
        try:
            while not stop.is_set():
                try:
                    chunk = resp.read1(65536)
                except (OSError, ValueError, http.client.HTTPException):
                    if stop.is_set():
                        return
                    raise
                if not chunk:
                    return
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line)
        finally:
            conn.close()


@dataclass
class Recorder:
    """Records every watch event of a list path in a background thread, with its arrival time.

    ``start()`` lists first (so the state before the change is known: events of type
    ``LISTED``), then watches from that resourceVersion; ``stop()`` ends it. ``events`` is
    ``[(t, type, object)]``.
    """

    api: Api
    path: str
    events: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def start(self) -> Recorder:
        self._stop = threading.Event()
        listing = self.api.get(self.path)
        now = time.monotonic()
        for item in listing.get("items", []):
            self.events.append((now, "LISTED", item))
        rv = listing["metadata"]["resourceVersion"]
        sep = "&" if "?" in self.path else "?"
        self._thread = threading.Thread(target=self._run, args=(f"{self.path}{sep}"
                                                                f"resourceVersion={rv}",),
                                        daemon=True)
        self._thread.start()
        return self

    def _opened(self, conn: http.client.HTTPSConnection) -> None:
        self._conn = conn

    def _run(self, path: str) -> None:
        try:
            for event in self.api.stream(path, self._stop, self._opened):
                if event.get("type") == "ERROR":
                    self.errors.append(json.dumps(event.get("object", {}))[:500])
                    return
                self.events.append((time.monotonic(), event["type"], event["object"]))
        except Exception as e:  # surfaced by stop()
            self.errors.append(f"{type(e).__name__}: {e}")

    def stop(self) -> list[tuple[float, str, dict[str, Any]]]:
        self._stop.set()
        conn = getattr(self, "_conn", None)
        if conn is not None and conn.sock is not None:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=10)
        if self.errors:
            raise AssertionError(f"watch of {self.path} failed: {self.errors}")
        return self.events


def wait_for(what: str, check: Callable[[], Any], timeout_s: float,
             interval_s: float = 0.5) -> Any:
    """Poll ``check`` until it returns a true value; AssertionError naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while True:
        try:
            last = check()
        except ApiError as e:
            last = e
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what} "
                                 f"(last: {last!r:.500})")
        time.sleep(interval_s)
