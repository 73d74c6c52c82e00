"""``pulumi preview`` of mlplan's program against a plain program of the same resources.

Real engine (tests/engine/build.sh's CLI, language host and providers; a fresh ``file://``
backend per run). ``DOCKER_HOST`` is tests/docker's private dockerd (set
``MLPLAN_DOCKER_CACHE`` / ``MLPLAN_DOCKER_POOL`` as for the e2e suite), empty, as a user's host
before the first ``pulumi up``: mlplan asks it which instances exist, and new ones are not
chained; ``--no-docker`` previews with no host (every instance chained, as for a replacement).
The provider's preview itself contacts no Docker host. For each size N (default 5, 20,
50) a generated mlplan project of N endpoints x 2 deployments x 5 instances on the Docker
target is previewed (``pulumi preview --json``); the resource types and counts of that preview
(components included) become a generated *plain* program that registers exactly those types,
as many of each, with trivial inputs and the same SDKs, no ``depends_on`` and no applies. The
ratio mlplan / plain is what mlplan's resources cost on top of the engine's own cost (issue
18's figure). A third, *inputs* program registers the same resources with the inputs mlplan
sent (read from its preview JSON: unknowns as plain strings, the secret uploads as a secret
of the same shape), flat, with no ``depends_on``: mlplan / inputs is what mlplan's program
and graph (components, ``depends_on`` chains, applies, logs, exports) add to the same
resources; inputs / plain is what the containers' real configuration (labels, env, mounts,
health checks, uploads) costs the engine and the Docker provider.

Mocks (``benchmarks/program_scale.py --one N`` in a fresh process): the program constructed
under ``pulumi.runtime.set_mocks`` for 10, 100 and 300 endpoints, and the 300/100 time ratio
(3.0 = linear).

CPU seconds (user + system of ``pulumi`` and everything it ran and waited for: language host,
program, providers) are printed beside wall seconds: on a shared machine they are the steadier
figure; "program" is the CPU of the program's own process (``pulumi-language-python-exec``:
the SDK and the program), recorded by a generated ``sitecustomize`` on ``PYTHONPATH``.
``--profile DIR``: that process runs under cProfile and its stats land in
``DIR/<N>-<program>.prof`` with the top functions printed; profiled timings are not comparable
with unprofiled ones.

Run: ``.venv/bin/python benchmarks/preview_scale.py [--sizes 5,20,50] [--mock-sizes
10,100,300] [--repeat 1] [--no-docker] [--profile DIR]``; ``--sizes ''`` or ``--mock-sizes ''``
leaves that part out.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from scaffold import program_in_child, scaffold

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.docker import daemon as docker_daemon
from tests.engine.conftest import REPO, VENV, Engine, cache_root, engine_env

STACK = "bench"
INSTANCES = 5
DEPLOYMENTS = ("blue", "green")


def mlplan_project(root: Path, endpoints: int) -> None:
    """N endpoints x blue/green x 5 instances of Standard_DS2_v2, Docker target."""
    stacks = scaffold(
        root,
        f"  mlplan:quota: {{total: {endpoints * 30}}}\n"
        f"  mlplan:limits: {{endpoints: {endpoints}, deployments: {endpoints * 2}}}\n")
    project_file(root)
    shutil.copy(REPO / "stacks" / "__main__.py", stacks / "__main__.py")
    for i in range(endpoints):
        folder = stacks / "endpoints" / f"ep-{i:03d}"
        folder.mkdir(parents=True)
        (folder / "endpoint.yml").write_text(
            f"name: ep-{i:03d}\nauth_mode: key\ntraffic: {{blue: 90, green: 10}}\n")
        for name in DEPLOYMENTS:
            (folder / f"{name}.yml").write_text(
                f"name: {name}\nendpoint_name: ep-{i:03d}\nmodel: {{path: ../../model}}\n"
                "code_configuration: {code: ../../score, scoring_script: score.py}\n"
                "environment: {image: 'example.io/infer:1.0'}\n"
                f"instance_type: Standard_DS2_v2\ninstance_count: {INSTANCES}\n")


def project_file(root: Path) -> None:
    (root / "Pulumi.yaml").write_text(
        "name: bench\nruntime:\n  name: python\n  options:\n    toolchain: pip\n"
        f"    virtualenv: {VENV}\nmain: stacks/\nstackConfigDir: stacks\n")


PLAIN_PROGRAM = '''"""Generated: an mlplan preview's types and counts, trivial inputs."""
import json
from pathlib import Path

