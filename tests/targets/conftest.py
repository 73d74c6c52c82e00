"""Target tests never ask a real Docker host: without this, a developer's local socket would
decide which instance containers "exist" (``docker_containers.instance_order``) and so the graph.
A test that wants a host points ``DOCKER_HOST`` at its own fake socket."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def no_docker_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker-host.sock")
