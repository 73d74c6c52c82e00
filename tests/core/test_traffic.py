"""Traffic rules: live split sums to 0 or 100, one mirror <= 50% with 0% live."""

import pytest

from mlplan.domain import codes
from mlplan.domain.model import Deployment, Endpoint, Source
from mlplan.planning.traffic import check


def endpoint(traffic: dict[str, int], mirror: dict[str, int] | None = None,
             deployments: tuple[str, ...] = ("blue", "green")) -> Endpoint:
    lines = {"traffic": 5, **{f"traffic.{k}": 6 for k in traffic},
             "mirror_traffic": 8, **{f"mirror_traffic.{k}": 9 for k in mirror or {}}}
    return Endpoint(
        name="ep", kind="managed", traffic=tuple(sorted(traffic.items())),
        mirror_traffic=tuple(sorted((mirror or {}).items())), traffic_declared=True,
        deployments=tuple(Deployment(n, "ep", "managed", "Standard_DS3_v2", 1)
                          for n in deployments),
        source=Source("ep.yml", 1, lines),
    )


SCENARIOS = [
    ("seed split 90/10", endpoint({"blue": 90, "green": 10}), []),
    ("all to blue", endpoint({"blue": 100, "green": 0}), []),
    ("disabled endpoint: 0", endpoint({}), []),
    ("sums to 110", endpoint({"blue": 90, "green": 20}), [codes.TRAFFIC_SUM]),
    ("sums to 50", endpoint({"blue": 50}), [codes.TRAFFIC_SUM]),
    ("undeclared deployment", endpoint({"blue": 90, "red": 10}),
     [codes.TRAFFIC_UNKNOWN_DEPLOYMENT]),
    ("mirror 10 to a 0% deployment", endpoint({"blue": 100}, {"green": 10}), []),
    ("mirror 50 is the most", endpoint({"blue": 100}, {"green": 50}), []),
    ("mirror 60 is too much", endpoint({"blue": 100}, {"green": 60}), [codes.MIRROR_PERCENT]),
    ("mirror to a live deployment", endpoint({"blue": 90, "green": 10}, {"green": 10}),
     [codes.MIRROR_LIVE]),
    ("two mirror targets", endpoint({"blue": 100}, {"green": 10, "red": 10},
                                    ("blue", "green", "red")), [codes.MIRROR_SINGLE]),
    ("mirror to an undeclared deployment", endpoint({"blue": 100}, {"red": 10}),
     [codes.MIRROR_UNKNOWN_DEPLOYMENT]),
    ("mirror with no live traffic", endpoint({}, {"green": 10}), [codes.NO_LIVE_DEPLOYMENT]),
    ("mirror at 0 is no mirror", endpoint({"blue": 100}, {"green": 0}), []),
]


@pytest.mark.parametrize(("name", "ep", "expected"), SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_rules(name: str, ep: Endpoint, expected: list[str]) -> None:
    assert sorted(d.code for d in check(ep)) == sorted(expected)


def test_messages_point_at_the_field_and_say_the_fix() -> None:
    (problem,) = check(endpoint({"blue": 90, "green": 20}))
    assert str(problem.location) == "ep.yml:5 traffic"
    assert "sums to 110 (blue 90 + green 20)" in problem.message
    (mirror,) = check(endpoint({"blue": 100}, {"green": 60}))
    assert str(mirror.location) == "ep.yml:9 mirror_traffic.green"
    assert "the most is 50%" in mirror.message
