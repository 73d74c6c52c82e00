"""Rows shared by the text and Markdown renderers, read from the plan document."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DEPLOYMENT_HEADERS = ("Deployment", "Instance type", "Count", "Cores", "GPUs", "Reserved cores",
                      "Rolling update")
QUOTA_HEADERS = ("Family", "Reserved", "Limit", "Free", "Used by")
RIGHT_ALIGNED = frozenset({"Count", "Cores", "GPUs", "Reserved cores", "Reserved", "Limit",
                           "Free"})


def deployment_rows(endpoint: dict[str, Any]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for d in endpoint["deployments"]:
        count = str(d["instance_count"])
        if d["scale"]["type"] == "target_utilization":
            count = f"{count} ({d['scale']['min_instances']}-{d['scale']['max_instances']})"
        quota = str(d["reserved_cores"]) + (" (exempt)" if d["exempt"] else "")
        rows.append((d["name"], d["instance_type"], count, str(d["cores_per_instance"]),
                     str(d["gpus_per_instance"]), quota, d["rollout"]["summary"]))
    return rows


def nothing_planned(document: dict[str, Any]) -> bool:
    """True when errors left nothing to plan (no stack file, no readable endpoint): the
    renderers then show only the errors, no empty quota table."""
    return not document["endpoints"] and document["summary"]["errors"] > 0


def split_text(split: Mapping[str, int], empty: str = "none") -> str:
    """``{"blue": 90, "green": 10}`` -> ``blue 90%, green 10%``; empty -> ``none``."""
    return ", ".join(f"{name} {pct}%" for name, pct in sorted(split.items())) or empty


def quota_rows(document: dict[str, Any]) -> list[tuple[str, ...]]:
    quota = document["quota"]
    rows: list[tuple[str, ...]] = []
    for f in quota["families"]:
        limit = f["limit_cores"]
        free = "-" if limit is None else _num(limit - f["reserved_cores"])
        rows.append((f["family"], str(f["reserved_cores"]), "-" if limit is None else str(limit),
                     free, ", ".join(f["users"])))
    total, limit = quota["total_reserved_cores"], quota["total_limit_cores"]
    rows.append(("total", str(total), str(limit), _num(limit - total), ""))
    return rows


def _num(value: float) -> str:
    return str(round(value, 3)).removesuffix(".0")


def summary_line(document: dict[str, Any]) -> str:
    """``1 endpoint, 2 deployments (5 instances) to create; quota 28 of 100 cores; 0 errors``."""
    s = document["summary"]
    quota = document["quota"]
    return (f"{_plural(s['endpoints'], 'endpoint')}, {_plural(s['deployments'], 'deployment')} "
            f"({_plural(s['instances'], 'instance')}) to create; quota "
            f"{quota['total_reserved_cores']} of {quota['total_limit_cores']} cores; "
            f"{_plural(s['errors'], 'error')}, {_plural(s['warnings'], 'warning')}")


def _plural(n: int, word: str, words: str = "") -> str:
    return f"{n} {word}" if n == 1 else f"{n} {words or word + 's'}"
