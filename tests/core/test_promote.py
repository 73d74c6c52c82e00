"""Promotion step planner: named scenarios of traffic sequences and quota at the peak."""

from textwrap import dedent

import pytest

from mlplan.domain import codes
from mlplan.domain.settings import Settings
from mlplan.domain.spec import SourceText, parse
from mlplan.edge.pipeline import planned
from mlplan.planning.promote import plan, share
from mlplan.planning.state import DesiredState

ENDPOINT = "name: ep\nauth_mode: key\ntraffic: {traffic}\n"
DEPLOYMENT = dedent("""\
    name: {name}
    endpoint_name: ep
    instance_type: Standard_DS3_v2
    instance_count: {count}
    environment: {{image: "x.io/i:1"}}
    """)


def state(traffic: str = "{blue: 100, green: 0}", counts: dict[str, int] | None = None,
          quota: int | None = None) -> DesiredState:
    counts = counts or {"blue": 3, "green": 3}
    sources = [SourceText("e.yml", ENDPOINT.format(traffic=traffic))] + [
        SourceText(f"{n}.yml", DEPLOYMENT.format(name=n, count=c)) for n, c in counts.items()]
    result = parse(sources)
    settings = Settings(quota_millis={"total": quota * 1000} if quota else {})
    return planned(result.endpoints, settings, result.diagnostics)


def sequence(promotion) -> list[tuple[str, dict[str, int], dict[str, int]]]:  # type: ignore[no-untyped-def]
    return [(s.stage, dict(s.traffic), dict(s.mirror)) for s in promotion.steps]


SCENARIOS = [
    ("three steps with a mirror", state(), dict(steps=(10, 50, 100), mirror=10), [
        ("mirror", {"blue": 100, "green": 0}, {"green": 10}),
        ("canary", {"blue": 90, "green": 10}, {}),
        ("step", {"blue": 50, "green": 50}, {}),
        ("promoted", {"blue": 0, "green": 100}, {}),
        ("retire", {"green": 100}, {}),
    ]),
    ("three steps without mirror", state(), dict(steps=(10, 50, 100)), [
        ("canary", {"blue": 90, "green": 10}, {}),
        ("step", {"blue": 50, "green": 50}, {}),
        ("promoted", {"blue": 0, "green": 100}, {}),
        ("retire", {"green": 100}, {}),
    ]),
    ("one step", state(), dict(steps=(100,)), [
        ("promoted", {"blue": 0, "green": 100}, {}),
        ("retire", {"green": 100}, {}),
    ]),
    ("resumes past steps already reached", state("{blue: 90, green: 10}"),
     dict(steps=(10, 50, 100)), [
        ("canary", {"blue": 50, "green": 50}, {}),
        ("promoted", {"blue": 0, "green": 100}, {}),
        ("retire", {"green": 100}, {}),
    ]),
]


@pytest.mark.parametrize(("name", "s", "kwargs", "expected"), SCENARIOS,
                         ids=[s[0] for s in SCENARIOS])
def test_sequences(name: str, s: DesiredState, kwargs: dict[str, object],
                   expected: list[tuple[str, dict[str, int], dict[str, int]]]) -> None:
    promotion = plan(s, "ep", "green", **kwargs)  # type: ignore[arg-type]
    assert promotion.ok, [d for step in promotion.steps for d in step.diagnostics]
    assert sequence(promotion) == expected
    assert promotion.retired == ("blue",)


SKIPS = [
    ("mirror dropped: the target already has live traffic", state("{blue: 90, green: 10}"),
     dict(steps=(10, 50, 100), mirror=10),
     [("mirror 10%", "green already has 10% live traffic, and a deployment gets live or "
       "mirrored traffic, not both"), ("10%", "green already has 10% live traffic")]),
    ("mirror already in place", state("{blue: 100, green: 0}\nmirror_traffic: {green: 10}"),
     dict(steps=(10, 100), mirror=10), [("mirror 10%", "green already mirrors 10%")]),
    ("nothing skipped", state(), dict(steps=(10, 100), mirror=10), []),
]


@pytest.mark.parametrize(("name", "s", "kwargs", "expected"), SKIPS, ids=[s[0] for s in SKIPS])
def test_every_skipped_step_is_explained(name: str, s: DesiredState, kwargs: dict[str, object],
                                         expected: list[tuple[str, str]]) -> None:
    promotion = plan(s, "ep", "green", **kwargs)  # type: ignore[arg-type]
    assert promotion.ok
    assert list(promotion.skipped) == expected


def test_steps_are_numbered_from_one_as_printed() -> None:
    promotion = plan(state(), "ep", "green", steps=(10, 100), mirror=10)
    assert [(s.number, s.stage) for s in promotion.steps] == [
        (1, "mirror"), (2, "canary"), (3, "promoted"), (4, "retire")]


QUOTA = [
    # both deployments count until retire: 3 x DS3_v2 each = 16 + 16 = 32 cores
    ("quota just fitting", 32, True),
    ("quota one core short", 31, False),
]


@pytest.mark.parametrize(("name", "limit", "ok"), QUOTA, ids=[q[0] for q in QUOTA])
def test_quota_at_the_peak(name: str, limit: int, ok: bool) -> None:
    promotion = plan(state(quota=limit), "ep", "green", steps=(50, 100))
    assert promotion.peak_quota_millis == 32_000
    assert promotion.ok is ok
    retire = promotion.steps[-1]
    assert retire.quota_millis == 16_000 and retire.ok  # after retire only green counts
    if not ok:
        assert {d.code for step in promotion.steps for d in step.diagnostics} == {
            codes.QUOTA_TOTAL}


BAD = [
    ("unknown deployment", dict(to="red"), "not declared"),
    ("steps not ending at 100", dict(steps=(10, 50)), "end at 100"),
    ("steps not rising", dict(steps=(50, 10, 100)), "rise strictly"),
    ("mirror over 50", dict(mirror=60), "1 to 50"),
]


@pytest.mark.parametrize(("name", "kwargs", "says"), BAD, ids=[b[0] for b in BAD])
def test_bad_requests(name: str, kwargs: dict[str, object], says: str) -> None:
    args: dict[str, object] = {"to": "green", **kwargs}
    promotion = plan(state(), "ep", **args)  # type: ignore[arg-type]
    assert not promotion.ok and not promotion.steps
    assert [d.code for d in promotion.diagnostics] == [codes.PROMOTION]
    assert says in promotion.diagnostics[0].message


SHARES = [
    ("two live in proportion", (("blue", 70), ("red", 30)), 50, (("blue", 35), ("red", 15))),
    ("largest remainder, ties by name", (("a", 1), ("b", 1), ("c", 1)), 10,
     (("a", 4), ("b", 3), ("c", 3))),
    ("nothing left", (("blue", 100),), 0, (("blue", 0),)),
]


@pytest.mark.parametrize(("name", "weights", "total", "expected"), SHARES,
                         ids=[s[0] for s in SHARES])
def test_share(name: str, weights: tuple[tuple[str, int], ...], total: int,
               expected: tuple[tuple[str, int], ...]) -> None:
    assert share(weights, total) == expected
    assert sum(p for _n, p in share(weights, total)) == total
