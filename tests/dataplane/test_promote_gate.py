"""``mlplan promote --apply`` against a real router: the Automation API is faked at its
boundary (``up`` renders the endpoint file's traffic into real nginx, as the Docker target's
config container does), the gate probes through the real router to real inference servers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mlplan.domain.spec import SourceText, parse
from mlplan.edge.program import load
from mlplan.edge.promote_apply import apply, gate
from mlplan.edge.promote_io import apply_step
from mlplan.planning import promote
from mlplan.router.nginx import RouterBackend, RouterConfig
from tests.dataplane.conftest import Fleet
from tests.dataplane.harness import Router
from tests.targets.projects import make_project

KEY = "k" * 32
ENDPOINT_FILE = "stacks/endpoints/endpoint.yml"


class RouterStack:
    """``up`` applies the endpoint file's split to the running router (graceful reload)."""

    def __init__(self, root: Path, router: Router, backends: tuple[RouterBackend, ...]) -> None:
        self.root, self.router, self.backends = root, router, backends
        self.ups = 0

    def up(self) -> None:
        self.ups += 1
        path = self.root / ENDPOINT_FILE
        (endpoint,) = parse([SourceText(ENDPOINT_FILE, path.read_text())]).endpoints
        self.router.apply(RouterConfig(
            endpoint="my-endpoint", listen_port=self.router.port, listen_address="127.0.0.1",
            backends=self.backends, traffic=endpoint.traffic,
            mirror=tuple((n, p) for n, p in endpoint.mirror_traffic if p), keys=(KEY,)))

    def outputs(self) -> Mapping[str, Any]:
        return {"my-endpoint-scoring-uri": f"http://127.0.0.1:{self.router.port}/",
                "my-endpoint-primary-key": KEY}


def run(tmp_path: Path, fleet: Fleet, router: Callable[..., Router], green_up: bool,
        steps: tuple[int, ...], mirror: int | None) -> tuple[Any, RouterStack, str, list[str]]:
    root = make_project(tmp_path, {"blue": {}, "green": {}}, traffic={"blue": 100, "green": 0})
    original = (root / ENDPOINT_FILE).read_text()
    green = (fleet.backend("green") if green_up else
             RouterBackend(name="green", instances=(f"127.0.0.1:{fleet.ghost_port}",)))
    backends = (fleet.backend("blue"), green)
    stack = RouterStack(root, router(backends=backends, traffic=(("blue", 100), ("green", 0)),
                                     keys=(KEY,)), backends)
    state, _root = load(root, "test")
    plan = promote.promotion(state, "my-endpoint", "green", steps=steps, mirror=mirror)
    assert plan.ok
    progress: list[str] = []
    result = apply(
        plan,
        write=lambda step: apply_step(root, ENDPOINT_FILE, step, "blue=100", "green", []),
        restore=lambda: (root / ENDPOINT_FILE).write_text(original),
        driver=stack,
        run_gate=lambda out, step: gate(
            out["my-endpoint-scoring-uri"], out["my-endpoint-primary-key"], 1.0, 0.01,
            candidate="green" if dict(step.traffic).get("green", 0) > 0 else None),
        progress=progress.append,
    )
    return result, stack, original, progress


def test_healthy_green_is_promoted_step_by_step(tmp_path: Path, fleet: Fleet,
                                                router: Callable[..., Router]) -> None:
    result, stack, _original, progress = run(tmp_path, fleet, router, True, (10, 50, 100), 10)
    assert result.ok and result.rolled_back_to is None
    assert next(line for line in progress if "gate passed" in line).startswith("step 1/5 mirror")
    assert stack.ups == 5  # mirror, 10, 50, 100, retire: one up each
    assert "green: 100" in (stack.root / ENDPOINT_FILE).read_text()


def test_a_failing_gate_rolls_back_to_the_last_good_step(
    tmp_path: Path, fleet: Fleet, router: Callable[..., Router]
) -> None:
    """Green's instances are down: the mirror step passes (copies are discarded, live traffic
    is blue's), the 50% step fails its gate and the mirror step is written and applied back."""
    result, stack, _original, progress = run(tmp_path, fleet, router, False, (50, 100), 10)
    assert not result.ok and result.completed == 1 and result.rolled_back_to == 1
    assert "gate failed" in result.reason and "probes failed" in result.reason
    text = (stack.root / ENDPOINT_FILE).read_text()
    assert "blue: 100" in text and "green: 10" in text  # the mirror step again
    assert gate(f"http://127.0.0.1:{stack.router.port}/", KEY, 0.5, 0.0).ok
    assert progress[-1] == "rolling back to step 1 (mirror)"


def test_a_failing_first_step_restores_the_original_files(
    tmp_path: Path, fleet: Fleet, router: Callable[..., Router]
) -> None:
    result, stack, original, _progress = run(tmp_path, fleet, router, False, (50, 100), None)
    assert not result.ok and result.completed == 0 and result.rolled_back_to is None
    assert (stack.root / ENDPOINT_FILE).read_text() == original
    assert gate(f"http://127.0.0.1:{stack.router.port}/", KEY, 0.5, 0.0).ok
