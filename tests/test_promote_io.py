"""``--write`` edits on real files (comments survive, the file still parses, one step at a
time), the start state and rollback from every step, and the gate with a fake probe, log and
clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlplan.domain.model import Endpoint
from mlplan.domain.spec import SourceText, parse
from mlplan.edge.program import load as load_state
from mlplan.edge.promote_apply import GateOptions, GateResult, apply, gate
from mlplan.edge.promote_io import TAG_FROM, apply_step, restore_files, write_rollback
from mlplan.planning import promote
from mlplan.planning.gates import Thresholds
from mlplan.router.access_log import Request
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


START = promote.StartState((("blue", 100), ("green", 0)), ())


def project(tmp_path: Path) -> Path:
    root = make_project(tmp_path, {"blue": {}, "green": {}}, traffic={"blue": 100, "green": 0})
    (root / ENDPOINT_FILE).write_text(COMMENTED)
    return root


def next_step(root: Path) -> tuple[promote.Promotion, promote.PromotionStep]:
    state, _root = load_state(root, "test")
    plan = promote.plan(state, "my-endpoint", "green", steps=(10, 100), mirror=10)
    assert plan.ok
    return plan, plan.steps[0]


def test_each_write_moves_exactly_one_step_and_keeps_comments(tmp_path: Path) -> None:
    root = project(tmp_path)
    seen: list[tuple[str, dict[str, int], dict[str, int]]] = []
    while True:
        _plan, step = next_step(root)
        apply_step(root, ENDPOINT_FILE, step, START, "green",
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


# name, starting traffic, starting mirror, steps, mirror flag: rollback from every step must
# write back exactly the starting split (and mirror); a failed gate the split, mirror off.
STARTS = [
    ("candidate at 0%", {"blue": 100, "green": 0}, {}, (10, 50, 100), None),
    ("candidate at 10% live", {"blue": 90, "green": 10}, {}, (50, 100), None),
    ("candidate mirrored", {"blue": 100, "green": 0}, {"green": 10}, (10, 100), None),
    ("mirror stage first", {"blue": 100, "green": 0}, {}, (10, 100), 20),
    ("two stable deployments", {"blue": 70, "green": 0, "red": 30}, {}, (50, 100), None),
]


def start_project(tmp_path: Path, traffic: dict[str, int], mirror: dict[str, int]) -> Path:
    names = {n: {} for n in traffic}
    return make_project(tmp_path, names, traffic=traffic, mirror=mirror or None)


def endpoint_now(root: Path) -> tuple[dict[str, int], dict[str, int], dict[str, str]]:
    (endpoint,) = parse([SourceText(ENDPOINT_FILE, (root / ENDPOINT_FILE).read_text())]
                        ).endpoints
    return endpoint.traffic_map, endpoint.mirror_map, dict(endpoint.tags)


@pytest.mark.parametrize(("name", "traffic", "mirror", "steps", "mirror_flag"), STARTS,
                         ids=[s[0] for s in STARTS])
def test_rollback_from_every_step_restores_the_start(
        tmp_path: Path, name: str, traffic: dict[str, int], mirror: dict[str, int],
        steps: tuple[int, ...], mirror_flag: int | None) -> None:
    base = start_project(tmp_path / "base", traffic, mirror)
    state, _root = load_state(base, "test")
    total = len(promote.plan(state, "my-endpoint", "green", steps, mirror_flag).steps)
    for before_retire in range(1, total):  # after 1, 2, ... steps written (retire excluded)
        root = start_project(tmp_path / f"at{before_retire}", traffic, mirror)
        for _ in range(before_retire):
            state, _root = load_state(root, "test")
            plan = promote.plan(state, "my-endpoint", "green", steps, mirror_flag)
            assert plan.ok, plan.diagnostics
            (endpoint,) = (e.endpoint for e in state.endpoints)
            apply_step(root, ENDPOINT_FILE, plan.steps[0],
                       promote.start_state(endpoint, "green"), "green", [])
        state, _root = load_state(root, "test")
        (endpoint,) = (e.endpoint for e in state.endpoints)
        start = promote.start_state(endpoint, "green")
        assert dict(start.traffic) == traffic, f"after step {before_retire}"
        assert dict(start.mirror) == mirror
        write_rollback(root, ENDPOINT_FILE, start, mirror=True)
        now_traffic, now_mirror, tags = endpoint_now(root)
        assert (now_traffic, now_mirror) == (traffic, mirror), f"after step {before_retire}"
        assert not any(k.startswith("mlplan-promotion") for k in tags)
        state, _root = load_state(root, "test")
        assert not [d for d in state.diagnostics if d.severity == "error"]
        write_rollback(root, ENDPOINT_FILE, start, mirror=False)  # a failed gate's write
        assert endpoint_now(root)[:2] == (traffic, {})


def test_tags_of_an_older_promotion_give_the_candidate_the_rest() -> None:
    """Tags written before the full record named only the retired deployments (blue=90):
    the candidate started with the rest, 10, so rollback writes a split that sums to 100."""
    (endpoint,) = load_state_text({"blue": 0, "green": 100},
                                  {TAG_FROM: "blue=90", promote.TAG_TO: "green"})
    start = promote.start_state(endpoint, "green")
    assert start.traffic == (("blue", 90), ("green", 10)) and start.mirror == ()


def load_state_text(traffic: dict[str, int], tags: dict[str, str]) -> tuple[Endpoint, ...]:
    text = ("name: my-endpoint\nauth_mode: key\ntraffic: "
            + "{" + ", ".join(f"{n}: {p}" for n, p in traffic.items()) + "}\ntags: {"
            + ", ".join(f"{k}: '{v}'" for k, v in tags.items()) + "}\n")
    deployment = ("name: {n}\nendpoint_name: my-endpoint\ninstance_type: Standard_DS3_v2\n"
                  "instance_count: 1\nenvironment: {{image: 'x.io/i:1'}}\n")
    sources = [SourceText("e.yml", text)] + [SourceText(f"{n}.yml", deployment.format(n=n))
                                             for n in traffic]
    return parse(sources).endpoints


def test_restore_files_brings_back_a_deleted_file(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text("changed\n")
    (tmp_path / "c.yml").write_text("same\n")
    written = restore_files(tmp_path, {"a.yml": b"a: 1\n", "b.yml": b"b: 2\n",
                                       "c.yml": b"same\n"})
    assert written == ["a.yml", "b.yml"]
    assert (tmp_path / "b.yml").read_text() == "b: 2\n"
    assert (tmp_path / "b.yml").stat().st_mode & 0o777 == 0o644


def test_a_failed_up_rolls_all_traffic_back_and_stops(tmp_path: Path) -> None:
    root = project(tmp_path)
    state, _root = load_state(root, "test")
    plan = promote.plan(state, "my-endpoint", "green", steps=(10, 50, 100))
    written: list[str] = []

    class Driver:
        calls = 0

        def up(self) -> None:
            self.calls += 1
            if self.calls == 3:
                raise RuntimeError("engine said no")

        def outputs(self) -> dict[str, str]:
            return {}

    driver = Driver()
    passed = GateResult(True, None, 0, 0, 0.0, "probes only", "ok")
    result = apply(plan, write=lambda s: written.append(s.stage),
                   roll_back=lambda: written.append("start split"), driver=driver,
                   run_gate=lambda out, step: passed, progress=lambda m: None)
    assert not result.ok and result.rolled_back and "engine said no" in result.reason
    assert result.reason.startswith("step 3 (promoted): pulumi up failed")
    assert written == ["canary", "step", "promoted", "start split"] and driver.calls == 4
    assert result.failed_step is not None and result.failed_step.number == 3


def test_a_failed_gate_rolls_all_traffic_back_not_to_the_last_step(tmp_path: Path) -> None:
    root = project(tmp_path)
    state, _root = load_state(root, "test")
    plan = promote.plan(state, "my-endpoint", "green", steps=(10, 50, 100))
    written: list[str] = []

    class Driver:
        def up(self) -> None:
            written.append("up")

        def outputs(self) -> dict[str, str]:
            return {}

    def run_gate(_out: object, step: promote.PromotionStep) -> GateResult:
        ok = step.stage != "step"
        return GateResult(ok, None, 0, 0, 0.0, "probes only", "ok" if ok else "bad")

    result = apply(plan, write=lambda s: written.append(s.stage),
                   roll_back=lambda: written.append("start split"), driver=Driver(),
                   run_gate=run_gate, progress=lambda m: None)
    assert not result.ok and result.rolled_back and result.completed == 1
    assert written == ["canary", "up", "step", "up", "start split", "up"]
    assert result.reason == "step 2 (step): gate failed: bad"


class FakeLog:
    """Users' requests the router logged: ``real`` per second of the window, green's status
    ``status``; the probes the gate sends are logged too, as the router would."""

    def __init__(self, now: list[float], real_per_second: int, status: int) -> None:
        self.now, self.real, self.status = now, real_per_second, status
        self.probes: list[tuple[float, Request]] = []

    def requests(self, since: float, until: float) -> list[Request]:
        seconds = int(min(until, self.now[0]) - since)
        users = [Request("green", self.status, 20.0) for _ in range(self.real * seconds)]
        users += [Request("blue", 200, 20.0) for _ in range(9 * self.real * seconds)]
        return users + [r for at, r in self.probes if since <= at < until]


TOP_UPS = [
    # name, real green requests/s, their status, probe status, ok, real judged, probes sent
    ("enough real traffic: no probe", 50, 200, 200, True, 100, 0),
    ("thin traffic topped up (users go on meanwhile)", 5, 200, 200, True, 30, 90),
    ("no traffic at all: probes only", 0, 200, 200, True, 0, 100),
    ("real requests fail", 50, 503, 200, False, 100, 0),
    ("fails only on pinned probes", 5, 200, 500, False, 30, 90),
    ("probe answered 401 (wrong key): a failure", 5, 200, 401, False, 30, 90),
]


@pytest.mark.parametrize(("name", "real", "status", "probe_status", "ok", "judged_real",
                          "probes"), TOP_UPS, ids=[t[0] for t in TOP_UPS])
def test_gate_tops_thin_traffic_up_with_probes(name: str, real: int, status: int,
                                               probe_status: int, ok: bool, judged_real: int,
                                               probes: int) -> None:
    now = [1000.0]
    log = FakeLog(now, real, status)

    def probe(uri: str, key: str, timeout: float, body: bytes | None,
              pin: str | None) -> Request:
        answer = Request(pin or "blue", probe_status if pin else 200, 30.0, True,
                         "header" if pin else "split")
        log.probes.append((now[0], answer))
        return answer

    def sleep(seconds: float) -> None:
        now[0] += seconds

    options = GateOptions(bake_seconds=2.0, thresholds=promote_thresholds())
    result = gate("http://x/score", "k", "green", options, log=log, probe=probe,
                  clock=lambda: now[0], sleep=sleep)
    assert result.ok is ok, result.reason
    assert (result.real, result.probes) == (judged_real, probes)
    assert result.source == "router log"
    assert f"({judged_real} real, " in result.reason


def promote_thresholds() -> Thresholds:
    return Thresholds(min_requests=100)


def test_gate_without_a_log_judges_its_probes() -> None:
    now = [0.0]

    def probe(uri: str, key: str, timeout: float, body: bytes | None,
              pin: str | None) -> Request:
        return Request(pin or "blue", 408 if pin else 200, 1000.0, True)

    result = gate("http://x/", "k", "green", GateOptions(bake_seconds=5.0), probe=probe,
                  clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    assert not result.ok and result.source == "probes only" and result.probes == 100
    assert "success_rate 0, needs >= 99: FAILED" in result.reason


def test_gate_fails_when_the_endpoint_never_answers() -> None:
    result = gate("http://x/", "k", "green", GateOptions(bake_seconds=1.0),
                  probe=lambda *a: Request("", 0, 5.0, True), sleep=lambda s: None)
    assert not result.ok and result.verdict is None and "does not answer" in result.reason


def test_a_gate_that_cannot_run_is_a_failure_and_rolls_back(tmp_path: Path) -> None:
    root = project(tmp_path)
    state, _root = load_state(root, "test")
    plan = promote.plan(state, "my-endpoint", "green", steps=(10, 100))
    written: list[str] = []

    class Driver:
        def up(self) -> None:
            written.append("up")

        def outputs(self) -> dict[str, str]:
            return {}

    def run_gate(_out: object, step: promote.PromotionStep) -> GateResult:
        raise OSError("router log unreadable")

    result = apply(plan, write=lambda s: written.append(s.stage),
                   roll_back=lambda: written.append("start split"), driver=Driver(),
                   run_gate=run_gate, progress=lambda m: None)
    assert not result.ok and result.rolled_back
    assert result.reason == "step 1 (canary): the gate could not run: router log unreadable"
    assert written == ["canary", "up", "start split", "up"]


def test_the_bake_ends_early_on_a_candidate_already_failing() -> None:
    """60 failing green requests a second and a 60 s bake: the first read after 5 s has 300
    judged, 0% success: the gate stops there instead of leaving users on green for 60 s."""
    now = [1000.0]
    log = FakeLog(now, 60, 503)
    options = GateOptions(bake_seconds=60.0, thresholds=promote_thresholds())
    result = gate("http://x/score", "k", "green", options, log=log,
                  probe=lambda *a: Request("blue", 200, 5.0, True),
                  clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    assert not result.ok and result.window_seconds == 5.0 and result.probes == 0
