"""The host's nginx for tests that run the router's own files (the data-plane rule: a suite that
cannot run is skipped on a developer's machine and fails when CI is set, with the reason)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mlplan.router.nginx import NginxRuntime
from tests.dataplane.harness import nginx_binary
from tests.lib.ci import in_ci


def host_nginx(*also: str) -> str:
    """The nginx binary (and every tool in ``also`` on PATH), or skip / fail (CI) naming what
    is missing and how to install it. Example: ``host_nginx("wget")``."""
    found = nginx_binary()
    missing = ([] if found else ["nginx"]) + [tool for tool in also if not shutil.which(tool)]
    if found is None or missing:
        message = f"{', '.join(missing)} not installed (apt-get install {' '.join(missing)})"
        if in_ci():
            pytest.fail(f"{message}; CI is set: this test must run here", pytrace=False)
        pytest.skip(message)
    return found


def scratch_runtime(conf_dir: Path, scratch: Path) -> NginxRuntime:
    """A router runtime whose pid file, logs, temp files and mirror socket are in ``scratch``
    and whose ``keys.conf``/``routing.conf`` are read from ``conf_dir``."""
    return NginxRuntime(conf_dir=str(conf_dir), pid_path=str(scratch / "nginx.pid"),
                        error_log=str(scratch / "error.log"),
                        access_log=str(scratch / "access.log"), temp_dir=str(scratch),
                        mirror_socket=str(scratch / "m.sock"))
