"""Cells and lines shared by the review's text and Markdown renderers, read from the document.

Pairs read ``before -> after`` when they differ and once when equal or one side is absent:
``3 -> 10``, ``Standard_DS3_v2``; percents get ``%``; an absent value is ``(none)``.
"""

from __future__ import annotations

from typing import Any

from mlplan.planning.diff import LEGEND, Action
from mlplan.render.tables import split_text

DEPLOYMENT_HEADERS = ("", "Deployment", "Action", "Instances", "Instance type", "Reserved cores",
                      "Live", "Mirror", "Stage", "Rollout")
FIELD_HEADERS = ("Field", "Before", "After", "Effect")
QUOTA_HEADERS = ("Family", "Before", "After", "Peak", "Limit", "Free after")
RESOURCE_HEADERS = ("", "Resource", "Type", "Action", "Why")
RIGHT_ALIGNED = frozenset({"Instances", "Reserved cores", "Live", "Mirror", "Before", "After",
                           "Peak", "Limit", "Free after"})
_SEVERITIES = ("error", "warning", "info")


def plural(n: int, word: str, words: str = "") -> str:
    return f"{n} {word}" if n == 1 else f"{n} {words or word + 's'}"


def action(verbs: list[str]) -> Action:
    return Action.from_verbs(verbs)


def symbol(verbs: list[str]) -> str:
    return action(verbs).symbol


def value(v: Any) -> str:
    """``None`` -> ``(none)``, ``True`` -> ``true``, 4.0 -> ``4``."""
    if v is None:
        return "(none)"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def pair(p: dict[str, Any] | None, suffix: str = "", blank_zero: bool = False) -> str:
    """``{"before": 3, "after": 10}`` -> ``3 -> 10``; equal or one-sided -> one value."""
    if not p:
        return ""
    b, a = p.get("before"), p.get("after")
    if blank_zero and not b and not a:
        return ""
    if b is None and a is None:
        return ""
    if b is None or a is None or b == a:
        return value(a if b is None else b) + suffix
    return f"{value(b)}{suffix} -> {value(a)}{suffix}"


def legend() -> str:
    return " · ".join(f"`{a.symbol}` {text}" for a, text in LEGEND)


def legend_plain() -> str:
    return "; ".join(f"{a.symbol} {text}" for a, text in LEGEND)


def rollout_text(dep: dict[str, Any]) -> str:
    return ", then ".join(str(s["summary"]) for s in dep.get("steps") or ())


def step_text(step: dict[str, Any]) -> str:
    """``scale 3 -> 10`` stays; a roll reads ``roll 10 instances: 5 batches of 2, ...``."""
    summary = str(step["summary"])
    return summary if summary.startswith(step["kind"]) else f"{step['kind']} {summary}"


def deployment_name(dep: dict[str, Any]) -> str:
    name = str(dep["name"])
    return name + (f" (was {dep['renamed_from']})" if dep.get("renamed_from") else "")


def deployment_row(dep: dict[str, Any]) -> tuple[str, ...]:
    traffic = dep.get("traffic") or {}
    return (symbol(dep["actions"]).strip(), deployment_name(dep),
            action(dep["actions"]).value, pair(dep.get("instances")),
            pair(dep.get("instance_type")), pair(dep.get("reserved_cores")),
            pair(traffic.get("live"), "%"), pair(traffic.get("mirror"), "%", blank_zero=True),
            dep.get("stage") or "", rollout_text(dep))


def field_row(change: dict[str, Any]) -> tuple[str, ...]:
    return (change["path"], value(change["before"]), value(change["after"]),
            f"{change['effect']}: {change['why']}")


def traffic_line(endpoint: dict[str, Any]) -> str:
    """``blue 90%, green 10% -> green 100%; promoted: green, retired: blue``."""
    t = endpoint.get("traffic")
    if not t:
        return ""
    live, mirror = t["live"], t["mirror"]

    def side(which: str) -> str:
        text = split_text(live[which] or {})
        if mirror[which]:
            text += f"; mirror {split_text(mirror[which])}"
        return text

    before, after = side("before"), side("after")
    acts = endpoint["actions"]
    if acts == ["create"]:
        text = after
    elif acts == ["delete"]:
        text = f"{before} -> (deleted)"
    elif not t["changed"]:
        text = f"{after} (unchanged)"
    else:
        text = f"{before} -> {after}"
    stages = ", ".join(f"{s['stage']}: {s['deployment']}" for s in t["stages"])
    return text + (f"; {stages}" if stages else "")


