"""tests/run's test lanes (issue 29, item 3): ``tests/lib/lanes.py`` runs pytest lanes side by
side, prefixes each line with its lane, logs each lane as a phase and fails when any lane
fails (pytest's "no tests collected" included)."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lib import lanes, phases

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("specs", "expected"),
    [
        (["kube=tests/engine/kube"], [lanes.Lane("kube", ("tests/engine/kube",))]),
        (["main=tests --ignore=tests/engine/kube", "k=a -k 'x or y'"],
         [lanes.Lane("main", ("tests", "--ignore=tests/engine/kube")),
          lanes.Lane("k", ("a", "-k", "x or y"))]),
    ],
    ids=["one-lane", "shell-words"],
)
def test_lanes_are_parsed(specs: list[str], expected: list[lanes.Lane]) -> None:
    assert lanes.parse(specs) == expected


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        ([], "no lane given"),
        (["tests/engine/kube"], "write NAME=PYTEST_ARGS"),
        (["=tests"], "write NAME=PYTEST_ARGS"),
        (["kube="], "write NAME=PYTEST_ARGS"),
        (["a=x", "a=y"], "the name 'a' is used twice"),
    ],
    ids=["none", "no-name", "empty-name", "no-args", "repeated"],
)
def test_bad_lanes_are_refused_with_the_fix(specs: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        lanes.parse(specs)


def _suite(folder: Path, body: str) -> Path:
    folder.mkdir()
    (folder / "test_it.py").write_text(body, encoding="utf-8")
    return folder


PASSING = "def test_one():\n    pass\n\ndef test_two():\n    pass\n"
FAILING = "def test_broken():\n    assert 1 == 2\n"


@pytest.mark.parametrize(
    ("bodies", "code"),
    [
        ({"a": PASSING, "b": PASSING}, 0),
        ({"a": PASSING, "b": FAILING}, 1),
        ({"a": PASSING, "b": "x = 1\n"}, 5),  # no tests: a failure, like any non-zero exit
    ],
    ids=["all-pass", "one-fails", "one-collects-nothing"],
)
def test_lanes_run_side_by_side_and_any_failure_fails(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bodies: dict[str, str],
        code: int) -> None:
    log = tmp_path / "phases.log"
    monkeypatch.setenv(phases.ENV, str(log))
    monkeypatch.chdir(ROOT)  # the lanes load tests.lib.phases from here
    # --rootdir: test ids are relative to it (pytest's own choice depends on where the checkout
    # lies relative to the temp folder: /tmp/x/... vs /work/...)
    specs = [f"{name}={_suite(tmp_path / name, body)} -p no:cacheprovider --rootdir={tmp_path}"
             for name, body in bodies.items()]
    out = io.StringIO()
    assert lanes.run(lanes.parse(specs), out) == code
    printed = out.getvalue().splitlines()
    # every line is its lane's, each test named as it ends
    assert all(re.match(r"\[(a|b|lanes)\] ", line) for line in printed), printed
    assert any(line.startswith("[a] ") and "a/test_it.py::test_one PASSED" in line
               for line in printed)
    outcome = "done" if code == 0 else f"exit {code}"
    assert re.search(rf"^\[lanes\] b: {outcome} in \d+ s ", out.getvalue(), re.M)
    # the summary log: each lane's test file, then the lane as a phase
    read = phases.read(log.read_text(encoding="utf-8"))
    assert [p.label for p in read] == ["pytest, a lane", "pytest, b lane"]
    assert read[0].outcome == "done" and read[1].outcome == outcome
    assert [(f[0], f[2]) for f in read[0].files] == [("a/test_it.py", "2 tests")]


def test_the_command_line_refuses_a_bad_lane_without_a_traceback() -> None:
    proc = subprocess.run([sys.executable, "-m", "tests.lib.lanes", "kube"], cwd=ROOT,
                          capture_output=True, text=True, timeout=30, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2
    assert proc.stderr.startswith("tests.lib.lanes: lane 'kube': write NAME=PYTEST_ARGS")
    assert "Traceback" not in proc.stderr


def test_each_lane_is_timed_to_its_own_end(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A lane that ends first is not timed to the last lane's end (seen: both lanes of a run
    logged the slower one's 1,890 s)."""
    log = tmp_path / "phases.log"
    monkeypatch.setenv(phases.ENV, str(log))
    monkeypatch.chdir(ROOT)
    slow = "import time\n\ndef test_slow():\n    time.sleep(3)\n"
    specs = [f"slow={_suite(tmp_path / 'slow', slow)} -p no:cacheprovider",
             f"quick={_suite(tmp_path / 'quick', PASSING)} -p no:cacheprovider"]
    assert lanes.run(lanes.parse(specs), io.StringIO()) == 0
    took = {p.label: p.seconds for p in phases.read(log.read_text(encoding="utf-8"))}
    assert took["pytest, quick lane"] + 2 < took["pytest, slow lane"], took
