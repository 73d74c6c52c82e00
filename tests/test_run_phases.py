"""tests/run's time summary (issue 29, item 3): build steps log their time through
``progress_run``, test files through the ``tests.lib.phases`` pytest plugin, and
``tests/lib/phases.py`` prints them per phase at the end."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lib import phases

ROOT = Path(__file__).resolve().parents[1]
PROGRESS = ROOT / "tests" / "lib" / "progress.sh"


def _progress(log: Path | None, command: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != phases.ENV}
    if log is not None:
        env[phases.ENV] = str(log)
    script = f'source "{PROGRESS}"; progress_run "go build\tpulumi" 5 {command}'
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=20,
                          check=False, env=env)


@pytest.mark.parametrize(
    ("command", "code", "outcome"),
    [("true", 0, "done"), ("false", 1, "FAILED (exit 1)"), ("exit 3", 3, "FAILED (exit 3)")],
    ids=["done", "failed", "exit-code-kept"],
)
def test_progress_run_logs_each_step(tmp_path: Path, command: str, code: int,
                                     outcome: str) -> None:
    log = tmp_path / "phases.log"
    proc = _progress(log, f"bash -c '{command}'")
    assert proc.returncode == code
    # The tab in the label becomes a space: one line, four fields.
    assert log.read_text() == f"step\tgo build pulumi\t0\t{outcome}\n"


def test_progress_run_without_a_log_writes_none(tmp_path: Path) -> None:
    proc = _progress(None, "true")
    assert proc.returncode == 0
    assert list(tmp_path.iterdir()) == []


LOG = (
    "phase\truff\t0.9\tdone\n"
    "step\tpulumi\t244\tdone\n"
    "step\tpulumi-resource-kubernetes\t413\tFAILED (exit 1)\n"
    "phase\tPulumi engine and providers (tests/engine/build.sh)\t660.0\texit 1\n"
    "step\tpython packages (pip install -e '.[test]')\t12\tdone\n"
    "phase\tpython packages\t12.3\tdone\n"
    "step\tkube cluster start\t24.0\tdone\n"
    "file\ttests/test_cli.py\t3.5\t40 tests\n"
    "file\ttests/engine/kube/test_endpoints.py\t501.2\t41 tests\n"
    "file\ttests/core/test_router.py\t3.5\t1 test\n"
    "phase\tpytest\t530.4\texit 1\n"
)


@pytest.mark.parametrize(
    ("log", "expected"),
    [
        (LOG, [
            "tests/run: time per phase (wall clock 20 min 04 s)",
            "  ruff                                                         0.9 s  done",
            "  Pulumi engine and providers (tests/engine/build.sh)        660.0 s  exit 1",
            "    pulumi                                                     244 s  done",
            "    pulumi-resource-kubernetes                                 413 s  FAILED (exit 1)",
            "  python packages                                             12.3 s  done",
            "  pytest                                                     530.4 s  exit 1",
            "    kube cluster start                                          24 s  done",
            "    test files, slowest first:",
            "      tests/engine/kube/test_endpoints.py                    501.2 s  41 tests",
            "      tests/core/test_router.py                                3.5 s  1 test",
            "      tests/test_cli.py                                        3.5 s  40 tests",
        ]),
        ("step\tpulumi\t30\tdone\nnot a line\nphase\tx\tNaN?\tdone\n", [
            "tests/run: time per phase (wall clock 20 min 04 s)",
            "  (unfinished)                                                     -",
            "    pulumi                                                      30 s  done",
        ]),
        ("", ["tests/run: time per phase (wall clock 20 min 04 s)"]),
    ],
    ids=["phases-steps-and-files", "stopped-inside-a-phase", "empty"],
)
def test_summary_groups_steps_and_files_under_their_phase(log: str,
                                                          expected: list[str]) -> None:
    assert phases.summary(phases.read(log), 1204.4).splitlines() == expected


def test_the_plugin_adds_up_each_test_files_time(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_a.py").write_text(
        "import time\n"
        "def test_one():\n    time.sleep(0.3)\n"
        "def test_two():\n    pass\n"
    )
    (suite / "test_b.py").write_text("def test_fails():\n    assert False\n")
    log = tmp_path / "phases.log"
    env = {**os.environ, phases.ENV: str(log), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.lib.phases",
         "--rootdir", str(suite), str(suite)],
        capture_output=True, text=True, timeout=60, check=False, env=env, cwd=tmp_path,
    )
    assert proc.returncode == 1, proc.stdout  # the plugin keeps pytest's own outcome
    lines = [line.split("\t") for line in log.read_text().splitlines()]
    files = {fields[1]: fields for fields in lines}
    assert set(files) == {"test_a.py", "test_b.py"}, lines
    a, b = files["test_a.py"], files["test_b.py"]
    assert a[0] == "file" and a[3] == "2 tests" and float(a[2]) >= 0.3
    assert b[0] == "file" and b[3] == "1 test" and float(b[2]) < 0.3


def test_main_prints_the_summary_and_names_an_unreadable_log(tmp_path: Path) -> None:
    log = tmp_path / "phases.log"
    log.write_text(LOG)
    script = ROOT / "tests" / "lib" / "phases.py"
    shown = subprocess.run([sys.executable, str(script), str(log)], capture_output=True,
                           text=True, timeout=20, check=False)
    assert shown.returncode == 0
    assert shown.stdout.startswith("tests/run: time per phase (wall clock 20 min 04 s)")
    missing = subprocess.run([sys.executable, str(script), str(tmp_path / "nope")],
                             capture_output=True, text=True, timeout=20, check=False)
    assert missing.returncode == 1
    assert missing.stderr.startswith(f"tests/lib/phases.py: cannot read {tmp_path / 'nope'}: ")
    assert "Traceback" not in missing.stderr


def test_tests_run_prints_the_summary_at_exit_and_keeps_the_exit_code(tmp_path: Path) -> None:
    """The helpers tests/run sources, in a script shaped like it: set -e, a phase with build
    steps, a failing phase it tolerates, pytest with the plugin, then a phase that stops it."""
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_one.py").write_text("def test_ok():\n    pass\n")
    script = f"""
