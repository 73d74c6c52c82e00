"""Wall time and peak memory of ``mlplan plan --format json`` for 10, 100 and 1000 endpoints.

Each size is a generated project (4 deployments per endpoint, Azure's limits raised so the plan
is clean) planned by the real console script in a fresh process; peak memory is that process's
max RSS from ``wait4``. Also times ``mlplan --help``. Goal: 1000 endpoints under 2 s and 300 MB,
growth close to linear; ``--help`` under 0.3 s. Run: ``.venv/bin/python benchmarks/plan_scale.py``.

The runs have Python's bytecode cached (``measured_env``: in a temporary folder, written by
one unmeasured run first), as an installed mlplan has it: pip compiles it at install. A shell
with ``PYTHONDONTWRITEBYTECODE=1`` (this project's sessions have it) instead compiles every
module of mlplan on every run, about 0.3 s more; ``endpoints_1000_inherited_env_s`` is the
1000-endpoint plan in the caller's own environment, for comparison.

Issue 18 at 1000 endpoints (best of 5, c36823a and after alternating, bytecode cached for
both, load about 1 on the shared 2-core machine): 3.25 s, 111 MiB at c36823a; 1.75 s, 99 MiB
after. Single runs there vary by up to 50% with the machine's other work.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scaffold import scaffold

SIZES = (10, 100, 1000)
DEPLOYMENTS = ("blue", "green", "canary", "shadow")
SKUS = ("Standard_DS3_v2", "Standard_F4s_v2", "Standard_E8s_v3", "Standard_NC4as_T4_v3")
MLPLAN = str(Path(sys.executable).with_name("mlplan"))


def make_project(root: Path, endpoints: int) -> None:
    stacks = scaffold(
        root,
        f"  mlplan:quota: {{total: {endpoints * 300}}}\n"
        f"  mlplan:limits: {{endpoints: {endpoints}, deployments: {endpoints * 4}}}\n")
    for i in range(endpoints):
        folder = stacks / "endpoints" / f"ep-{i:04d}"
        folder.mkdir(parents=True)
        (folder / "endpoint.yml").write_text(
            "$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json\n"
            f"name: ep-{i:04d}\nauth_mode: key\ntraffic:\n  blue: 80\n  green: 20\n"
            "mirror_traffic:\n  shadow: 10\n")
        for j, name in enumerate(DEPLOYMENTS):
            (folder / f"{name}.yml").write_text(
                "$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment."
                f"schema.json\nname: {name}\nendpoint_name: ep-{i:04d}\n"
                "model:\n  path: ../../model\ncode_configuration:\n  code: ../../score\n"
                "  scoring_script: score.py\nenvironment:\n  image: example.io/infer:1.0\n"
                f"instance_type: {SKUS[j]}\ninstance_count: {1 + (i + j) % 10}\n"
                "request_settings:\n  request_timeout_ms: 3000\n")


def measured_env(cache: Path) -> dict[str, str]:
    """The environment of a measured run: bytecode cached in ``cache`` (outside the
    repository; the standard library's and the packages' too), written when missing."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env


def run_measured(args: list[str], cwd: Path,
                 env: dict[str, str] | None = None) -> tuple[float, float, int]:
    """(seconds, peak RSS MiB, exit code) of one process."""
    start = time.perf_counter()
    process = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env=env)
    _pid, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    assert process.stderr is not None
    process.stderr.close()
    return elapsed, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def main() -> None:
    figures: dict[str, str] = {}
    cache = Path(tempfile.mkdtemp(prefix="mlplan-bytecode-"))
    env = measured_env(cache)
    plan = [MLPLAN, "plan", "--stack", "bench", "--format", "json"]
    try:
        _measure_all(figures, env, plan)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    print(" ".join(f"{k}={v}" for k, v in figures.items()))


def _measure_all(figures: dict[str, str], env: dict[str, str], plan: list[str]) -> None:
    warm = Path(tempfile.mkdtemp(prefix="mlplan-bench-warm-"))
    try:  # one unmeasured plan writes the bytecode every measured run reads
        make_project(warm, 1)
        run_measured(plan, warm, env)
    finally:
        shutil.rmtree(warm, ignore_errors=True)
    help_times = [run_measured([MLPLAN, "--help"], Path.cwd(), env)[0] for _ in range(7)]
    figures["help_s"] = f"{statistics.median(help_times):.3f}"
    print(f"mlplan --help: median {figures['help_s']} s over 7 runs")
    per_endpoint: list[float] = []
    for size in SIZES:
        root = Path(tempfile.mkdtemp(prefix=f"mlplan-bench-{size}-"))
        try:
            make_project(root, size)
            runs = [run_measured(plan, root, env) for _ in range(3)]
            codes = {code for _t, _m, code in runs}
            if codes != {0}:
                raise SystemExit(f"plan of {size} endpoints exited {codes}")
            seconds = statistics.median(t for t, _m, _c in runs)
            peak = max(m for _t, m, _c in runs)
            per_endpoint.append(seconds / size)
            print(f"{size:5d} endpoints x 4 deployments: {seconds:.3f} s, peak {peak:.1f} MiB")
            figures[f"endpoints_{size}_s"] = f"{seconds:.3f}"
            figures[f"endpoints_{size}_peak_mib"] = f"{peak:.1f}"
            if size == SIZES[-1]:
                inherited = statistics.median(run_measured(plan, root)[0] for _ in range(3))
                print(f"{size:5d} endpoints in the caller's environment: {inherited:.3f} s")
                figures[f"endpoints_{size}_inherited_env_s"] = f"{inherited:.3f}"
        finally:
            shutil.rmtree(root, ignore_errors=True)
    # growth: the marginal cost of an endpoint between sizes (startup cancels out); close
    # figures mean linear growth.
    totals = [p * n for p, n in zip(per_endpoint, SIZES, strict=True)]
    figures["marginal_ms_10_to_100"] = f"{(totals[1] - totals[0]) / 90 * 1000:.2f}"
    figures["marginal_ms_100_to_1000"] = f"{(totals[2] - totals[1]) / 900 * 1000:.2f}"


if __name__ == "__main__":
    main()