def quota_rows(stack: dict[str, Any]) -> list[tuple[str, ...]]:
    quota = stack.get("quota")
    if not quota:
        return []
    rows: list[tuple[str, ...]] = []
    for row in [*quota["families"], quota["total"]]:
        limit = row["limit"]
        limits = pair({"before": row["limit_before"], "after": limit}) or "-"
        free = "-" if limit is None else value(round(limit - row["after"], 3))
        peak = value(row["peak"]) + (" (over limit)" if row["peak_over"] else "")
        after = value(row["after"]) + (" (over limit)" if row["over"] else "")
        rows.append((row["family"], value(row["before"]), after, peak, limits, free))
    return rows


def summary_line(stack: dict[str, Any]) -> str:
    """``1 endpoint: 0 to create, 1 to update, 0 to delete; deployments: 1 to create;
    quota 28 -> 40 of 100 cores``."""
    s = stack["summary"]
    e = s["endpoints"]
    head = (f"{plural(e['total'], 'endpoint')}: {e['create']} to create, {e['update']} to "
            f"update, {e['delete']} to delete" + (f", {e['replace']} to replace"
                                                 if e["replace"] else ""))
    parts = [head]
    d = s["deployments"]
    changed = [f"{d[k]} to {k}" for k in ("create", "update", "replace", "delete") if d[k]]
    if changed:
        parts.append("deployments: " + ", ".join(changed))
    q = s.get("quota")
    if q:
        text = f"quota {value(q['before'])} -> {value(q['after'])} of {value(q['limit'])} cores"
        if q.get("over"):
            text += f" ({', '.join(q['over'])} over the limit)"
        elif q.get("peak_over"):
            text += f" ({', '.join(q['peak_over'])} over the limit until deletes finish)"
        parts.append(text)
    return "; ".join(parts)


def diagnostics_line(stack: dict[str, Any], strong: str = "") -> str:
    """``0 errors, 1 warning``; errors wrapped in ``strong`` (``**`` in Markdown) when any."""
    s = stack["summary"]
    errors = plural(s["errors"], "error")
    if s["errors"] and strong:
        errors = f"{strong}{errors}{strong}"
    text = f"{errors}, {plural(s['warnings'], 'warning')}"
    if s["base_errors"] or s["base_warnings"]:
        text += (f" (base: {plural(s['base_errors'], 'error')}, "
                 f"{plural(s['base_warnings'], 'warning')})")
    return text


def sides_line(stack: dict[str, Any]) -> str:
    """``target docker, environment development`` or ``target docker -> kubernetes``..."""
    b, h = stack.get("base"), stack.get("head")
    if b is None and h is None:
        return ""
    if b is None:
        return f"new stack: target {h['target']}, environment {h['environment']}"  # type: ignore[index]
    if h is None:
        return f"stack removed: target {b['target']}, environment {b['environment']}"
    target = pair({"before": b["target"], "after": h["target"]})
    environment = pair({"before": b["environment"], "after": h["environment"]})
    return f"target {target}, environment {environment}"


def by_severity(diagnostics: list[dict[str, Any]], side: str) -> list[tuple[str, list[Any]]]:
    chosen = [d for d in diagnostics if d["side"] == side]
    return [(sev, [d for d in chosen if d["severity"] == sev]) for sev in _SEVERITIES
            if any(d["severity"] == sev for d in chosen)]


def has_details(dep: dict[str, Any]) -> bool:
    return bool(dep.get("changes") or dep.get("steps") or dep.get("reasons")
                or dep.get("resources"))


def endpoint_action_text(endpoint: dict[str, Any]) -> str:
    """The endpoint's own action, or what changes under it when it stays as it is.

    Example: only blue's image changes -> ``unchanged itself; 1 deployment changes``.
    """
    if endpoint["actions"] != ["no-op"]:
        return action(endpoint["actions"]).value
    changed = sum(1 for d in endpoint["deployments"] if d["actions"] != ["no-op"])
    verb = "changes" if changed == 1 else "change"
    return f"unchanged itself; {plural(changed, 'deployment')} {verb}"


def unchanged_line(stack: dict[str, Any]) -> str:
    """``unchanged: 997 endpoints`` (counted, never listed one by one); "" if none."""
    count = sum(1 for e in stack["endpoints"] if not e["changed"])
    return f"unchanged: {plural(count, 'endpoint')}" if count else ""