import pulumi
import pulumi_docker as docker
import pulumi_random as random

counts = json.loads((Path(__file__).parent / "counts.json").read_text())
makers = {
    "docker:index/network:Network": lambda n: docker.Network(n, name=n),
    "docker:index/volume:Volume": lambda n: docker.Volume(n, name=n),
    "docker:index/remoteImage:RemoteImage": lambda n: docker.RemoteImage(
        n, name="example.io/infer:1.0", keep_locally=True),
    "docker:index/container:Container": lambda n: docker.Container(
        n, name=n, image="example.io/infer:1.0"),
    "random:index/randomPassword:RandomPassword": lambda n: random.RandomPassword(
        n, length=48, special=False),
}


class Component(pulumi.ComponentResource):
    def __init__(self, token: str, name: str) -> None:
        super().__init__(token, name, {}, None)
        self.register_outputs({})


for token, count in sorted(counts.items()):
    short = token.rsplit(":", 1)[-1].lower()
    for i in range(count):
        name = f"{short}-{i}"
        if token in makers:
            makers[token](name)
        else:
            Component(token, name)
'''


def plain_project(root: Path, counts: dict[str, int]) -> None:
    (root / "stacks").mkdir(parents=True)
    project_file(root)
    (root / "stacks" / "__main__.py").write_text(PLAIN_PROGRAM)
    (root / "stacks" / "counts.json").write_text(json.dumps(counts, sort_keys=True))
    (root / "stacks" / f"Pulumi.{STACK}.yaml").write_text("config: {}\n")


INPUTS_PROGRAM = '''"""Generated: an mlplan preview's resources, the inputs it sent, no graph."""
import importlib.metadata
import json
from pathlib import Path

import pulumi

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the engine's unknown value in preview JSON
VERSIONS = {"docker": importlib.metadata.version("pulumi_docker"),
            "random": importlib.metadata.version("pulumi_random")}
# a secret input shows as "[secret]" in preview JSON: two uploads of the config's size instead
SECRET_UPLOADS = [{"file": "/staging/routing.conf", "content": "x" * 2048},
                  {"file": "/staging/keys.conf", "content": "x" * 256}]


def clean(value):
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items() if k != "__defaults"}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return "unknown" if value == UNKNOWN else value


class Component(pulumi.ComponentResource):
    def __init__(self, token: str, name: str) -> None:
        super().__init__(token, name, {}, None)
        self.register_outputs({})


for token, name, inputs in json.loads((Path(__file__).parent / "inputs.json").read_text()):
    if inputs is None:
        Component(token, name)
        continue
    props = clean(inputs)
    for key, value in props.items():
        if value == "[secret]":
            props[key] = pulumi.Output.secret(SECRET_UPLOADS)
    version = VERSIONS[token.split(":")[0]]
    pulumi.CustomResource(token, name, props, pulumi.ResourceOptions(version=version))
'''


def inputs_project(root: Path, steps: list[dict[str, Any]]) -> None:
    """The inputs program of mlplan's preview ``steps``: [token, name, inputs or None]."""
    resources: list[list[Any]] = []
    for step in steps:
        urn = step["urn"]
        token, name = urn.split("::")[2].split("$")[-1], urn.split("::")[-1]
        if token == "pulumi:pulumi:Stack" or token.startswith("pulumi:providers:"):
            continue
        state = step.get("newState") or {}
        resources.append([token, name, state.get("inputs", {}) if state.get("custom") else None])
    (root / "stacks").mkdir(parents=True)
    project_file(root)
    (root / "stacks" / "__main__.py").write_text(INPUTS_PROGRAM)
    (root / "stacks" / "inputs.json").write_text(json.dumps(resources))
    (root / "stacks" / f"Pulumi.{STACK}.yaml").write_text("config: {}\n")


SITECUSTOMIZE = '''"""Generated by benchmarks/preview_scale.py: the program's own CPU seconds
(and with --profile its cProfile stats), written when the program's process exits."""
import atexit
import os
import sys

