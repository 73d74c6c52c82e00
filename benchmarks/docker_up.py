"""``pulumi up`` of the Docker target on a real Docker Engine: how long it takes.

Uses what the Docker e2e suite uses (tests/engine/build.sh's engine, tests/docker's private
dockerd and images): the sample endpoint (blue 3 + green 3, 90/10) first, an unchanged ``up``,
then blue scaled to 10 and its image changed while 4 threads stream scoring requests through
the router. Prints the timings and the stream's failures and p99; the last line is name=value.

    .venv/bin/python benchmarks/docker_up.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.dataplane.harness import Stream, failures, percentile
from tests.docker import daemon as docker_daemon
from tests.engine.conftest import Engine, Pulumi, cache_root, engine_env
from tests.engine.docker_host import STACK, DeploymentSpec, DockerProject, write_project

REPO = Path(__file__).resolve().parents[1]


def timed(action: object) -> float:
    started = time.monotonic()
    action()  # type: ignore[operator]
    return time.monotonic() - started


def main() -> int:
    build = subprocess.run(["bash", str(REPO / "tests" / "engine" / "build.sh")], check=False)
    if build.returncode != 0:
        print("benchmarks/docker_up.py: the engine could not be built", file=sys.stderr)
        return 1
    engine = Engine(cache_root() / "bin")
    with docker_daemon.running() as daemon, tempfile.TemporaryDirectory() as tmp:
        images = docker_daemon.build_images(daemon, stream=True)
        root = Path(tmp) / "project"
        write_project(root, images)
        env = engine_env(engine, Path(tmp) / "engine")
        env["DOCKER_HOST"] = daemon.host
        pulumi = Pulumi(root, env)
        pulumi.run("stack", "init", STACK)
        project = DockerProject(root, pulumi, daemon, images)

        def spec(image: str = "inference", count: int = 3, **kw: object) -> DeploymentSpec:
            return DeploymentSpec(image=images[image], count=count, **kw)  # type: ignore[arg-type]

        project.declare({"blue": spec(), "green": spec(env={"SCORE_SCALE": "1.1"})},
                        {"blue": 90, "green": 10})
        first = timed(project.up)
        unchanged = timed(project.up)
        project.declare({"blue": spec(count=10), "green": spec(env={"SCORE_SCALE": "1.1"})},
                        {"blue": 90, "green": 10})
        scale = timed(project.up)
        project.declare({"blue": spec("inference_r2", count=10),
                         "green": spec(env={"SCORE_SCALE": "1.1"})}, {"blue": 90, "green": 10})
        headers = {"Authorization": f"Bearer {project.key()}"}
        with Stream(project.port(), threads=4, max_requests=100_000, headers=headers) as stream:
            roll = timed(project.up)
            results = stream.stop()
        destroy = timed(lambda: pulumi.run("destroy", "--yes"))
    p99_ms = percentile([r.seconds for r in results], 99) * 1000
    for failed in failures(results):
        print(f"failed request: status {failed.status} after {failed.seconds:.2f} s "
              f"{failed.error or failed.body[:80]!r}")
    print(f"first up (6 instances): {first:.1f} s; unchanged up: {unchanged:.1f} s; "
          f"scale blue 3 -> 10: {scale:.1f} s; rolling update of 10 (5 batches of 2): "
          f"{roll:.1f} s with {len(results)} requests, {len(failures(results))} failed, "
          f"p99 {p99_ms:.1f} ms; destroy: {destroy:.1f} s")
    print(f"first_up_s={first:.1f} unchanged_up_s={unchanged:.1f} scale_3_to_10_s={scale:.1f} "
          f"rolling_update_10_s={roll:.1f} stream_requests={len(results)} "
          f"stream_failures={len(failures(results))} stream_p99_ms={p99_ms:.1f} "
          f"destroy_s={destroy:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
