"""pytest in lanes side by side: ``tests/run`` runs the Kubernetes cluster suite beside the rest.

Why: on 2 cores the two end-to-end tiers leave each other room. The cluster suite spends most of
its time waiting (pods starting on the real node, rollout deadlines, gate windows, an HPA's
sync period); the Docker suite's rolls keep the cores busy in bursts. Each lane has its own
daemons (the cluster suite: its control plane and the real node's containerd; the rest: the
private dockerd), its own pytest temp folders and Pulumi homes, so nothing is shared but the
cores.

Rules:

- a lane is ``NAME=ARGS`` (ARGS split like a shell would: ``kube=tests/engine/kube``); each runs
  ``python -m pytest -p tests.lib.phases -v ARGS`` in this folder;
- every line a lane prints is printed here as it comes, prefixed ``[NAME]`` (``-v``: one line per
  test as it ends, so each lane shows it is alive);
- each lane logs its steps and test files into its own phase log; at the end they are appended to
  ``MLPLAN_PHASE_LOG`` (when set), each followed by a ``phase`` line ``pytest, NAME lane``, so
  ``tests/run``'s summary lists each lane with its files;
- the exit code is the first lane's that is not 0, else 0 (pytest's 5, "no tests collected",
  fails like any other); the last lines name each lane's exit code and time;
- Ctrl-C reaches the lanes (they share the terminal's process group): pytest tears its fixtures
  down (clusters, daemons) and exits; this waits for them.

Example::

    python -m tests.lib.lanes kube=tests/engine/kube "main=tests --ignore=tests/engine/kube"
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from tests.lib import phases


@dataclass(frozen=True)
class Lane:
    name: str
    args: tuple[str, ...]


def parse(specs: list[str]) -> list[Lane]:
    """``NAME=ARGS`` -> lanes. Raises ValueError naming the bad spec (no ``=``, an empty or
    repeated name, no arguments). Example: ``kube=tests/engine/kube -x`` ->
    ``Lane("kube", ("tests/engine/kube", "-x"))``."""
    lanes: list[Lane] = []
    for spec in specs:
        name, sep, rest = spec.partition("=")
        name = name.strip()
        args = tuple(shlex.split(rest))
        if not sep or not name or not args:
            raise ValueError(f"lane {spec!r}: write NAME=PYTEST_ARGS, e.g. kube=tests/engine/kube")
        if any(lane.name == name for lane in lanes):
            raise ValueError(f"lane {spec!r}: the name {name!r} is used twice")
        lanes.append(Lane(name, args))
    if not lanes:
        raise ValueError("no lane given: write NAME=PYTEST_ARGS, e.g. kube=tests/engine/kube")
    return lanes


def command(lane: Lane) -> list[str]:
    return [sys.executable, "-m", "pytest", "-p", "tests.lib.phases", "-v", *lane.args]


def _follow(name: str, proc: subprocess.Popen[str], out: TextIO, lock: threading.Lock,
            ended: dict[str, float]) -> None:
    """Print ``proc``'s lines prefixed ``[name]`` until it ends; note when it ended
    (monotonic) in ``ended[name]``. Runs in its own thread: only the main thread gets Ctrl-C."""
    assert proc.stdout is not None
    for line in proc.stdout:
        with lock:
            out.write(f"[{name}] {line.rstrip(chr(10))}\n")
            out.flush()
    proc.wait()
    ended[name] = time.monotonic()


def run(lanes: list[Lane], out: TextIO = sys.stdout) -> int:
    """Run ``lanes`` side by side (see module); returns 0 when every lane passed."""
    lock = threading.Lock()
    parent_log = os.environ.get(phases.ENV)
    with tempfile.TemporaryDirectory(prefix="mlplan-lanes-") as tmp:
        ended: dict[str, float] = {}
        started: list[tuple[Lane, subprocess.Popen[str], threading.Thread, Path, float]] = []
        for lane in lanes:
            log = Path(tmp) / f"{lane.name}.log"
            env = {**os.environ, phases.ENV: str(log)}
            proc = subprocess.Popen(command(lane), env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, errors="replace",
                                    bufsize=1)
            follow = threading.Thread(target=_follow, daemon=True,
                                      args=(lane.name, proc, out, lock, ended))
            follow.start()
            started.append((lane, proc, follow, log, time.monotonic()))
        results: list[tuple[Lane, int, float, Path]] = []
        for lane, proc, follow, log, t0 in started:
            while follow.is_alive():
                try:
                    follow.join()
                except KeyboardInterrupt:  # the lanes got it too; wait for their teardown
                    continue
            code = proc.returncode
            results.append((lane, code, ended[lane.name] - t0, log))
        for lane, code, seconds, log in results:
            outcome = "done" if code == 0 else f"exit {code}"
            out.write(f"[lanes] {lane.name}: {outcome} in {seconds:.0f} s "
                      f"({shlex.join(lane.args)})\n")
            if parent_log:
                text = log.read_text(encoding="utf-8") if log.is_file() else ""
                with open(parent_log, "a", encoding="utf-8") as dest:
                    dest.write(text)
                phases.record(f"pytest, {lane.name} lane", seconds, outcome, kind="phase")
        out.flush()
    return next((code for _, code, _, _ in results if code != 0), 0)


def main(argv: list[str]) -> int:
    try:
        lanes = parse(argv)
    except ValueError as exc:
        print(f"tests.lib.lanes: {exc}", file=sys.stderr)
        return 2
    return run(lanes)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
