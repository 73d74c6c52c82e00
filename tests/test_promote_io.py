"""``--write`` edits on real files (comments survive, the file still parses, one step at a
time) and the gate's arithmetic with a fake probe and clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlplan.domain.spec import SourceText, parse
from mlplan.edge.program import load as load_state
from mlplan.edge.promote_apply import GateResult, apply, gate
from mlplan.edge.promote_io import TAG_FROM, apply_step, load, rollback_split, write_rollback
from mlplan.planning import promote
from tests.targets.projects import make_project

ENDPOINT_FILE = "stacks/endpoints/endpoint.yml"
COMMENTED = """\
# Sample endpoint: keep this comment
$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json
name: my-endpoint
auth_mode: key  # callers send a key
traffic:
  blue: 100   # all live traffic
  green: 0
"""


def project(tmp_path: Path) -> Path:
    root = make_project(tmp_path, {"blue": {}, "green": {}}, traffic={"blue": 100, "green": 0})
    (root / ENDPOINT_FILE).write_text(COMMENTED)
    return root


def next_step(root: Path) -> tuple[promote.Promotion, promote.PromotionStep]:
    state, _root = load_state(root, "test")
    plan = promote.promotion(state, "my-endpoint", "green", steps=(10, 100), mirror=10)
    assert plan.ok
    return plan, plan.steps[0]


def test_each_write_moves_exactly_one_step_and_keeps_comments(tmp_path: Path) -> None:
    root = project(tmp_path)
    seen: list[tuple[str, dict[str, int], dict[str, int]]] = []
    while True:
        _plan, step = next_step(root)
        apply_step(root, ENDPOINT_FILE, step, "blue=100", "green",
                   ["stacks/endpoints/blue.yml"] if step.stage == "retire" else [])
        text = (root / ENDPOINT_FILE).read_text()
        assert text.startswith("# Sample endpoint: keep this comment\n")
        assert "auth_mode: key  # callers send a key" in text
        (endpoint,) = parse([SourceText(ENDPOINT_FILE, text)]).endpoints  # still parses
        seen.append((step.stage, endpoint.traffic_map, endpoint.mirror_map))
        if step.stage == "retire":
            break
    assert seen == [
        ("mirror", {"blue": 100, "green": 0}, {"green": 10}),
        ("canary", {"blue": 90, "green": 10}, {}),
        ("promoted", {"blue": 0, "green": 100}, {}),
        ("retire", {"green": 100}, {}),
    ]
    assert not (root / "stacks/endpoints/blue.yml").exists()
    assert TAG_FROM not in (root / ENDPOINT_FILE).read_text()
    assert "blue: 100   # all live traffic" not in (root / ENDPOINT_FILE).read_text()


def test_rollback_returns_all_live_traffic_in_one_step(tmp_path: Path) -> None:
    root = project(tmp_path)
    for _ in range(2):  # mirror, then canary 10
        _plan, step = next_step(root)
        apply_step(root, ENDPOINT_FILE, step, "blue=100", "green", [])
    _yaml, document = load(root / ENDPOINT_FILE)
    assert rollback_split(document) == ((("blue", 100),), "green")
    write_rollback(root, ENDPOINT_FILE, (("blue", 100),), ["blue", "green"])
    text = (root / ENDPOINT_FILE).read_text()
    (endpoint,) = parse([SourceText(ENDPOINT_FILE, text)]).endpoints
    assert endpoint.traffic_map == {"blue": 100, "green": 0} and endpoint.mirror_map == {}
    assert "# Sample endpoint: keep this comment" in text and "tags" not in text


GATES = [
    # name, probe answers (cycled), max rate, candidate, candidate answers, ok, pinned probes
    ("all answer", [True], 0.01, None, True, True, 0),
    ("one in twenty fails, 10% allowed", [True] * 19 + [False], 0.10, None, True, True, 0),
    ("one in twenty fails, 1% allowed", [True] * 19 + [False], 0.01, None, True, False, 0),
    ("does not answer at all", [False], 0.5, None, True, False, 0),
    # At 10% the split alone may never reach the candidate: pinned probes always do.
    ("candidate pinned and answering", [True], 0.01, "green", True, True, 20),
    ("candidate pinned and failing, split answers", [True], 0.01, "green", False, False, 20),
    ("candidate failing, not pinned (mirror step)", [True], 0.01, None, False, True, 0),
]


@pytest.mark.parametrize(("name", "answers", "max_rate", "candidate", "candidate_ok", "ok",
                          "pinned"), GATES, ids=[g[0] for g in GATES])
def test_gate_arithmetic(name: str, answers: list[bool], max_rate: float,
                         candidate: str | None, candidate_ok: bool, ok: bool,
                         pinned: int) -> None:
    now = [0.0]
    calls = [0]
    pins: list[str] = []

    def probe(uri: str, key: str, timeout: float, body: bytes | None,
              pin: str | None) -> bool:
        if pin:
            pins.append(pin)
            return candidate_ok
        calls[0] += 1
        return answers[(calls[0] - 1) % len(answers)]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    result = gate("http://x/", "k", 2.0, max_rate, rate_per_second=20, probe=probe,
                  clock=lambda: now[0], sleep=sleep, candidate=candidate)
    assert result.ok is ok
    assert result.probes <= 40  # bounded: bake x rate
    assert pins == [candidate] * pinned
    if candidate:
        assert f"{pinned} pinned to {candidate}" in result.reason


def test_a_failed_up_rolls_back_and_stops(tmp_path: Path) -> None:
    root = project(tmp_path)
    state, _root = load_state(root, "test")
    plan = promote.promotion(state, "my-endpoint", "green", steps=(50, 100))
    written: list[str] = []

    class Driver:
        calls = 0

        def up(self) -> None:
            self.calls += 1
            if self.calls == 2:
                raise RuntimeError("engine said no")

        def outputs(self) -> dict[str, str]:
            return {}

    driver = Driver()
    result = apply(plan, write=lambda s: written.append(s.stage),
                   restore=lambda: written.append("restore"), driver=driver,
                   run_gate=lambda out, step: GateResult(True, 1, 0, "ok"), progress=lambda m: None)
    assert not result.ok and "engine said no" in result.reason
    assert written == ["canary", "promoted", "canary"] and driver.calls == 3
