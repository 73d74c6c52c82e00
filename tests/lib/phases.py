"""Where ``tests/run`` spends its time: a phase log and the summary printed at its end.

``tests/run`` points ``MLPLAN_PHASE_LOG`` at a file; three kinds of tab-separated lines land in it:

- ``phase  LABEL  SECONDS  OUTCOME``: one top-level step of tests/run (ruff, a build script,
  pytest), written when it ends;
- ``step   LABEL  SECONDS  OUTCOME``: a step inside the phase running at the time: every
  ``progress_run`` (tests/lib/progress.sh: each engine, YAML host, control-plane and image build
  step) and ``record()`` (the cluster and Docker Engine starts in the e2e fixtures);
- ``file   PATH   SECONDS  TESTS``: one test file's setup + call + teardown time, from this
  module loaded as a pytest plugin (``pytest -p tests.lib.phases``; it changes nothing run).

Steps and files belong to the next ``phase`` line (a phase is written after its steps). Without
``MLPLAN_PHASE_LOG`` nothing is written. Example summary::

    tests/run: time per phase (wall clock 31 min 05 s)
      ruff                                                         0.9 s  done
      Pulumi engine and providers (tests/engine/build.sh)        962.0 s  done
        pulumi                                                     244 s  done
        pulumi-resource-kubernetes                                 413 s  done
      pytest                                                     802.4 s  exit 1
        kube cluster start                                          24 s  done
        test files, slowest first:
          tests/engine/kube/test_endpoints.py                    501.2 s  41 tests

    python3 tests/lib/phases.py LOG     # print the summary of LOG
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV = "MLPLAN_PHASE_LOG"
_FILE_SECONDS: dict[str, float] = {}
_FILE_TESTS: dict[str, int] = {}


def record(label: str, seconds: float, outcome: str = "done", kind: str = "step") -> None:
    """Append one line to the phase log (a no-op when ``MLPLAN_PHASE_LOG`` is not set)."""
    path = os.environ.get(ENV)
    if not path:
        return
    fields = (kind, label, f"{seconds:.1f}", outcome)
    line = "\t".join(" ".join(str(value).split()) for value in fields)
    try:
        with open(path, "a", encoding="utf-8") as log:
            log.write(line + "\n")
    except OSError:
        pass  # the summary is a report; a missing log never fails a test


# ------------------------------------------------------------------------------ pytest plugin


def pytest_runtest_logreport(report: Any) -> None:
    """Each test's setup, call and teardown time, added to its file's total."""
    path = str(report.nodeid).split("::", 1)[0]
    _FILE_SECONDS[path] = _FILE_SECONDS.get(path, 0.0) + float(report.duration)
    if report.when == "setup":
        _FILE_TESTS[path] = _FILE_TESTS.get(path, 0) + 1


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    for path, seconds in _FILE_SECONDS.items():
        tests = _FILE_TESTS.get(path, 0)
        record(path, seconds, f"{tests} test{'s' * (tests != 1)}", kind="file")


# ------------------------------------------------------------------------------ summary


@dataclass
class Phase:
    label: str
    seconds: float
    outcome: str
    finished: bool = True
    steps: list[tuple[str, float, str]] = field(default_factory=list)
    files: list[tuple[str, float, str]] = field(default_factory=list)


def read(text: str) -> list[Phase]:
    """Phases in order, each with the steps and files logged before it; lines after the last
    phase (tests/run stopped inside one) form an ``(unfinished)`` phase."""
    phases: list[Phase] = []
    pending = Phase("(unfinished)", 0.0, "", finished=False)
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) != 4:
            continue
        kind, label, seconds_text, outcome = parts
        try:
            seconds = float(seconds_text)
        except ValueError:
            continue
        if kind == "phase":
            pending.label, pending.seconds, pending.outcome = label, seconds, outcome
            pending.finished = True
            phases.append(pending)
            pending = Phase("(unfinished)", 0.0, "", finished=False)
        elif kind == "step":
            pending.steps.append((label, seconds, outcome))
        elif kind == "file":
            pending.files.append((label, seconds, outcome))
    if pending.steps or pending.files:
        phases.append(pending)
    return phases


def summary(phases: list[Phase], wall_seconds: float | None = None) -> str:
    """The table: phases in order, their steps in order, test files slowest first. A phase's
    only step is left out when it carries the same time (it is the phase itself)."""
    total = wall_seconds if wall_seconds is not None else sum(p.seconds for p in phases)
    lines = [f"tests/run: time per phase (wall clock {_minutes(total)})"]
    for phase in phases:
        took = f"{phase.seconds:.1f} s" if phase.finished else "-"
        lines.append(_row(2, phase.label, took, phase.outcome))
        steps = phase.steps
        if len(steps) == 1 and not phase.files and abs(steps[0][1] - phase.seconds) < 2:
            steps = []
        lines += [_row(4, label, f"{seconds:.0f} s", outcome) for label, seconds, outcome in steps]
        if phase.files:
            lines.append("    test files, slowest first:")
            for label, seconds, tests in sorted(phase.files, key=lambda f: (-f[1], f[0])):
                lines.append(_row(6, label, f"{seconds:.1f} s", tests))
    return "\n".join(lines)


def _row(indent: int, label: str, seconds: str, note: str) -> str:
    width = max(1, 58 - indent)
    return f"{' ' * indent}{label:<{width}} {seconds:>9}  {note}".rstrip()


def _minutes(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60} min {whole % 60:02d} s"


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2):
        print("usage: python3 tests/lib/phases.py LOG [WALL_SECONDS]", file=sys.stderr)
        return 2
    try:
        text = Path(argv[0]).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        print(f"tests/lib/phases.py: cannot read {argv[0]}: {exc.strerror}", file=sys.stderr)
        return 1
    wall = float(argv[1]) if len(argv) == 2 else None
    print(summary(read(text), wall))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
