"""Quota: ceil(1.2 n) * cores per deployment (n * cores when exempt), per family and total."""

from fractions import Fraction
from math import ceil

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlplan.domain import codes
from mlplan.domain.catalog import DEFAULT_CATALOG
from mlplan.planning.quota import QuotaUse, check, reserved_instances
from mlplan.planning.rollout import peak_instances


def use(dep: str, sku: str, n: int, endpoint: str = "ep") -> QuotaUse:
    t = DEFAULT_CATALOG.get(sku)
    assert t is not None
    return QuotaUse(endpoint, dep, t.family, n, t.cpu_millis, t.exempt)


SCENARIOS = [
    # name, uses, limits (cores), expected {family: required cores}, expected codes
    ("10 x DS3_v2 needs 48 cores", [use("blue", "Standard_DS3_v2", 10)], {},
     {"standardDSv2Family": 48}, []),
    ("3 x NC24ads_A100_v4 is exempt: 72 cores", [use("gpu", "Standard_NC24ads_A100_v4", 3)], {},
     {"standardNCADSA100v4Family": 72}, []),
    ("blue/green both count", [use("blue", "Standard_DS3_v2", 3),
                               use("green", "Standard_DS3_v2", 2)],
     {"standardDSv2Family": 28}, {"standardDSv2Family": 28}, []),
    ("one core over the family limit", [use("blue", "Standard_DS3_v2", 3),
                                        use("green", "Standard_DS3_v2", 2)],
     {"standardDSv2Family": 27}, {"standardDSv2Family": 28}, [codes.QUOTA_FAMILY]),
    ("families add up to the total", [use("a", "Standard_DS3_v2", 10),
                                      use("b", "Standard_F4s_v2", 10)],
     {"total": 95}, {"standardDSv2Family": 48, "standardFSv2Family": 48}, [codes.QUOTA_TOTAL]),
    ("family names match case-insensitively", [use("a", "Standard_DS3_v2", 10)],
     {"STANDARDDSV2FAMILY": 40}, {"standardDSv2Family": 48}, [codes.QUOTA_FAMILY]),
    ("Azure's default total of 500 applies", [use("big", "Standard_E64s_v3", 7)], {},
     {"standardESv3Family": 576}, [codes.QUOTA_TOTAL]),
]


@pytest.mark.parametrize(("name", "uses", "limits", "required", "expected_codes"), SCENARIOS,
                         ids=[s[0] for s in SCENARIOS])
def test_check(name: str, uses: list[QuotaUse], limits: dict[str, int],
               required: dict[str, int], expected_codes: list[str]) -> None:
    report = check(uses, {k: v * 1000 for k, v in limits.items()})
    assert {f.family: f.reserved_millis // 1000 for f in report.families} == required
    assert [d.code for d in report.diagnostics] == expected_codes


def test_over_quota_message_has_the_numbers_and_the_users() -> None:
    report = check([use("blue", "Standard_DS3_v2", 10)], {"standardDSv2Family": 40_000})
    (problem,) = report.diagnostics
    assert "48 cores required, limit 40 (over by 8)" in problem.message
    assert "ep/blue 48 (12 x 4)" in problem.message
    assert "mlplan:quota" in problem.message


def test_fractional_kubernetes_cores_add_exactly() -> None:
    uses = [QuotaUse("ep", "a", "kubernetes", 10, 200, False)]  # 0.2 cores x 12 = 2.4
    assert check(uses, {}).families[0].reserved_millis == 2400


@given(st.integers(min_value=0, max_value=100_000))
def test_reservation_is_exact_ceiling_and_one_batch_of_surge(n: int) -> None:
    assert reserved_instances(n, exempt=False) == ceil(Fraction(12, 10) * n)
    assert reserved_instances(n, exempt=True) == n
    if n:
        assert reserved_instances(n, exempt=False) == peak_instances(n)
