"""Shared pieces of the hostile-input suite: a scratch project, the CLI run in a child process
under limits, and the checks every run must pass.

``run_cli`` runs ``python -m mlplan.edge.cli`` in a subprocess with an address-space limit
(``MEMORY_LIMIT``, 1 GiB) and a wall-clock timeout (``TIME_LIMIT``, 20 s), so a hang or a memory
blow-up fails the test instead of the machine. ``check_output`` asserts what must hold for any
input: exit code 0, 1 or 2; no Python traceback; no raw control character (other than newline)
in stdout or stderr; and none of ``secrets`` anywhere in the output.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.targets.projects import make_project

REPO = Path(__file__).resolve().parents[2]
MEMORY_LIMIT = 1 << 30
TIME_LIMIT = 20.0
#: C0 controls but newline, DEL and C1 controls: none may reach a terminal raw
RAW_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str
    seconds: float
    peak_kib: int

    @property
    def both(self) -> str:
        return self.out + self.err


# The child limits its own address space (its first argument, bytes) before it imports mlplan,
# and records its peak resident memory (KiB) in the file named by its second: VmHWM of
# /proc/self/status (ru_maxrss may carry the forking parent's size on Linux). The limit is set
# in the child, not by a ``preexec_fn``: that makes subprocess fork the pytest process and run
# Python before exec, and with gRPC loaded there (the Automation API tests) gRPC's fork handler
# aborted the child (exit -6, "epoll_wait error: Bad file descriptor") before mlplan ran.
_CHILD = """
import atexit, resource, sys
limit = int(sys.argv.pop(1))
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
peak_file = sys.argv.pop(1)
def peak():
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return line.split()[1]
    except OSError:
        pass
    return str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
atexit.register(lambda: open(peak_file, "w").write(peak()))
from mlplan.edge.cli import main
sys.exit(main(sys.argv[1:]))
"""


def run_cli(args: list[str], cwd: Path, *, stdin: bytes | None = None,
            timeout: float = TIME_LIMIT, env: dict[str, str] | None = None) -> Run:
    """``mlplan ARGS`` in ``cwd`` in a child process under the limits above."""
    started = time.monotonic()
    child_env = {k: v for k, v in os.environ.items() if k not in ("MLPLAN_DEBUG", "NO_COLOR")}
    child_env["PYTHONPATH"] = str(REPO)
    child_env.update(env or {})
    peak_file = Path(tempfile.mkstemp(prefix="mlplan-peak-")[1])
    process = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(MEMORY_LIMIT), str(peak_file), *args],
        cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=child_env)
    try:
        out, err = process.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise AssertionError(f"mlplan {' '.join(args)[:200]} ran over {timeout:g} s") from None
    peak = int(peak_file.read_text() or 0) if peak_file.exists() else 0
    peak_file.unlink(missing_ok=True)
    return Run(process.returncode, out.decode("utf-8", errors="replace"),
               err.decode("utf-8", errors="replace"), time.monotonic() - started, peak)


def check_output(run: Run, secrets: tuple[str, ...] = ()) -> None:
    assert run.code in (0, 1, 2), f"exit {run.code}: {run.err[-2000:]}"
    assert "Traceback" not in run.both, run.err[-2000:]
    assert "internal error" not in run.both, run.err[-2000:]
    raw = RAW_CONTROL.search(run.both)
    assert raw is None, f"raw control character {raw.group()!r} in output: {run.both[:2000]!r}"
    for secret in secrets:
        assert secret not in run.both, f"secret {secret!r} in output"


def project(root: Path, **kwargs: object) -> Path:
    """The usual scratch project: endpoint ``my-endpoint`` with blue (100%) and green (0%),
    stack ``test``."""
    kwargs.setdefault("traffic", {"blue": 100, "green": 0})
    return make_project(root, {"blue": {}, "green": {}}, **kwargs)  # type: ignore[arg-type]
