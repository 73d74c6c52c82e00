"""Wall time and peak memory of ``mlplan review`` for 100 and 1000 endpoints x 4 deployments
with 10% of the deployments changed, against ``--base-dir`` and against ``--base`` (git).

Each size is ``benchmarks/plan_scale.py``'s generated project (4 deployments per endpoint,
Azure's limits raised so the plan is clean). The base is that project as generated; the head
changes the image of every tenth deployment (1000 x 4 -> 400 deployments replaced). ``--base-dir``
reads a copy of the base; ``--base HEAD`` reads it from a git commit (the head is the working
tree). For scale, ``mlplan plan`` of the head is timed too, and the review/plan ratio. Every
figure is the median of 3 runs of the real console script in a fresh process: wall seconds and
CPU seconds (user + system, ``wait4``; steadier than wall time on a shared machine), peak
memory the largest max RSS. Goal at 1000: review under 3 s and within 2x of the plan.
Python's bytecode is cached for every run (``plan_scale.measured_env``, written by an
unmeasured review first), as an installed mlplan has it.
Issue 18 at 1000 (best of 5, c36823a and after alternating, load about 1, 2 cores): review
``--base-dir`` 5.32 s -> 2.36 s, ``--base`` 5.54 s -> 3.04 s (about 0.3 s of it is git
reading the commit's 5000 loose objects), the plan 3.25 s -> 1.75 s: 1.35x and 1.74x the plan;
peak memory 142/148 MiB -> 123/127 MiB.
Run: ``.venv/bin/python benchmarks/review_scale.py [--sizes 100,1000]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from plan_scale import DEPLOYMENTS, MLPLAN, make_project, measured_env

RUNS = 3
CHANGED_IMAGE = "example.io/infer:2.0"


def change_every_tenth(root: Path, endpoints: int) -> int:
    """Give deployments 0, 10, 20, ... (in endpoint, deployment order) a new image."""
    changed = 0
    for number in range(0, endpoints * len(DEPLOYMENTS), 10):
        endpoint, deployment = divmod(number, len(DEPLOYMENTS))
        path = (root / "stacks" / "endpoints" / f"ep-{endpoint:04d}"
                / f"{DEPLOYMENTS[deployment]}.yml")
        text = path.read_text()
        path.write_text(text.replace("example.io/infer:1.0", CHANGED_IMAGE))
        changed += 1
    return changed


def git(root: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.invalid"}
    subprocess.run(["git", "-C", str(root), *args], check=True, env=env,
                   stdout=subprocess.DEVNULL)


def run_once(args: list[str], cwd: Path, env: dict[str, str] | None = None
             ) -> tuple[float, float, float, int]:
    """(wall seconds, CPU seconds user + system, peak RSS MiB, exit code) of one process."""
    start = time.perf_counter()
    process = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=env)
    _pid, status, usage = os.wait4(process.pid, 0)
    return (time.perf_counter() - start, usage.ru_utime + usage.ru_stime,
            usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status))


def measure(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, float]:
    """Median wall and CPU seconds of RUNS runs, largest peak RSS; exit 0 expected."""
    runs = [run_once(args, cwd, env) for _ in range(RUNS)]
    codes = {r[3] for r in runs}
    if codes != {0}:
        raise SystemExit(f"{' '.join(args[1:])} in {cwd} exited {codes}")
    return (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs),
            max(r[2] for r in runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000", help="endpoints (default 100,1000)")
    sizes = [int(s) for s in parser.parse_args().sizes.split(",") if s.strip()]
    figures: dict[str, str] = {}
    cache = Path(tempfile.mkdtemp(prefix="mlplan-bytecode-"))
    env = measured_env(cache)
    try:
        for size in sizes:
            _measure_size(size, env, figures)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    print(" ".join(f"{k}={v}" for k, v in figures.items()))


def _measure_size(size: int, env: dict[str, str], figures: dict[str, str]) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=f"mlplan-review-{size}-"))
    try:
        head, base = tmp / "head", tmp / "base"
        head.mkdir()
        make_project(head, size)
        shutil.copytree(head, base)
        git(head, "init", "-q")
        git(head, "add", "-A")
        git(head, "commit", "-q", "-m", "base")
        changed = change_every_tenth(head, size)
        review = [MLPLAN, "review", "--stack", "bench", "--format", "json"]
        run_once([*review, "--base-dir", str(base)], head, env)  # writes the bytecode
        runs = {
            "plan": measure([MLPLAN, "plan", "--stack", "bench", "--format", "json"], head, env),
            "review_dir": measure([*review, "--base-dir", str(base)], head, env),
            "review_git": measure([*review, "--base", "HEAD"], head, env),
        }
        print(f"{size:5d} endpoints x 4, {changed} deployments changed: " + "; ".join(
            f"{what} {wall:.2f} s (CPU {cpu:.2f} s) {mib:.0f} MiB"
            for what, (wall, cpu, mib) in runs.items()))
        figures[f"endpoints_{size}_changed"] = str(changed)
        for what, (wall, cpu, mib) in runs.items():
            figures[f"endpoints_{size}_{what}_s"] = f"{wall:.2f}"
            figures[f"endpoints_{size}_{what}_cpu_s"] = f"{cpu:.2f}"
            figures[f"endpoints_{size}_{what}_peak_mib"] = f"{mib:.0f}"
        for what in ("review_dir", "review_git"):
            figures[f"endpoints_{size}_{what}_over_plan"] = (
                f"{runs[what][0] / runs['plan'][0]:.2f}")
            figures[f"endpoints_{size}_{what}_over_plan_cpu"] = (
                f"{runs[what][1] / runs['plan'][1]:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
