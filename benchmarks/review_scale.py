"""Wall time and peak memory of ``mlplan review`` for 100 and 1000 endpoints x 4 deployments
with 10% of the deployments changed, against ``--base-dir`` and against ``--base`` (git).

Each size is ``benchmarks/plan_scale.py``'s generated project (4 deployments per endpoint,
Azure's limits raised so the plan is clean). The base is that project as generated; the head
changes the image of every tenth deployment (1000 x 4 -> 400 deployments replaced). ``--base-dir``
reads a copy of the base; ``--base HEAD`` reads it from a git commit (the head is the working
tree). For scale, ``mlplan plan`` of the head is timed too, and the review/plan ratio. Every
figure is the median of 3 runs of the real console script in a fresh process, peak memory the
largest max RSS (``wait4``). Goal at 1000: review under 3 s and within 2x of the plan.
Run: ``.venv/bin/python benchmarks/review_scale.py [--sizes 100,1000]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

from plan_scale import DEPLOYMENTS, MLPLAN, make_project, run_measured

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


def measure(args: list[str], cwd: Path, accept: set[int]) -> tuple[float, float]:
    runs = [run_measured(args, cwd) for _ in range(RUNS)]
    codes = {code for _t, _m, code in runs}
    if not codes <= accept:
        raise SystemExit(f"{' '.join(args[1:])} in {cwd} exited {codes}")
    return statistics.median(t for t, _m, _c in runs), max(m for _t, m, _c in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000", help="endpoints (default 100,1000)")
    sizes = [int(s) for s in parser.parse_args().sizes.split(",") if s.strip()]
    figures: dict[str, str] = {}
    for size in sizes:
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
            plan_s, plan_mib = measure([MLPLAN, "plan", "--stack", "bench", "--format", "json"],
                                       head, {0})
            dir_s, dir_mib = measure([*review, "--base-dir", str(base)], head, {0})
            git_s, git_mib = measure([*review, "--base", "HEAD"], head, {0})
            print(f"{size:5d} endpoints x 4, {changed} deployments changed: plan {plan_s:.2f} s "
                  f"{plan_mib:.0f} MiB; review --base-dir {dir_s:.2f} s {dir_mib:.0f} MiB; "
                  f"review --base HEAD {git_s:.2f} s {git_mib:.0f} MiB")
            figures.update({
                f"endpoints_{size}_changed": str(changed),
                f"endpoints_{size}_plan_s": f"{plan_s:.2f}",
                f"endpoints_{size}_plan_peak_mib": f"{plan_mib:.0f}",
                f"endpoints_{size}_review_dir_s": f"{dir_s:.2f}",
                f"endpoints_{size}_review_dir_peak_mib": f"{dir_mib:.0f}",
                f"endpoints_{size}_review_git_s": f"{git_s:.2f}",
                f"endpoints_{size}_review_git_peak_mib": f"{git_mib:.0f}",
                f"endpoints_{size}_review_dir_over_plan": f"{dir_s / plan_s:.2f}",
                f"endpoints_{size}_review_git_over_plan": f"{git_s / plan_s:.2f}",
            })
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    print(" ".join(f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
