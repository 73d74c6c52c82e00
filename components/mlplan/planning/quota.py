"""The quota check: cores a set of deployments reserves, per VM family and in total.

Rule (Azure): a deployment reserves ``ceil(1.2 * instances) * cores`` so that one rolling
batch can surge; exempt SKUs reserve ``instances * cores``. During blue/green both deployments
count. Example: 10 x Standard_DS3_v2 (4 cores) -> 12 * 4 = 48 cores; 3 x
Standard_NC24ads_A100_v4 (24 cores, exempt) -> 3 * 24 = 72 cores.
CPU is counted in millicores so fractional Kubernetes sizes add up exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from mlplan.domain import codes
from mlplan.domain.diagnostics import Diagnostic, Location, error
from mlplan.domain.quantity import format_millis

TOTAL = "total"
DEFAULT_TOTAL_LIMIT_CORES = 500  # Azure's default regional vCPU limit
MAX_USERS_LISTED = 5  # an over-quota message names the biggest users, then counts the rest


def reserved_instances(instances: int, exempt: bool) -> int:
    """``ceil(1.2 * n)`` as ``(6n + 4) // 5``; ``n`` when exempt. Examples: 10 -> 12, 3 -> 4."""
    return instances if exempt else (6 * instances + 4) // 5


@dataclass(frozen=True)
class QuotaUse:
    """One deployment's reservation."""

    endpoint: str
    deployment: str
    family: str
    instances: int
    cpu_millis_per_instance: int
    exempt: bool
    location: Location = field(default_factory=Location)

    @property
    def reserved_millis(self) -> int:
        return reserved_instances(self.instances, self.exempt) * self.cpu_millis_per_instance

    @property
    def label(self) -> str:
        return f"{self.endpoint}/{self.deployment}"


@dataclass(frozen=True)
class FamilyQuota:
    family: str
    reserved_millis: int
    limit_millis: int | None  # None: no limit configured for this family
    users: tuple[str, ...]  # endpoint/deployment labels, sorted

    @property
    def over(self) -> bool:
        return self.limit_millis is not None and self.reserved_millis > self.limit_millis


@dataclass(frozen=True)
class QuotaReport:
    families: tuple[FamilyQuota, ...]
    total_reserved_millis: int
    total_limit_millis: int
    diagnostics: tuple[Diagnostic, ...]


def check(uses: Iterable[QuotaUse], limits_millis: Mapping[str, int]) -> QuotaReport:
    """Sum reservations per family and in total; an error for each limit exceeded.

    ``limits_millis`` maps a family (or ``total``) to its limit; the total defaults to Azure's
    500 cores. Families are matched case-insensitively. Output is sorted by family.
    """
    limits = {k.casefold(): v for k, v in limits_millis.items()}
    total_limit = limits.get(TOTAL, DEFAULT_TOTAL_LIMIT_CORES * 1000)
    by_family: dict[str, list[QuotaUse]] = {}
    for use in uses:
        by_family.setdefault(use.family, []).append(use)
    families: list[FamilyQuota] = []
    found: list[Diagnostic] = []
    for family in sorted(by_family):
        members = sorted(by_family[family], key=lambda u: u.label)
        required = sum(u.reserved_millis for u in members)
        row = FamilyQuota(family, required, limits.get(family.casefold()),
                          tuple(u.label for u in members))
        families.append(row)
        if row.over and row.limit_millis is not None:
            found.append(_over(codes.QUOTA_FAMILY, f"family {family}", required,
                               row.limit_millis, members))
    all_uses = [u for fam in by_family.values() for u in fam]
    total = sum(u.reserved_millis for u in all_uses)
    if total > total_limit:
        found.append(_over(codes.QUOTA_TOTAL, "the total", total, total_limit,
                           sorted(all_uses, key=lambda u: u.label)))
    return QuotaReport(tuple(families), total, total_limit, tuple(found))


def _over(code: str, what: str, required: int, limit: int, users: list[QuotaUse]) -> Diagnostic:
    biggest = sorted(users, key=lambda u: (-u.reserved_millis, u.label))
    parts = ", ".join(
        f"{u.label} {format_millis(u.reserved_millis)} ({reserved_instances(u.instances, u.exempt)}"
        f" x {format_millis(u.cpu_millis_per_instance)})"
        for u in biggest[:MAX_USERS_LISTED]
    )
    if len(biggest) > MAX_USERS_LISTED:
        parts += f" and {len(biggest) - MAX_USERS_LISTED} more"
    where = biggest[0].location if biggest else Location()
    return error(
        code, where,
        f"quota exceeded for {what}: {format_millis(required)} cores required, limit "
        f"{format_millis(limit)} (over by {format_millis(required - limit)}); used by {parts}. "
        "Lower instance_count, pick a smaller instance_type, or raise the limit in "
        "mlplan:quota.",
    )