set -euo pipefail
source "{PROGRESS}"
source "{ROOT / 'tests' / 'lib' / 'phases.sh'}"
phases_start
echo "log: $MLPLAN_PHASE_LOG"
builds() {{ progress_run pulumi 5 true && progress_run kwok 5 true; }}
phase "engine (build.sh)" builds
phase "images" false || echo "tolerated: $?"
phase pytest "{sys.executable}" -m pytest -q -p no:cacheprovider -p tests.lib.phases \\
  --rootdir "{suite}" "{suite}"
phase "last" bash -c 'exit 4'
echo "never printed"
"""
    env = {k: v for k, v in os.environ.items() if k != phases.ENV}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60,
                          check=False, env=env, cwd=tmp_path)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    out = proc.stdout
    assert "tolerated: 1" in out and "never printed" not in out
    assert out.count("tests/run: time per phase") == 1, out  # not from a subshell
    table = out[out.index("tests/run: time per phase"):].splitlines()
    assert re.match(r"  engine \(build\.sh\) +\d+\.\d s  done$", table[1]), table
    assert re.match(r"    pulumi +\d+ s  done$", table[2]) and re.match(r"    kwok ", table[3])
    assert re.match(r"  images +\d+\.\d s  exit 1$", table[4]), table
    assert re.match(r"  pytest +\d+\.\d s  done$", table[5]), table
    assert table[6] == "    test files, slowest first:"
    assert re.match(r"      test_one\.py +\d+\.\d s  1 test$", table[7]), table
    assert re.match(r"  last +\d+\.\d s  exit 4$", table[8]) and len(table) == 9, table
    log = Path(out.split("log: ", 1)[1].split("\n", 1)[0])
    assert not log.exists(), "the log is removed after the summary"