if sys.argv and sys.argv[0].endswith("pulumi-language-python-exec"):
    if os.environ.get("MLPLAN_PROFILE_OUT"):
        import cProfile

        _profile = cProfile.Profile()
        _profile.enable()
        atexit.register(lambda: (_profile.disable(),
                                 _profile.dump_stats(os.environ["MLPLAN_PROFILE_OUT"])))

    def _cpu() -> None:
        times = os.times()
        with open(os.environ["MLPLAN_CPU_OUT"], "w") as out:
            out.write(f"{times.user + times.system:.3f}")

    atexit.register(_cpu)
'''


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def preview(engine: Engine, root: Path, work: Path, docker_host: str, profile: Path | None = None
            ) -> tuple[float, float, float, dict[str, int], list[dict[str, Any]]]:
    """Wall and CPU seconds of one ``pulumi preview --json`` on a fresh backend, CPU seconds
    of the program's own process (language host side: the SDK and the program), and its
    resource counts by type (the stack and default providers left out). ``profile``: where
    the program's cProfile stats go."""
    env = engine_env(engine, work)
    env.pop("DOCKER_HOST", None)
    if docker_host:
        env["DOCKER_HOST"] = docker_host
    site = work / "site"
    site.mkdir(parents=True, exist_ok=True)
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH")) if p)
    env["MLPLAN_CPU_OUT"] = str(work / "program-cpu")
    if profile is not None:
        env["MLPLAN_PROFILE_OUT"] = str(profile)
    subprocess.run(["pulumi", "stack", "init", STACK, "--non-interactive"], cwd=root, env=env,
                   check=True, capture_output=True)
    cpu = children_cpu()
    started = time.perf_counter()
    proc = subprocess.run(["pulumi", "preview", "--json", "--non-interactive"], cwd=root,
                          env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    cpu = children_cpu() - cpu
    program_cpu = float((work / "program-cpu").read_text())
    if proc.returncode != 0:
        raise SystemExit(f"pulumi preview in {root} exited {proc.returncode}:\n"
                         f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    counts: collections.Counter[str] = collections.Counter()
    steps = json.loads(proc.stdout)["steps"]
    for step in steps:
        token = step["urn"].split("::")[2].split("$")[-1]
        if token != "pulumi:pulumi:Stack" and not token.startswith("pulumi:providers:"):
            counts[token] += 1
    return seconds, cpu, program_cpu, dict(counts), steps


def print_profile(path: Path, lines: int = 25) -> None:
    if not path.exists():
        print(f"  (no profile written at {path})")
        return
    print(f"  cProfile of the program, {path}: top {lines} by cumulative time")
    stats = pstats.Stats(str(path))
    stats.sort_stats("cumulative").print_stats(lines)


def real_engine(sizes: list[int], repeat: int, docker_host: str,
                figures: dict[str, str], profile: Path | None = None) -> None:
    build = subprocess.run(["bash", str(REPO / "tests" / "engine" / "build.sh")], check=False,
                           stdout=subprocess.DEVNULL)
    if build.returncode != 0:
        raise SystemExit("benchmarks/preview_scale.py: tests/engine/build.sh failed")
    engine = Engine(cache_root() / "bin")
    programs = ("mlplan", "plain", "inputs")
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix=f"mlplan-preview-{size}-") as tmp:
            base = Path(tmp)
            (base / "mlplan").mkdir()
            mlplan_project(base / "mlplan", size)
            wall: dict[str, list[float]] = {w: [] for w in programs}
            cpu: dict[str, list[float]] = {w: [] for w in programs}
            own: dict[str, list[float]] = {w: [] for w in programs}
            counts: dict[str, int] = {}
            for run in range(repeat):
                for which in programs:
                    where = profile / f"{size}-{which}.prof" if profile else None
                    seconds, total, py, found, steps = preview(
                        engine, base / which, base / f"engine-{which}-{run}", docker_host, where)
                    if which == "mlplan" and run == 0:
                        counts = found
                        plain_project(base / "plain", counts)
                        inputs_project(base / "inputs", steps)
                    elif found != counts:
                        raise SystemExit(f"the {which} program registered {found}, "
                                         f"mlplan {counts}")
                    wall[which].append(seconds)
                    cpu[which].append(total)
                    own[which].append(py)
            resources = sum(counts.values())
            m, p, i = (statistics.median(wall[w]) for w in programs)
            mc, pc, ic = (statistics.median(cpu[w]) for w in programs)
            mp, pp, ip = (statistics.median(own[w]) for w in programs)
            load = os.getloadavg()[0]
            print(f"{size:3d} endpoints, {resources} resources: mlplan {m:.1f} s ({mc:.1f} s "
                  f"CPU, program {mp:.1f} s), plain {p:.1f} s ({pc:.1f} s CPU, program "
                  f"{pp:.1f} s), ratio {m / p:.2f} (CPU {mc / pc:.2f}); plain with mlplan's "
                  f"inputs {i:.1f} s ({ic:.1f} s CPU, program {ip:.1f} s), ratio {m / i:.2f} "
                  f"(CPU {mc / ic:.2f}); median of {repeat}; load average {load:.1f}")
            figures[f"engine_{size}_resources"] = str(resources)
            figures[f"engine_{size}_mlplan_s"] = f"{m:.2f}"
            figures[f"engine_{size}_plain_s"] = f"{p:.2f}"
            figures[f"engine_{size}_ratio"] = f"{m / p:.2f}"
            figures[f"engine_{size}_mlplan_cpu_s"] = f"{mc:.2f}"
            figures[f"engine_{size}_plain_cpu_s"] = f"{pc:.2f}"
            figures[f"engine_{size}_cpu_ratio"] = f"{mc / pc:.2f}"
            figures[f"engine_{size}_mlplan_program_cpu_s"] = f"{mp:.2f}"
            figures[f"engine_{size}_plain_program_cpu_s"] = f"{pp:.2f}"
            figures[f"engine_{size}_inputs_s"] = f"{i:.2f}"
            figures[f"engine_{size}_inputs_cpu_s"] = f"{ic:.2f}"
            figures[f"engine_{size}_inputs_program_cpu_s"] = f"{ip:.2f}"
            figures[f"engine_{size}_ratio_vs_inputs"] = f"{m / i:.2f}"
            figures[f"engine_{size}_cpu_ratio_vs_inputs"] = f"{mc / ic:.2f}"
            figures[f"engine_{size}_load"] = f"{load:.1f}"
            if profile:
                for which in programs:
                    print_profile(profile / f"{size}-{which}.prof")


def mocks(sizes: list[int], figures: dict[str, str]) -> None:
    script = Path(__file__).with_name("program_scale.py")
    times: dict[int, float] = {}
    for size in sizes:
        times[size], registrations, peak = program_in_child(script, size)
        print(f"mocks {size:4d} endpoints: {registrations} registrations in "
              f"{times[size]:.2f} s, peak RSS {peak:.1f} MiB")
        figures[f"mocks_{size}_s"] = f"{times[size]:.2f}"
        figures[f"mocks_{size}_peak_mib"] = f"{peak:.1f}"
    if 100 in times and 300 in times:
        figures["mocks_300_over_100"] = f"{times[300] / times[100]:.2f}"


def sizes_arg(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=sizes_arg, default=[5, 20, 50],
                        help="endpoints per real-engine preview (default 5,20,50)")
    parser.add_argument("--mock-sizes", type=sizes_arg, default=[10, 100, 300],
                        help="endpoints per run under mocks (default 10,100,300)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="real-engine previews per size and program (median)")
    parser.add_argument("--no-docker", action="store_true",
                        help="preview with no Docker host (mlplan then chains every instance)")
    parser.add_argument("--profile", type=Path, default=None,
                        help="cProfile the program's process; stats in this folder")
    args = parser.parse_args()
    figures: dict[str, str] = {}
    if args.sizes:
        print(f"real engine: pulumi preview of N endpoints x {len(DEPLOYMENTS)} deployments x "
              f"{INSTANCES} instances, mlplan vs a plain program of the same resources; "
              + ("no Docker host" if args.no_docker else "DOCKER_HOST: tests/docker's private "
                 "dockerd (empty: every instance is new)"))
    with contextlib.ExitStack() as stack:
        host = ""
        if args.sizes and not args.no_docker:
            host = stack.enter_context(docker_daemon.running()).host
        real_engine(args.sizes, args.repeat, host, figures,
                    args.profile.resolve() if args.profile else None)
    if args.mock_sizes:
        print("mocks: the program constructed under pulumi.runtime.set_mocks (no Docker host)")
    mocks(args.mock_sizes, figures)
    print(" ".join(f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
