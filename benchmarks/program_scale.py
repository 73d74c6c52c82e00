"""Time to construct the Pulumi program under mocks for 10 and 100 endpoints.

Each endpoint has 2 deployments x 5 instances (Standard_DS2_v2) on the Docker target: per
endpoint 16 resources plus components. The program is the real one (``stacks/``'s
``mlplan.edge.program.run``) reading a generated project; mocks answer every
registration at once, so the figure is the program's own cost (parse, plan, register).
Run: ``.venv/bin/python benchmarks/program_scale.py``.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

from scaffold import program_in_child, scaffold

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pulumi

from mlplan.edge.program import run
from tests.targets.harness import run_program

SIZES = (10, 100)


def make_project(root: Path, endpoints: int) -> None:
    stacks = scaffold(
        root,
        f"  mlplan:quota: {{total: {endpoints * 30}}}\n"
        f"  mlplan:limits: {{endpoints: {endpoints}, deployments: {endpoints * 2}}}\n")
    for i in range(endpoints):
        folder = stacks / "endpoints" / f"ep-{i:03d}"
        folder.mkdir(parents=True)
        (folder / "endpoint.yml").write_text(
            f"name: ep-{i:03d}\nauth_mode: key\ntraffic: {{blue: 90, green: 10}}\n")
        for name in ("blue", "green"):
            (folder / f"{name}.yml").write_text(
                f"name: {name}\nendpoint_name: ep-{i:03d}\nmodel: {{path: ../../model}}\n"
                "code_configuration: {code: ../../score, scoring_script: score.py}\n"
                "environment: {image: 'example.io/infer:1.0'}\n"
                "instance_type: Standard_DS2_v2\ninstance_count: 5\n")


def construct(size: int) -> None:
    """Child process: build the project, construct the program, print seconds and count."""
    root = Path(tempfile.mkdtemp(prefix=f"mlplan-program-{size}-"))
    try:
        make_project(root, size)
        start = time.perf_counter()
        run_program(lambda: run(cwd=root, stack="bench"), stack="bench", record=False,
                    project=root)
        seconds = time.perf_counter() - start
        registered = len(pulumi.runtime.settings.get_monitor().resources)  # type: ignore[union-attr]
        print(f"{seconds:.3f} {registered}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    figures: dict[str, str] = {}
    for size in SIZES:
        seconds, resources, peak = program_in_child(Path(__file__), size)
        print(f"{size:4d} endpoints: {resources} registrations in {seconds:.2f} s, "
              f"peak RSS {peak:.1f} MiB")
        figures[f"endpoints_{size}_s"] = f"{seconds:.2f}"
        figures[f"endpoints_{size}_resources"] = resources
        figures[f"endpoints_{size}_peak_mib"] = f"{peak:.1f}"
    print(" ".join(f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        construct(int(sys.argv[2]))
    else:
        main()
